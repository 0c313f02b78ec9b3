//! Principals, roles and tokens in the control plane: what each role may
//! change (a table over every mutating use case), tokens from creation to
//! expiry and revocation, and the audit entries the use cases leave.

use chrono::Duration;
use keel_api_model as api;
use keel_types::{AuditAction, Code, Role};

use super::jobs::create;
use super::{Env, admin};
use crate::{Principal, Via};

fn acting(role: Role) -> Principal {
    Principal {
        user: format!("a-{role}"),
        role,
        groups: Vec::new(),
        source: "10.1.2.3:4567".into(),
        via: Via::Open,
    }
}

/// Tries every mutating use case as `who`, and answers which were allowed
/// (in the order of the table in the test).
async fn try_everything(env: &Env, who: &Principal) -> Vec<bool> {
    let keel = &env.keel;
    let dir = env.dir.path().join("models").join("m");
    let data = env.data("in.csv", "a\n1\n");
    let ok = |r: Result<(), crate::Error>| match r {
        Ok(()) => true,
        Err(e) if e.code() == Code::Forbidden => false,
        Err(e) => panic!("{}: not a refusal: {e}", who.role),
    };
    let job = keel
        .create_job(
            &admin(),
            create(api::JobKind::Scoring, "m", &data, Some("out.csv")),
        )
        .await
        .unwrap();
    vec![
        ok(keel.register(who, &dir, Some("m"), &[]).await.map(drop)),
        ok(keel.set_alias(who, "m", "champion", 1).await.map(drop)),
        ok(keel
            .delete_alias(who, "m", "champion")
            .await
            .or_else(not_found)),
        ok(keel.upload(who, "in.csv", &data).await.map(drop)),
        ok(keel
            .create_job(
                who,
                create(api::JobKind::Scoring, "m", &data, Some("out.csv")),
            )
            .await
            .map(drop)),
        ok(keel.cancel_job(who, job.id.into()).await.map(drop)),
        ok(keel
            .create_token(
                who,
                api::CreateToken {
                    user: format!("made-by-{}", who.role),
                    role: Some(Role::Viewer),
                    ..Default::default()
                },
            )
            .await
            .map(drop)),
        ok(keel.list_users(who).await.map(drop)),
        ok(keel
            .list_tokens(who, &api::TokenQuery::default())
            .await
            .map(drop)),
        ok(keel.audit(who, &api::AuditQuery::default()).await.map(drop)),
    ]
}

fn not_found(e: crate::Error) -> Result<(), crate::Error> {
    if e.code() == Code::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

#[tokio::test]
async fn each_role_may_change_what_it_grants() {
    let env = Env::new().await;
    env.model("m", false, None, None).await;
    //                        register alias unalias upload job cancel token users tokens audit
    let table = [
        (
            Role::Viewer,
            [
                false, false, false, false, false, false, false, false, false, false,
            ],
        ),
        (
            Role::Approver,
            [
                false, false, false, false, false, false, false, false, false, false,
            ],
        ),
        (
            Role::Modeler,
            [
                true, true, true, true, true, true, false, false, false, false,
            ],
        ),
        (
            Role::Admin,
            [true, true, true, true, true, true, true, true, true, true],
        ),
    ];
    for (role, want) in table {
        let got = try_everything(&env, &acting(role)).await;
        assert_eq!(got, want, "{role}");
    }
    let refusal = env
        .keel
        .create_job(
            &acting(Role::Viewer),
            create(
                api::JobKind::Scoring,
                "m",
                &env.data("x.csv", "a\n1\n"),
                None,
            ),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refusal.contains("'a-viewer' has the role viewer")
            && refusal.contains("(modeler or admin)"),
        "{refusal}"
    );
}

#[tokio::test]
async fn tokens_turn_auth_on_and_are_checked_for_secret_expiry_and_revocation() {
    let env = Env::new().await;
    let keel = &env.keel;
    // No users: every request acts as the local user, as an admin.
    assert!(!keel.auth_enabled().await.unwrap());
    let open = keel.authenticate(None, "127.0.0.1:1").await.unwrap();
    assert_eq!((open.role, open.via.clone()), (Role::Admin, Via::Open));

    let missing_role = keel
        .create_token(
            &admin(),
            api::CreateToken {
                user: "ana".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        missing_role.to_string().contains("give `role`"),
        "{missing_role}"
    );
    let too_long = keel
        .create_token(
            &admin(),
            api::CreateToken {
                user: "ana".into(),
                role: Some(Role::Modeler),
                expires_in_days: Some(5000),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(too_long.code(), Code::InvalidArgument, "{too_long}");

    let made = keel
        .create_token(
            &admin(),
            api::CreateToken {
                user: "ana".into(),
                role: Some(Role::Modeler),
                groups: Some(vec!["risk".into()]),
                name: Some("laptop".into()),
                expires_in_days: Some(30),
            },
        )
        .await
        .unwrap();
    assert!(made.token.starts_with("keel_"), "{}", made.token);
    assert_eq!(made.info.status, api::TokenStatus::Active);
    assert!(keel.auth_enabled().await.unwrap());

    let bearer = format!("Bearer {}", made.token);
    let ana = keel
        .authenticate(Some(&bearer), "10.0.0.1:9")
        .await
        .unwrap();
    assert_eq!(ana.user, "ana");
    assert_eq!(ana.role, Role::Modeler);
    assert_eq!(ana.groups, vec!["risk".to_string()]);
    assert_eq!(ana.via, Via::Token(made.info.id.into()));
    assert_eq!(ana.whoami().auth, "token");

    // Anything else is refused as unauthenticated, saying why.
    let mut wrong_secret = made.token.clone();
    let last = wrong_secret.pop().unwrap();
    wrong_secret.push(if last == '0' { '1' } else { '0' });
    let cases = [
        (None, "requires an API token"),
        (Some("Basic abc".to_string()), "`Bearer TOKEN`"),
        (
            Some("Bearer nope".to_string()),
            "does not carry a Keel API token",
        ),
        (Some(format!("Bearer {wrong_secret}")), "not valid"),
    ];
    for (header, words) in cases {
        let e = keel.authenticate(header.as_deref(), "x").await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{header:?}");
        assert!(e.to_string().contains(words), "{header:?}: {e}");
    }

    // A second token for ana changes her role; the first token follows.
    keel.create_token(
        &admin(),
        api::CreateToken {
            user: "ana".into(),
            role: Some(Role::Viewer),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ana = keel.authenticate(Some(&bearer), "x").await.unwrap();
    assert_eq!(ana.role, Role::Viewer);

    env.clock.advance(Duration::days(31));
    let expired = keel.authenticate(Some(&bearer), "x").await.unwrap_err();
    assert!(expired.to_string().contains("expired at"), "{expired}");
    let listed = keel
        .list_tokens(
            &admin(),
            &api::TokenQuery {
                user: Some("ana".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|t| t.status).collect::<Vec<_>>(),
        [api::TokenStatus::Expired, api::TokenStatus::Active]
    );

    let never = keel
        .create_token(
            &admin(),
            api::CreateToken {
                user: "bo".into(),
                role: Some(Role::Admin),
                expires_in_days: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(never.info.expires_at, None);
    let bo = format!("Bearer {}", never.token);
    let bo_principal = keel.authenticate(Some(&bo), "x").await.unwrap();
    keel.revoke_token(&bo_principal, never.info.id.into())
        .await
        .unwrap();
    let revoked = keel.authenticate(Some(&bo), "x").await.unwrap_err();
    assert!(revoked.to_string().contains("was revoked at"), "{revoked}");

    // Who did what, newest first.
    let log = keel
        .audit(
            &admin(),
            &api::AuditQuery {
                action: Some("token.revoked".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(log.items.len(), 1);
    assert_eq!(log.items[0].actor, "bo");
    assert_eq!(log.items[0].action, AuditAction::TokenRevoked);
    let bad = keel
        .audit(
            &admin(),
            &api::AuditQuery {
                action: Some("token.eaten".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("`action`"), "{bad}");
}

#[tokio::test]
async fn changes_are_audited_with_the_principal_and_jobs_keep_their_creator() {
    let env = Env::new().await;
    env.model("m", false, None, None).await;
    let who = acting(Role::Modeler);
    let data = env.data("in.csv", "a\n1\n");
    let job = env
        .keel
        .create_job(
            &who,
            create(api::JobKind::Scoring, "m", &data, Some("out.csv")),
        )
        .await
        .unwrap();
    assert_eq!(job.created_by.as_deref(), Some("a-modeler"));
    env.keel.set_alias(&who, "m", "champion", 1).await.unwrap();
    let log = env
        .keel
        .audit(
            &admin(),
            &api::AuditQuery {
                model: Some("m".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let got: Vec<(AuditAction, &str, &str)> = log
        .items
        .iter()
        .map(|e| (e.action, e.actor.as_str(), e.source.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (AuditAction::AliasMoved, "a-modeler", "10.1.2.3:4567"),
            (AuditAction::JobCreated, "a-modeler", "10.1.2.3:4567"),
            (AuditAction::VersionRegistered, "tester", "test"),
            (AuditAction::ModelCreated, "tester", "test"),
        ]
    );
}
