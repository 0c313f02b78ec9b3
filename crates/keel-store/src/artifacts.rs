//! The artifact store: model files, uploaded data and job outputs as objects
//! under string keys (laid out by [`crate::keys`]), on local disk or in an
//! S3-compatible bucket, through `object_store`: nothing outside this crate
//! learns where an object lives.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Result};

/// Files up to this size are sent with one `put`; larger ones are streamed as
/// multipart uploads so that memory stays bounded.
const SINGLE_PUT_LIMIT: u64 = 8 * 1024 * 1024;
/// The part size of multipart uploads (S3 needs at least 5 MiB).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// How many parts may be in flight at once during a multipart upload.
const PARTS_IN_FLIGHT: usize = 4;
/// The read buffer when streaming a local file into the store.
const READ_BUFFER: usize = 1024 * 1024;

/// Objects under validated string keys such as `blobs/sha256/ab/ab12...`.
#[derive(Clone, Debug)]
pub struct ArtifactStore {
    store: Arc<dyn ObjectStore>,
}

/// An object being read: its size and its bytes as a stream.
pub struct ObjectReader {
    /// The object's size in bytes.
    pub size: u64,
    /// The bytes, in order.
    pub stream: BoxStream<'static, Result<Bytes>>,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Checks a key and turns it into an object path. Keys are relative,
/// `/`-separated, with no empty, `.` or `..` segments, so that no key can
/// escape the store's root.
fn object_path(key: &str) -> Result<ObjectPath> {
    let bad = |why: &str| {
        Err(Error::InvalidArgument(format!(
            "The artifact key '{key}' is not valid: {why}. Use a relative path of non-empty segments separated by '/', such as 'blobs/sha256/ab/ab12'."
        )))
    };
    if key.is_empty() {
        return bad("it is empty");
    }
    if key.starts_with('/') {
        return bad("it starts with '/'");
    }
    if key.contains('\\') {
        return bad("it contains a backslash");
    }
    if key.chars().any(char::is_control) {
        return bad("it contains a control character");
    }
    for segment in key.split('/') {
        match segment {
            "" => return bad("it has an empty segment (a trailing '/' or '//')"),
            "." | ".." => return bad("it has a '.' or '..' segment"),
            _ => {}
        }
    }
    ObjectPath::parse(key).or_else(|e| bad(&e.to_string()))
}

impl ArtifactStore {
    /// Opens the store an URL names: `file://PATH`, a bare directory path,
    /// or `s3://BUCKET[/PREFIX]`, whose endpoint, region and credentials come
    /// from the usual AWS variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, ...).
    pub fn open(url: &str) -> Result<ArtifactStore> {
        let url = url.trim();
        if url.starts_with("s3://") {
            return ArtifactStore::s3(url, AmazonS3Builder::from_env());
        }
        let path = if let Some(rest) = url.strip_prefix("file://") {
            rest
        } else if let Some((scheme, _)) = url.split_once("://") {
            return Err(Error::InvalidArgument(format!(
                "The artifact store URL scheme '{scheme}' is not supported; use file://PATH, a directory path or s3://BUCKET/PREFIX."
            )));
        } else {
            url
        };
        if path.is_empty() {
            return Err(Error::InvalidArgument(
                "The artifact store URL names no directory; use file://PATH or a directory path."
                    .into(),
            ));
        }
        ArtifactStore::local(Path::new(path))
    }

    /// A store in the local directory `root`, created if missing.
    pub fn local(root: &Path) -> Result<ArtifactStore> {
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        // Cleanup removes directories that deletes leave empty, and fsync makes
        // a finished put survive a power cut, not just a crash of Keel.
        let local = Arc::new(
            LocalFileSystem::new_with_prefix(root)?
                .with_automatic_cleanup(true)
                .with_fsync(true),
        );
        Ok(ArtifactStore { store: local })
    }

    /// A store in the bucket an `s3://BUCKET[/PREFIX]` URL names, with
    /// settings (`endpoint`, `region`, `access_key_id`, ... as `object_store`
    /// names them) that override what the environment says.
    pub fn open_s3<'a>(
        url: &str,
        settings: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ArtifactStore> {
        let mut builder = AmazonS3Builder::from_env();
        for (key, value) in settings {
            let key: AmazonS3ConfigKey = key
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("'{key}' is not an S3 setting.")))?;
            builder = builder.with_config(key, value);
        }
        ArtifactStore::s3(url.trim(), builder)
    }

    /// The whole bucket `bucket`, as the AWS variables and then `settings`
    /// reach it, copying create-only by multipart copy (whose completion
    /// S3 refuses when the key exists).
    pub(crate) fn bucket<'a>(
        bucket: &str,
        settings: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ArtifactStore> {
        let mut builder = AmazonS3Builder::from_env()
            .with_copy_if_not_exists(object_store::aws::S3CopyIfNotExists::Multipart);
        for (key, value) in settings {
            let key: AmazonS3ConfigKey = key
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("'{key}' is not an S3 setting.")))?;
            builder = builder.with_config(key, value);
        }
        let store = builder.with_bucket_name(bucket).build()?;
        Ok(ArtifactStore {
            store: Arc::new(store),
        })
    }

    fn s3(url: &str, builder: AmazonS3Builder) -> Result<ArtifactStore> {
        let rest = url.strip_prefix("s3://").unwrap_or(url);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "The artifact store URL '{url}' names no bucket; use s3://BUCKET or s3://BUCKET/PREFIX."
            )));
        }
        let store = builder.with_bucket_name(bucket).build()?;
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() {
            return Ok(ArtifactStore {
                store: Arc::new(store),
            });
        }
        let prefix = object_path(prefix)?;
        Ok(ArtifactStore {
            store: Arc::new(PrefixStore::new(store, prefix)),
        })
    }

    /// Maps an `object_store` error for `key`, naming the key when it is missing.
    fn fail(key: &str, e: object_store::Error) -> Error {
        match e {
            object_store::Error::NotFound { .. } => {
                Error::NotFound(format!("The artifact '{key}'"))
            }
            other => Error::Artifact(other),
        }
    }

    /// Stores the file `src` under `key`, streaming it, and returns its size.
    /// The object appears all at once: readers never see part of it.
    pub async fn put_file(&self, key: &str, src: &Path) -> Result<u64> {
        let path = object_path(key)?;
        let mut file = tokio::fs::File::open(src)
            .await
            .map_err(|e| Error::io(src, e))?;
        let size = file.metadata().await.map_err(|e| Error::io(src, e))?.len();
        if size <= SINGLE_PUT_LIMIT {
            let mut buf = Vec::new();
            file.read_to_end(&mut buf)
                .await
                .map_err(|e| Error::io(src, e))?;
            let len = buf.len() as u64;
            self.store
                .put(&path, PutPayload::from(buf))
                .await
                .map_err(|e| Self::fail(key, e))?;
            return Ok(len);
        }
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(|e| Self::fail(key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buf = vec![0u8; READ_BUFFER];
        let mut total = 0u64;
        loop {
            let n = match file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    // Aborting removes the staged parts; the read error is
                    // what the caller needs to see.
                    let _ = writer.abort().await;
                    return Err(Error::io(src, e));
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = writer.abort().await;
                return Err(Self::fail(key, e));
            }
            writer.write(&buf[..n]);
            total += n as u64;
        }
        writer.finish().await.map_err(|e| Self::fail(key, e))?;
        Ok(total)
    }

    /// Stores `bytes` under `key` atomically.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<()> {
        let path = object_path(key)?;
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| Self::fail(key, e))?;
        Ok(())
    }

    /// Writes the object `key` to the file `dest` and returns its size. The
    /// content goes to a temporary file beside `dest` that is renamed over it
    /// at the end, so `dest` is either untouched or complete.
    pub async fn get_to_file(&self, key: &str, dest: &Path) -> Result<u64> {
        let path = object_path(key)?;
        let Some(file_name) = dest.file_name() else {
            return Err(Error::InvalidArgument(format!(
                "The destination '{}' names no file; give a file path to write artifact '{key}' to.",
                dest.display()
            )));
        };
        let got = self
            .store
            .get(&path)
            .await
            .map_err(|e| Self::fail(key, e))?;
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(|e| Error::io(&parent, e))?;
        let tmp = parent.join(format!(
            ".{}.{}.partial",
            file_name.to_string_lossy(),
            uuid::Uuid::new_v4().simple()
        ));
        let written = async {
            let mut out = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| Error::io(&tmp, e))?;
            let mut stream = got.into_stream();
            let mut total = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| Self::fail(key, e))?;
                out.write_all(&chunk)
                    .await
                    .map_err(|e| Error::io(&tmp, e))?;
                total += chunk.len() as u64;
            }
            out.flush().await.map_err(|e| Error::io(&tmp, e))?;
            out.sync_all().await.map_err(|e| Error::io(&tmp, e))?;
            drop(out);
            tokio::fs::rename(&tmp, dest)
                .await
                .map_err(|e| Error::io(dest, e))?;
            Ok(total)
        }
        .await;
        if written.is_err() {
            // The temporary file is useless after a failure; a failure to
            // remove it must not hide the error that matters.
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        written
    }

    /// The whole object `key` in memory.
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes> {
        let path = object_path(key)?;
        let got = self
            .store
            .get(&path)
            .await
            .map_err(|e| Self::fail(key, e))?;
        got.bytes().await.map_err(|e| Self::fail(key, e))
    }

    /// True when an object is stored under `key`.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        let path = object_path(key)?;
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(Self::fail(key, e)),
        }
    }

    /// The size of the object under `key`, or `None` when there is none.
    pub async fn size(&self, key: &str) -> Result<Option<u64>> {
        let path = object_path(key)?;
        match self.store.head(&path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Self::fail(key, e)),
        }
    }

    /// Copies `from` to `to` unless an object exists at `to`
    /// (`AlreadyExists` then), in one step of the store: two copies to the
    /// same key never both succeed.
    pub async fn copy_new(&self, from: &str, to: &str) -> Result<()> {
        let (src, dst) = (object_path(from)?, object_path(to)?);
        match self.store.copy_if_not_exists(&src, &dst).await {
            Ok(()) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(Error::AlreadyExists(format!("An object at '{to}'")))
            }
            Err(e) => Err(Self::fail(from, e)),
        }
    }

    /// Deletes the object `key`; deleting a missing object succeeds.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let path = object_path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::fail(key, e)),
        }
    }

    /// The keys of every object whose key starts with the segments of
    /// `prefix` (`labels` covers `labels/a.jsonl`, not `labels2/a.jsonl`), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let path = object_path(prefix.strip_suffix('/').unwrap_or(prefix))?;
        let mut keys: Vec<String> = self
            .store
            .list(Some(&path))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .map_err(|e| Self::fail(prefix, e))?;
        keys.sort();
        Ok(keys)
    }

    /// Deletes every object whose key starts with the segments of `prefix`
    /// (`jobs/1` covers `jobs/1/out.csv` but not `jobs/10/out.csv`).
    pub async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let path = object_path(prefix.strip_suffix('/').unwrap_or(prefix))?;
        let locations = self
            .store
            .list(Some(&path))
            .map_ok(|meta| meta.location)
            .boxed();
        let mut deleted = self.store.delete_stream(locations);
        while let Some(result) = deleted.next().await {
            match result {
                // Another deleter got there first; the object is gone either way.
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(Self::fail(prefix, e)),
            }
        }
        Ok(())
    }

    /// Opens the object `key` for streaming.
    pub async fn get_stream(&self, key: &str) -> Result<ObjectReader> {
        let path = object_path(key)?;
        let got = self
            .store
            .get(&path)
            .await
            .map_err(|e| Self::fail(key, e))?;
        let size = got.meta.size;
        let key = key.to_string();
        let stream = got
            .into_stream()
            .map(move |chunk| chunk.map_err(|e| Self::fail(&key, e)))
            .boxed();
        Ok(ObjectReader { size, stream })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_keys_are_valid_keys() {
        assert!(object_path(&crate::keys::blob("abcdef")).is_ok());
    }

    #[test]
    fn keys_are_validated() {
        for bad in [
            "", "/abs", "a//b", "a/", "../x", "a/../b", "a/./b", ".", "a\\b", "a\nb",
        ] {
            let err = object_path(bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidArgument(_)),
                "{bad:?} gave {err}"
            );
            assert!(err.to_string().contains("is not valid"), "{err}");
        }
        for good in ["a", "a/b.c", "jobs/0193/out.parquet", "x/.hidden"] {
            assert!(object_path(good).is_ok(), "{good:?}");
        }
    }
}
