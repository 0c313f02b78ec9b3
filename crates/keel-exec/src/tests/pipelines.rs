//! The pipelines through the fake runtime: scoring publishes its output and
//! counts, a model's failure is data, metrics jobs keep their scored rows,
//! and training registers the next version.

use keel_store::keys;
use keel_types::{JobErrorKind, JobKind, JobStatus};

use super::Harness;
use crate::testing::Behaviour;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoring_publishes_the_output_and_rejects_bad_records() {
    let h = Harness::new().await;
    let v = h.model("m", "m").await;
    // The third line has a field too many: it is rejected, the rest scored.
    let input = h.data("in.csv", "x,label\n0.9,1\n0.2,0\n0.7,1,9\n0.6,1\n");
    let job = h
        .queue(
            JobKind::Scoring,
            &v,
            Harness::request(&input, Some("out.csv")),
        )
        .await;
    let done = h.run_one().await;
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
    assert_eq!(done.counts.read, 4);
    assert_eq!(done.counts.written, 3);
    assert_eq!(done.counts.rejected, 1);
    let result = done.result.unwrap();
    assert!(result.has_rejected);
    let out = h
        .stores
        .artifacts
        .get_bytes(&keys::job_output(job.id, "out.csv"))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("x,label,probability,prediction\n0.9,1,0.9,true\n"),
        "{text}"
    );
    let rejected = h
        .stores
        .artifacts
        .get_bytes(&keys::job_rejected(job.id))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&rejected).contains("\"record\":3"));
    // The working directory is gone once the job ended.
    assert!(
        !crate::workspace::workdir(&h.exec.config().home, h.job(job.id).await.lease()).exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_failure_is_data_on_the_job() {
    let h = Harness::new().await;
    let v = h.model("m", "m").await;
    let input = h.data("in.csv", "x\n0.1\n");
    h.queue(
        JobKind::Scoring,
        &v,
        Harness::request(&input, Some("out.csv")),
    )
    .await;
    h.runtime.set(Behaviour::Raise("record 1 is cursed".into()));
    let done = h.run_one().await;
    assert_eq!(done.status, JobStatus::Failed);
    let e = done.error.unwrap();
    assert_eq!(e.kind, JobErrorKind::UserError);
    assert!(e.message.contains("record 1 is cursed"), "{}", e.message);
    assert!(e.traceback.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_job_computes_builtin_and_model_metrics_and_keeps_scores() {
    let h = Harness::new().await;
    let v = h.model("m", "m").await;
    let input = h.data(
        "labeled.csv",
        "m,label\n0.9,1\n0.8,1\n0.3,0\n0.75,0\n0.1,0\n0.7,1\n",
    );
    let mut req = Harness::request(&input, Some("metrics.json"));
    req.builtin = Some(Harness::roles());
    let job = h.queue(JobKind::Metrics, &v, req).await;
    let done = h.run_one().await;
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
    let doc = done.result.unwrap().metrics.unwrap();
    // The probability column was found by its usual name in the output.
    assert_eq!(doc["settings"]["probability"], "probability");
    let auc = doc["binary_classification_metrics"]["auc"]["value"]
        .as_f64()
        .unwrap();
    assert!((auc - 8.0 / 9.0).abs() < 1e-12, "{auc}");
    // The model's own metrics function ran over a second read.
    assert_eq!(doc["model_metrics"]["rows"], 6);
    assert!(
        h.stores
            .artifacts
            .exists(&keys::job_scores(job.id))
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_registers_the_next_version_from_output_dir() {
    let h = Harness::new().await;
    let v = h.model("m", "m").await;
    let input = h.data("train.csv", "x,label\n0.9,1\n0.2,0\n");
    let job = h
        .queue(JobKind::Training, &v, Harness::request(&input, None))
        .await;
    let done = h.run_one().await;
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
    let result = done.result.unwrap();
    assert_eq!(result.produced_version, Some(2));
    let v2 = h
        .stores
        .registry
        .version_by_number(v.model_id, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result.produced_version_id, Some(v2.id));
    assert_eq!(v2.source_job, Some(job.id));
    let trained = v2.files.iter().find(|f| f.path == "model.bin").unwrap();
    let bytes = h
        .stores
        .artifacts
        .get_bytes(&keys::blob(&trained.sha256))
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), b"2", "train saw two rows");
    assert!(
        v2.files.iter().any(|f| f.path == "m.py"),
        "the source is kept"
    );
}
