//! Comparisons are paired by record number and decided once, by the
//! executor, when both metrics jobs have finished.

use keel_store::formats::ComparePolicy;
use keel_store::{JobRecord, NewComparison};
use keel_types::{Clock, ComparisonStatus, JobKind, JobStatus, Verdict};

use super::Harness;

/// Labels and two models' scores: `a` ranks every positive above every
/// negative, `b` does not.
const DATA: &str = "label,a,b\n1,0.9,0.4\n0,0.1,0.6\n1,0.8,0.7\n0,0.2,0.3\n1,0.7,0.2\n0,0.3,0.8\n";

async fn metrics_job(h: &Harness, model: &str, data: &std::path::Path) -> JobRecord {
    let v = h.model(model, model).await;
    let mut req = Harness::request(data, None);
    req.builtin = Some(Harness::roles());
    h.queue(JobKind::Metrics, &v, req).await;
    let done = h.run_one().await;
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.error);
    done
}

fn policy(metric: &str) -> ComparePolicy {
    ComparePolicy {
        metric: metric.into(),
        min_delta: 0.0,
        confidence: 0.95,
        resamples: 200,
        seed: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comparison_is_decided_once_both_jobs_have_finished() {
    let h = Harness::new().await;
    let data = h.data("labeled.csv", DATA);
    let a = metrics_job(&h, "a", &data).await;
    // A comparison whose challenger has not run yet waits.
    let bv = h.model("b", "b").await;
    let mut req = Harness::request(&data, None);
    req.builtin = Some(Harness::roles());
    let b = h.queue(JobKind::Metrics, &bv, req).await;
    let c = h
        .stores
        .comparisons
        .create_comparison(
            &NewComparison {
                champion_job: b.id,
                challenger_job: a.id,
                policy: policy("auc"),
            },
            &crate::tests::by(),
        )
        .await
        .unwrap();
    assert_eq!(h.exec.settle_comparisons().await.unwrap(), 0);
    h.run_one().await;
    assert_eq!(h.exec.settle_comparisons().await.unwrap(), 1);
    assert_eq!(
        h.exec.settle_comparisons().await.unwrap(),
        0,
        "decided once"
    );
    let decided = h
        .stores
        .comparisons
        .comparison(c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        decided.status,
        ComparisonStatus::Completed,
        "{:?}",
        decided.error
    );
    let doc = decided.result.unwrap();
    assert_eq!(doc["paired_records"], 6);
    assert_eq!(doc["test"]["method"], "delong");
    assert_eq!(doc["test"]["challenger"], 1.0);
    assert_eq!(doc["verdict"], decided.verdict.unwrap().as_str());
    assert!(matches!(
        decided.verdict,
        Some(Verdict::ChallengerBetter | Verdict::Inconclusive)
    ));
    assert_eq!(decided.finished_at, Some(h.clock.now()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_on_different_data_or_failed_jobs_fail_the_comparison() {
    let h = Harness::new().await;
    let data = h.data("labeled.csv", DATA);
    let flipped = h.data(
        "flipped.csv",
        &DATA
            .lines()
            .enumerate()
            .map(|(i, l)| match (i, l.split_once(',')) {
                (0, _) | (_, None) => l.to_string(),
                (_, Some((label, rest))) => {
                    format!("{},{rest}", if label == "1" { "0" } else { "1" })
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let a = metrics_job(&h, "a", &data).await;
    let b = metrics_job(&h, "b", &flipped).await;
    let mismatched = h
        .stores
        .comparisons
        .create_comparison(
            &NewComparison {
                champion_job: a.id,
                challenger_job: b.id,
                policy: policy("auc"),
            },
            &crate::tests::by(),
        )
        .await
        .unwrap();
    // A job that failed: its model raised.
    let v = h.model("c", "c").await;
    h.queue(JobKind::Metrics, &v, {
        let mut r = Harness::request(&data, None);
        r.builtin = Some(Harness::roles());
        r
    })
    .await;
    h.runtime.set(crate::testing::Behaviour::Raise("no".into()));
    let failed = h.run_one().await;
    assert_eq!(failed.status, JobStatus::Failed);
    let with_failed = h
        .stores
        .comparisons
        .create_comparison(
            &NewComparison {
                champion_job: a.id,
                challenger_job: failed.id,
                policy: policy("f1"),
            },
            &crate::tests::by(),
        )
        .await
        .unwrap();
    assert_eq!(h.exec.settle_comparisons().await.unwrap(), 2);
    let m = h
        .stores
        .comparisons
        .comparison(mismatched.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.status, ComparisonStatus::Failed);
    assert!(m.error.unwrap().contains("labels differ"), "labels differ");
    let f = h
        .stores
        .comparisons
        .comparison(with_failed.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f.status, ComparisonStatus::Failed);
    assert!(f.error.unwrap().contains("ended FAILED"));
}
