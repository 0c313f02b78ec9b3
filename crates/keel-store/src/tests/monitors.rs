//! The monitors suite: definitions, schedules over them, one execution per
//! tick however often it is claimed, alerts, and their audit rows.

use std::sync::Arc;

use chrono::Duration;
use keel_types::{
    AlertId, AlertStatus, AuditAction, Code, ExecutionId, ExecutionStatus, ManualClock,
    MonitorKind, ScheduleStatus,
};
use serde_json::json;

use super::start;
use crate::formats::MonitorDocument;
use crate::{Actor, AuditFilter, NewSchedule, Page, Stores};

/// Alerts: opened once per schedule and metric while unresolved, found
/// again, resolved by a clean execution, reopened within the cooldown,
/// acknowledged and resolved by people.
async fn alerts(stores: &Stores, clock: &Arc<ManualClock>) {
    let a = &stores.alerts;
    let cooldown = Duration::hours(1);
    let (e1, e2, e3, e4) = (
        ExecutionId::new(),
        ExecutionId::new(),
        ExecutionId::new(),
        ExecutionId::new(),
    );
    let v = |m: &str| (m.to_string(), format!("Metric {m} was low"));
    let first = a
        .record_execution("s", e1, &[v("auc"), v("f1")], cooldown)
        .await
        .unwrap();
    assert_eq!(
        (
            first.opened.len(),
            first.repeated.len(),
            first.resolved.len()
        ),
        (2, 0, 0)
    );
    clock.advance(Duration::minutes(10));
    let second = a
        .record_execution("s", e2, &[v("auc")], cooldown)
        .await
        .unwrap();
    assert_eq!(
        (
            second.opened.len(),
            second.repeated.len(),
            second.resolved.len()
        ),
        (0, 1, 1)
    );
    assert_eq!(second.repeated[0].occurrences, 2);
    assert_eq!(second.repeated[0].last_execution, e2);
    assert_eq!(second.resolved[0].metric, "f1");
    assert_eq!(second.resolved[0].resolved_by.as_deref(), Some("keel"));
    // Within the cooldown, f1 reopens its alert rather than opening another.
    clock.advance(Duration::minutes(10));
    let third = a
        .record_execution("s", e3, &[v("auc"), v("f1")], cooldown)
        .await
        .unwrap();
    assert_eq!(third.opened.len(), 1);
    assert_eq!(third.opened[0].id, first.opened[1].id);
    assert_eq!(third.opened[0].status, AlertStatus::Open);
    let open = a
        .list_alerts(Some(AlertStatus::Open), Some("s"), &Page::first(10))
        .await
        .unwrap();
    assert_eq!(open.items.len(), 2, "one per metric");

    let who = Actor::new("ops", "10.0.0.3:2");
    let acked = a.acknowledge_alert(third.opened[0].id, &who).await.unwrap();
    assert_eq!(
        (acked.status, acked.acknowledged_by.as_deref()),
        (AlertStatus::Acknowledged, Some("ops"))
    );
    let resolved = a.resolve_alert(third.opened[0].id, &who).await.unwrap();
    assert_eq!(resolved.status, AlertStatus::Resolved);
    let again = a
        .acknowledge_alert(third.opened[0].id, &who)
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::Conflict);
    assert_eq!(
        a.resolve_alert(third.opened[0].id, &who).await.unwrap(),
        resolved
    );
    assert_eq!(
        a.acknowledge_alert(AlertId::new(), &who)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    // Past the cooldown a violation opens a new alert.
    clock.advance(Duration::hours(2));
    let fourth = a
        .record_execution("s", e4, &[v("auc"), v("f1")], cooldown)
        .await
        .unwrap();
    assert_eq!(fourth.opened.len(), 1);
    assert_ne!(fourth.opened[0].id, third.opened[0].id);
    let all = a.list_alerts(None, None, &Page::first(2)).await.unwrap();
    assert_eq!(all.items.len(), 2);
    let rest = a
        .list_alerts(None, None, &Page::after(10, all.next_cursor.unwrap()))
        .await
        .unwrap();
    assert_eq!(all.items.len() + rest.items.len(), 3);
    let filter = AuditFilter {
        actor: Some("ops".into()),
        ..AuditFilter::default()
    };
    let log = stores
        .audit
        .list_audit(&filter, &Page::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(
        log.iter().map(|r| r.action).collect::<Vec<_>>(),
        [AuditAction::AlertResolved, AuditAction::AlertAcknowledged]
    );
}

pub(crate) async fn suite(stores: &Stores, clock: &Arc<ManualClock>) {
    alerts(stores, clock).await;
    let m = &stores.monitors;
    let by = Actor::new("mona", "10.0.0.9:1");
    let doc = |v: serde_json::Value| MonitorDocument { request: v };
    let def = m
        .create_definition(
            "fraud-quality",
            MonitorKind::ModelQuality,
            &doc(json!({"JobDefinitionName": "fraud-quality"})),
            &by,
        )
        .await
        .unwrap();
    assert_eq!(def.created_by, "mona");
    let again = m
        .create_definition(
            "fraud-quality",
            MonitorKind::ModelQuality,
            &doc(json!({})),
            &by,
        )
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again}");
    m.create_definition(
        "fraud-drift",
        MonitorKind::DataQuality,
        &doc(json!({})),
        &by,
    )
    .await
    .unwrap();
    m.create_definition("a-quality", MonitorKind::ModelQuality, &doc(json!({})), &by)
        .await
        .unwrap();
    assert_eq!(
        m.definition("fraud-quality").await.unwrap(),
        Some(def.clone())
    );
    assert_eq!(m.definition("nope").await.unwrap(), None);
    let first = m
        .list_definitions(MonitorKind::ModelQuality, &Page::first(1))
        .await
        .unwrap();
    assert_eq!(first.items[0].name, "a-quality");
    let rest = m
        .list_definitions(
            MonitorKind::ModelQuality,
            &Page::after(10, first.next_cursor.unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        rest.items
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        ["fraud-quality"]
    );

    let new = NewSchedule {
        name: "hourly".into(),
        definition: "fraud-quality".into(),
        expression: "cron(0 * ? * * *)".into(),
        time_zone: None,
        document: doc(json!({"ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}})),
    };
    let s = m.create_schedule(&new, &by).await.unwrap();
    assert_eq!(
        (s.status, s.kind, s.last_tick),
        (ScheduleStatus::Scheduled, MonitorKind::ModelQuality, None)
    );
    let orphan = NewSchedule {
        name: "x".into(),
        definition: "nope".into(),
        ..new.clone()
    };
    assert_eq!(
        m.create_schedule(&orphan, &by).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        m.create_schedule(&new, &by).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    let in_use = m.delete_definition("fraud-quality", &by).await.unwrap_err();
    assert_eq!(in_use.code(), Code::Conflict);
    assert!(in_use.to_string().contains("hourly"), "{in_use}");

    clock.advance(Duration::seconds(5));
    let stopped = m
        .set_schedule_status("hourly", ScheduleStatus::Stopped, &by)
        .await
        .unwrap();
    assert_eq!(stopped.status, ScheduleStatus::Stopped);
    assert!(stopped.updated_at > s.updated_at);
    // Stopping a stopped schedule changes nothing and records nothing.
    m.set_schedule_status("hourly", ScheduleStatus::Stopped, &by)
        .await
        .unwrap();
    m.set_schedule_status("hourly", ScheduleStatus::Scheduled, &by)
        .await
        .unwrap();
    let missing = m
        .set_schedule_status("nope", ScheduleStatus::Stopped, &by)
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // One execution per tick, however many claim it; the last tick only
    // moves forward.
    let t1 = start() + Duration::hours(1);
    let t2 = start() + Duration::hours(2);
    let e2 = m.claim_tick("hourly", t2, 3).await.unwrap().unwrap();
    assert_eq!((e2.status, e2.skipped), (ExecutionStatus::Pending, 3));
    assert_eq!(m.claim_tick("hourly", t2, 0).await.unwrap(), None);
    let e1 = m.claim_tick("hourly", t1, 0).await.unwrap().unwrap();
    assert_eq!(
        m.schedule("hourly").await.unwrap().unwrap().last_tick,
        Some(t2)
    );
    assert!(
        m.finish_execution(
            e2.id,
            ExecutionStatus::CompletedWithViolations,
            None,
            Some("d1")
        )
        .await
        .unwrap()
    );
    assert!(
        !m.finish_execution(e2.id, ExecutionStatus::Failed, Some("late"), None)
            .await
            .unwrap()
    );
    assert!(
        m.finish_execution(
            e1.id,
            ExecutionStatus::Failed,
            Some("no data in the window"),
            None
        )
        .await
        .unwrap()
    );
    let bad = m
        .finish_execution(e1.id, ExecutionStatus::InProgress, None, None)
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    // Late labels: a revision, fenced by the one before.
    let revise = |rev: u64, digest: &'static str| {
        m.revise_execution(e2.id, rev, ExecutionStatus::Completed, None, Some(digest))
    };
    assert!(revise(1, "d2").await.unwrap());
    assert!(
        !revise(1, "d3").await.unwrap(),
        "revision 1 was made already"
    );
    assert!(
        m.revise_execution(e2.id, 0, ExecutionStatus::Completed, None, None)
            .await
            .is_err()
    );
    let page = m
        .list_executions(Some("hourly"), &Page::first(1))
        .await
        .unwrap();
    assert_eq!(page.items[0].scheduled_time, t2);
    assert_eq!(page.items[0].status, ExecutionStatus::Completed);
    assert_eq!(
        (
            page.items[0].revision,
            page.items[0].truth_digest.as_deref()
        ),
        (1, Some("d2"))
    );
    let older = m
        .list_executions(Some("hourly"), &Page::after(10, page.next_cursor.unwrap()))
        .await
        .unwrap();
    assert_eq!(older.items.len(), 1);
    assert_eq!(
        older.items[0].failure_reason.as_deref(),
        Some("no data in the window")
    );
    assert!(
        m.list_executions(Some("other"), &Page::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    assert!(m.delete_schedule("hourly", &by).await.unwrap());
    assert!(!m.delete_schedule("hourly", &by).await.unwrap());
    assert!(m.delete_definition("fraud-quality", &by).await.unwrap());
    assert!(!m.delete_definition("fraud-quality", &by).await.unwrap());
    // The executions stay, for the record.
    assert_eq!(
        m.list_executions(None, &Page::first(10))
            .await
            .unwrap()
            .items
            .len(),
        2
    );

    let filter = AuditFilter {
        actor: Some("mona".into()),
        ..AuditFilter::default()
    };
    let mut log = stores
        .audit
        .list_audit(&filter, &Page::first(100))
        .await
        .unwrap()
        .items;
    log.reverse();
    let actions: Vec<AuditAction> = log.iter().map(|r| r.action).collect();
    use AuditAction::*;
    assert_eq!(
        actions,
        [
            MonitorDefinitionCreated,
            MonitorDefinitionCreated,
            MonitorDefinitionCreated,
            MonitorScheduleCreated,
            MonitorScheduleChanged,
            MonitorScheduleChanged,
            MonitorScheduleDeleted,
            MonitorDefinitionDeleted,
        ]
    );
}
