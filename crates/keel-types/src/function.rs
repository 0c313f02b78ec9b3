//! The four functions a model can define, with one spelling each: the smart
//! tag (`# modelop.score`), the manifest key, the worker protocol's mode and
//! the phase a model error names all use [`FunctionKind::as_str`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseEnumError;

/// One of a model's functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum FunctionKind {
    /// Runs once per worker before anything else (`# modelop.init`).
    Init,
    /// Runs per record, or per DataFrame in batch mode (`# modelop.score`).
    Score,
    /// Runs once on all records of a metrics job (`# modelop.metrics`).
    Metrics,
    /// Runs once on all records of a training job (`# modelop.train`).
    Train,
}

impl FunctionKind {
    /// Every kind, in the order a model's functions are shown.
    pub const ALL: [FunctionKind; 4] = [
        FunctionKind::Init,
        FunctionKind::Score,
        FunctionKind::Metrics,
        FunctionKind::Train,
    ];

    /// The one spelling: `init`, `score`, `metrics` or `train`.
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionKind::Init => "init",
            FunctionKind::Score => "score",
            FunctionKind::Metrics => "metrics",
            FunctionKind::Train => "train",
        }
    }
}

impl FromStr for FunctionKind {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "init" => Ok(FunctionKind::Init),
            "score" => Ok(FunctionKind::Score),
            "metrics" => Ok(FunctionKind::Metrics),
            "train" => Ok(FunctionKind::Train),
            _ => Err(ParseEnumError {
                what: "model function",
                value: s.to_string(),
                expected: "init, score, metrics, train",
            }),
        }
    }
}

impl fmt::Display for FunctionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

try_from_string!(FunctionKind);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_everywhere() {
        for k in FunctionKind::ALL {
            assert_eq!(k.as_str().parse::<FunctionKind>().unwrap(), k);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        assert!("Score".parse::<FunctionKind>().is_err());
    }
}
