//! Real boto3 against Keel's SageMaker API: a script written for SageMaker
//! Model Monitor (every field SageMaker requires, some Keel only keeps)
//! creates, describes, lists, schedules, stops, starts and deletes, and
//! reads AWS-shaped errors, by changing its `endpoint_url` only.

use std::process::Command;

use super::{Server, TestResult};

const SCRIPT: &str = r#"
import json, sys, datetime
import boto3
from botocore.exceptions import ClientError

sm = boto3.client("sagemaker", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="keel", aws_secret_access_key="keel")
out = {}

def code(call, **kw):
    try:
        call(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None

definition = dict(
    JobDefinitionName="fraud-quality",
    ModelQualityBaselineConfig={"BaseliningJobName": "fraud-baseline",
                                "ConstraintsResource": {"S3Uri": "file:///baseline/constraints.json"}},
    ModelQualityAppSpecification={"ImageUri": "keel", "ProblemType": "BinaryClassification",
                                  "Environment": {"THRESHOLD": "0.5"}},
    ModelQualityJobInput={
        "EndpointInput": {"EndpointName": "fraud@champion", "LocalPath": "/opt/ml/processing/input",
                          "InferenceAttribute": "prediction", "ProbabilityAttribute": "probability",
                          "ProbabilityThresholdAttribute": 0.5,
                          "StartTimeOffset": "-PT1H", "EndTimeOffset": "-PT0H"},
        "GroundTruthS3Input": {"S3Uri": "s3://labels/fraud"}},
    ModelQualityJobOutputConfig={"MonitoringOutputs": [{"S3Output": {
        "S3Uri": "s3://reports/fraud", "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]},
    JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}},
    NetworkConfig={"EnableNetworkIsolation": True},
    RoleArn="arn:aws:iam::123456789012:role/monitor",
    StoppingCondition={"MaxRuntimeInSeconds": 1800},
)
made = sm.create_model_quality_job_definition(**definition)
out["arn"] = made["JobDefinitionArn"]
d = sm.describe_model_quality_job_definition(JobDefinitionName="fraud-quality")
out["endpoint"] = d["ModelQualityJobInput"]["EndpointInput"]["EndpointName"]
out["instance_type"] = d["JobResources"]["ClusterConfig"]["InstanceType"]
out["offset"] = d["ModelQualityJobInput"]["EndpointInput"]["StartTimeOffset"]
out["created_is_time"] = isinstance(d["CreationTime"], datetime.datetime)
out["listed"] = [s["MonitoringJobDefinitionName"] for s in
                 sm.list_model_quality_job_definitions()["JobDefinitionSummaries"]]
out["missing"] = code(sm.describe_model_quality_job_definition, JobDefinitionName="nope")
out["twice"] = code(sm.create_model_quality_job_definition, **definition)
bad = dict(definition, JobDefinitionName="bad",
           ModelQualityAppSpecification={"ImageUri": "keel", "ProblemType": "Clustering"})
out["bad_problem"] = code(sm.create_model_quality_job_definition, **bad)

config = {"ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
          "MonitoringJobDefinitionName": "fraud-quality", "MonitoringType": "ModelQuality"}
sm.create_monitoring_schedule(MonitoringScheduleName="fraud-hourly", MonitoringScheduleConfig=config)
s = sm.describe_monitoring_schedule(MonitoringScheduleName="fraud-hourly")
out["status"] = [s["MonitoringScheduleStatus"]]
out["expression"] = s["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"]
sm.stop_monitoring_schedule(MonitoringScheduleName="fraud-hourly")
out["status"].append(sm.describe_monitoring_schedule(MonitoringScheduleName="fraud-hourly")["MonitoringScheduleStatus"])
sm.start_monitoring_schedule(MonitoringScheduleName="fraud-hourly")
out["status"].append(sm.describe_monitoring_schedule(MonitoringScheduleName="fraud-hourly")["MonitoringScheduleStatus"])
out["schedules"] = [(x["MonitoringScheduleName"], x["MonitoringJobDefinitionName"]) for x in
                    sm.list_monitoring_schedules()["MonitoringScheduleSummaries"]]
out["executions"] = sm.list_monitoring_executions(MonitoringScheduleName="fraud-hourly")["MonitoringExecutionSummaries"]
bad_cron = dict(config, ScheduleConfig={"ScheduleExpression": "cron(0 99 ? * * *)"})
out["bad_cron"] = code(sm.create_monitoring_schedule, MonitoringScheduleName="x", MonitoringScheduleConfig=bad_cron)
orphan = dict(config, MonitoringJobDefinitionName="nope")
out["orphan"] = code(sm.create_monitoring_schedule, MonitoringScheduleName="y", MonitoringScheduleConfig=orphan)
out["in_use"] = code(sm.delete_model_quality_job_definition, JobDefinitionName="fraud-quality")
sm.delete_monitoring_schedule(MonitoringScheduleName="fraud-hourly")
sm.delete_model_quality_job_definition(JobDefinitionName="fraud-quality")
out["after"] = code(sm.describe_monitoring_schedule, MonitoringScheduleName="fraud-hourly")
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_runs_a_sagemaker_monitoring_script_against_keel() -> TestResult {
    let Some(py) = keel_testkit::tools_python() else {
        return Ok(());
    };
    let s = Server::start(None).await?;
    let base = s.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py).arg("-c").arg(SCRIPT).arg(base).output()
    })
    .await??;
    assert!(
        out.status.success(),
        "the boto3 script failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let want = serde_json::json!({
        "arn": "arn:aws:sagemaker:keel:000000000000:model-quality-job-definition/fraud-quality",
        "endpoint": "fraud@champion",
        "instance_type": "ml.m5.xlarge",
        "offset": "-PT1H",
        "created_is_time": true,
        "listed": ["fraud-quality"],
        "missing": "ResourceNotFound",
        "twice": "ResourceInUse",
        "bad_problem": "ValidationException",
        "status": ["Scheduled", "Stopped", "Scheduled"],
        "expression": "cron(0 * ? * * *)",
        "schedules": [["fraud-hourly", "fraud-quality"]],
        "executions": [],
        "bad_cron": "ValidationException",
        "orphan": "ResourceNotFound",
        "in_use": "ResourceInUse",
        "after": "ResourceNotFound",
    });
    assert_eq!(got, want);
    s.shutdown().await
}
