//! Jobs through the control plane in embedded mode: queued, run in this
//! process, read back (results as streams, logs), cancelled; training
//! registers a version; comparisons are decided by the executor and lists
//! show the verdict.

use futures::StreamExt;
use keel_api_model as api;
use keel_types::{Code, ComparisonStatus, JobKind, JobStatus};

use super::{Env, admin};
use crate::JobOutput;

pub(super) fn create(
    kind: JobKind,
    model: &str,
    input: &std::path::Path,
    output: Option<&str>,
) -> api::CreateJob {
    api::CreateJob {
        kind,
        model: model.into(),
        input: api::Input::Path {
            uri: input.display().to_string(),
        },
        output: output.map(|name| api::Output::Embedded { name: name.into() }),
        format: None,
        workers: Some(1),
        max_runtime_seconds: None,
        max_attempts: None,
        schema_check: None,
        metrics: None,
        baseline: None,
    }
}

async fn read_all(out: JobOutput) -> (String, String) {
    let JobOutput::Stored(mut f) = out else {
        panic!("an embedded output is stored");
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = f.stream.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(bytes.len() as u64, f.size);
    (f.name, String::from_utf8(bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_run_completes_and_its_result_streams() {
    let env = Env::new().await;
    env.model("m", false, None, None).await;
    let data = env.data("in.csv", "x\n0.9\n0.1\n");
    let job = env
        .keel
        .create_job(
            &admin(),
            create(JobKind::Scoring, "m", &data, Some("out.csv")),
        )
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Pending);
    // Before it ran there is no result.
    let early = env.keel.job_result(job.id.into(), false).await.unwrap_err();
    assert_eq!(early.code(), Code::JobNotFinished);
    let done = env.keel.run_job(job.id.into()).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
    assert_eq!(done.counts.written, 2);
    let (name, text) = read_all(env.keel.job_result(job.id.into(), false).await.unwrap()).await;
    assert_eq!(name, "out.csv");
    assert_eq!(
        text,
        "x,probability,prediction\n0.9,0.9,true\n0.1,0.1,false\n"
    );
    let none = env.keel.job_result(job.id.into(), true).await.unwrap_err();
    assert_eq!(none.code(), Code::NoResult);
    let log = env
        .keel
        .job_logs(job.id.into(), crate::LogStart::Offset(0))
        .await
        .unwrap();
    assert!(log.finished);
    assert!(
        log.content.contains("keel: completed: 2 records read"),
        "{}",
        log.content
    );
    // A finished job cannot be cancelled.
    let e = env
        .keel
        .cancel_job(&admin(), job.id.into())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Conflict);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_checked_before_anything_is_queued() {
    let env = Env::new().await;
    env.model("m", false, None, None).await;
    let data = env.data("in.csv", "x\n0.9\n");
    let cases: Vec<(api::CreateJob, Code, &str)> = vec![
        (
            create(JobKind::Scoring, "m", &data, None),
            Code::InvalidArgument,
            "`output`",
        ),
        (
            create(JobKind::Metrics, "m", &data, Some("m.csv")),
            Code::InvalidArgument,
            "`label`",
        ),
        (
            create(JobKind::Scoring, "nope", &data, Some("o.csv")),
            Code::NotFound,
            "no model named 'nope'",
        ),
        (
            create(JobKind::Scoring, "m", &data, Some("o.txt")),
            Code::InvalidArgument,
            "output format",
        ),
        (
            api::CreateJob {
                workers: Some(0),
                ..create(JobKind::Scoring, "m", &data, Some("o.csv"))
            },
            Code::InvalidArgument,
            "`workers`",
        ),
        (
            // One request must not start more workers than the server allows.
            api::CreateJob {
                workers: Some(256),
                ..create(JobKind::Scoring, "m", &data, Some("o.csv"))
            },
            Code::InvalidArgument,
            "`workers` must be between 1 and 3",
        ),
        (
            // A limit too large to keep (it once overflowed a deadline).
            api::CreateJob {
                max_runtime_seconds: Some(u64::MAX),
                ..create(JobKind::Scoring, "m", &data, Some("o.csv"))
            },
            Code::InvalidArgument,
            "`max_runtime_seconds` must be between 1 and 2592000",
        ),
        (
            api::CreateJob {
                max_runtime_seconds: Some(0),
                ..create(JobKind::Scoring, "m", &data, Some("o.csv"))
            },
            Code::InvalidArgument,
            "`max_runtime_seconds`",
        ),
        (
            create(
                JobKind::Scoring,
                "m",
                &env.dir.path().join("missing.csv"),
                Some("o.csv"),
            ),
            Code::InvalidArgument,
            "does not exist",
        ),
    ];
    for (req, code, fragment) in cases {
        let e = env.keel.create_job(&admin(), req).await.unwrap_err();
        assert_eq!(e.code(), code, "{e}");
        assert!(e.to_string().contains(fragment), "{e}");
    }
    let listed = env.keel.list_jobs(&api::JobQuery::default()).await.unwrap();
    assert!(listed.items.is_empty());
    // Page sizes out of range are refused, naming the field and the range.
    for n in [0, 1001, u32::MAX] {
        let q = api::JobQuery {
            max_results: Some(n),
            ..Default::default()
        };
        let e = env.keel.list_jobs(&q).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        assert!(
            e.to_string()
                .contains("`max_results` must be between 1 and 1000"),
            "{e}"
        );
        let pq = api::PageQuery {
            max_results: Some(n),
            page_token: None,
        };
        let e = env.keel.list_models(&pq).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_limit_out_of_range_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [0, crate::HARD_MAX_WORKERS + 1] {
        let mut cfg = crate::Config::new(dir.path().join("home"));
        cfg.max_workers = bad;
        let e = crate::Keel::open_with(
            cfg,
            keel_types::SystemClock::shared(),
            keel_exec::testing::FakeRuntime::new(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        assert!(e.to_string().contains("KEEL_MAX_WORKERS"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_registers_the_next_version_with_its_job() {
    let env = Env::new().await;
    env.model("m", false, None, None).await;
    let data = env.data("train.csv", "x\n0.9\n0.1\n0.3\n");
    let job = env
        .keel
        .create_job(&admin(), create(JobKind::Training, "m", &data, None))
        .await
        .unwrap();
    let done = env.keel.run_job(job.id.into()).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
    assert_eq!(done.result.unwrap().produced_version, Some(2));
    let v2 = env.keel.version("m:2").await.unwrap();
    assert_eq!(v2.source_job, Some(job.id));
    assert!(v2.files.iter().any(|f| f.path == "model.bin"));
    let e = env.keel.job_result(job.id.into(), false).await.unwrap_err();
    assert!(e.to_string().contains("version 2"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comparisons_are_decided_off_the_read_path_and_listed_with_their_verdict() {
    let env = Env::new().await;
    env.model("a", false, None, None).await;
    env.model("b", false, None, None).await;
    let data = env.data(
        "labeled.csv",
        "label,a,b\n1,0.9,0.4\n0,0.1,0.6\n1,0.8,0.7\n0,0.2,0.3\n1,0.7,0.2\n0,0.3,0.8\n",
    );
    let c = env
        .keel
        .create_comparison(
            &admin(),
            api::CreateComparison {
                champion: Some("b".into()),
                challenger: Some("a".into()),
                input: Some(api::Input::Path {
                    uri: data.display().to_string(),
                }),
                format: None,
                metrics: Some(api::MetricsOptions {
                    label: Some("label".into()),
                    ..Default::default()
                }),
                champion_job: None,
                challenger_job: None,
                policy: api::ComparePolicy {
                    metric: "auc".into(),
                    min_delta: 0.0,
                    confidence: 0.95,
                    resamples: 100,
                    seed: 0,
                },
            },
        )
        .await
        .unwrap();
    assert_eq!(c.status, ComparisonStatus::Pending);
    // Reading does not decide.
    let read = env.keel.comparison(c.id.into()).await.unwrap();
    assert_eq!(read.status, ComparisonStatus::Pending);
    for job in [c.champion_job, c.challenger_job] {
        env.keel.run_job(job.into()).await.unwrap();
    }
    let listed = env
        .keel
        .list_comparisons(&api::PageQuery::default())
        .await
        .unwrap();
    let got = &listed.items[0];
    assert_eq!(got.status, ComparisonStatus::Completed, "{:?}", got.error);
    let verdict = got.verdict.expect("the list shows the verdict");
    assert_eq!(got.result.as_ref().unwrap()["verdict"], verdict.as_str());

    // An unknown metric is refused with the metrics crate's code and the
    // field it came from.
    let e = env
        .keel
        .create_comparison(
            &admin(),
            api::CreateComparison {
                champion_job: Some(c.champion_job),
                challenger_job: Some(c.challenger_job),
                champion: None,
                challenger: None,
                input: None,
                format: None,
                metrics: None,
                policy: api::ComparePolicy {
                    metric: "beauty".into(),
                    min_delta: 0.0,
                    confidence: 0.95,
                    resamples: 100,
                    seed: 0,
                },
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.to_string().contains("beauty"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_failure_is_data_and_its_job_has_no_result() {
    let env = Env::new().await;
    env.model("m", false, None, None).await;
    let data = env.data("in.csv", "x\n0.9\n");
    env.runtime
        .set(keel_exec::testing::Behaviour::Raise("bad record".into()));
    let job = env
        .keel
        .create_job(
            &admin(),
            create(JobKind::Scoring, "m", &data, Some("out.csv")),
        )
        .await
        .unwrap();
    let done = env.keel.run_job(job.id.into()).await.unwrap();
    assert_eq!(done.status, JobStatus::Failed);
    let error = done.error.unwrap();
    assert_eq!(error.kind, keel_types::JobErrorKind::UserError);
    assert!(error.message.contains("bad record"), "{}", error.message);
    let e = env.keel.job_result(job.id.into(), false).await.unwrap_err();
    assert_eq!(e.code(), Code::NoResult);
    assert!(e.to_string().contains("bad record"), "{e}");
}
