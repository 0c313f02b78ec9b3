//! Tests of archive checking and extraction: traversal, links, devices, bombs,
//! duplicates, and what extraction writes.

use super::*;
use keel_types::Code;
use std::io::Cursor;
use zip::write::SimpleFileOptions;

fn zip_with(path: &Path, build: impl FnOnce(&mut zip::ZipWriter<File>)) {
    let mut w = zip::ZipWriter::new(File::create(path).unwrap());
    build(&mut w);
    w.finish().unwrap();
}

#[test]
fn a_zip_listing_one_name_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.zip");
    zip_with(&good, |w| {
        for name in ["model.pkl", "other.pkl"] {
            w.start_file(name, deflated()).unwrap();
            w.write_all(name.as_bytes()).unwrap();
        }
    });
    // The zip writer refuses duplicate names, so rename the second entry
    // in its local and central headers (same length, same CRC of data).
    let bytes = fs::read(&good).unwrap();
    let mut twice = Vec::with_capacity(bytes.len());
    let mut rest = &bytes[..];
    while let Some(at) = rest.windows(9).position(|w| w == b"other.pkl") {
        twice.extend_from_slice(&rest[..at]);
        twice.extend_from_slice(b"model.pkl");
        rest = &rest[at + 9..];
    }
    twice.extend_from_slice(rest);
    let bad = dir.path().join("bad.zip");
    fs::write(&bad, &twice).unwrap();
    check_archive(&good, &ArchiveLimits::default()).unwrap();
    for result in [
        check_archive(&bad, &ArchiveLimits::default()),
        extract_archive(&bad, &dir.path().join("out"), &ArchiveLimits::default()).map(|_| ()),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.code(), Code::UnsafeArchive, "{err}");
        assert!(
            err.to_string().contains("'model.pkl' appears twice"),
            "{err}"
        );
    }
    assert!(!dir.path().join("out").exists());
}

fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)
}

/// Appends a tar entry whose raw name bypasses the tar crate's own path checks.
fn raw_tar_entry(
    b: &mut tar::Builder<impl Write>,
    name: &str,
    kind: tar::EntryType,
    data: &[u8],
    link: Option<&str>,
) {
    let mut h = tar::Header::new_gnu();
    let bytes = name.as_bytes();
    h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    if let Some(link) = link {
        h.set_link_name_literal(link).unwrap();
    }
    h.set_cksum();
    b.append(&h, Cursor::new(data)).unwrap();
}

fn tar_with(path: &Path, gz: bool, build: impl FnOnce(&mut tar::Builder<Box<dyn Write>>)) {
    let file = File::create(path).unwrap();
    let out: Box<dyn Write> = if gz {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::default(),
        ))
    } else {
        Box::new(file)
    };
    let mut b = tar::Builder::new(out);
    build(&mut b);
    b.into_inner().unwrap().flush().unwrap();
}

fn assert_unsafe(result: Result<impl std::fmt::Debug>, entry: &str, reason: &str) {
    match result {
        Err(e @ Error::UnsafeArchive { .. }) => {
            assert_eq!(e.code(), Code::UnsafeArchive);
            let msg = e.to_string();
            assert!(msg.contains(&format!("'{entry}'")), "{msg}");
            assert!(msg.contains(reason), "{msg}");
        }
        other => panic!("expected an unsafe-archive error about {entry}, got {other:?}"),
    }
}

#[test]
fn archive_names_are_recognised() {
    for name in ["a.zip", "b.TAR", "c.tar.gz", "d.tgz", "x/y.Zip"] {
        assert!(is_archive(name), "{name}");
    }
    for name in ["a.gz", "b.tar.bz2", "c.pkl", "zip", "tar.gzip"] {
        assert!(!is_archive(name), "{name}");
    }
}

#[test]
fn entry_names_are_validated() {
    assert_eq!(entry_path("a/./b//c").unwrap(), Some("a/b/c".into()));
    assert_eq!(entry_path("./").unwrap(), None);
    assert!(entry_path("../evil").unwrap_err().contains(".."));
    assert!(entry_path("a/../../evil").is_err());
    assert!(entry_path("/etc/passwd").unwrap_err().contains("absolute"));
    assert!(entry_path("C:/Windows/x").unwrap_err().contains("drive"));
    assert!(entry_path("a\\..\\b").unwrap_err().contains("backslash"));
}

#[test]
fn good_zip_extracts_files_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("good.zip");
    zip_with(&zip_path, |w| {
        w.add_directory("data/", deflated()).unwrap();
        w.start_file("data/table.csv", deflated()).unwrap();
        w.write_all(b"a,b\n1,2\n").unwrap();
        w.start_file("model.txt", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"weights").unwrap();
        w.add_directory("empty/", deflated()).unwrap();
    });
    check_archive(&zip_path, &ArchiveLimits::default()).unwrap();
    let dest = dir.path().join("out");
    let mut files = extract_archive(&zip_path, &dest, &ArchiveLimits::default()).unwrap();
    files.sort();
    assert_eq!(
        files,
        vec![dest.join("data/table.csv"), dest.join("model.txt")]
    );
    assert_eq!(
        fs::read(dest.join("data/table.csv")).unwrap(),
        b"a,b\n1,2\n"
    );
    assert_eq!(fs::read(dest.join("model.txt")).unwrap(), b"weights");
    assert!(dest.join("empty").is_dir());
    // A second extraction into the same place would overwrite files, so it fails.
    let again = extract_archive(&zip_path, &dest, &ArchiveLimits::default());
    assert_unsafe(again, "data/table.csv", "already exists");
}

#[test]
fn good_tar_gz_extracts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.tar.gz");
    tar_with(&path, true, |b| {
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "nested/deep/x.bin", Cursor::new(b"hello"))
            .unwrap();
        let long = format!("{}/y.txt", "d".repeat(150));
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, Cursor::new(b"ok")).unwrap();
    });
    let dest = dir.path().join("out");
    let files = extract_archive(&path, &dest, &ArchiveLimits::default()).unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(fs::read(dest.join("nested/deep/x.bin")).unwrap(), b"hello");
    let long = dest.join("d".repeat(150)).join("y.txt");
    assert_eq!(fs::read(long).unwrap(), b"ok");
}

#[test]
fn zip_slip_and_absolute_names_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let slip = dir.path().join("slip.zip");
    zip_with(&slip, |w| {
        w.start_file("fine.txt", deflated()).unwrap();
        w.write_all(b"x").unwrap();
        w.start_file("../evil", deflated()).unwrap();
        w.write_all(b"x").unwrap();
    });
    assert_unsafe(
        check_archive(&slip, &ArchiveLimits::default()),
        "../evil",
        "'..'",
    );
    let dest = dir.path().join("out");
    assert_unsafe(
        extract_archive(&slip, &dest, &ArchiveLimits::default()),
        "../evil",
        "'..'",
    );
    assert!(!dir.path().join("evil").exists());
    assert!(
        !dest.join("fine.txt").exists(),
        "nothing is written when the check fails"
    );

    let abs = dir.path().join("abs.tar");
    tar_with(&abs, false, |b| {
        raw_tar_entry(b, "/tmp/keel-evil", tar::EntryType::Regular, b"x", None)
    });
    assert_unsafe(
        check_archive(&abs, &ArchiveLimits::default()),
        "/tmp/keel-evil",
        "absolute",
    );

    let tslip = dir.path().join("slip.tgz");
    tar_with(&tslip, true, |b| {
        raw_tar_entry(b, "a/../../evil", tar::EntryType::Regular, b"x", None)
    });
    assert_unsafe(
        check_archive(&tslip, &ArchiveLimits::default()),
        "a/../../evil",
        "'..'",
    );
}

#[test]
fn links_and_devices_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let zlink = dir.path().join("link.zip");
    zip_with(&zlink, |w| {
        w.add_symlink("passwd", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
    });
    assert_unsafe(
        check_archive(&zlink, &ArchiveLimits::default()),
        "passwd",
        "symbolic link",
    );

    for (kind, reason) in [
        (tar::EntryType::Symlink, "symbolic link"),
        (tar::EntryType::Link, "hard link"),
        (tar::EntryType::Char, "device"),
        (tar::EntryType::Fifo, "FIFO"),
    ] {
        let t = dir.path().join("link.tar");
        tar_with(&t, false, |b| {
            raw_tar_entry(b, "l", kind, b"", Some("/etc/passwd"))
        });
        assert_unsafe(check_archive(&t, &ArchiveLimits::default()), "l", reason);
    }
}

#[test]
fn zip_bomb_is_rejected_by_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.zip");
    let zeros = vec![0u8; 1 << 20];
    zip_with(&bomb, |w| {
        w.start_file("zeros.bin", deflated()).unwrap();
        for _ in 0..16 {
            w.write_all(&zeros).unwrap();
        }
    });
    assert!(fs::metadata(&bomb).unwrap().len() < 200_000);
    assert_unsafe(
        check_archive(&bomb, &ArchiveLimits::default()),
        "zeros.bin",
        "zip bomb",
    );
    // The same bytes are fine when the ratio limit allows them.
    let lenient = ArchiveLimits {
        max_ratio: 100_000,
        ..ArchiveLimits::default()
    };
    check_archive(&bomb, &lenient).unwrap();
    // And a total-size limit catches them too.
    let small = ArchiveLimits {
        max_total_bytes: 1 << 20,
        max_ratio: 100_000,
        ..ArchiveLimits::default()
    };
    assert_unsafe(
        check_archive(&bomb, &small),
        "zeros.bin",
        "beyond the limit",
    );
}

#[test]
fn tar_gz_bomb_is_rejected_while_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.tgz");
    let zeros = vec![0u8; 16 << 20];
    tar_with(&bomb, true, |b| {
        let mut h = tar::Header::new_gnu();
        h.set_size(zeros.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "zeros.bin", Cursor::new(&zeros))
            .unwrap();
    });
    assert_unsafe(
        check_archive(&bomb, &ArchiveLimits::default()),
        "zeros.bin",
        "zip bomb",
    );
}

#[test]
fn too_many_entries_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let many = dir.path().join("many.zip");
    zip_with(&many, |w| {
        for i in 0..11 {
            w.start_file(format!("f{i}.txt"), deflated()).unwrap();
            w.write_all(b"x").unwrap();
        }
    });
    let limits = ArchiveLimits {
        max_entries: 10,
        ..ArchiveLimits::default()
    };
    assert_unsafe(
        check_archive(&many, &limits),
        "f10.txt",
        "limit of 10 entries",
    );
    let many_tar = dir.path().join("many.tar");
    tar_with(&many_tar, false, |b| {
        for i in 0..11 {
            raw_tar_entry(b, &format!("f{i}.txt"), tar::EntryType::Regular, b"x", None);
        }
    });
    assert_unsafe(
        check_archive(&many_tar, &limits),
        "f10.txt",
        "limit of 10 entries",
    );
}

#[test]
#[cfg(unix)]
fn duplicates_and_planted_links_at_the_destination_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let dup = dir.path().join("dup.tar");
    tar_with(&dup, false, |b| {
        raw_tar_entry(b, "a.txt", tar::EntryType::Regular, b"1", None);
        raw_tar_entry(b, "./a.txt", tar::EntryType::Regular, b"2", None);
    });
    assert_unsafe(
        check_archive(&dup, &ArchiveLimits::default()),
        "./a.txt",
        "twice",
    );

    let good = dir.path().join("good.tar");
    tar_with(&good, false, |b| {
        raw_tar_entry(b, "sub/x.txt", tar::EntryType::Regular, b"1", None);
    });
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let dest = dir.path().join("dest");
    fs::create_dir(&dest).unwrap();
    std::os::unix::fs::symlink(&outside, dest.join("sub")).unwrap();
    assert_unsafe(
        extract_archive(&good, &dest, &ArchiveLimits::default()),
        "sub/x.txt",
        "symbolic link",
    );
    assert!(!outside.join("x.txt").exists());
}

#[test]
fn garbage_is_unreadable_not_unsafe() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.zip");
    fs::write(&bad, b"this is not a zip file at all").unwrap();
    let err = check_archive(&bad, &ArchiveLimits::default()).unwrap_err();
    assert!(matches!(err, Error::Archive { .. }), "{err:?}");
    assert!(err.to_string().contains("bad.zip"), "{err}");
}
