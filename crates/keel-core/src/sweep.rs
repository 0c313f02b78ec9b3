//! Leftovers of runs that crashed, removed when a server starts: working
//! directories (which hold the model's files) of jobs that are over or
//! unknown, and the hidden temporary files Keel names beside a job's output
//! when the process writing them is gone.

use std::path::Path;
use std::time::{Duration, SystemTime};

use keel_store::{JobFilter, Page};
use keel_types::JobStatus;

use crate::{Keel, Result};

/// How many of the latest failed jobs have their output's directory swept.
const FAILED_JOBS_SWEPT: u32 = 1000;

/// What a sweep removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Working directories under `work/`.
    pub work_dirs: u64,
    /// Temporary files beside failed jobs' outputs.
    pub temp_files: u64,
}

impl Keel {
    /// Removes what crashed runs left behind and is older than `grace`: the
    /// working directories of jobs that are over (or that the store does not
    /// know), other directories under `work/` (a comparison's scratch), and
    /// the temporary files beside the outputs of the latest failed jobs whose
    /// writing process no longer runs. A running job's directory is never
    /// touched, and neither is anything Keel did not name.
    pub async fn sweep_leftovers(&self, grace: Duration) -> Result<Swept> {
        let mut swept = Swept::default();
        let work = self.cfg.home.join("work");
        if let Ok(entries) = std::fs::read_dir(&work) {
            for entry in entries.flatten() {
                let path = entry.path();
                if !entry.file_type().is_ok_and(|t| t.is_dir()) || !older_than(&path, grace) {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let over = match keel_exec::workdir_job(&name) {
                    Some(id) => self
                        .stores
                        .jobs
                        .job(id)
                        .await?
                        .is_none_or(|j| j.status.is_terminal()),
                    None => true,
                };
                if over && std::fs::remove_dir_all(&path).is_ok() {
                    swept.work_dirs += 1;
                }
            }
        }
        let failed = JobFilter {
            status: Some(JobStatus::Failed),
            ..JobFilter::default()
        };
        let page = Page {
            limit: FAILED_JOBS_SWEPT,
            after: None,
        };
        for job in self.stores.jobs.list_jobs(&failed, &page).await?.items {
            let Some(output) = &job.request.output else {
                continue;
            };
            let Ok(target) = keel_exec::local_path(output.target()) else {
                continue;
            };
            swept.temp_files += sweep_temp_files(&target, grace);
        }
        Ok(swept)
    }
}

/// Removes the temporary files Keel named for `target` whose process is gone.
fn sweep_temp_files(target: &Path, grace: Duration) -> u64 {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return 0;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let name = name.to_string_lossy();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = keel_data::temp_file_owner(&file, &name) else {
            continue;
        };
        let path = entry.path();
        let writing = Path::new(&format!("/proc/{pid}")).exists();
        if !writing
            && older_than(&path, grace)
            && entry.file_type().is_ok_and(|t| t.is_file())
            && std::fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Whether `path` was last modified more than `grace` ago.
fn older_than(path: &Path, grace: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| SystemTime::now().duration_since(t).unwrap_or_default() >= grace)
}
