//! Who may do what: the roles a user holds, the permissions each role grants,
//! and the actions the audit log records. The rules live here, once, so the
//! control plane, the server and the (later) web UI agree on them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseEnumError;

/// A user's role. Every role may read; the others add what they name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum Role {
    /// Reads models, jobs, results and comparisons.
    Viewer,
    /// A viewer who also registers models, moves aliases, uploads data and
    /// runs and cancels jobs and comparisons.
    Modeler,
    /// A viewer who also completes approval tasks.
    Approver,
    /// Everything, including users, tokens and the audit log.
    Admin,
}

/// What a use case needs of its caller's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read models, versions, jobs, logs, results, uploads and comparisons.
    Read,
    /// Change models and aliases, upload data, run and cancel jobs and comparisons.
    Write,
    /// Complete approval tasks.
    Approve,
    /// Manage users and tokens, read the audit log.
    Admin,
}

impl Permission {
    /// How a refusal names what was needed.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "change models and run jobs",
            Permission::Approve => "approve",
            Permission::Admin => "administer users, tokens and the audit log",
        }
    }
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Modeler, Role::Approver, Role::Admin];

    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Modeler => "modeler",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    /// Whether this role grants `p`.
    pub fn allows(self, p: Permission) -> bool {
        matches!(
            (self, p),
            (Role::Admin, _)
                | (_, Permission::Read)
                | (Role::Modeler, Permission::Write)
                | (Role::Approver, Permission::Approve)
        )
    }

    /// The roles that grant `p`, for a refusal that says which would do.
    pub fn granting(p: Permission) -> Vec<Role> {
        Role::ALL.into_iter().filter(|r| r.allows(p)).collect()
    }
}

impl FromStr for Role {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" | "read" | "reader" => Ok(Role::Viewer),
            "modeler" | "modeller" | "developer" => Ok(Role::Modeler),
            "approver" | "reviewer" => Ok(Role::Approver),
            "admin" | "administrator" => Ok(Role::Admin),
            _ => Err(ParseEnumError {
                what: "role",
                value: s.to_string(),
                expected: "viewer, modeler, approver, admin",
            }),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change the audit log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(try_from = "String")]
pub enum AuditAction {
    /// A model name was registered for the first time.
    #[serde(rename = "model.created")]
    ModelCreated,
    /// A new version of a model was registered (by a person or a training job).
    #[serde(rename = "version.registered")]
    VersionRegistered,
    /// An alias was pointed at a version.
    #[serde(rename = "alias.moved")]
    AliasMoved,
    /// An alias was removed.
    #[serde(rename = "alias.deleted")]
    AliasDeleted,
    /// A job was queued.
    #[serde(rename = "job.created")]
    JobCreated,
    /// A job's cancellation was requested.
    #[serde(rename = "job.cancelled")]
    JobCancelled,
    /// A comparison was started.
    #[serde(rename = "comparison.created")]
    ComparisonCreated,
    /// A data file was uploaded.
    #[serde(rename = "upload.created")]
    UploadCreated,
    /// An upload was deleted.
    #[serde(rename = "upload.deleted")]
    UploadDeleted,
    /// A user was created.
    #[serde(rename = "user.created")]
    UserCreated,
    /// A user's role or groups changed.
    #[serde(rename = "user.changed")]
    UserChanged,
    /// An API token was created.
    #[serde(rename = "token.created")]
    TokenCreated,
    /// An API token was revoked.
    #[serde(rename = "token.revoked")]
    TokenRevoked,
    /// A monitoring job definition was created.
    #[serde(rename = "monitor_definition.created")]
    MonitorDefinitionCreated,
    /// A monitoring job definition was deleted.
    #[serde(rename = "monitor_definition.deleted")]
    MonitorDefinitionDeleted,
    /// A monitoring schedule was created.
    #[serde(rename = "monitor_schedule.created")]
    MonitorScheduleCreated,
    /// A monitoring schedule was started or stopped.
    #[serde(rename = "monitor_schedule.changed")]
    MonitorScheduleChanged,
    /// A monitoring schedule was deleted.
    #[serde(rename = "monitor_schedule.deleted")]
    MonitorScheduleDeleted,
    /// Someone acknowledged an alert.
    #[serde(rename = "alert.acknowledged")]
    AlertAcknowledged,
    /// Someone resolved an alert.
    #[serde(rename = "alert.resolved")]
    AlertResolved,
}

impl AuditAction {
    /// Every action, for documentation and exhaustive tests.
    pub const ALL: [AuditAction; 20] = [
        AuditAction::ModelCreated,
        AuditAction::VersionRegistered,
        AuditAction::AliasMoved,
        AuditAction::AliasDeleted,
        AuditAction::JobCreated,
        AuditAction::JobCancelled,
        AuditAction::ComparisonCreated,
        AuditAction::UploadCreated,
        AuditAction::UploadDeleted,
        AuditAction::UserCreated,
        AuditAction::UserChanged,
        AuditAction::TokenCreated,
        AuditAction::TokenRevoked,
        AuditAction::MonitorDefinitionCreated,
        AuditAction::MonitorDefinitionDeleted,
        AuditAction::MonitorScheduleCreated,
        AuditAction::MonitorScheduleChanged,
        AuditAction::MonitorScheduleDeleted,
        AuditAction::AlertAcknowledged,
        AuditAction::AlertResolved,
    ];

    /// The stored and wire spelling, such as `alias.moved`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::ModelCreated => "model.created",
            AuditAction::VersionRegistered => "version.registered",
            AuditAction::AliasMoved => "alias.moved",
            AuditAction::AliasDeleted => "alias.deleted",
            AuditAction::JobCreated => "job.created",
            AuditAction::JobCancelled => "job.cancelled",
            AuditAction::ComparisonCreated => "comparison.created",
            AuditAction::UploadCreated => "upload.created",
            AuditAction::UploadDeleted => "upload.deleted",
            AuditAction::UserCreated => "user.created",
            AuditAction::UserChanged => "user.changed",
            AuditAction::TokenCreated => "token.created",
            AuditAction::TokenRevoked => "token.revoked",
            AuditAction::MonitorDefinitionCreated => "monitor_definition.created",
            AuditAction::MonitorDefinitionDeleted => "monitor_definition.deleted",
            AuditAction::MonitorScheduleCreated => "monitor_schedule.created",
            AuditAction::MonitorScheduleChanged => "monitor_schedule.changed",
            AuditAction::MonitorScheduleDeleted => "monitor_schedule.deleted",
            AuditAction::AlertAcknowledged => "alert.acknowledged",
            AuditAction::AlertResolved => "alert.resolved",
        }
    }
}

impl FromStr for AuditAction {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s || a.as_str().replace(['.', '_'], "") == s.replace(['.', '_'], ""))
            .ok_or(ParseEnumError {
                what: "audit action",
                value: s,
                expected: "model.created, version.registered, alias.moved, alias.deleted, \
                           job.created, job.cancelled, comparison.created, upload.created, \
                           upload.deleted, user.created, user.changed, token.created, token.revoked, \
                           monitor_definition.created, monitor_definition.deleted, \
                           monitor_schedule.created, monitor_schedule.changed, \
                           monitor_schedule.deleted, alert.acknowledged, alert.resolved",
            })
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

try_from_string!(Role, AuditAction);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_role_may_do() {
        use Permission::*;
        let table = [
            (Role::Viewer, [true, false, false, false]),
            (Role::Modeler, [true, true, false, false]),
            (Role::Approver, [true, false, true, false]),
            (Role::Admin, [true, true, true, true]),
        ];
        for (role, want) in table {
            let got = [Read, Write, Approve, Admin].map(|p| role.allows(p));
            assert_eq!(got, want, "{role}");
        }
    }

    #[test]
    fn spellings_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), r);
        }
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>().unwrap(), a);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(serde_json::from_str::<AuditAction>(&json).unwrap(), a);
        }
        assert_eq!(
            "ALIAS_MOVED".parse::<AuditAction>().unwrap(),
            AuditAction::AliasMoved
        );
        let e = "owner".parse::<Role>().unwrap_err().to_string();
        assert!(e.contains("viewer, modeler, approver, admin"), "{e}");
    }
}
