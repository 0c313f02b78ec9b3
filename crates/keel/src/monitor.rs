//! `keel monitor`: model-quality monitoring in SageMaker Model Monitor's
//! files and API. `baseline` computes a labeled data set's statistics and
//! suggests constraints; `check` compares any statistics with any
//! constraints (both on files alone: no data directory, no server).
//! `definition`, `schedule`, `execute` and `executions` manage monitors on
//! the data directory or a server, through the SageMaker operations.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::backend::Backend;
use crate::output::{self, Format};
use crate::quality::{self, RoleArgs};

/// Exit code of `keel monitor check` when a constraint is violated.
pub const EXIT_VIOLATIONS: i32 = 7;

#[derive(Subcommand)]
pub enum MonitorCmd {
    /// Computes a baseline's statistics from a labeled data set with the
    /// model's predictions, and suggests constraints from them.
    Baseline(BaselineArgs),
    /// Checks statistics (Keel's or SageMaker's) against constraints;
    /// exits 7 when a constraint is violated.
    Check {
        /// statistics.json
        statistics: PathBuf,
        /// constraints.json
        constraints: PathBuf,
        /// Write constraint_violations.json into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Monitoring job definitions: create (from a SageMaker request JSON), list, show, delete.
    #[command(subcommand)]
    Definition(DefinitionCmd),
    /// Monitoring schedules: create, list, show, start, stop, delete.
    #[command(subcommand)]
    Schedule(ScheduleCmd),
    /// Runs a schedule's execution for one tick now (a backfill, or a test).
    Execute {
        /// The schedule.
        name: String,
        /// The tick, such as 2026-11-29T10:00:00Z.
        #[arg(long)]
        at: String,
    },
    /// A schedule's executions, newest tick first.
    Executions {
        /// The schedule.
        name: String,
    },
}

#[derive(Subcommand)]
pub enum AlertCmd {
    /// Lists alerts, newest first.
    #[command(alias = "ls")]
    List {
        /// OPEN, ACKNOWLEDGED or RESOLVED.
        #[arg(long)]
        status: Option<String>,
        /// Only this schedule's alerts.
        #[arg(long)]
        schedule: Option<String>,
        #[command(flatten)]
        page: crate::PageArgs,
    },
    /// Acknowledges an open alert: someone is on it.
    Ack { id: String },
    /// Resolves an alert by hand.
    Resolve { id: String },
}

#[derive(Subcommand)]
pub enum DefinitionCmd {
    /// Creates a definition from a file holding the body of SageMaker's
    /// CreateModelQualityJobDefinition (or CreateDataQualityJobDefinition).
    Create { file: PathBuf },
    /// Lists definitions.
    #[command(alias = "ls")]
    List {
        /// model-quality or data-quality.
        #[arg(long, default_value = "model-quality")]
        kind: keel_types::MonitorKind,
    },
    /// Shows a definition, every field as it was sent.
    Show {
        name: String,
        #[arg(long, default_value = "model-quality")]
        kind: keel_types::MonitorKind,
    },
    /// Deletes a definition no schedule uses.
    Delete {
        name: String,
        #[arg(long, default_value = "model-quality")]
        kind: keel_types::MonitorKind,
    },
}

#[derive(Subcommand)]
pub enum ScheduleCmd {
    /// Creates a schedule over a definition.
    Create {
        name: String,
        /// The job definition it runs.
        #[arg(long)]
        definition: String,
        /// When: cron(0 * ? * * *), five-field cron, R/PT1H or NOW.
        #[arg(long)]
        expression: String,
        /// The IANA time zone the expression is read in (default UTC).
        #[arg(long)]
        time_zone: Option<String>,
    },
    /// Lists schedules.
    #[command(alias = "ls")]
    List,
    /// Shows a schedule and its last execution.
    Show { name: String },
    /// Starts a stopped schedule.
    Start { name: String },
    /// Stops a schedule: its ticks do not run until it is started.
    Stop { name: String },
    /// Deletes a schedule (its executions stay).
    Delete { name: String },
}

#[derive(Args)]
pub struct BaselineArgs {
    /// A CSV, JSON lines or Parquet file with the ground truth and the predictions.
    data: PathBuf,
    /// binary | multiclass | regression (SageMaker's BinaryClassification, ... too).
    #[arg(long)]
    problem_type: String,
    /// The column with the model's prediction (a label, or a value).
    #[arg(long)]
    inference_attribute: Option<String>,
    /// The column with the probability of the positive class (binary).
    #[arg(long)]
    probability_attribute: Option<String>,
    /// A probability above this predicts the positive class (default 0.5).
    #[arg(long)]
    probability_threshold: Option<f64>,
    /// The column with the actual label or value.
    #[arg(long)]
    ground_truth_attribute: String,
    /// How many standard deviations worse than the baseline a suggested
    /// threshold is.
    #[arg(long, default_value_t = keel_monitor::DEFAULT_SIGMAS)]
    sigmas: f64,
    /// The directory to write statistics.json and constraints.json into.
    #[arg(long)]
    out: PathBuf,
}

/// Whether the command works on files alone, with no data directory.
pub fn on_files(cmd: &MonitorCmd) -> bool {
    matches!(cmd, MonitorCmd::Baseline(_) | MonitorCmd::Check { .. })
}

/// Runs the monitor commands that need neither a data directory nor a
/// server ([`on_files`]).
pub fn run_files(fmt: Format, cmd: MonitorCmd) -> anyhow::Result<i32> {
    match cmd {
        MonitorCmd::Baseline(a) => baseline(fmt, a),
        MonitorCmd::Check {
            statistics,
            constraints,
            out,
        } => check(fmt, &statistics, &constraints, out.as_deref()),
        _ => anyhow::bail!("this monitor command needs a data directory or a server"),
    }
}

/// Runs the monitor commands that manage definitions, schedules and
/// executions, on the data directory or a server.
pub async fn run_managed(b: &Backend, fmt: Format, cmd: MonitorCmd) -> anyhow::Result<i32> {
    let show = |v: &Value| -> anyhow::Result<i32> {
        output::json(v)?;
        Ok(0)
    };
    match cmd {
        MonitorCmd::Baseline(_) | MonitorCmd::Check { .. } => {
            anyhow::bail!("this monitor command runs on files; it needs no data directory")
        }
        MonitorCmd::Definition(DefinitionCmd::Create { file }) => {
            let req = read_json(&file)?;
            let kind = if req.get("DataQualityJobInput").is_some() {
                "DataQuality"
            } else {
                "ModelQuality"
            };
            let made = b
                .sagemaker(&format!("Create{kind}JobDefinition"), req)
                .await?;
            if fmt == Format::Json {
                return show(&made);
            }
            println!("{}", made["JobDefinitionArn"].as_str().unwrap_or_default());
            Ok(0)
        }
        MonitorCmd::Definition(DefinitionCmd::List { kind }) => {
            let got = b
                .sagemaker(
                    &format!("List{}JobDefinitions", kind.sagemaker_name()),
                    serde_json::json!({}),
                )
                .await?;
            if fmt == Format::Json {
                return show(&got);
            }
            let rows: Vec<Vec<String>> = got["JobDefinitionSummaries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    vec![
                        d["MonitoringJobDefinitionName"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        d["EndpointName"].as_str().unwrap_or("-").to_string(),
                    ]
                })
                .collect();
            output::table(&["NAME", "ENDPOINT"], &rows);
            Ok(0)
        }
        MonitorCmd::Definition(DefinitionCmd::Show { name, kind }) => show(
            &b.sagemaker(
                &format!("Describe{}JobDefinition", kind.sagemaker_name()),
                serde_json::json!({"JobDefinitionName": name}),
            )
            .await?,
        ),
        MonitorCmd::Definition(DefinitionCmd::Delete { name, kind }) => {
            b.sagemaker(
                &format!("Delete{}JobDefinition", kind.sagemaker_name()),
                serde_json::json!({"JobDefinitionName": name}),
            )
            .await?;
            eprintln!("deleted the job definition {name}");
            Ok(0)
        }
        MonitorCmd::Schedule(ScheduleCmd::Create {
            name,
            definition,
            expression,
            time_zone,
        }) => {
            let mut schedule = serde_json::json!({"ScheduleExpression": expression});
            if let Some(tz) = time_zone {
                schedule["TimeZone"] = Value::String(tz);
            }
            let made = b
                .sagemaker(
                    "CreateMonitoringSchedule",
                    serde_json::json!({"MonitoringScheduleName": name, "MonitoringScheduleConfig": {
                        "ScheduleConfig": schedule, "MonitoringJobDefinitionName": definition}}),
                )
                .await?;
            if fmt == Format::Json {
                return show(&made);
            }
            println!(
                "{}",
                made["MonitoringScheduleArn"].as_str().unwrap_or_default()
            );
            Ok(0)
        }
        MonitorCmd::Schedule(ScheduleCmd::List) => {
            let got = b
                .sagemaker("ListMonitoringSchedules", serde_json::json!({}))
                .await?;
            if fmt == Format::Json {
                return show(&got);
            }
            let rows: Vec<Vec<String>> = got["MonitoringScheduleSummaries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    [
                        "MonitoringScheduleName",
                        "MonitoringJobDefinitionName",
                        "MonitoringScheduleStatus",
                    ]
                    .iter()
                    .map(|k| s[*k].as_str().unwrap_or_default().to_string())
                    .collect()
                })
                .collect();
            output::table(&["NAME", "DEFINITION", "STATUS"], &rows);
            Ok(0)
        }
        MonitorCmd::Schedule(ScheduleCmd::Show { name }) => show(
            &b.sagemaker(
                "DescribeMonitoringSchedule",
                serde_json::json!({"MonitoringScheduleName": name}),
            )
            .await?,
        ),
        MonitorCmd::Schedule(ScheduleCmd::Start { name }) => {
            b.sagemaker(
                "StartMonitoringSchedule",
                serde_json::json!({"MonitoringScheduleName": name}),
            )
            .await?;
            eprintln!("started {name}");
            Ok(0)
        }
        MonitorCmd::Schedule(ScheduleCmd::Stop { name }) => {
            b.sagemaker(
                "StopMonitoringSchedule",
                serde_json::json!({"MonitoringScheduleName": name}),
            )
            .await?;
            eprintln!("stopped {name}");
            Ok(0)
        }
        MonitorCmd::Schedule(ScheduleCmd::Delete { name }) => {
            b.sagemaker(
                "DeleteMonitoringSchedule",
                serde_json::json!({"MonitoringScheduleName": name}),
            )
            .await?;
            eprintln!("deleted the schedule {name}");
            Ok(0)
        }
        MonitorCmd::Execute { name, at } => {
            let at = chrono::DateTime::parse_from_rfc3339(at.trim())
                .with_context(|| {
                    format!("--at takes a time such as 2026-11-29T10:00:00Z, not '{at}'")
                })?
                .with_timezone(&chrono::Utc);
            let e = b.execute_monitor(&name, at).await?;
            if fmt == Format::Json {
                output::json(&e)?;
            } else {
                println!(
                    "{} {}{}",
                    name,
                    e["MonitoringExecutionStatus"].as_str().unwrap_or_default(),
                    e["FailureReason"]
                        .as_str()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
            }
            Ok(match e["MonitoringExecutionStatus"].as_str() {
                Some("CompletedWithViolations") => EXIT_VIOLATIONS,
                Some("Failed") => crate::EXIT_JOB_FAILED,
                _ => 0,
            })
        }
        MonitorCmd::Executions { name } => {
            let got = b
                .sagemaker(
                    "ListMonitoringExecutions",
                    serde_json::json!({"MonitoringScheduleName": name}),
                )
                .await?;
            if fmt == Format::Json {
                return show(&got);
            }
            let rows: Vec<Vec<String>> = got["MonitoringExecutionSummaries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let tick = e["ScheduledTime"]
                        .as_f64()
                        .and_then(|t| chrono::DateTime::from_timestamp_millis((t * 1000.0) as i64))
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default();
                    vec![
                        tick,
                        e["MonitoringExecutionStatus"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        e["FailureReason"].as_str().unwrap_or("-").to_string(),
                    ]
                })
                .collect();
            output::table(&["TICK", "STATUS", "FAILURE"], &rows);
            Ok(0)
        }
    }
}

fn baseline(fmt: Format, a: BaselineArgs) -> anyhow::Result<i32> {
    if a.inference_attribute.is_none() && a.probability_attribute.is_none() {
        anyhow::bail!(
            "say where the predictions are: --inference-attribute COLUMN, or \
             --probability-attribute COLUMN for binary probabilities"
        );
    }
    let roles = RoleArgs {
        problem_type: Some(a.problem_type.clone()),
        label: Some(a.ground_truth_attribute.clone()),
        probability: a.probability_attribute.clone(),
        prediction: a.inference_attribute.clone(),
        threshold: a.probability_threshold,
        ..RoleArgs::default()
    };
    let statistics = quality::metrics_document(&a.data, &roles)?;
    let constraints = keel_monitor::suggest(&statistics, a.sigmas)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    write_json(&a.out.join("statistics.json"), &statistics)?;
    let doc = constraints.to_document();
    write_json(&a.out.join("constraints.json"), &doc)?;
    if fmt == Format::Json {
        output::json(&doc)?;
    } else {
        let rows: Vec<Vec<String>> = constraints
            .metrics
            .iter()
            .map(|(name, c)| {
                let value = &statistics[constraints.problem.metrics_key()][name]["value"];
                vec![
                    name.clone(),
                    value.to_string(),
                    c.comparison_operator.to_string(),
                    c.threshold.to_string(),
                ]
            })
            .collect();
        output::table(&["METRIC", "BASELINE", "VIOLATED WHEN", "THRESHOLD"], &rows);
        eprintln!(
            "wrote {} and {} (edit the thresholds as you see fit)",
            a.out.join("statistics.json").display(),
            a.out.join("constraints.json").display()
        );
    }
    Ok(0)
}

fn check(
    fmt: Format,
    statistics: &Path,
    constraints: &Path,
    out: Option<&Path>,
) -> anyhow::Result<i32> {
    let stats = read_json(statistics)?;
    let limits = keel_monitor::Constraints::from_document(&read_json(constraints)?)
        .with_context(|| format!("{} is not a constraints file", constraints.display()))?;
    let violations = keel_monitor::check(&stats, &limits)
        .with_context(|| format!("cannot check {}", statistics.display()))?;
    let doc = keel_monitor::violations_document(&violations);
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        write_json(&dir.join("constraint_violations.json"), &doc)?;
    }
    if fmt == Format::Json {
        output::json(&doc)?;
    } else if violations.is_empty() {
        println!(
            "no constraint is violated ({} checked)",
            limits.metrics.len()
        );
    } else {
        let rows: Vec<Vec<String>> = violations
            .iter()
            .map(|v| {
                vec![
                    v.metric_name.clone(),
                    v.constraint_check_type.clone(),
                    v.description.clone(),
                ]
            })
            .collect();
        output::table(&["METRIC", "CHECK", "DESCRIPTION"], &rows);
    }
    Ok(if violations.is_empty() {
        0
    } else {
        EXIT_VIOLATIONS
    })
}

/// `keel alert list/ack/resolve`.
pub async fn alert_cmd(b: &Backend, fmt: Format, cmd: AlertCmd) -> anyhow::Result<i32> {
    let id = |s: &str| -> anyhow::Result<uuid::Uuid> {
        s.trim().parse().with_context(|| {
            format!("'{s}' is not an alert id (a UUID such as `keel alert list` prints)")
        })
    };
    let one = |a: keel_api_model::Alert| -> anyhow::Result<i32> {
        if fmt == Format::Json {
            output::json(&a)?;
        } else {
            println!("{} {} {} {}", a.id, a.schedule, a.metric, a.status);
        }
        Ok(0)
    };
    match cmd {
        AlertCmd::List {
            status,
            schedule,
            page,
        } => {
            let q = keel_api_model::AlertQuery {
                status,
                schedule,
                max_results: page.limit,
                page_token: page.page_token,
            };
            let got = b.list_alerts(&q).await?;
            if fmt == Format::Json {
                output::json(&got)?;
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = got
                .items
                .iter()
                .map(|a| {
                    vec![
                        a.id.to_string(),
                        a.schedule.clone(),
                        a.metric.clone(),
                        a.status.to_string(),
                        a.occurrences.to_string(),
                        a.opened_at.format("%Y-%m-%d %H:%M").to_string(),
                        a.description.clone(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "ID", "SCHEDULE", "METRIC", "STATUS", "TIMES", "OPENED", "LAST",
                ],
                &rows,
            );
            output::next_page(&got.next_page_token);
            Ok(0)
        }
        AlertCmd::Ack { id: s } => one(b.move_alert(id(&s)?, true).await?),
        AlertCmd::Resolve { id: s } => one(b.move_alert(id(&s)?, false).await?),
    }
}

impl Backend {
    async fn list_alerts(
        &self,
        q: &keel_api_model::AlertQuery,
    ) -> anyhow::Result<keel_api_model::Page<keel_api_model::Alert>> {
        match self {
            Backend::Local(k) => Ok(k.list_alerts(q).await?),
            Backend::Remote(c) => c.get_query(keel_api_model::routes::ALERTS, q).await,
        }
    }

    /// Acknowledges (`ack`) or resolves an alert.
    async fn move_alert(&self, id: uuid::Uuid, ack: bool) -> anyhow::Result<keel_api_model::Alert> {
        match self {
            Backend::Local(k) => {
                let me = k.local_principal();
                Ok(if ack {
                    k.acknowledge_alert(&me, id.into()).await?
                } else {
                    k.resolve_alert(&me, id.into()).await?
                })
            }
            Backend::Remote(c) => {
                let route = if ack {
                    keel_api_model::routes::ALERT_ACK
                } else {
                    keel_api_model::routes::ALERT_RESOLVE
                };
                c.post(
                    &keel_api_model::routes::fill(route, &[&id.to_string()]),
                    &serde_json::json!({}),
                )
                .await
            }
        }
    }

    /// One SageMaker operation, on the data directory or the server.
    pub async fn sagemaker(&self, operation: &str, body: Value) -> anyhow::Result<Value> {
        match self {
            Backend::Local(k) => Ok(k.sagemaker(&k.local_principal(), operation, body).await?),
            Backend::Remote(c) => c.sagemaker(operation, &body).await,
        }
    }

    /// Runs a schedule's execution for one tick now.
    pub async fn execute_monitor(
        &self,
        name: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Value> {
        match self {
            Backend::Local(k) => Ok(k.execute_monitor(&k.local_principal(), name, at).await?),
            Backend::Remote(c) => {
                c.post(
                    &keel_api_model::routes::fill(
                        keel_api_model::routes::MONITOR_EXECUTIONS,
                        &[name],
                    ),
                    &keel_api_model::ExecuteMonitor { scheduled_time: at },
                )
                .await
            }
        }
    }
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn write_json(path: &Path, doc: &Value) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(doc)?;
    text.push(b'\n');
    quality::write_atomic(path, &text).with_context(|| format!("cannot write {}", path.display()))
}
