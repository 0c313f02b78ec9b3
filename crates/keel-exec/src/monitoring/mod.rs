//! Monitoring executions: each tick of a `Scheduled` schedule is claimed
//! once (the store's unique key), then its model-quality job definition
//! runs over the window `[tick + StartTimeOffset, tick + EndTimeOffset]`:
//! the captured inferences in the window joined with their ground truth by
//! inference id, Keel's metrics of them, the check against the baseline's
//! constraints, and `statistics.json`, `constraint_violations.json` and
//! `report.html` written under the output location, at
//! `SCHEDULE/YYYY/MM/DD/HH` (and `/MM` for ticks within the hour).
//!
//! A scheduler that was down runs the newest due tick once and records how
//! many it skipped. A completed execution opens an alert per violated
//! metric (or adds to the one that is open) and resolves those it finds
//! back within their constraints. Late labels: once a minute, the recent
//! executions whose ground truth changed since they read it run again as
//! their next revision, so the history converges on the truth. Executions
//! take no Python: the metrics are Rust.

mod data;
mod report;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Timelike, Utc};
use keel_metrics::{ProblemType, Spec};
use keel_monitor::{Constraints, Schedule, parse_duration};
use keel_store::{DefinitionRecord, ExecutionRecord, S3Uri, ScheduleRecord, Stores};
use keel_types::{DataFormat, ExecutionStatus, MonitorKind, ScheduleStatus};
use serde_json::Value;

use crate::Executor;
use crate::error::{Error, Result};

/// Where a definition points: a local path, or an S3 object or prefix.
#[derive(Clone, Debug, PartialEq)]
enum Location {
    Local(PathBuf),
    S3(S3Uri),
}

impl Location {
    fn parse(uri: &str) -> std::result::Result<Location, String> {
        let uri = uri.trim();
        if S3Uri::is_s3(uri) {
            return S3Uri::parse(uri)
                .map(Location::S3)
                .map_err(|e| e.to_string());
        }
        Ok(Location::Local(PathBuf::from(
            uri.strip_prefix("file://").unwrap_or(uri),
        )))
    }
}

/// What a model-quality definition asks for.
struct Settings {
    problem: ProblemType,
    attrs: data::Attributes,
    threshold: Option<f64>,
    start: Duration,
    end: Duration,
    captured: Location,
    format: Option<DataFormat>,
    ground_truth: Location,
    constraints: Option<Location>,
    output: Location,
}

fn settings(def: &Value) -> std::result::Result<Settings, String> {
    let input = &def["ModelQualityJobInput"];
    let (source, captured) = if input["BatchTransformInput"].is_object() {
        let b = &input["BatchTransformInput"];
        let uri = b["DataCapturedDestinationS3Uri"].as_str().ok_or(
            "`ModelQualityJobInput.BatchTransformInput.DataCapturedDestinationS3Uri` is missing",
        )?;
        (b, Location::parse(uri)?)
    } else {
        return Err(
            "this Keel runs executions over a data location (`BatchTransformInput`); the inferences \
             a model's endpoint captured are not kept yet"
                .into(),
        );
    };
    let text = |k: &str| source[k].as_str().map(str::to_string);
    let offset = |k: &str, default: &str| {
        parse_duration(source[k].as_str().unwrap_or(default)).map_err(|e| format!("`{k}`: {e}"))
    };
    let format = match &source["DatasetFormat"] {
        f if f.get("Csv").is_some() => Some(DataFormat::Csv),
        f if f.get("Parquet").is_some() => Some(DataFormat::Parquet),
        f if f.get("Json").is_some() => Some(DataFormat::Json),
        _ => None,
    };
    let problem = def["ModelQualityAppSpecification"]["ProblemType"]
        .as_str()
        .ok_or("`ModelQualityAppSpecification.ProblemType` is missing")?
        .parse::<ProblemType>()
        .map_err(|e| e.to_string())?;
    let threshold = match &source["ProbabilityThresholdAttribute"] {
        Value::Null => None,
        v => Some(
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .ok_or("`ProbabilityThresholdAttribute` is not a number")?,
        ),
    };
    let gt = input["GroundTruthS3Input"]["S3Uri"]
        .as_str()
        .ok_or("`ModelQualityJobInput.GroundTruthS3Input.S3Uri` is missing")?;
    let output = def["ModelQualityJobOutputConfig"]["MonitoringOutputs"][0]["S3Output"]["S3Uri"]
        .as_str()
        .ok_or("`ModelQualityJobOutputConfig.MonitoringOutputs[0].S3Output.S3Uri` is missing")?;
    let constraints = def["ModelQualityBaselineConfig"]["ConstraintsResource"]["S3Uri"]
        .as_str()
        .map(Location::parse)
        .transpose()?;
    Ok(Settings {
        problem,
        attrs: data::Attributes {
            inference: text("InferenceAttribute"),
            probability: text("ProbabilityAttribute"),
        },
        threshold,
        // SageMaker's defaults: the hour before the tick.
        start: offset("StartTimeOffset", "-PT1H")?,
        end: offset("EndTimeOffset", "-PT0H")?,
        captured,
        format,
        ground_truth: Location::parse(gt)?,
        constraints,
        output: Location::parse(output)?,
    })
}

/// The execution's directory under the output location.
fn output_dir(schedule: &str, tick: DateTime<Utc>) -> String {
    let mut dir = format!("{schedule}/{}", tick.format("%Y/%m/%d/%H"));
    if tick.minute() != 0 {
        dir.push_str(&format!("/{:02}", tick.minute()));
    }
    dir
}

impl Executor {
    /// Runs the due tick of every `Scheduled` schedule, each once however
    /// many runners look; answers how many executions ran.
    pub async fn tick_monitors(&self) -> Result<usize> {
        let now = self.inner.stores.clock.now();
        let mut ran = 0;
        let mut page = keel_store::Page::first(1000);
        loop {
            let got = self.inner.stores.monitors.list_schedules(&page).await?;
            for s in got
                .items
                .iter()
                .filter(|s| s.status == ScheduleStatus::Scheduled)
            {
                let Ok(expr) = Schedule::parse(&s.expression, s.time_zone.as_deref()) else {
                    continue;
                };
                let Some(due) = expr.due(now, s.last_tick, s.created_at) else {
                    continue;
                };
                if let Some(e) = self
                    .inner
                    .stores
                    .monitors
                    .claim_tick(&s.name, due.tick, due.skipped)
                    .await?
                {
                    self.run_execution(s, e).await?;
                    ran += 1;
                }
            }
            match got.next_cursor {
                Some(c) => page = keel_store::Page::after(1000, c),
                None => break,
            }
        }
        // Late labels are looked for once a minute: listing a ground-truth
        // location costs more than reading the schedules.
        let due = {
            let mut last = self
                .inner
                .last_revisit
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60));
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        };
        if due {
            ran += self
                .revisit_monitors(self.inner.cfg.late_label_lookback)
                .await?;
        }
        Ok(ran)
    }

    /// Runs the execution of `schedule` for `tick` now (a backfill, or a
    /// test), whatever its schedule says; `Conflict` when that tick has one.
    pub async fn execute_monitor(
        &self,
        schedule: &str,
        tick: DateTime<Utc>,
    ) -> Result<ExecutionRecord> {
        let s = self
            .inner
            .stores
            .monitors
            .schedule(schedule)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "There is no monitoring schedule named '{schedule}'."
                ))
            })?;
        let Some(e) = self
            .inner
            .stores
            .monitors
            .claim_tick(schedule, tick, 0)
            .await?
        else {
            return Err(Error::Conflict(format!(
                "The schedule '{schedule}' has an execution for {} already.",
                tick.to_rfc3339()
            )));
        };
        let id = e.id;
        self.run_execution(&s, e).await?;
        self.inner
            .stores
            .monitors
            .execution(id)
            .await?
            .ok_or_else(|| Error::Internal(format!("the execution {id} vanished")))
    }

    async fn run_execution(&self, s: &ScheduleRecord, e: ExecutionRecord) -> Result<()> {
        let (outcome, digest) = self.evaluate(s, &e).await?;
        let (status, reason) = status_of(&outcome);
        self.follow_alerts(s, &e, &outcome).await?;
        tracing::info!(schedule = %s.name, tick = %e.scheduled_time, status = %status, reason = reason.as_deref().unwrap_or(""), "monitoring execution");
        self.inner
            .stores
            .monitors
            .finish_execution(e.id, status, reason.as_deref(), digest.as_deref())
            .await?;
        Ok(())
    }

    /// Runs an execution's evaluation: what it found (each violated metric,
    /// or why it could not look) and the digest of the ground truth it read.
    async fn evaluate(
        &self,
        s: &ScheduleRecord,
        e: &ExecutionRecord,
    ) -> Result<(Outcome, Option<String>)> {
        let def = self.inner.stores.monitors.definition(&s.definition).await?;
        let d = match def {
            None => {
                return Ok((
                    Err(format!(
                        "the job definition '{}' no longer exists",
                        s.definition
                    )),
                    None,
                ));
            }
            Some(d) if d.kind != MonitorKind::ModelQuality => {
                return Ok((
                    Err(format!(
                        "the job definition '{}' is {}; this Keel runs model-quality executions only",
                        d.name,
                        d.kind.sagemaker_name()
                    )),
                    None,
                ));
            }
            Some(d) => d,
        };
        let scratch = tempfile::Builder::new()
            .prefix(&format!("monitor-{}.", e.id))
            .tempdir_in(self.inner.cfg.home.join("work"))
            .map_err(|err| Error::Internal(format!("cannot make a scratch directory: {err}")))?;
        let digest = match settings(&d.document.request) {
            Ok(set) => truth_digest(&self.inner.stores, &set.ground_truth)
                .await
                .ok(),
            Err(_) => None,
        };
        Ok((
            run(&self.inner.stores, s, &d, e, scratch.path()).await,
            digest,
        ))
    }

    /// Opens and resolves the schedule's alerts as a completed execution
    /// found; one that could not look changes none.
    async fn follow_alerts(
        &self,
        s: &ScheduleRecord,
        e: &ExecutionRecord,
        outcome: &Outcome,
    ) -> Result<()> {
        let Ok(violated) = outcome else { return Ok(()) };
        let changes = self
            .inner
            .stores
            .alerts
            .record_execution(&s.name, e.id, violated, self.inner.cfg.alert_cooldown)
            .await?;
        for a in &changes.opened {
            tracing::warn!(schedule = %s.name, metric = %a.metric, alert = %a.id, "alert opened: {}", a.last_description);
        }
        for a in &changes.resolved {
            tracing::info!(schedule = %s.name, metric = %a.metric, alert = %a.id, "alert resolved");
        }
        Ok(())
    }

    /// Late labels: runs again, as their next revision, the recent
    /// executions (created within `lookback`) whose ground truth changed
    /// since they read it; answers how many ran again. The alerts follow a
    /// revision of a schedule's newest execution only.
    pub async fn revisit_monitors(&self, lookback: chrono::Duration) -> Result<usize> {
        let since = self.inner.stores.clock.now() - lookback;
        let mut revised = 0;
        let schedules = self
            .inner
            .stores
            .monitors
            .list_schedules(&keel_store::Page::first(1000))
            .await?;
        for s in schedules
            .items
            .iter()
            .filter(|s| s.status == ScheduleStatus::Scheduled)
        {
            let Some(d) = self.inner.stores.monitors.definition(&s.definition).await? else {
                continue;
            };
            let Ok(set) = settings(&d.document.request) else {
                continue;
            };
            let Ok(current) = truth_digest(&self.inner.stores, &set.ground_truth).await else {
                continue;
            };
            let recent = self
                .inner
                .stores
                .monitors
                .list_executions(Some(&s.name), &keel_store::Page::first(200))
                .await?;
            let newest = recent.items.first().map(|e| e.id);
            for e in recent.items.iter().filter(|e| e.created_at >= since) {
                let ended = e.finished_at.is_some() && e.status != ExecutionStatus::Stopped;
                if !ended || e.truth_digest.as_deref() == Some(current.as_str()) {
                    continue;
                }
                let (outcome, digest) = self.evaluate(s, e).await?;
                let (status, reason) = status_of(&outcome);
                let moved = self
                    .inner
                    .stores
                    .monitors
                    .revise_execution(
                        e.id,
                        e.revision + 1,
                        status,
                        reason.as_deref(),
                        digest.as_deref(),
                    )
                    .await?;
                if moved {
                    revised += 1;
                    tracing::info!(schedule = %s.name, tick = %e.scheduled_time, revision = e.revision + 1, status = %status, "monitoring execution revised for late labels");
                    if Some(e.id) == newest {
                        self.follow_alerts(s, e, &outcome).await?;
                    }
                }
            }
        }
        Ok(revised)
    }
}

/// What an evaluation found: each violated metric with its words, or why it
/// could not look.
type Outcome = std::result::Result<Vec<(String, String)>, String>;

fn status_of(outcome: &Outcome) -> (ExecutionStatus, Option<String>) {
    match outcome {
        Ok(v) if !v.is_empty() => (ExecutionStatus::CompletedWithViolations, None),
        Ok(_) => (ExecutionStatus::Completed, None),
        Err(why) => (ExecutionStatus::Failed, Some(why.clone())),
    }
}

/// A digest of what a ground-truth location holds: each file's name, size
/// and modification time (each object's key and size in a bucket), so a
/// label added later changes it. FNV-1a over the listing: stable across
/// processes and releases, and enough to notice a change.
async fn truth_digest(stores: &Stores, loc: &Location) -> std::result::Result<String, String> {
    let mut listing = String::new();
    match loc {
        Location::Local(p) => {
            for f in data::files(p)? {
                let m = std::fs::metadata(&f)
                    .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                listing.push_str(&format!("{}\0{}\0{mtime}\n", f.display(), m.len()));
            }
        }
        Location::S3(uri) => {
            for o in stores
                .buckets
                .objects(uri)
                .await
                .map_err(|e| e.to_string())?
            {
                let size = stores
                    .buckets
                    .size(&o)
                    .await
                    .map_err(|e| e.to_string())?
                    .unwrap_or(0);
                listing.push_str(&format!("{o}\0{size}\n"));
            }
        }
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in listing.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Ok(format!("{h:016x}"))
}

/// Fetches a location to local files: itself, or an S3 object or prefix
/// downloaded into `scratch/slot`.
async fn fetch(
    stores: &Stores,
    loc: &Location,
    scratch: &Path,
    slot: &str,
) -> std::result::Result<Vec<PathBuf>, String> {
    match loc {
        Location::Local(p) => data::files(p),
        Location::S3(uri) => {
            let objects = stores
                .buckets
                .objects(uri)
                .await
                .map_err(|e| e.to_string())?;
            if objects.is_empty() {
                return Err(format!("there is nothing at {uri}"));
            }
            let mut out = Vec::new();
            for (n, o) in objects.iter().enumerate() {
                let dest = scratch.join(slot).join(format!("{n:06}-{}", o.file_name()));
                stores
                    .buckets
                    .download(o, &dest)
                    .await
                    .map_err(|e| e.to_string())?;
                out.push(dest);
            }
            Ok(out)
        }
    }
}

/// Runs one execution; answers each violated metric with the words for it.
async fn run(
    stores: &Stores,
    s: &ScheduleRecord,
    def: &DefinitionRecord,
    e: &ExecutionRecord,
    scratch: &Path,
) -> std::result::Result<Vec<(String, String)>, String> {
    let set = settings(&def.document.request)?;
    let (from, to) = (e.scheduled_time + set.start, e.scheduled_time + set.end);
    if from > to {
        return Err(format!(
            "the window starts at {from} after it ends at {to}; check StartTimeOffset and EndTimeOffset"
        ));
    }
    let captured_files = fetch(stores, &set.captured, scratch, "captured").await?;
    let truth_files = fetch(stores, &set.ground_truth, scratch, "ground-truth").await?;
    let constraints = match &set.constraints {
        Some(loc) => {
            let files = fetch(stores, loc, scratch, "constraints").await?;
            let file = files.first().ok_or("the constraints resource is empty")?;
            let text = std::fs::read_to_string(file)
                .map_err(|err| format!("cannot read the constraints: {err}"))?;
            let doc: Value = serde_json::from_str(&text)
                .map_err(|err| format!("the constraints are not JSON: {err}"))?;
            Some(Constraints::from_document(&doc).map_err(|err| err.to_string())?)
        }
        None => None,
    };
    let (attrs, format) = (set.attrs.clone(), set.format);
    let joined =
        tokio::task::spawn_blocking(move || -> std::result::Result<data::Joined, String> {
            let inferences = data::captured(&captured_files, format, &attrs, from, to)?;
            let labels = data::ground_truth(&truth_files)?;
            data::join(&inferences, &labels)
        })
        .await
        .map_err(|err| format!("the join did not finish: {err}"))??;
    if joined.captured == 0 {
        return Err(format!(
            "no inference was captured between {} and {}",
            from.to_rfc3339(),
            to.to_rfc3339()
        ));
    }
    if joined.labeled == 0 {
        return Err(format!(
            "none of the {} inferences between {} and {} has ground truth yet",
            joined.captured,
            from.to_rfc3339(),
            to.to_rfc3339()
        ));
    }
    let mut spec = Spec::new(set.problem, "label");
    if joined.batch.column_by_name("probability").is_some() && set.problem == ProblemType::Binary {
        spec.probability = Some("probability".into());
    }
    if joined.batch.column_by_name("prediction").is_some() {
        spec.prediction = Some("prediction".into());
    }
    if let Some(t) = set.threshold {
        spec.threshold = t;
    }
    let statistics = keel_metrics::report::evaluate(std::slice::from_ref(&joined.batch), &spec)
        .map_err(|err| err.to_string())?;
    let violations = match &constraints {
        Some(c) => keel_monitor::check(&statistics, c).map_err(|err| err.to_string())?,
        None => Vec::new(),
    };
    let violations_doc = keel_monitor::violations_document(&violations);
    let key = match set.problem {
        ProblemType::Binary => "binary_classification_metrics",
        ProblemType::Multiclass => "multiclass_classification_metrics",
        ProblemType::Regression => "regression_metrics",
    };
    let ctx = report::Context {
        schedule: &s.name,
        revision: e.revision + u64::from(e.finished_at.is_some()),
        tick: e.scheduled_time,
        from,
        to,
        captured: joined.captured,
        labeled: joined.labeled,
        skipped: e.skipped,
    };
    let html = report::html(&ctx, &statistics, key, &violations_doc);
    let pretty = |v: &Value| serde_json::to_vec_pretty(v).unwrap_or_default();
    let files: [(&str, Vec<u8>); 3] = [
        ("statistics.json", pretty(&statistics)),
        ("constraint_violations.json", pretty(&violations_doc)),
        ("report.html", html.into_bytes()),
    ];
    let dir = output_dir(&s.name, e.scheduled_time);
    for (name, bytes) in files {
        match &set.output {
            Location::Local(root) => {
                let path = root.join(&dir).join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|err| format!("cannot create {}: {err}", parent.display()))?;
                }
                crate::publish::write_atomic(&path, &bytes)
                    .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
            }
            Location::S3(root) => {
                let uri = S3Uri::parse(&format!("s3://{}/{}/{dir}/{name}", root.bucket, root.key))
                    .map_err(|err| err.to_string())?;
                stores
                    .buckets
                    .put(&uri, bytes.into())
                    .await
                    .map_err(|err| err.to_string())?;
            }
        }
    }
    Ok(violations
        .into_iter()
        .map(|v| (v.metric_name, v.description))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_go_under_the_schedule_and_the_tick() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            output_dir("fraud", t("2026-11-29T10:00:00Z")),
            "fraud/2026/11/29/10"
        );
        assert_eq!(
            output_dir("fraud", t("2026-11-29T10:30:00Z")),
            "fraud/2026/11/29/10/30"
        );
    }

    #[test]
    fn locations_are_paths_file_uris_or_objects() {
        assert_eq!(
            Location::parse("/data/x").unwrap(),
            Location::Local("/data/x".into())
        );
        assert_eq!(
            Location::parse("file:///data/x").unwrap(),
            Location::Local("/data/x".into())
        );
        assert!(matches!(
            Location::parse("s3://bucket/labels").unwrap(),
            Location::S3(_)
        ));
        assert!(Location::parse("s3://bucket/").is_err());
    }
}
