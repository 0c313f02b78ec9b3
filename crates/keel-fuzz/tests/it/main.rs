//! Replays the saved fuzz corpus (`fuzz/corpus/<target>/`) through every
//! target on stable Rust, without libFuzzer: each saved input, including the
//! reproducer of every bug fuzzing found, must run without panicking.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The corpus directory at the repository root.
fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

/// The files of one target's corpus directory, sorted.
fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = corpus_root().join(target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "the fuzz target {target} has no corpus directory {} ({e}); add at least one seed \
             input there",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())))
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_directory_belongs_to_a_target() {
    let root = corpus_root();
    let entries =
        fs::read_dir(&root).unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()));
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            keel_fuzz::TARGETS.iter().any(|(target, _)| *target == name),
            "{} is not the corpus of any target in keel_fuzz::TARGETS; rename or remove it",
            entry.path().display()
        );
    }
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    for (target, _) in keel_fuzz::TARGETS {
        let file = dir.join(format!("{target}.rs"));
        assert!(file.is_file(), "{} is missing", file.display());
    }
}

/// One test per target, so a failure names its target, and the list of the
/// targets replayed.
macro_rules! replay {
    ($($name:ident),* $(,)?) => {
        const REPLAYED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                replay_corpus(stringify!($name), keel_fuzz::$name);
            }
        )*
    };
}

replay!(
    csv_reader,
    json_reader,
    parquet_reader,
    avro_schema,
    avro_check,
    archive,
    smart_tags,
    model_ref,
    worker_frame,
);

#[test]
fn the_replay_tests_cover_every_target() {
    let targets: Vec<&str> = keel_fuzz::TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        REPLAYED, targets,
        "the replay! list must name the targets of keel_fuzz::TARGETS, in order"
    );
}

/// Runs every file of `target`'s corpus through `run`, naming the file that panics.
fn replay_corpus(target: &str, run: keel_fuzz::Target) {
    let files = corpus_files(target);
    assert!(
        !files.is_empty(),
        "the corpus directory of {target} is empty; add at least one seed input"
    );
    for file in &files {
        let data = fs::read(file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let start = Instant::now();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(
            outcome.is_ok(),
            "{target} panicked on {}; reproduce with `cargo fuzz run {target} {}`",
            file.display(),
            file.display()
        );
        let took = start.elapsed();
        assert!(
            took.as_secs() < 10,
            "{target} took {took:?} on {}, over the 10 s hang limit",
            file.display()
        );
    }
}
