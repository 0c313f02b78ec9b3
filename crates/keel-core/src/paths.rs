//! Which local files a job may read and write for its client.
//!
//! An embedded Keel acts as the local OS user, who may name any file. A
//! server acts for clients on the network, who must not make it read the
//! server's files (`/etc/passwd` as CSV, through `/result` and `/rejected`)
//! or overwrite them: it reaches only paths under the directories an admin
//! allowed (its data roots), decided on the path as written first (so a
//! refusal never tells whether a file exists), then on the real path with
//! every symbolic link resolved. Either way nothing a client names may land
//! inside Keel's own data directory, which belongs to its stores.

use std::path::{Component, Path, PathBuf};

use keel_store::S3Uri;

use crate::{Error, Result};

/// Which local paths jobs may name as inputs and outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DataAccess {
    /// Any path the process may reach: the embedded default, where the
    /// client is the local user.
    #[default]
    Any,
    /// Only absolute paths under these directories (`data_roots`); none at
    /// all when the list is empty. What a server allows its clients.
    Roots(Vec<PathBuf>),
}

/// Checks an S3 data root (`s3://BUCKET[/PREFIX]`) and answers it without
/// a trailing `/`: it must name a bucket (and a valid prefix), and neither
/// hold nor lie inside Keel's own artifact store (`artifacts_url`).
pub fn check_s3_root(root: &str, artifacts_url: &str) -> Result<String> {
    let root = root.trim().trim_end_matches('/');
    // An object under the root checks its bucket and prefix.
    let under_root = S3Uri::parse(&format!("{root}/probe"))?;
    if S3Uri::is_s3(artifacts_url) {
        let store = artifacts_url.trim().trim_end_matches('/');
        let under_store = S3Uri::parse(&format!("{store}/probe"))?;
        if under_root.is_under(store) || under_store.is_under(root) {
            return Err(Error::Forbidden(format!(
                "The data root {root} holds or is inside Keel's artifact store {store}; clients must not reach Keel's own objects."
            )));
        }
    }
    Ok(root.to_string())
}

/// The check of the paths one request names.
pub(crate) struct Access<'a> {
    pub policy: &'a DataAccess,
    /// Keel's data directory.
    pub home: &'a Path,
    /// The S3 prefixes a server's clients may name (`s3://BUCKET[/PREFIX]`).
    pub s3_roots: &'a [String],
    /// Keel's own artifact store, which no client may name.
    pub artifacts_url: &'a str,
}

impl Access<'_> {
    /// The file a job may read as its input (`what` names it in messages:
    /// "input", "`baseline`"): as written under [`DataAccess::Any`], its
    /// real path under [`DataAccess::Roots`].
    pub fn input(&self, path: &Path, what: &str) -> Result<PathBuf> {
        let missing = || {
            Error::InvalidArgument(format!(
                "The {what} {} does not exist or is not a file.",
                path.display()
            ))
        };
        let DataAccess::Roots(roots) = self.policy else {
            return if path.is_file() {
                Ok(path.to_path_buf())
            } else {
                Err(missing())
            };
        };
        self.lexically_allowed(roots, path, what)?;
        let real = path.canonicalize().map_err(|_| missing())?;
        self.really_allowed(roots, &real, path, what)?;
        if !real.is_file() {
            return Err(missing());
        }
        Ok(real)
    }

    /// The file a job may write as its output: its directory must exist,
    /// and the file must not be a symbolic link. Answers the path to record
    /// (the real one under [`DataAccess::Roots`]).
    pub fn output(&self, path: &Path) -> Result<PathBuf> {
        let what = "`output`";
        if let DataAccess::Roots(roots) = self.policy {
            self.lexically_allowed(roots, path, what)?;
        }
        let Some(Component::Normal(name)) = path.components().next_back() else {
            return Err(Error::InvalidArgument(format!(
                "The {what} {} names no file; end it with a file name such as scores.parquet.",
                path.display()
            )));
        };
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let real_parent = parent
            .canonicalize()
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "The output directory {} does not exist; create it first.",
                    parent.display()
                ))
            })?;
        let real = real_parent.join(name);
        match self.policy {
            DataAccess::Roots(roots) => self.really_allowed(roots, &real, path, what)?,
            DataAccess::Any => self.outside_home(&real, path, what)?,
        }
        if std::fs::symlink_metadata(&real).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Forbidden(format!(
                "The {what} {} is a symbolic link; Keel replaces an output file, never writes \
                 through a link. Name the file itself.",
                path.display()
            )));
        }
        Ok(match self.policy {
            DataAccess::Any => path.to_path_buf(),
            DataAccess::Roots(_) => real,
        })
    }

    /// The S3 object a job may read or write (`what` names it in
    /// messages): any under [`DataAccess::Any`], one under an S3 data root
    /// otherwise; never one inside Keel's own artifact store.
    pub fn s3(&self, uri: &str, what: &str) -> Result<S3Uri> {
        let object = S3Uri::parse(uri.trim())
            .map_err(|e| Error::InvalidArgument(format!("The {what}: {e}")))?;
        if S3Uri::is_s3(self.artifacts_url) && object.is_under(self.artifacts_url) {
            return Err(Error::Forbidden(format!(
                "The {what} {object} is inside Keel's own artifact store ({}), which only Keel's \
                 stores write; name an object elsewhere.",
                self.artifacts_url
            )));
        }
        if matches!(self.policy, DataAccess::Roots(_))
            && !self.s3_roots.iter().any(|root| object.is_under(root))
        {
            let roots = if self.s3_roots.is_empty() {
                "none".to_string()
            } else {
                self.s3_roots.join(", ")
            };
            return Err(Error::Forbidden(format!(
                "The {what} {object} is outside the S3 prefixes this server reads and writes for \
                 its clients ({roots}); have an admin add its prefix to the data roots \
                 (`data_roots`), or upload the input."
            )));
        }
        Ok(object)
    }

    /// A place a monitor reads or writes (a file, a directory, an S3 object
    /// or prefix): any under [`DataAccess::Any`], one under the data roots
    /// otherwise (checked as written, then through the links of the part
    /// that exists); never inside Keel's data directory or artifact store.
    pub fn location(&self, uri: &str, what: &str) -> Result<()> {
        if S3Uri::is_s3(uri) {
            return self.s3(uri, what).map(drop);
        }
        let path = Path::new(uri.strip_prefix("file://").unwrap_or(uri));
        if let DataAccess::Roots(roots) = self.policy {
            self.lexically_allowed(roots, path, what)?;
        }
        // The part of the path that exists, with its links resolved.
        let mut existing = path;
        let real = loop {
            if let Ok(r) = existing.canonicalize() {
                break r;
            }
            match existing.parent() {
                Some(p) if !p.as_os_str().is_empty() => existing = p,
                _ => break std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
            }
        };
        match self.policy {
            DataAccess::Roots(roots) => self.really_allowed(roots, &real, path, what),
            DataAccess::Any => self.outside_home(&real, path, what),
        }
    }

    /// What a job records for a path the client wrote as `uri` and that
    /// was checked as `checked`: the client's words where any path goes,
    /// the real path (links resolved) where only the roots do.
    pub fn recorded(&self, uri: String, checked: &Path) -> String {
        match self.policy {
            DataAccess::Any => uri,
            DataAccess::Roots(_) => checked.to_string_lossy().into_owned(),
        }
    }

    /// Refuses, from the path as written and without touching the file
    /// system, a relative path, a `..` and anything outside the roots.
    fn lexically_allowed(&self, roots: &[PathBuf], path: &Path, what: &str) -> Result<()> {
        if !path.is_absolute() {
            return Err(Error::Forbidden(format!(
                "The {what} path '{}' is relative; a server's clients name absolute paths under \
                 its data roots ({}), or upload the file.",
                path.display(),
                list(roots)
            )));
        }
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(Error::Forbidden(format!(
                "The {what} path '{}' contains '..'; name the file by its plain absolute path.",
                path.display()
            )));
        }
        if !roots.iter().any(|root| path.starts_with(root)) {
            return Err(outside(roots, path, what));
        }
        Ok(())
    }

    /// Refuses a real path (links resolved) outside the real roots or
    /// inside the data directory.
    fn really_allowed(
        &self,
        roots: &[PathBuf],
        real: &Path,
        path: &Path,
        what: &str,
    ) -> Result<()> {
        let inside = roots
            .iter()
            .filter_map(|root| root.canonicalize().ok())
            .any(|root| real.starts_with(root));
        if !inside {
            return Err(Error::Forbidden(format!(
                "The {what} {} leads outside the server's data roots ({}) through a symbolic \
                 link; name a file that is inside them.",
                path.display(),
                list(roots)
            )));
        }
        self.outside_home(real, path, what)
    }

    /// Refuses a real path inside Keel's data directory.
    fn outside_home(&self, real: &Path, path: &Path, what: &str) -> Result<()> {
        let home = self
            .home
            .canonicalize()
            .unwrap_or_else(|_| self.home.to_path_buf());
        if real.starts_with(&home) {
            return Err(Error::Forbidden(format!(
                "The {what} {} is inside Keel's data directory, which only Keel's own stores \
                 write; name a file elsewhere, or an embedded output (a bare name such as \
                 scores.parquet).",
                path.display()
            )));
        }
        Ok(())
    }
}

/// The refusal of a path outside the roots.
fn outside(roots: &[PathBuf], path: &Path, what: &str) -> Error {
    if roots.is_empty() {
        return Error::Forbidden(format!(
            "The {what} {} is a path on the server, and this server reads and writes no paths \
             for its clients (it has no data roots, `data_roots`); upload the input, or name an \
             embedded output (a bare name such as scores.parquet).",
            path.display()
        ));
    }
    Error::Forbidden(format!(
        "The {what} {} is outside the directories this server reads and writes for its clients \
         ({}); upload the input or name an embedded output instead, or have an admin add its \
         directory to the data roots (`data_roots`).",
        path.display(),
        list(roots)
    ))
}

fn list(roots: &[PathBuf]) -> String {
    if roots.is_empty() {
        return "none".into();
    }
    roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (path relative to the sandbox or absolute, input?, roots?, expected: Ok, or the error's code and a fragment)
    #[test]
    fn paths_are_checked_as_written_then_as_they_really_are() {
        let sandbox = tempfile::tempdir().unwrap();
        let base = sandbox.path().canonicalize().unwrap();
        let root = base.join("data");
        let home = base.join("home");
        let outside = base.join("outside");
        for d in [&root, &home, &outside, &root.join("sub")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(root.join("in.csv"), "x\n1\n").unwrap();
        std::fs::write(outside.join("secret.csv"), "x\n1\n").unwrap();
        std::fs::write(home.join("keel.db"), "x").unwrap();
        std::os::unix::fs::symlink(outside.join("secret.csv"), root.join("link.csv")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out-dir")).unwrap();
        std::os::unix::fs::symlink(&home, root.join("home-dir")).unwrap();
        std::os::unix::fs::symlink(root.join("in.csv"), root.join("sub/alias.csv")).unwrap();
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let roots = DataAccess::Roots(vec![root.clone()]);
        let none = DataAccess::Roots(Vec::new());
        #[derive(Clone, Copy)]
        enum Dir {
            In,
            Out,
        }
        use Dir::{In, Out};
        // (policy, direction, path, Ok(recorded path) or Err(code, fragment))
        type Want = Result<String, (&'static str, &'static str)>;
        let cases: Vec<(&DataAccess, Dir, String, Want)> = vec![
            (
                &roots,
                In,
                s(&root.join("in.csv")),
                Ok(s(&root.join("in.csv"))),
            ),
            (
                &roots,
                In,
                s(&root.join("sub/alias.csv")),
                Ok(s(&root.join("in.csv"))),
            ),
            (
                &roots,
                In,
                "/etc/passwd".into(),
                Err(("FORBIDDEN", "outside the directories")),
            ),
            // Outside the roots, a missing file is refused the same way: no oracle.
            (
                &roots,
                In,
                s(&outside.join("nope.csv")),
                Err(("FORBIDDEN", "outside the directories")),
            ),
            (
                &roots,
                In,
                s(&root.join("nope.csv")),
                Err(("INVALID_ARGUMENT", "does not exist")),
            ),
            (
                &roots,
                In,
                s(&root.join("../outside/secret.csv")),
                Err(("FORBIDDEN", "'..'")),
            ),
            (
                &roots,
                In,
                "data/in.csv".into(),
                Err(("FORBIDDEN", "relative")),
            ),
            (
                &roots,
                In,
                s(&root.join("link.csv")),
                Err(("FORBIDDEN", "symbolic link")),
            ),
            (
                &roots,
                In,
                s(&root.join("home-dir/keel.db")),
                Err(("FORBIDDEN", "symbolic")),
            ),
            (
                &none,
                In,
                s(&root.join("in.csv")),
                Err(("FORBIDDEN", "no data roots")),
            ),
            (
                &roots,
                Out,
                s(&root.join("o.csv")),
                Ok(s(&root.join("o.csv"))),
            ),
            (
                &roots,
                Out,
                s(&root.join("sub/o.csv")),
                Ok(s(&root.join("sub/o.csv"))),
            ),
            (
                &roots,
                Out,
                s(&outside.join("o.csv")),
                Err(("FORBIDDEN", "outside the directories")),
            ),
            (
                &roots,
                Out,
                s(&root.join("out-dir/o.csv")),
                Err(("FORBIDDEN", "symbolic link")),
            ),
            (
                &roots,
                Out,
                s(&root.join("link.csv")),
                Err(("FORBIDDEN", "is a symbolic link")),
            ),
            (
                &roots,
                Out,
                s(&root.join("missing/o.csv")),
                Err(("INVALID_ARGUMENT", "does not exist")),
            ),
            (
                &roots,
                Out,
                s(&root.join("sub/..")),
                Err(("FORBIDDEN", "'..'")),
            ),
            (
                &DataAccess::Any,
                Out,
                s(&home.join("keel.db")),
                Err(("FORBIDDEN", "data directory")),
            ),
            (
                &DataAccess::Any,
                Out,
                s(&outside.join("o.csv")),
                Ok(s(&outside.join("o.csv"))),
            ),
            (
                &DataAccess::Any,
                In,
                s(&outside.join("secret.csv")),
                Ok(s(&outside.join("secret.csv"))),
            ),
        ];
        for (policy, dir, path, want) in cases {
            let access = Access {
                policy,
                home: &home,
                s3_roots: &[],
                artifacts_url: "",
            };
            let got = match dir {
                In => access.input(Path::new(&path), "input"),
                Out => access.output(Path::new(&path)),
            };
            match (got, want) {
                (Ok(p), Ok(w)) => assert_eq!(s(&p), w, "{path}"),
                (Err(e), Err((code, fragment))) => {
                    assert_eq!(e.code().as_str(), code, "{path}: {e}");
                    assert!(e.to_string().contains(fragment), "{path}: {e}");
                }
                (got, want) => panic!("{path}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// (policy, S3 roots, URI, expected: Ok, or the error's code and a fragment)
    #[test]
    fn s3_roots_name_a_bucket_apart_from_the_artifact_store() {
        let store = "s3://keel/store";
        assert_eq!(
            check_s3_root("s3://data/team/", store).unwrap(),
            "s3://data/team"
        );
        assert_eq!(
            check_s3_root("s3://keel/other", store).unwrap(),
            "s3://keel/other"
        );
        for (root, code) in [
            ("s3://keel", "FORBIDDEN"),
            ("s3://keel/store", "FORBIDDEN"),
            ("s3://keel/store/jobs", "FORBIDDEN"),
            ("s3://Data", "INVALID_ARGUMENT"),
            ("s3://", "INVALID_ARGUMENT"),
        ] {
            let e = check_s3_root(root, store).unwrap_err();
            assert_eq!(e.code().as_str(), code, "{root}: {e}");
        }
        assert!(check_s3_root("s3://keel", "file:///home/keel/artifacts").is_ok());
    }

    #[test]
    fn objects_are_checked_against_the_s3_roots_and_the_artifact_store() {
        let home = Path::new("/nowhere/home");
        let roots = DataAccess::Roots(Vec::new());
        let team = ["s3://data/team".to_string(), "s3://scratch".to_string()];
        type Want = std::result::Result<&'static str, (&'static str, &'static str)>;
        let cases: [(&DataAccess, &[String], &str, Want); 9] = [
            (
                &DataAccess::Any,
                &[],
                "s3://any/x.csv",
                Ok("s3://any/x.csv"),
            ),
            (
                &roots,
                &team,
                "s3://data/team/in.csv",
                Ok("s3://data/team/in.csv"),
            ),
            (
                &roots,
                &team,
                "s3://scratch/a/b.parquet",
                Ok("s3://scratch/a/b.parquet"),
            ),
            (
                &roots,
                &team,
                "s3://data/teammate/in.csv",
                Err(("FORBIDDEN", "s3://data/team, s3://scratch")),
            ),
            (
                &roots,
                &team,
                "s3://other/in.csv",
                Err(("FORBIDDEN", "outside the S3 prefixes")),
            ),
            (
                &roots,
                &[],
                "s3://data/team/in.csv",
                Err(("FORBIDDEN", "(none)")),
            ),
            (
                &DataAccess::Any,
                &[],
                "s3://keel/store/jobs/x.csv",
                Err(("FORBIDDEN", "artifact store")),
            ),
            (
                &roots,
                &team,
                "s3://scratch/store/../x.csv",
                Err(("INVALID_ARGUMENT", "segment")),
            ),
            (
                &DataAccess::Any,
                &[],
                "s3://data",
                Err(("INVALID_ARGUMENT", "names no key")),
            ),
        ];
        for (policy, s3_roots, uri, want) in cases {
            let access = Access {
                policy,
                home,
                s3_roots,
                artifacts_url: "s3://keel/store",
            };
            match (access.s3(uri, "input"), want) {
                (Ok(o), Ok(w)) => assert_eq!(o.to_string(), w),
                (Err(e), Err((code, fragment))) => {
                    assert_eq!(e.code().as_str(), code, "{uri}: {e}");
                    assert!(e.to_string().contains(fragment), "{uri}: {e}");
                }
                (got, want) => panic!("{uri}: got {got:?}, want {want:?}"),
            }
        }
    }
}
