//! Tests of the artifact store on a local directory: round trips, streaming
//! large objects both ways, atomic writes, key validation, prefix deletes
//! and the URL forms it opens.

use std::path::Path;

use bytes::Bytes;
use futures::StreamExt;
use keel_types::Code;

use super::TestResult;
use crate::{ArtifactStore, Error, keys};

/// Bytes that are not all alike, so a misplaced chunk would be noticed.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// Names in `dir` (not recursive) that look like leftovers of a write.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial") || n.contains('#'))
        .collect()
}

#[tokio::test]
async fn artifacts_round_trip() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("artifacts");
    let store = ArtifactStore::local(&root)?;
    let digest = "cd".repeat(32);
    let key = keys::blob(&digest);
    assert!(!store.exists(&key).await?);
    store.put_bytes(&key, Bytes::from_static(b"hello")).await?;
    assert!(store.exists(&key).await?);
    assert_eq!(store.get_bytes(&key).await?.as_ref(), b"hello");
    // A local store keeps each object as a file at its key under the root.
    let on_disk = root.join(format!("blobs/sha256/cd/{digest}"));
    assert_eq!(std::fs::read(&on_disk)?, b"hello");

    let src = dir.path().join("small.txt");
    std::fs::write(&src, b"small file")?;
    assert_eq!(store.put_file("models/x/small.txt", &src).await?, 10);
    assert_eq!(
        store.get_bytes("models/x/small.txt").await?.as_ref(),
        b"small file"
    );

    store.delete(&key).await?;
    assert!(!store.exists(&key).await?);
    assert!(!on_disk.exists());
    store.delete(&key).await?;
    let missing = store
        .get_bytes(&key)
        .await
        .err()
        .ok_or("missing key read")?;
    assert_eq!(missing.code(), Code::NotFound, "{missing}");
    let missing = store
        .get_stream(&key)
        .await
        .err()
        .ok_or("missing key streamed")?;
    assert_eq!(missing.code(), Code::NotFound, "{missing}");
    assert!(missing.to_string().contains(&key), "{missing}");

    let no_src = store
        .put_file("models/x/none", &dir.path().join("absent"))
        .await
        .err()
        .ok_or("absent file stored")?;
    assert!(matches!(no_src, Error::Io { .. }), "{no_src}");
    assert!(!store.exists("models/x/none").await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_stream_both_ways() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("artifacts");
    let store = ArtifactStore::local(&root)?;
    let data = pattern(50 * 1024 * 1024 + 17);
    let src = dir.path().join("big.bin");
    std::fs::write(&src, &data)?;
    let key = "uploads/big/big.bin";
    assert_eq!(store.put_file(key, &src).await?, data.len() as u64);
    let stored = root.join(key);
    assert_eq!(std::fs::metadata(&stored)?.len(), data.len() as u64);
    assert!(leftovers(stored.parent().ok_or("no parent")?).is_empty());

    let dest = dir.path().join("out/big.copy");
    assert_eq!(store.get_to_file(key, &dest).await?, data.len() as u64);
    assert!(
        std::fs::read(&dest)? == data,
        "the copy differs from the original"
    );
    assert!(leftovers(dest.parent().ok_or("no parent")?).is_empty());

    // Streaming tells the size first, then yields exactly the bytes.
    let mut reader = store.get_stream(key).await?;
    assert_eq!(reader.size, data.len() as u64);
    let mut streamed = Vec::with_capacity(data.len());
    while let Some(chunk) = reader.stream.next().await {
        streamed.extend_from_slice(&chunk?);
    }
    assert_eq!(streamed.len(), data.len());
    assert!(streamed == data, "the stream differs from the original");
    Ok(())
}

#[tokio::test]
async fn get_to_file_is_atomic() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = ArtifactStore::local(&dir.path().join("artifacts"))?;
    let dest = dir.path().join("dest.csv");
    std::fs::write(&dest, b"old content")?;

    let err = store
        .get_to_file("jobs/none/out.csv", &dest)
        .await
        .err()
        .ok_or("a missing key was fetched")?;
    assert_eq!(err.code(), Code::NotFound, "{err}");
    assert_eq!(
        std::fs::read(&dest)?,
        b"old content",
        "a failed get must not touch dest"
    );
    assert!(leftovers(dir.path()).is_empty());

    store
        .put_bytes("jobs/1/out.csv", Bytes::from_static(b"a,b\n1,2\n"))
        .await?;
    assert_eq!(store.get_to_file("jobs/1/out.csv", &dest).await?, 8);
    assert_eq!(std::fs::read(&dest)?, b"a,b\n1,2\n");
    assert!(leftovers(dir.path()).is_empty());
    Ok(())
}

#[tokio::test]
async fn artifact_keys_are_validated_everywhere() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = ArtifactStore::local(&dir.path().join("artifacts"))?;
    let src = dir.path().join("f");
    std::fs::write(&src, b"x")?;
    for key in ["../escape", "/abs", "a//b", ""] {
        let errs = [
            store.put_bytes(key, Bytes::new()).await.err(),
            store.put_file(key, &src).await.err(),
            store.get_bytes(key).await.err(),
            store.get_to_file(key, &dir.path().join("o")).await.err(),
            store.get_stream(key).await.err(),
            store.exists(key).await.err(),
            store.delete(key).await.err(),
            store.delete_prefix(key).await.err(),
        ];
        for e in errs {
            let e = e.ok_or(format!("{key:?} was accepted"))?;
            assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        }
    }
    assert!(!dir.path().join("escape").exists());
    assert!(!dir.path().join("o").exists());
    Ok(())
}

#[tokio::test]
async fn delete_prefix_removes_whole_segments_only() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = ArtifactStore::local(&dir.path().join("artifacts"))?;
    for key in [
        "jobs/1/a.csv",
        "jobs/1/sub/b.csv",
        "jobs/10/c.csv",
        "jobs/2/d.csv",
    ] {
        store.put_bytes(key, Bytes::from_static(b"x")).await?;
    }
    store.delete_prefix("jobs/1").await?;
    assert!(!store.exists("jobs/1/a.csv").await?);
    assert!(!store.exists("jobs/1/sub/b.csv").await?);
    assert!(store.exists("jobs/10/c.csv").await?);
    assert!(store.exists("jobs/2/d.csv").await?);
    store.delete_prefix("jobs/2/").await?;
    assert!(!store.exists("jobs/2/d.csv").await?);
    store.delete_prefix("never/was").await?;
    assert!(store.exists("jobs/10/c.csv").await?);
    Ok(())
}

#[tokio::test]
async fn open_accepts_file_urls_and_paths() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("nested/artifacts");
    let by_url = ArtifactStore::open(&format!("file://{}", root.display()))?;
    assert!(root.is_dir(), "opening creates the directory");
    by_url
        .put_bytes("jobs/1/out.csv", Bytes::from_static(b"kept"))
        .await?;
    // Reopening by bare path, with surrounding blanks, sees the same objects.
    let by_path = ArtifactStore::open(&format!(" {} ", root.display()))?;
    assert_eq!(by_path.get_bytes("jobs/1/out.csv").await?.as_ref(), b"kept");

    for (url, words) in [
        ("s3://", "names no bucket"),
        ("s3:///keel", "names no bucket"),
        ("gs://bucket/keel", "scheme 'gs' is not supported"),
    ] {
        let e = ArtifactStore::open(url)
            .err()
            .ok_or(format!("{url} opened"))?;
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        assert!(e.to_string().contains(words), "{url}: {e}");
    }
    for empty in ["file://", ""] {
        let e = ArtifactStore::open(empty)
            .err()
            .ok_or(format!("{empty:?} opened"))?;
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        assert!(e.to_string().contains("names no directory"), "{e}");
    }
    Ok(())
}

#[test]
fn artifact_futures_are_send() -> TestResult {
    // Callers spawn these futures on a multi-threaded runtime (HTTP handlers),
    // so they must be Send; this fails to compile if one is not.
    fn send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir()?;
    let store = ArtifactStore::local(dir.path())?;
    let src = dir.path().join("f");
    send(&store.put_file("k", &src));
    send(&store.put_bytes("k", Bytes::new()));
    send(&store.get_to_file("k", &src));
    send(&store.get_bytes("k"));
    send(&store.get_stream("k"));
    send(&store.exists("k"));
    send(&store.delete("k"));
    send(&store.delete_prefix("k"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_artifacts_round_trip_and_stream() -> TestResult {
    let Some(server) = keel_testkit::s3::Server::start() else {
        return Ok(());
    };
    let settings = server.settings();
    let open = |prefix: &str| {
        ArtifactStore::open_s3(
            &server.url(prefix),
            settings.iter().map(|(k, v)| (*k, v.as_str())),
        )
    };
    let store = open("keel/team")?;
    let key = keys::blob(&"ef".repeat(32));
    assert!(!store.exists(&key).await?);
    store.put_bytes(&key, Bytes::from_static(b"hello")).await?;
    assert!(store.exists(&key).await?);
    assert_eq!(store.get_bytes(&key).await?.as_ref(), b"hello");
    // A store under another prefix of the same bucket sees none of it.
    let other = open("keel/other")?;
    assert!(!other.exists(&key).await?);
    let missing = other
        .get_bytes(&key)
        .await
        .err()
        .ok_or("read across prefixes")?;
    assert_eq!(missing.code(), Code::NotFound, "{missing}");
    assert!(missing.to_string().contains(&key), "{missing}");

    // Larger than one put: sent as a multipart upload, read back streamed.
    let dir = tempfile::tempdir()?;
    let data = pattern(20 * 1024 * 1024 + 5);
    let src = dir.path().join("big.bin");
    std::fs::write(&src, &data)?;
    let big = "uploads/big/big.bin";
    assert_eq!(store.put_file(big, &src).await?, data.len() as u64);
    let dest = dir.path().join("out/big.copy");
    assert_eq!(store.get_to_file(big, &dest).await?, data.len() as u64);
    assert!(std::fs::read(&dest)? == data, "the copy differs");
    let mut reader = store.get_stream(big).await?;
    assert_eq!(reader.size, data.len() as u64);
    let mut streamed = 0usize;
    while let Some(chunk) = reader.stream.next().await {
        let chunk = chunk?;
        assert!(
            chunk[..] == data[streamed..streamed + chunk.len()],
            "at byte {streamed}"
        );
        streamed += chunk.len();
    }
    assert_eq!(streamed, data.len());

    // Deleting a prefix removes whole segments only.
    for k in ["jobs/1/out.csv", "jobs/1/rejected.jsonl", "jobs/10/out.csv"] {
        store.put_bytes(k, Bytes::from_static(b"x")).await?;
    }
    store.delete_prefix("jobs/1").await?;
    assert!(!store.exists("jobs/1/out.csv").await?);
    assert!(!store.exists("jobs/1/rejected.jsonl").await?);
    assert!(store.exists("jobs/10/out.csv").await?);
    store.delete(&key).await?;
    assert!(!store.exists(&key).await?);
    store.delete(&key).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_outputs_are_published_once_and_whole() -> TestResult {
    let Some(server) = keel_testkit::s3::Server::start() else {
        return Ok(());
    };
    let settings = server.settings();
    let buckets = crate::Buckets::with_settings(settings.iter().map(|(k, v)| (*k, v.as_str())));
    let dir = tempfile::tempdir()?;
    let small = dir.path().join("small.csv");
    std::fs::write(&small, b"a\n1\n")?;
    let uri = crate::S3Uri::parse(&server.url("out/scores.csv"))?;
    assert_eq!(buckets.size(&uri).await?, None);
    assert_eq!(
        buckets.publish_new(&small, &uri, "job.1").await?,
        crate::Published::New(4)
    );
    assert_eq!(buckets.size(&uri).await?, Some(4));
    // The same bytes again are taken as published (an earlier attempt of a
    // deterministic job wrote them); other bytes cannot replace them, and
    // neither leaves a staging object.
    assert_eq!(
        buckets.publish_new(&small, &uri, "job.2").await?,
        crate::Published::Identical(4)
    );
    let other = dir.path().join("other.csv");
    std::fs::write(&other, b"a\n2\n")?;
    let second = buckets
        .publish_new(&other, &uri, "job.2")
        .await
        .err()
        .ok_or("published twice")?;
    assert_eq!(second.code(), Code::AlreadyExists, "{second}");
    let staged = crate::S3Uri::parse(&format!("{uri}.keel-staging-job.2"))?;
    assert_eq!(buckets.size(&staged).await?, None);
    let back = dir.path().join("back.csv");
    assert_eq!(buckets.download(&uri, &back).await?, 4);
    assert_eq!(std::fs::read(&back)?, b"a\n1\n");

    // Larger than one part: uploaded in parts, copied in parts, whole.
    let data = pattern(20 * 1024 * 1024 + 7);
    let big = dir.path().join("big.bin");
    std::fs::write(&big, &data)?;
    let big_uri = crate::S3Uri::parse(&server.url("out/big.bin"))?;
    assert_eq!(
        buckets.publish_new(&big, &big_uri, "job.1").await?,
        crate::Published::New(data.len() as u64)
    );
    // A different large file of the same size is told apart by content.
    let mut changed = data.clone();
    changed[data.len() - 3] ^= 1;
    let big2 = dir.path().join("big2.bin");
    std::fs::write(&big2, &changed)?;
    let refused = buckets
        .publish_new(&big2, &big_uri, "job.2")
        .await
        .err()
        .ok_or("replaced")?;
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused}");
    assert_eq!(
        buckets.publish_new(&big, &big_uri, "job.3").await?,
        crate::Published::Identical(data.len() as u64)
    );
    let copy = dir.path().join("big.copy");
    assert_eq!(buckets.download(&big_uri, &copy).await?, data.len() as u64);
    assert!(std::fs::read(&copy)? == data, "the published copy differs");

    let missing = crate::S3Uri::parse(&server.url("nothing/here.csv"))?;
    let err = buckets
        .download(&missing, &dir.path().join("x"))
        .await
        .err()
        .ok_or("read nothing")?;
    assert_eq!(err.code(), Code::NotFound, "{err}");
    assert!(err.to_string().contains("nothing/here.csv"), "{err}");
    Ok(())
}
