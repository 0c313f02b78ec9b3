//! The SageMaker monitoring API's operations, as boto3 sends them: JSON
//! bodies in SageMaker's field names, answered the way SageMaker answers,
//! so a script written for SageMaker Model Monitor runs against Keel by
//! changing its `endpoint_url`. Job definitions and schedules are kept as
//! their requests (every field, those Keel does not act on included) and
//! described back whole. The server turns this crate's error codes into
//! AWS error types (`ResourceNotFound`, `ValidationException`, ...).

use chrono::{DateTime, Utc};
use keel_monitor::Schedule;
use keel_store::formats::MonitorDocument;
use keel_store::{DefinitionRecord, ExecutionRecord, NewSchedule, Page, ScheduleRecord};
use keel_types::{MonitorKind, Permission, ScheduleStatus};
use serde_json::{Map, Value, json};

use crate::{Error, Keel, Principal, Result};

/// The operations served, for the server's routing and documentation.
pub const OPERATIONS: [&str; 15] = [
    "CreateModelQualityJobDefinition",
    "DescribeModelQualityJobDefinition",
    "ListModelQualityJobDefinitions",
    "DeleteModelQualityJobDefinition",
    "CreateDataQualityJobDefinition",
    "DescribeDataQualityJobDefinition",
    "ListDataQualityJobDefinitions",
    "DeleteDataQualityJobDefinition",
    "CreateMonitoringSchedule",
    "DescribeMonitoringSchedule",
    "ListMonitoringSchedules",
    "StartMonitoringSchedule",
    "StopMonitoringSchedule",
    "DeleteMonitoringSchedule",
    "ListMonitoringExecutions",
];

/// The prefix of every ARN Keel hands out: no AWS partition, region or account.
const ARN: &str = "arn:aws:sagemaker:keel:000000000000";

impl Keel {
    /// Runs one SageMaker operation (`CreateMonitoringSchedule`, ...) on
    /// its request body. `NotFound` for an unknown operation.
    pub async fn sagemaker(&self, by: &Principal, operation: &str, req: Value) -> Result<Value> {
        let changes = operation.starts_with("Create")
            || operation.starts_with("Delete")
            || operation.starts_with("Start")
            || operation.starts_with("Stop");
        if changes {
            by.require(Permission::Write, "change monitors")?;
        }
        if !req.is_object() {
            return Err(Error::InvalidArgument(
                "The request body must be a JSON object.".into(),
            ));
        }
        use MonitorKind::*;
        match operation {
            "CreateModelQualityJobDefinition" => {
                self.create_definition(by, ModelQuality, req).await
            }
            "CreateDataQualityJobDefinition" => self.create_definition(by, DataQuality, req).await,
            "DescribeModelQualityJobDefinition" => {
                self.describe_definition(ModelQuality, &req).await
            }
            "DescribeDataQualityJobDefinition" => self.describe_definition(DataQuality, &req).await,
            "ListModelQualityJobDefinitions" => self.list_definitions(ModelQuality, &req).await,
            "ListDataQualityJobDefinitions" => self.list_definitions(DataQuality, &req).await,
            "DeleteModelQualityJobDefinition" => {
                self.delete_definition(by, ModelQuality, &req).await
            }
            "DeleteDataQualityJobDefinition" => self.delete_definition(by, DataQuality, &req).await,
            "CreateMonitoringSchedule" => self.create_schedule(by, req).await,
            "DescribeMonitoringSchedule" => self.describe_schedule(&req).await,
            "ListMonitoringSchedules" => self.list_schedules(&req).await,
            "StartMonitoringSchedule" => self.set_status(by, &req, ScheduleStatus::Scheduled).await,
            "StopMonitoringSchedule" => self.set_status(by, &req, ScheduleStatus::Stopped).await,
            "DeleteMonitoringSchedule" => self.delete_schedule(by, &req).await,
            "ListMonitoringExecutions" => self.list_executions(&req).await,
            other => Err(Error::NotFound(format!(
                "Keel does not serve the SageMaker operation {other}; it serves {}.",
                OPERATIONS.join(", ")
            ))),
        }
    }

    /// Runs the execution of the schedule `name` for the tick `at` now (a
    /// backfill, or a test), and answers its summary as
    /// `ListMonitoringExecutions` shows it.
    pub async fn execute_monitor(
        &self,
        by: &Principal,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<Value> {
        by.require(Permission::Write, "run monitors")?;
        let e = self.exec.execute_monitor(name, at).await?;
        let s = self.stores.monitors.schedule(name).await?.ok_or_else(|| {
            Error::NotFound(format!("There is no monitoring schedule named '{name}'."))
        })?;
        Ok(execution_summary(&e, &s))
    }

    async fn create_definition(
        &self,
        by: &Principal,
        kind: MonitorKind,
        req: Value,
    ) -> Result<Value> {
        let name = text(&req, "JobDefinitionName")?;
        check_definition(kind, &req)?;
        // Every place the executions will read or write is one the client
        // may name, as for a job's input and output.
        for (field, uri) in locations(&req) {
            self.access().location(&uri, &format!("`{field}`"))?;
        }
        let doc = MonitorDocument { request: req };
        self.stores
            .monitors
            .create_definition(&name, kind, &doc, &by.actor())
            .await?;
        Ok(json!({ "JobDefinitionArn": definition_arn(kind, &name) }))
    }

    async fn definition_of(&self, kind: MonitorKind, req: &Value) -> Result<DefinitionRecord> {
        let name = text(req, "JobDefinitionName")?;
        match self.stores.monitors.definition(&name).await? {
            Some(d) if d.kind == kind => Ok(d),
            _ => Err(Error::NotFound(format!(
                "There is no {} job definition named '{name}'.",
                kind.sagemaker_name()
            ))),
        }
    }

    async fn describe_definition(&self, kind: MonitorKind, req: &Value) -> Result<Value> {
        let d = self.definition_of(kind, req).await?;
        let mut out = d.document.request.as_object().cloned().unwrap_or_default();
        out.insert(
            "JobDefinitionArn".into(),
            json!(definition_arn(kind, &d.name)),
        );
        out.insert("JobDefinitionName".into(), json!(d.name));
        out.insert("CreationTime".into(), epoch(d.created_at));
        Ok(Value::Object(out))
    }

    async fn list_definitions(&self, kind: MonitorKind, req: &Value) -> Result<Value> {
        let page = page(req)?;
        let got = self.stores.monitors.list_definitions(kind, &page).await?;
        let summaries: Vec<Value> = got
            .items
            .iter()
            .map(|d| {
                let mut s = json!({
                    "MonitoringJobDefinitionName": d.name,
                    "MonitoringJobDefinitionArn": definition_arn(kind, &d.name),
                    "CreationTime": epoch(d.created_at),
                });
                if let Some(e) = endpoint(kind, &d.document.request) {
                    s["EndpointName"] = json!(e);
                }
                s
            })
            .collect();
        Ok(with_token(
            json!({ "JobDefinitionSummaries": summaries }),
            got.next_cursor,
        ))
    }

    async fn delete_definition(
        &self,
        by: &Principal,
        kind: MonitorKind,
        req: &Value,
    ) -> Result<Value> {
        let d = self.definition_of(kind, req).await?;
        self.stores
            .monitors
            .delete_definition(&d.name, &by.actor())
            .await?;
        Ok(json!({}))
    }

    async fn create_schedule(&self, by: &Principal, req: Value) -> Result<Value> {
        let name = text(&req, "MonitoringScheduleName")?;
        let config = req.get("MonitoringScheduleConfig").ok_or_else(|| {
            missing(
                "MonitoringScheduleConfig",
                "the schedule and the job definition it runs",
            )
        })?;
        let definition = text(config, "MonitoringJobDefinitionName").map_err(|_| {
            missing(
                "MonitoringScheduleConfig.MonitoringJobDefinitionName",
                "the name of a model-quality or data-quality job definition",
            )
        })?;
        let schedule = config.get("ScheduleConfig").unwrap_or(&Value::Null);
        let expression = schedule
            .get("ScheduleExpression")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                missing(
                    "MonitoringScheduleConfig.ScheduleConfig.ScheduleExpression",
                    "when it runs, such as cron(0 * ? * * *)",
                )
            })?;
        let zone = schedule.get("TimeZone").and_then(Value::as_str);
        let parsed = Schedule::parse(expression, zone).map_err(|e| {
            Error::InvalidArgument(format!("`MonitoringScheduleConfig.ScheduleConfig`: {e}"))
        })?;
        let Some(def) = self.stores.monitors.definition(&definition).await? else {
            return Err(Error::NotFound(format!(
                "There is no job definition named '{definition}' for the schedule to run."
            )));
        };
        if let Some(t) = config.get("MonitoringType").and_then(Value::as_str)
            && t != def.kind.sagemaker_name()
        {
            return Err(Error::InvalidArgument(format!(
                "`MonitoringScheduleConfig.MonitoringType` is {t}, but the job definition '{definition}' is {}.",
                def.kind.sagemaker_name()
            )));
        }
        let new = NewSchedule {
            name: name.clone(),
            definition,
            expression: parsed.expression().to_string(),
            time_zone: zone.map(str::to_string),
            document: MonitorDocument { request: req },
        };
        self.stores
            .monitors
            .create_schedule(&new, &by.actor())
            .await?;
        Ok(json!({ "MonitoringScheduleArn": schedule_arn(&name) }))
    }

    async fn schedule_of(&self, req: &Value) -> Result<ScheduleRecord> {
        let name = text(req, "MonitoringScheduleName")?;
        self.stores.monitors.schedule(&name).await?.ok_or_else(|| {
            Error::NotFound(format!("There is no monitoring schedule named '{name}'."))
        })
    }

    async fn describe_schedule(&self, req: &Value) -> Result<Value> {
        let s = self.schedule_of(req).await?;
        let mut out = Map::new();
        out.insert("MonitoringScheduleArn".into(), json!(schedule_arn(&s.name)));
        out.insert("MonitoringScheduleName".into(), json!(s.name));
        out.insert("MonitoringScheduleStatus".into(), json!(s.status));
        out.insert("MonitoringType".into(), json!(s.kind.sagemaker_name()));
        out.insert("CreationTime".into(), epoch(s.created_at));
        out.insert("LastModifiedTime".into(), epoch(s.updated_at));
        if let Some(c) = s.document.request.get("MonitoringScheduleConfig") {
            out.insert("MonitoringScheduleConfig".into(), c.clone());
        }
        let last = self
            .stores
            .monitors
            .list_executions(Some(&s.name), &Page::first(1))
            .await?;
        if let Some(e) = last.items.first() {
            out.insert(
                "LastMonitoringExecutionSummary".into(),
                execution_summary(e, &s),
            );
        }
        Ok(Value::Object(out))
    }

    async fn list_schedules(&self, req: &Value) -> Result<Value> {
        let got = self.stores.monitors.list_schedules(&page(req)?).await?;
        let summaries: Vec<Value> = got
            .items
            .iter()
            .map(|s| {
                json!({
                    "MonitoringScheduleName": s.name,
                    "MonitoringScheduleArn": schedule_arn(&s.name),
                    "CreationTime": epoch(s.created_at),
                    "LastModifiedTime": epoch(s.updated_at),
                    "MonitoringScheduleStatus": s.status,
                    "MonitoringJobDefinitionName": s.definition,
                    "MonitoringType": s.kind.sagemaker_name(),
                })
            })
            .collect();
        Ok(with_token(
            json!({ "MonitoringScheduleSummaries": summaries }),
            got.next_cursor,
        ))
    }

    async fn set_status(
        &self,
        by: &Principal,
        req: &Value,
        status: ScheduleStatus,
    ) -> Result<Value> {
        let s = self.schedule_of(req).await?;
        self.stores
            .monitors
            .set_schedule_status(&s.name, status, &by.actor())
            .await?;
        Ok(json!({}))
    }

    async fn delete_schedule(&self, by: &Principal, req: &Value) -> Result<Value> {
        let s = self.schedule_of(req).await?;
        self.stores
            .monitors
            .delete_schedule(&s.name, &by.actor())
            .await?;
        Ok(json!({}))
    }

    async fn list_executions(&self, req: &Value) -> Result<Value> {
        let schedule = match req.get("MonitoringScheduleName").and_then(Value::as_str) {
            Some(_) => Some(self.schedule_of(req).await?),
            None => None,
        };
        let got = self
            .stores
            .monitors
            .list_executions(schedule.as_ref().map(|s| s.name.as_str()), &page(req)?)
            .await?;
        let mut summaries = Vec::with_capacity(got.items.len());
        // Each schedule is read once however many of its executions the page holds.
        let mut schedules: std::collections::HashMap<String, Option<ScheduleRecord>> = schedule
            .into_iter()
            .map(|s| (s.name.clone(), Some(s)))
            .collect();
        for e in &got.items {
            if !schedules.contains_key(&e.schedule) {
                let s = self.stores.monitors.schedule(&e.schedule).await?;
                schedules.insert(e.schedule.clone(), s);
            }
            match schedules.get(&e.schedule).cloned().flatten() {
                Some(s) => summaries.push(execution_summary(e, &s)),
                None => summaries.push(json!({
                    "MonitoringScheduleName": e.schedule,
                    "ScheduledTime": epoch(e.scheduled_time),
                    "CreationTime": epoch(e.created_at),
                    "LastModifiedTime": epoch(e.finished_at.unwrap_or(e.created_at)),
                    "MonitoringExecutionStatus": e.status,
                })),
            }
        }
        Ok(with_token(
            json!({ "MonitoringExecutionSummaries": summaries }),
            got.next_cursor,
        ))
    }
}

/// Checks what Keel needs of a job definition; the rest is kept as it is.
fn check_definition(kind: MonitorKind, req: &Value) -> Result<()> {
    let (app, input, output) = match kind {
        MonitorKind::ModelQuality => (
            "ModelQualityAppSpecification",
            "ModelQualityJobInput",
            "ModelQualityJobOutputConfig",
        ),
        MonitorKind::DataQuality => (
            "DataQualityAppSpecification",
            "DataQualityJobInput",
            "DataQualityJobOutputConfig",
        ),
    };
    let job_input = req
        .get(input)
        .ok_or_else(|| missing(input, "where the captured inferences are"))?;
    let sources = ["EndpointInput", "BatchTransformInput"];
    if !sources
        .iter()
        .any(|s| job_input.get(*s).is_some_and(Value::is_object))
    {
        return Err(missing(
            &format!("{input}.EndpointInput` or `{input}.BatchTransformInput"),
            "the endpoint (in Keel, a model reference such as fraud@champion) or the data location of the inferences",
        ));
    }
    if kind == MonitorKind::ModelQuality {
        let problem = req
            .get(app)
            .and_then(|a| a.get("ProblemType"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                missing(
                    &format!("{app}.ProblemType"),
                    "BinaryClassification, MulticlassClassification or Regression",
                )
            })?;
        if ![
            "BinaryClassification",
            "MulticlassClassification",
            "Regression",
        ]
        .contains(&problem)
        {
            return Err(Error::InvalidArgument(format!(
                "`{app}.ProblemType` is '{problem}'; it must be BinaryClassification, MulticlassClassification or Regression."
            )));
        }
        job_input
            .get("GroundTruthS3Input")
            .and_then(|g| g.get("S3Uri"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                missing(
                    &format!("{input}.GroundTruthS3Input.S3Uri"),
                    "where the ground truth is",
                )
            })?;
    }
    req.get(output)
        .and_then(|o| o.get("MonitoringOutputs"))
        .and_then(|o| o.get(0))
        .and_then(|o| o.get("S3Output"))
        .and_then(|o| o.get("S3Uri"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            missing(
                &format!("{output}.MonitoringOutputs[0].S3Output.S3Uri"),
                "where the executions write their reports",
            )
        })?;
    Ok(())
}

/// Every location a definition names, with its field.
fn locations(req: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for prefix in ["ModelQuality", "DataQuality"] {
        let paths: [&[&str]; 5] = [
            &[
                "JobInput",
                "BatchTransformInput",
                "DataCapturedDestinationS3Uri",
            ],
            &["JobInput", "GroundTruthS3Input", "S3Uri"],
            &["BaselineConfig", "ConstraintsResource", "S3Uri"],
            &["BaselineConfig", "StatisticsResource", "S3Uri"],
            &[
                "JobOutputConfig",
                "MonitoringOutputs",
                "0",
                "S3Output",
                "S3Uri",
            ],
        ];
        for path in paths {
            let head = format!("{prefix}{}", path[0]);
            let mut v = &req[head.as_str()];
            for key in &path[1..] {
                v = match key.parse::<usize>() {
                    Ok(i) => &v[i],
                    Err(_) => &v[*key],
                };
            }
            if let Some(uri) = v.as_str() {
                out.push((format!("{head}.{}", path[1..].join(".")), uri.to_string()));
            }
        }
    }
    out
}

/// The endpoint a definition watches, for its summary.
fn endpoint(kind: MonitorKind, req: &Value) -> Option<String> {
    let input = match kind {
        MonitorKind::ModelQuality => "ModelQualityJobInput",
        MonitorKind::DataQuality => "DataQualityJobInput",
    };
    req.get(input)?
        .get("EndpointInput")?
        .get("EndpointName")?
        .as_str()
        .map(str::to_string)
}

fn execution_summary(e: &ExecutionRecord, s: &ScheduleRecord) -> Value {
    let mut v = json!({
        "MonitoringScheduleName": e.schedule,
        "ScheduledTime": epoch(e.scheduled_time),
        "CreationTime": epoch(e.created_at),
        "LastModifiedTime": epoch(e.finished_at.unwrap_or(e.created_at)),
        "MonitoringExecutionStatus": e.status,
        "MonitoringJobDefinitionName": s.definition,
        "MonitoringType": s.kind.sagemaker_name(),
    });
    if let Some(r) = &e.failure_reason {
        v["FailureReason"] = json!(r);
    }
    v
}

/// A required string field of the request.
fn text(req: &Value, field: &str) -> Result<String> {
    req.get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| missing(field, "a name"))
}

fn missing(field: &str, what: &str) -> Error {
    Error::InvalidArgument(format!("The request needs `{field}`: {what}."))
}

/// The page a list request asks for (`MaxResults`, `NextToken`).
fn page(req: &Value) -> Result<Page> {
    let limit = match req.get("MaxResults") {
        None | Some(Value::Null) => 100,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                Error::InvalidArgument("`MaxResults` must be a whole number from 1 to 100.".into())
            })? as u32,
    };
    Ok(Page {
        limit,
        after: req
            .get("NextToken")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn with_token(mut v: Value, token: Option<String>) -> Value {
    if let Some(t) = token {
        v["NextToken"] = json!(t);
    }
    v
}

/// A time as the AWS JSON protocol writes one: seconds since the epoch.
fn epoch(t: DateTime<Utc>) -> Value {
    json!(t.timestamp_millis() as f64 / 1000.0)
}

fn definition_arn(kind: MonitorKind, name: &str) -> String {
    let what = match kind {
        MonitorKind::ModelQuality => "model-quality-job-definition",
        MonitorKind::DataQuality => "data-quality-job-definition",
    };
    format!("{ARN}:{what}/{name}")
}

fn schedule_arn(name: &str) -> String {
    format!("{ARN}:monitoring-schedule/{name}")
}
