//! Origins through the control plane: recorded as sent and shown on the
//! version, checked before anything is stored, no part of the content hash,
//! and not inherited by a version that training makes.

use keel_api_model as api;
use keel_types::{Code, JobKind, JobStatus};

use super::{Env, admin};

fn origin(commit: char, subdir: Option<&str>) -> api::Origin {
    api::Origin::Git {
        repository: "https://example.com/org/models.git".into(),
        reference: "main".into(),
        commit: commit.to_string().repeat(40),
        subdir: subdir.map(str::to_string),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_are_recorded_checked_and_not_inherited_by_training() {
    let env = Env::new().await;
    let dir = env.model("m", false, None, None).await;
    let plain = env.keel.version("m:1").await.unwrap();
    assert_eq!(plain.origin, None);

    // The same files from a commit create no version, and version 1 keeps
    // having no origin: the origin is metadata, not content.
    let same = env
        .keel
        .register_with_origin(&admin(), &dir, Some("m"), &[], Some(&origin('a', None)))
        .await
        .unwrap();
    assert!(!same.created);
    assert_eq!(same.version.origin, None);

    std::fs::write(dir.join("extra.txt"), "changed").unwrap();
    let sent = origin('b', Some("models/m"));
    let reg = env
        .keel
        .register_with_origin(&admin(), &dir, Some("m"), &[], Some(&sent))
        .await
        .unwrap();
    assert!(reg.created);
    assert_eq!(reg.version.number, 2);
    assert_eq!(reg.version.origin.as_ref(), Some(&sent));
    assert_eq!(env.keel.version("m:2").await.unwrap().origin, Some(sent));

    let bad = api::Origin::Git {
        repository: "https://user:s3cret@example.com/r.git".into(),
        reference: "main".into(),
        commit: "c".repeat(40),
        subdir: None,
    };
    std::fs::write(dir.join("extra.txt"), "changed again").unwrap();
    let e = env
        .keel
        .register_with_origin(&admin(), &dir, Some("m"), &[], Some(&bad))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    assert!(e.to_string().contains("`repository`"), "{e}");
    assert!(!e.to_string().contains("s3cret"), "{e}");
    let m = env.keel.model("m").await.unwrap();
    assert_eq!(m.latest_version, 2, "a refused origin stores nothing");

    let data = env.data("train.csv", "x\n0.9\n0.1\n");
    let job = env
        .keel
        .create_job(
            &admin(),
            api::CreateJob {
                kind: JobKind::Training,
                model: "m:2".into(),
                input: api::Input::Path {
                    uri: data.display().to_string(),
                },
                output: None,
                format: None,
                workers: Some(1),
                max_runtime_seconds: None,
                max_attempts: None,
                schema_check: None,
                metrics: None,
                baseline: None,
            },
        )
        .await
        .unwrap();
    let done = env.keel.run_job(job.id.into()).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
    let trained = env.keel.version("m:3").await.unwrap();
    assert_eq!(trained.source_job, Some(job.id));
    assert_eq!(trained.origin, None, "a trained version came from a job");
}

#[test]
fn register_queries_send_all_of_an_origin_or_none() {
    use crate::git::origin_of_query;
    let full = api::RegisterQuery::of(&origin('d', Some("m")));
    assert_eq!(
        origin_of_query(&full).unwrap(),
        Some(origin('d', Some("m")))
    );
    assert_eq!(
        origin_of_query(&api::RegisterQuery::default()).unwrap(),
        None
    );
    let cases = [
        (
            api::RegisterQuery {
                commit: None,
                ..full.clone()
            },
            "no `commit`",
        ),
        (
            api::RegisterQuery {
                origin: None,
                ..full.clone()
            },
            "gives `repository` without `origin`",
        ),
        (
            api::RegisterQuery {
                origin: Some("svn".into()),
                ..full.clone()
            },
            "The `origin` 'svn' is not known",
        ),
    ];
    for (q, piece) in cases {
        let e = origin_of_query(&q).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.to_string().contains(piece), "{e}");
    }
}
