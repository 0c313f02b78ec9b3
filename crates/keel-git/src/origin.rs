//! A version's git origin, and the check a server makes of one a client
//! sends: it is only metadata, but it must be well-formed, bounded, and
//! free of credentials.

use crate::error::{Error, Result};
use crate::spec::{MAX_SUBDIR, check_ref, check_subdir, is_full_commit, parse_url};

/// Where a checked-out model came from, as recorded on its version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The repository URL, without credentials.
    pub repository: String,
    /// The reference as asked, or the default branch's name.
    pub reference: String,
    /// The commit checked out (a full id).
    pub commit: String,
    /// The model's directory inside the repository; `None` is its root.
    pub subdir: Option<String>,
}

impl Origin {
    /// Checks every field as the grammar of a source would, and that the
    /// repository carries no credentials. Errors name the field.
    pub fn check(&self) -> Result<()> {
        let invalid =
            |field: &'static str| move |reason: String| Error::InvalidOrigin { field, reason };
        let url = parse_url(&self.repository).map_err(invalid("repository"))?;
        if url.repository != self.repository || !url.secrets.is_empty() {
            return Err(Error::InvalidOrigin {
                field: "repository",
                reason: "it carries credentials (a user or password before `@`), which Keel never stores; send the URL without them".into(),
            });
        }
        if self.reference.is_empty() {
            return Err(invalid("reference")(
                "it is empty; send the branch, tag or commit that was checked out".into(),
            ));
        }
        check_ref(&self.reference).map_err(invalid("reference"))?;
        if !is_full_commit(&self.commit) {
            return Err(invalid("commit")(format!(
                "'{}' is not a full commit id (40 or 64 lowercase hex digits, as `git rev-parse HEAD` prints)",
                self.commit.chars().take(80).collect::<String>()
            )));
        }
        if let Some(s) = &self.subdir {
            let normal = check_subdir(s).map_err(invalid("subdir"))?;
            if &normal != s {
                return Err(invalid("subdir")(format!(
                    "'{s}' is not in its normal form '{normal}' (no trailing '/'), at most {MAX_SUBDIR} bytes"
                )));
            }
        }
        Ok(())
    }
}
