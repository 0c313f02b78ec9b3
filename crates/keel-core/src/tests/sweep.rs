//! The sweep at start: crashed jobs' working directories and the temporary
//! files Keel names beside outputs go; a pending job's directory, the
//! user's files and a temporary file whose writer still runs stay.

use keel_api_model as api;
use keel_types::{JobKind, JobStatus};

use super::{Env, admin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_removes_only_what_crashed_runs_left() {
    let env = Env::new().await;
    env.model("m", false, None, None).await;
    let data = env.data("in.csv", "x\n0.9\n");
    let out_dir = env.dir.path().join("outputs");
    std::fs::create_dir_all(&out_dir).unwrap();
    let target = out_dir.join("scores.csv");
    env.runtime
        .set(keel_exec::testing::Behaviour::Raise("bad record".into()));
    let request = |output: Option<api::Output>| api::CreateJob {
        output,
        ..super::jobs::create(JobKind::Scoring, "m", &data, None)
    };
    let failed = env
        .keel
        .create_job(
            &admin(),
            request(Some(api::Output::External {
                uri: target.display().to_string(),
            })),
        )
        .await
        .unwrap();
    let done = env.keel.run_job(failed.id.into()).await.unwrap();
    assert_eq!(done.status, JobStatus::Failed);
    let pending = env
        .keel
        .create_job(
            &admin(),
            request(Some(api::Output::Embedded {
                name: "x.csv".into(),
            })),
        )
        .await
        .unwrap();
    // What a kill -9 in the middle of each would leave.
    let work = env.keel.home().join("work");
    let unknown = keel_types::JobId::new().to_string();
    let scratch = ".tmpAbC123".to_string();
    // An attempt's directory is `<job>.<attempt>`; a bare job id is what
    // Keel named them before attempts.
    let pending_dir = format!("{}.1", pending.id);
    for dir in [
        format!("{}.2", failed.id),
        failed.id.to_string(),
        pending_dir.clone(),
        unknown,
        scratch,
    ] {
        std::fs::create_dir_all(work.join(&dir)).unwrap();
        std::fs::write(work.join(&dir).join("model.py"), "secret = 1\n").unwrap();
    }
    let dead = ".scores.csv.keel-tmp-999999999-3-1700000000000000000";
    let older = ".scores.csv.keel-tmp-999999998";
    let alive = format!(".scores.csv.keel-tmp-{}-0-1", std::process::id());
    let users = [
        ".scores.csv.keel-tmp-notes",
        "scores.csv.bak",
        ".other.csv.keel-tmp-1-2-3",
    ];
    for name in [dead, older, alive.as_str()].iter().chain(users.iter()) {
        std::fs::write(out_dir.join(name), "partial").unwrap();
    }
    let swept = env
        .keel
        .sweep_leftovers(std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        swept,
        crate::Swept {
            work_dirs: 4,
            temp_files: 2
        }
    );
    let left: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec![pending_dir]);
    let mut outputs: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    outputs.sort();
    let mut want: Vec<String> = users.iter().map(|s| s.to_string()).collect();
    want.push(alive);
    want.sort();
    assert_eq!(outputs, want);
    // Within the grace period nothing goes.
    std::fs::create_dir_all(work.join(failed.id.to_string())).unwrap();
    let later = env
        .keel
        .sweep_leftovers(std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(later, crate::Swept::default());
}
