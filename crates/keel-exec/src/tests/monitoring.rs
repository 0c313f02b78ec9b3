//! Monitoring executions on a manual clock: nothing before the first tick,
//! one execution per tick, the three files in their place, a violation, a
//! scheduler that was down running the newest tick once, stopped schedules
//! left alone, and backfills.

use chrono::Duration;
use keel_store::formats::MonitorDocument;
use keel_store::{NewSchedule, Page};
use keel_types::{ExecutionStatus, MonitorKind, ScheduleStatus};
use serde_json::{Value, json};

use super::{Harness, by};

/// 200 inferences between 12:00 and 12:59:30 (ids `i0`.. `i199`); the
/// probability says positive for the even ones, and the labels (given for
/// all but the last 20) are positive for ids below 100: 3 in 4 right.
fn write_data(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("captured")).unwrap();
    let mut csv = String::from("inference_id,inference_time,probability\n");
    for i in 0..200 {
        let p = if i % 2 == 0 { 0.9 } else { 0.1 };
        csv.push_str(&format!(
            "i{i},2026-03-01T12:{:02}:{:02}Z,{p}\n",
            i * 30 / 100,
            (i * 18) % 60
        ));
    }
    std::fs::write(dir.join("captured/part-0.csv"), csv).unwrap();
    let mut gt = String::new();
    for i in 0..180 {
        let label = if i < 100 { "1" } else { "0" };
        gt.push_str(
            &json!({"groundTruthData": {"data": label, "encoding": "CSV"},
                    "eventMetadata": {"eventId": format!("i{i}")}, "eventVersion": "0"})
            .to_string(),
        );
        gt.push('\n');
    }
    std::fs::write(dir.join("labels.jsonl"), gt).unwrap();
    std::fs::write(
        dir.join("constraints.json"),
        json!({"version": 0.0, "binary_classification_constraints": {
            "accuracy": {"threshold": 0.9, "comparison_operator": "LessThanThreshold"},
            "recall": {"threshold": 0.1, "comparison_operator": "LessThanThreshold"}
        }})
        .to_string(),
    )
    .unwrap();
}

fn definition(dir: &std::path::Path) -> Value {
    let d = dir.display();
    json!({
        "JobDefinitionName": "fraud-quality",
        "ModelQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": format!("file://{d}/constraints.json")}},
        "ModelQualityAppSpecification": {"ImageUri": "keel", "ProblemType": "BinaryClassification"},
        "ModelQualityJobInput": {
            "BatchTransformInput": {"DataCapturedDestinationS3Uri": format!("{d}/captured"),
                                    "DatasetFormat": {"Csv": {"Header": true}},
                                    "ProbabilityAttribute": "probability",
                                    "ProbabilityThresholdAttribute": 0.5,
                                    "StartTimeOffset": "-PT1H", "EndTimeOffset": "-PT0H"},
            "GroundTruthS3Input": {"S3Uri": format!("{d}/labels.jsonl")}},
        "ModelQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {"S3Uri": format!("{d}/out")}}]},
    })
}

/// Writes the data and makes the definition `fraud-quality` and the
/// schedule `hourly` over it, at the harness's start (12:00); answers the
/// data's directory.
async fn hourly_monitor(h: &Harness) -> std::path::PathBuf {
    let data = h.dir.path().join("monitor");
    write_data(&data);
    let m = &h.stores.monitors;
    let doc = MonitorDocument {
        request: definition(&data),
    };
    m.create_definition("fraud-quality", MonitorKind::ModelQuality, &doc, &by())
        .await
        .unwrap();
    let schedule = NewSchedule {
        name: "hourly".into(),
        definition: "fraud-quality".into(),
        expression: "cron(0 * ? * * *)".into(),
        time_zone: None,
        document: MonitorDocument { request: json!({}) },
    };
    m.create_schedule(&schedule, &by()).await.unwrap();
    data
}

fn read(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn schedules_run_once_per_tick_and_write_their_files() {
    let h = Harness::new().await;
    let data = hourly_monitor(&h).await;
    let m = &h.stores.monitors;

    // Created at 12:00: the first tick is 13:00.
    h.clock.advance(Duration::minutes(30));
    assert_eq!(h.exec.tick_monitors().await.unwrap(), 0);
    h.clock
        .advance(Duration::minutes(30) + Duration::seconds(5));
    assert_eq!(h.exec.tick_monitors().await.unwrap(), 1);
    assert_eq!(h.exec.tick_monitors().await.unwrap(), 0, "a tick runs once");
    let list = m
        .list_executions(Some("hourly"), &Page::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(list.len(), 1);
    let e = &list[0];
    assert_eq!(e.status, ExecutionStatus::CompletedWithViolations, "{e:?}");
    assert_eq!(e.scheduled_time.to_rfc3339(), "2026-03-01T13:00:00+00:00");

    let out = data.join("out/hourly/2026/03/01/13");
    let stats = read(&out.join("statistics.json"));
    let bm = &stats["binary_classification_metrics"];
    // 180 labeled: the even ids are predicted positive; ids below 100 are
    // positive: right for even ids < 100 and odd ids >= 100.
    let right = (0..180).filter(|i| (i % 2 == 0) == (*i < 100)).count();
    assert_eq!(stats["dataset"]["item_count"], 180);
    assert_eq!(
        bm["accuracy"]["value"].as_f64().unwrap(),
        right as f64 / 180.0
    );
    let v = read(&out.join("constraint_violations.json"));
    assert_eq!(v["violations"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["violations"][0]["metric_name"], "accuracy");
    // The violation opened an alert.
    let alerts = h
        .stores
        .alerts
        .list_alerts(None, Some("hourly"), &Page::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].metric.as_str(), alerts[0].status),
        ("accuracy", keel_types::AlertStatus::Open)
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("200 inferences captured, 180 with ground truth (90.0 %)"),
        "{html}"
    );
    assert!(html.contains("<polyline"));

    // Down from 13:00 to 16:10: the 16:00 tick runs once, standing for
    // 14:00 and 15:00; its window holds no inference.
    h.clock.advance(Duration::minutes(190));
    assert_eq!(h.exec.tick_monitors().await.unwrap(), 1);
    let list = m
        .list_executions(Some("hourly"), &Page::first(10))
        .await
        .unwrap()
        .items;
    let late = &list[0];
    assert_eq!(
        late.scheduled_time.to_rfc3339(),
        "2026-03-01T16:00:00+00:00"
    );
    assert_eq!((late.status, late.skipped), (ExecutionStatus::Failed, 2));
    assert!(
        late.failure_reason
            .as_deref()
            .unwrap_or_default()
            .contains("no inference was captured"),
        "{late:?}"
    );

    // A failed execution leaves the alert as it was.
    let alerts = h
        .stores
        .alerts
        .list_alerts(None, Some("hourly"), &Page::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!((alerts.len(), alerts[0].occurrences), (1, 1));

    // A backfill of a tick that ran is refused; of one that did not, runs.
    let again = h
        .exec
        .execute_monitor("hourly", e.scheduled_time)
        .await
        .unwrap_err();
    assert_eq!(again.code(), keel_types::Code::Conflict);
    let back = h
        .exec
        .execute_monitor("hourly", e.scheduled_time - Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(
        back.status,
        ExecutionStatus::CompletedWithViolations,
        "{back:?}"
    );
    let half = read(&data.join("out/hourly/2026/03/01/12/30/statistics.json"));
    assert!(
        half["dataset"]["item_count"].as_u64().unwrap() < 180,
        "{half}"
    );
    // It found the violation again: the same alert, twice now.
    let alerts = h
        .stores
        .alerts
        .list_alerts(None, Some("hourly"), &Page::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!((alerts.len(), alerts[0].occurrences), (1, 2));
    // The backfill leaves the newest tick where it was.
    let s = m.schedule("hourly").await.unwrap().unwrap();
    assert_eq!(s.last_tick, Some(late.scheduled_time));

    // A stopped schedule is left alone.
    m.set_schedule_status("hourly", ScheduleStatus::Stopped, &by())
        .await
        .unwrap();
    h.clock.advance(Duration::hours(2));
    assert_eq!(h.exec.tick_monitors().await.unwrap(), 0);
}

#[tokio::test]
async fn late_labels_revise_the_window_they_belong_to() {
    let h = Harness::new().await;
    let data = hourly_monitor(&h).await;
    let m = &h.stores.monitors;
    h.clock
        .advance(Duration::minutes(60) + Duration::seconds(5));
    assert_eq!(h.exec.tick_monitors().await.unwrap(), 1);
    let week = Duration::days(7);
    assert_eq!(
        h.exec.revisit_monitors(week).await.unwrap(),
        0,
        "nothing changed"
    );

    // The last 20 labels arrive late.
    let mut more = std::fs::read_to_string(data.join("labels.jsonl")).unwrap();
    for i in 180..200 {
        more.push_str(
            &json!({"groundTruthData": {"data": "0"}, "eventMetadata": {"eventId": format!("i{i}")}})
                .to_string(),
        );
        more.push('\n');
    }
    std::fs::write(data.join("labels.jsonl"), more).unwrap();
    assert_eq!(h.exec.revisit_monitors(week).await.unwrap(), 1);
    let e = &m
        .list_executions(Some("hourly"), &Page::first(1))
        .await
        .unwrap()
        .items[0];
    assert_eq!(e.revision, 1);
    let out = data.join("out/hourly/2026/03/01/13");
    let stats = read(&out.join("statistics.json"));
    assert_eq!(
        stats["dataset"]["item_count"], 200,
        "the window now has every label"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Revision 1"), "{html}");
    assert_eq!(h.exec.revisit_monitors(week).await.unwrap(), 0, "converged");
    // Outside the lookback, nothing is revised.
    std::fs::write(data.join("labels.jsonl"), "").unwrap();
    h.clock.advance(Duration::days(8));
    assert_eq!(h.exec.revisit_monitors(week).await.unwrap(), 0);
}
