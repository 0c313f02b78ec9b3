//! Targets for model registration: the archive extractor and the smart-tag
//! scanner (`keel-modeldef`), and the model reference parser (`keel-types`).

use std::path::Path;

use keel_modeldef::{ArchiveLimits, check_archive, extract_archive, inspect};
use keel_types::{ModelRef, valid_name};

use crate::temp_file;

/// The small limits the archive target extracts with: 1 MiB in all, 64
/// entries, and the default expansion ratio.
pub fn archive_limits() -> ArchiveLimits {
    ArchiveLimits {
        max_total_bytes: 1 << 20,
        max_entries: 64,
        ..ArchiveLimits::default()
    }
}

/// The archive checker and extractor. The format follows the first byte, as
/// a file's magic number would: `0x1f` (gzip) is a `.tar.gz`, `P` (`PK`) a
/// `.zip`, anything else a `.tar`. The archive is checked, then extracted
/// into an empty directory; an entry that lands outside it is a finding.
pub fn archive(data: &[u8]) {
    let suffix = match data.first() {
        Some(0x1f) => ".tar.gz",
        Some(b'P') => ".zip",
        _ => ".tar",
    };
    let Some((dir, path)) = temp_file(data, suffix) else {
        return;
    };
    let limits = archive_limits();
    let _ = check_archive(&path, &limits);
    let dest = dir.path().join("out");
    if let Ok(files) = extract_archive(&path, &dest, &limits) {
        for file in &files {
            if !file.starts_with(&dest) {
                panic!("extracted {} outside {}", file.display(), dest.display());
            }
        }
    }
    assert_only(dir.path(), &[&path, &dest]);
}

/// Panics when `dir` holds anything but `expected`: an archive entry written
/// beside the destination rather than under it.
fn assert_only(dir: &Path, expected: &[&Path]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !expected.contains(&path.as_path()) {
            panic!(
                "the extraction wrote {} outside its destination",
                path.display()
            );
        }
    }
}

/// The smart-tag scanner, reached the way registration reaches it: the input
/// is the `model.py` of an otherwise empty model directory, which is inspected.
pub fn smart_tags(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    if std::fs::write(dir.path().join("model.py"), data).is_err() {
        return;
    }
    let _ = inspect(dir.path(), &[]);
}

/// The model reference parser. A reference that parses must print as text
/// that parses back to the same reference.
pub fn model_ref(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = valid_name(text);
    let Ok(parsed) = text.parse::<ModelRef>() else {
        return;
    };
    let shown = parsed.to_string();
    match shown.parse::<ModelRef>() {
        Ok(again) if again == parsed => {}
        other => {
            panic!("{text:?} parsed as {parsed:?}, shown as {shown:?}, which parses as {other:?}")
        }
    }
}
