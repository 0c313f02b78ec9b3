//! The states and verdicts of champion/challenger comparisons.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseEnumError;

/// Where a comparison is: PENDING until both its metrics jobs have finished
/// and the verdict is decided, then COMPLETED (with a verdict) or FAILED.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", try_from = "String")]
pub enum ComparisonStatus {
    /// Its jobs still run, or the verdict is not decided yet.
    Pending,
    /// Decided; the comparison carries a verdict.
    Completed,
    /// No verdict could be reached; `error` says why.
    Failed,
}

impl ComparisonStatus {
    /// The wire spelling, such as `PENDING`.
    pub fn as_str(self) -> &'static str {
        match self {
            ComparisonStatus::Pending => "PENDING",
            ComparisonStatus::Completed => "COMPLETED",
            ComparisonStatus::Failed => "FAILED",
        }
    }
}

impl FromStr for ComparisonStatus {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "PENDING" => Ok(ComparisonStatus::Pending),
            "COMPLETED" => Ok(ComparisonStatus::Completed),
            "FAILED" => Ok(ComparisonStatus::Failed),
            _ => Err(ParseEnumError {
                what: "comparison status",
                value: s.to_string(),
                expected: "PENDING, COMPLETED, FAILED",
            }),
        }
    }
}

impl fmt::Display for ComparisonStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a comparison decided about the challenger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum Verdict {
    /// The improvement's interval lies above the minimum improvement.
    ChallengerBetter,
    /// The improvement's interval lies below the minimum improvement.
    NotBetter,
    /// The interval straddles the minimum, or the test is undefined.
    Inconclusive,
}

impl Verdict {
    /// The wire spelling, such as `challenger_better`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::ChallengerBetter => "challenger_better",
            Verdict::NotBetter => "not_better",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl FromStr for Verdict {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "challenger_better" => Ok(Verdict::ChallengerBetter),
            "not_better" => Ok(Verdict::NotBetter),
            "inconclusive" => Ok(Verdict::Inconclusive),
            _ => Err(ParseEnumError {
                what: "verdict",
                value: s.to_string(),
                expected: "challenger_better, not_better, inconclusive",
            }),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

try_from_string!(ComparisonStatus, Verdict);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for v in [
            Verdict::ChallengerBetter,
            Verdict::NotBetter,
            Verdict::Inconclusive,
        ] {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
            assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), v);
        }
        for s in [
            ComparisonStatus::Pending,
            ComparisonStatus::Completed,
            ComparisonStatus::Failed,
        ] {
            assert_eq!(s.as_str().parse::<ComparisonStatus>().unwrap(), s);
        }
        assert!("maybe".parse::<Verdict>().is_err());
    }
}
