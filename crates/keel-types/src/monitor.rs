//! The vocabulary of monitors, in SageMaker Model Monitor's spellings: what
//! a job definition monitors, and where a schedule, an execution and an
//! alert are.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseEnumError;

/// What a monitoring job definition watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum MonitorKind {
    /// Model quality: metrics of predictions against ground truth.
    ModelQuality,
    /// Data quality: drift of the inputs from a baseline.
    DataQuality,
}

impl MonitorKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorKind::ModelQuality => "model_quality",
            MonitorKind::DataQuality => "data_quality",
        }
    }

    /// SageMaker's `MonitoringType`.
    pub fn sagemaker_name(self) -> &'static str {
        match self {
            MonitorKind::ModelQuality => "ModelQuality",
            MonitorKind::DataQuality => "DataQuality",
        }
    }
}

impl FromStr for MonitorKind {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '_'], "")
            .as_str()
        {
            "modelquality" => Ok(MonitorKind::ModelQuality),
            "dataquality" => Ok(MonitorKind::DataQuality),
            _ => Err(ParseEnumError {
                what: "monitor kind",
                value: s.to_string(),
                expected: "model_quality (ModelQuality), data_quality (DataQuality)",
            }),
        }
    }
}

/// Where a monitoring schedule is (SageMaker's `MonitoringScheduleStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(try_from = "String")]
pub enum ScheduleStatus {
    /// Its ticks run.
    Scheduled,
    /// Its ticks do not run until it is started again.
    Stopped,
}

impl ScheduleStatus {
    /// SageMaker's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleStatus::Scheduled => "Scheduled",
            ScheduleStatus::Stopped => "Stopped",
        }
    }
}

impl FromStr for ScheduleStatus {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scheduled" => Ok(ScheduleStatus::Scheduled),
            "stopped" => Ok(ScheduleStatus::Stopped),
            _ => Err(ParseEnumError {
                what: "schedule status",
                value: s.to_string(),
                expected: "Scheduled, Stopped",
            }),
        }
    }
}

/// Where one monitoring execution is (SageMaker's `ExecutionStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(try_from = "String")]
pub enum ExecutionStatus {
    /// Waiting to run.
    Pending,
    /// Running.
    InProgress,
    /// Done, every constraint met.
    Completed,
    /// Done, and a constraint was violated.
    CompletedWithViolations,
    /// It could not run; the failure reason says why.
    Failed,
    /// Stopped before it finished.
    Stopped,
}

impl ExecutionStatus {
    /// SageMaker's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Pending => "Pending",
            ExecutionStatus::InProgress => "InProgress",
            ExecutionStatus::Completed => "Completed",
            ExecutionStatus::CompletedWithViolations => "CompletedWithViolations",
            ExecutionStatus::Failed => "Failed",
            ExecutionStatus::Stopped => "Stopped",
        }
    }
}

impl FromStr for ExecutionStatus {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ExecutionStatus::Pending,
            ExecutionStatus::InProgress,
            ExecutionStatus::Completed,
            ExecutionStatus::CompletedWithViolations,
            ExecutionStatus::Failed,
            ExecutionStatus::Stopped,
        ]
        .into_iter()
        .find(|e| e.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or(ParseEnumError {
            what: "execution status",
            value: s.to_string(),
            expected: "Pending, InProgress, Completed, CompletedWithViolations, Failed, Stopped",
        })
    }
}

/// Where an alert is: open until someone acknowledges it or a later
/// execution is back within the constraints (or someone resolves it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", try_from = "String")]
pub enum AlertStatus {
    /// Violated, and nobody has looked.
    Open,
    /// Violated, and someone is on it.
    Acknowledged,
    /// Back within the constraints, or closed by someone.
    Resolved,
}

impl AlertStatus {
    /// The wire spelling, such as `OPEN`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "OPEN",
            AlertStatus::Acknowledged => "ACKNOWLEDGED",
            AlertStatus::Resolved => "RESOLVED",
        }
    }
}

impl FromStr for AlertStatus {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(AlertStatus::Open),
            "acknowledged" | "ack" | "acked" => Ok(AlertStatus::Acknowledged),
            "resolved" => Ok(AlertStatus::Resolved),
            _ => Err(ParseEnumError {
                what: "alert status",
                value: s.to_string(),
                expected: "OPEN, ACKNOWLEDGED, RESOLVED",
            }),
        }
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(MonitorKind, ScheduleStatus, ExecutionStatus, AlertStatus);
try_from_string!(MonitorKind, ScheduleStatus, ExecutionStatus, AlertStatus);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for k in [MonitorKind::ModelQuality, MonitorKind::DataQuality] {
            assert_eq!(k.as_str().parse::<MonitorKind>().unwrap(), k);
            assert_eq!(k.sagemaker_name().parse::<MonitorKind>().unwrap(), k);
        }
        for s in [ScheduleStatus::Scheduled, ScheduleStatus::Stopped] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<ScheduleStatus>(&json).unwrap(), s);
        }
        let e: ExecutionStatus = "completedwithviolations".parse().unwrap();
        assert_eq!(e, ExecutionStatus::CompletedWithViolations);
        assert!("Done".parse::<ExecutionStatus>().is_err());
    }
}
