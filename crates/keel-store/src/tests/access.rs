//! The access suite: users, tokens, and the audit rows every change writes
//! in its own transaction (a refused or empty change writes none).

use std::sync::Arc;

use chrono::Duration;
use keel_types::{AuditAction, Code, JobKind, ManualClock, Role, TokenId};
use serde_json::json;

use super::{definition, job_target, new_version};
use crate::{Actor, AuditFilter, NewToken, Page, Stores, UserChange};

/// The audit rows `actor` wrote, oldest first.
async fn written_by(stores: &Stores, actor: &str) -> Vec<(AuditAction, String, serde_json::Value)> {
    let filter = AuditFilter {
        actor: Some(actor.into()),
        ..AuditFilter::default()
    };
    let mut rows = stores
        .audit
        .list_audit(&filter, &Page::first(1000))
        .await
        .unwrap()
        .items;
    rows.reverse();
    rows.into_iter()
        .map(|r| (r.action, r.target, r.details))
        .collect()
}

pub(crate) async fn suite(stores: &Stores, clock: &Arc<ManualClock>) {
    let admin = Actor::new("root-admin", "10.0.0.7:5123");
    let access = &stores.access;
    // The suites before this one made no users.
    assert!(!access.any_user().await.unwrap());

    let ana = access
        .create_user("ana", Role::Modeler, &["risk".into()], &admin)
        .await
        .unwrap();
    assert_eq!(
        (ana.role, ana.groups.clone()),
        (Role::Modeler, vec!["risk".to_string()])
    );
    assert!(access.any_user().await.unwrap());
    let dup = access
        .create_user("ana", Role::Viewer, &[], &admin)
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists, "{dup}");
    let bad = access
        .create_user("", Role::Viewer, &[], &admin)
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad}");

    clock.advance(Duration::seconds(1));
    let changed = access
        .update_user(
            "ana",
            &UserChange {
                role: Some(Role::Approver),
                groups: None,
            },
            &admin,
        )
        .await
        .unwrap();
    assert_eq!(changed.role, Role::Approver);
    assert_eq!(changed.groups, vec!["risk".to_string()]);
    assert!(changed.updated_at > ana.updated_at);
    // The same role again changes nothing and records nothing.
    let same = access
        .update_user(
            "ana",
            &UserChange {
                role: Some(Role::Approver),
                groups: Some(vec!["risk".into()]),
            },
            &admin,
        )
        .await
        .unwrap();
    assert_eq!(same, changed);
    let missing = access
        .update_user("nobody", &UserChange::default(), &admin)
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing}");

    let new = NewToken {
        id: TokenId::new(),
        user: "ana".into(),
        name: "laptop".into(),
        secret_hash: "ab".repeat(32),
        expires_at: Some(clock_now(stores) + Duration::days(90)),
    };
    let token = access.create_token(&new, &admin).await.unwrap();
    assert_eq!(token.created_by, "root-admin");
    let (found, user) = access.token(new.id).await.unwrap().unwrap();
    assert_eq!((found, user.name.as_str()), (token.clone(), "ana"));
    assert!(access.token(TokenId::new()).await.unwrap().is_none());
    let orphan = NewToken {
        id: TokenId::new(),
        user: "nobody".into(),
        ..new.clone()
    };
    let err = access.create_token(&orphan, &admin).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err}");
    access
        .create_user("bo", Role::Viewer, &[], &admin)
        .await
        .unwrap();
    let bo_token = NewToken {
        id: TokenId::new(),
        user: "bo".into(),
        name: "ci".into(),
        secret_hash: "cd".repeat(32),
        expires_at: None,
    };
    access.create_token(&bo_token, &admin).await.unwrap();
    let all = access.list_tokens(None).await.unwrap();
    assert_eq!(
        all.iter().map(|t| t.id).collect::<Vec<_>>(),
        [new.id, bo_token.id]
    );
    let anas = access.list_tokens(Some("ana")).await.unwrap();
    assert_eq!(anas, vec![token.clone()]);
    let users = access.list_users().await.unwrap();
    assert_eq!(
        users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
        ["ana", "bo"]
    );

    let revoked = access.revoke_token(new.id, &admin).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    let again = access.revoke_token(new.id, &admin).await.unwrap();
    assert_eq!(
        again.revoked_at, revoked.revoked_at,
        "revoking twice keeps the first time"
    );
    let err = access
        .revoke_token(TokenId::new(), &admin)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err}");

    // Every change above, and nothing that was refused or changed nothing.
    let rows = written_by(stores, "root-admin").await;
    let expected = [
        (
            AuditAction::UserCreated,
            "ana".to_string(),
            json!({"role": "modeler", "groups": ["risk"]}),
        ),
        (
            AuditAction::UserChanged,
            "ana".to_string(),
            json!({"role": {"from": "modeler", "to": "approver"}}),
        ),
        (
            AuditAction::TokenCreated,
            new.id.to_string(),
            json!({"user": "ana", "name": "laptop", "expires_at": new.expires_at}),
        ),
        (
            AuditAction::UserCreated,
            "bo".to_string(),
            json!({"role": "viewer", "groups": []}),
        ),
        (
            AuditAction::TokenCreated,
            bo_token.id.to_string(),
            json!({"user": "bo", "name": "ci", "expires_at": null}),
        ),
        (
            AuditAction::TokenRevoked,
            new.id.to_string(),
            json!({"user": "ana", "name": "laptop"}),
        ),
    ];
    assert_eq!(rows, expected);

    registry_changes_are_audited(stores, clock).await;
    job_changes_are_audited(stores).await;
}

/// Queueing and cancelling a job record who did it; the job keeps who
/// queued it.
async fn job_changes_are_audited(stores: &Stores) {
    let target = job_target(stores.registry.as_ref(), "audited-jobs").await;
    let by = Actor::new("cy", "127.0.0.1:4000");
    let job = stores
        .jobs
        .enqueue(&target(JobKind::Scoring), &by)
        .await
        .unwrap();
    assert_eq!(job.created_by.as_deref(), Some("cy"));
    let stored = stores.jobs.job(job.id).await.unwrap().unwrap();
    assert_eq!(stored.created_by.as_deref(), Some("cy"));
    stores.jobs.request_cancel(job.id, &by).await.unwrap();
    // Cancelling a finished job is refused and records nothing.
    assert!(stores.jobs.request_cancel(job.id, &by).await.is_err());
    let rows = written_by(stores, "cy").await;
    assert_eq!(
        rows,
        [
            (
                AuditAction::JobCreated,
                job.id.to_string(),
                json!({"kind": "scoring", "version": 1, "max_attempts": 3})
            ),
            (
                AuditAction::JobCancelled,
                job.id.to_string(),
                json!({"status": "STOPPED"})
            ),
        ]
    );
    let filter = AuditFilter {
        model: Some("audited-jobs".into()),
        ..AuditFilter::default()
    };
    let page = stores
        .audit
        .list_audit(&filter, &Page::first(10))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 4, "model, version, job, cancel");
}

/// The registry's changes, with who, where, what and the filters and pages
/// of the log.
async fn registry_changes_are_audited(stores: &Stores, clock: &Arc<ManualClock>) {
    let by = Actor::new("ana", "cli@build-7");
    clock.advance(Duration::seconds(10));
    let since = clock_now(stores);
    let model = stores.registry.create_model("audited", &by).await.unwrap();
    let v1 = stores
        .registry
        .create_version(
            &new_version(model.id, "a1", definition("audited"), vec![], None),
            &by,
        )
        .await
        .unwrap();
    let v2 = stores
        .registry
        .create_version(
            &new_version(model.id, "a2", definition("audited"), vec![], None),
            &by,
        )
        .await
        .unwrap();
    stores
        .registry
        .set_alias(model.id, "champion", v1.id, &by)
        .await
        .unwrap();
    // Pointing the alias where it points records nothing.
    stores
        .registry
        .set_alias(model.id, "champion", v1.id, &by)
        .await
        .unwrap();
    stores
        .registry
        .set_alias(model.id, "champion", v2.id, &by)
        .await
        .unwrap();
    assert!(
        stores
            .registry
            .delete_alias(model.id, "champion", &by)
            .await
            .unwrap()
    );
    assert!(
        !stores
            .registry
            .delete_alias(model.id, "champion", &by)
            .await
            .unwrap()
    );
    // A duplicate name is refused and leaves no row.
    assert!(stores.registry.create_model("audited", &by).await.is_err());

    let rows = written_by(stores, "ana").await;
    let summary: Vec<(AuditAction, &str)> = rows.iter().map(|(a, t, _)| (*a, t.as_str())).collect();
    assert_eq!(
        summary,
        [
            (AuditAction::ModelCreated, "audited"),
            (AuditAction::VersionRegistered, "audited:1"),
            (AuditAction::VersionRegistered, "audited:2"),
            (AuditAction::AliasMoved, "audited@champion"),
            (AuditAction::AliasMoved, "audited@champion"),
            (AuditAction::AliasDeleted, "audited@champion"),
        ]
    );
    assert_eq!(
        rows[3].2,
        json!({"alias": "champion", "from": null, "to": 1})
    );
    assert_eq!(rows[4].2, json!({"alias": "champion", "from": 1, "to": 2}));
    assert_eq!(rows[5].2, json!({"alias": "champion", "from": 2}));
    assert_eq!(rows[1].2["content_hash"], json!("a1"));

    // Filters: by model, by action, by time; newest first, in pages.
    let by_model = AuditFilter {
        model: Some("audited".into()),
        ..AuditFilter::default()
    };
    let first = stores
        .audit
        .list_audit(&by_model, &Page::first(4))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 4);
    assert_eq!(first.items[0].action, AuditAction::AliasDeleted);
    assert_eq!(first.items[0].source, "cli@build-7");
    assert!(first.items.windows(2).all(|w| w[0].seq > w[1].seq));
    let cursor = first.next_cursor.clone().unwrap();
    let rest = stores
        .audit
        .list_audit(&by_model, &Page::after(4, cursor))
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|r| r.action).collect::<Vec<_>>(),
        [AuditAction::VersionRegistered, AuditAction::ModelCreated]
    );
    assert_eq!(rest.next_cursor, None);
    let moves = AuditFilter {
        model: Some("audited".into()),
        action: Some(AuditAction::AliasMoved),
        ..AuditFilter::default()
    };
    let moved = stores
        .audit
        .list_audit(&moves, &Page::first(10))
        .await
        .unwrap();
    assert_eq!(moved.items.len(), 2);
    let later = AuditFilter {
        since: Some(since + Duration::seconds(1)),
        ..AuditFilter::default()
    };
    assert!(
        stores
            .audit
            .list_audit(&later, &Page::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let from_since = AuditFilter {
        since: Some(since),
        actor: Some("ana".into()),
        ..AuditFilter::default()
    };
    let all = stores
        .audit
        .list_audit(&from_since, &Page::first(10))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 6);
    assert!(all.items.iter().all(|r| r.at == since));
    let bad = stores
        .audit
        .list_audit(&AuditFilter::default(), &Page::after(10, "zz"))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad}");
}

fn clock_now(stores: &Stores) -> chrono::DateTime<chrono::Utc> {
    stores.clock.now()
}
