//! Typed identifiers. Each is a UUIDv7, so ids sort by creation time, which the
//! stores use for stable cursor pagination.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

id_type!(
    /// Identifies a registered model (all of its versions).
    ModelId
);
id_type!(
    /// Identifies one immutable version of a model.
    VersionId
);
id_type!(
    /// Identifies a batch job.
    JobId
);
id_type!(
    /// Identifies a data file uploaded to Keel for use as a job input.
    UploadId
);
id_type!(
    /// Identifies a champion/challenger comparison.
    ComparisonId
);

id_type!(
    /// Identifies an alert: one monitor's metric out of its constraint.
    AlertId
);
id_type!(
    /// Identifies one execution of a monitoring schedule.
    ExecutionId
);
id_type!(
    /// Identifies a user.
    UserId
);
id_type!(
    /// Identifies an API token (its public half: the secret is never stored).
    TokenId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sort_by_creation() {
        let a = JobId::new();
        let b = JobId::new();
        assert!(a < b, "v7 ids sort by creation time");
        let parsed: JobId = a.to_string().parse().unwrap();
        assert_eq!(parsed, a);
        assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
        assert!("not-a-uuid".parse::<JobId>().is_err());
    }
}
