//! Objects outside Keel's own stores that jobs read and write: inputs and
//! outputs named as `s3://BUCKET/KEY`. Inputs are fetched to a local file as
//! a stream; outputs are uploaded to a staging key (in parts when large) and
//! then copied create-only to their key, so an output appears whole or not
//! at all and two attempts at one job never both publish.

use std::fmt;
use std::path::Path;

use crate::artifacts::{ArtifactStore, ObjectReader};
use crate::error::{Error, Result};

/// An object in a bucket, as an `s3://BUCKET/KEY` URI names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Uri {
    /// The bucket.
    pub bucket: String,
    /// The key: relative, `/`-separated, no empty, `.` or `..` segments.
    pub key: String,
}

impl S3Uri {
    /// Whether `uri` is meant as an S3 object (and so must parse as one).
    pub fn is_s3(uri: &str) -> bool {
        uri.trim_start().starts_with("s3://")
    }

    /// Parses `s3://BUCKET/KEY`, saying what is wrong with anything else.
    pub fn parse(uri: &str) -> Result<S3Uri> {
        let bad = |why: &str| {
            Error::InvalidArgument(format!(
                "'{uri}' is not an S3 object URI: {why}; write s3://BUCKET/KEY, such as s3://data/scores/2026-12.parquet."
            ))
        };
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| bad("it does not start with s3://"))?;
        let (bucket, key) = rest.split_once('/').ok_or_else(|| bad("it names no key"))?;
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !valid_bucket {
            return Err(bad(
                "the bucket name must be 3 to 63 lowercase letters, digits, '-' and '.'",
            ));
        }
        if key.is_empty() || key.ends_with('/') {
            return Err(bad(
                "it names no object (the key is empty or ends with '/')",
            ));
        }
        if key.len() > 1024 {
            return Err(bad("the key is longer than S3's 1,024 bytes"));
        }
        for segment in key.split('/') {
            if matches!(segment, "" | "." | "..") {
                return Err(bad("the key has an empty, '.' or '..' segment"));
            }
        }
        if key.chars().any(|c| c.is_control() || c == '\\') {
            return Err(bad("the key holds a control character or a backslash"));
        }
        Ok(S3Uri {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// The object's file name: the key's last segment.
    pub fn file_name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }

    /// Whether this object lies under `prefix` (`s3://BUCKET` or
    /// `s3://BUCKET/PREFIX`, whole segments only).
    pub fn is_under(&self, prefix: &str) -> bool {
        let rest = prefix.trim().strip_prefix("s3://").unwrap_or(prefix);
        let (bucket, dir) = rest.split_once('/').unwrap_or((rest, ""));
        let dir = dir.trim_matches('/');
        bucket == self.bucket
            && (dir.is_empty()
                || self
                    .key
                    .strip_prefix(dir)
                    .is_some_and(|r| r.starts_with('/')))
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// What publishing an output did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// The object was created with these many bytes.
    New(u64),
    /// The object was there already with exactly these bytes.
    Identical(u64),
}

/// How Keel reaches the buckets jobs name: the usual AWS variables
/// (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials), with settings on top.
#[derive(Clone, Debug, Default)]
pub struct Buckets {
    settings: Vec<(String, String)>,
}

impl Buckets {
    /// Buckets as the AWS variables reach them, with `settings`
    /// (`endpoint`, `region`, ... as `object_store` names them) on top.
    pub fn with_settings<'a>(settings: impl IntoIterator<Item = (&'a str, &'a str)>) -> Buckets {
        Buckets {
            settings: settings
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn bucket(&self, uri: &S3Uri) -> Result<ArtifactStore> {
        ArtifactStore::bucket(
            &uri.bucket,
            self.settings.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }

    /// The object's size, or `None` when there is none.
    pub async fn size(&self, uri: &S3Uri) -> Result<Option<u64>> {
        self.bucket(uri)?.size(&uri.key).await
    }

    /// Streams the object into the file `dest` (complete or untouched), and
    /// answers its size. The object is never held in memory.
    pub async fn download(&self, uri: &S3Uri, dest: &Path) -> Result<u64> {
        self.bucket(uri)?
            .get_to_file(&uri.key, dest)
            .await
            .map_err(|e| match e {
                Error::NotFound(_) => Error::NotFound(format!("The object {uri}")),
                other => other,
            })
    }

    /// The objects a location names: the object itself, or those under it
    /// as a prefix (whole segments), sorted.
    pub async fn objects(&self, location: &S3Uri) -> Result<Vec<S3Uri>> {
        let bucket = self.bucket(location)?;
        let keys = bucket.list(&location.key).await?;
        let keys = if keys.is_empty() && bucket.size(&location.key).await?.is_some() {
            vec![location.key.clone()]
        } else {
            keys
        };
        Ok(keys
            .into_iter()
            .map(|key| S3Uri {
                bucket: location.bucket.clone(),
                key,
            })
            .collect())
    }

    /// Stores `bytes` as the object `uri`, replacing what is there: for
    /// Keel's own reports, never for a job's output.
    pub async fn put(&self, uri: &S3Uri, bytes: bytes::Bytes) -> Result<()> {
        self.bucket(uri)?.put_bytes(&uri.key, bytes).await
    }

    /// Opens the object for streaming.
    pub async fn open(&self, uri: &S3Uri) -> Result<ObjectReader> {
        self.bucket(uri)?.get_stream(&uri.key).await
    }

    /// Publishes the file `src` as the object `uri`, which must not exist:
    /// uploaded (in parts when large) to a staging key named by `tag` beside
    /// it, then copied create-only to `uri` and the staging object removed.
    /// When something is at `uri` already, an object with exactly `src`'s
    /// bytes is [`Published::Identical`] (an earlier attempt at the same job
    /// published it, then lost its lease); any other is `AlreadyExists`.
    pub async fn publish_new(&self, src: &Path, uri: &S3Uri, tag: &str) -> Result<Published> {
        let bucket = self.bucket(uri)?;
        let staging = format!("{}.keel-staging-{tag}", uri.key);
        let size = bucket.put_file(&staging, src).await?;
        let copied = bucket.copy_new(&staging, &uri.key).await;
        // The staging object goes whether or not the copy won.
        let removed = bucket.delete(&staging).await;
        if let Err(e) = removed {
            tracing::warn!(object = %uri, error = %e, "cannot remove the staging copy of an output");
        }
        match copied {
            Ok(()) => Ok(Published::New(size)),
            Err(Error::AlreadyExists(_)) if self.holds(uri, src, size).await? => {
                Ok(Published::Identical(size))
            }
            Err(Error::AlreadyExists(_)) => Err(Error::AlreadyExists(format!("The object {uri}"))),
            Err(e) => Err(e),
        }
    }

    /// Whether the object `uri` holds exactly the `size` bytes of `src`,
    /// compared as both stream.
    async fn holds(&self, uri: &S3Uri, src: &Path, size: u64) -> Result<bool> {
        use futures::StreamExt;
        use tokio::io::AsyncReadExt;
        let mut reader = self.open(uri).await?;
        if reader.size != size {
            return Ok(false);
        }
        let mut file = tokio::fs::File::open(src)
            .await
            .map_err(|e| Error::io(src, e))?;
        let mut mine = Vec::new();
        while let Some(chunk) = reader.stream.next().await {
            let chunk = chunk?;
            mine.resize(chunk.len(), 0);
            file.read_exact(&mut mine)
                .await
                .map_err(|e| Error::io(src, e))?;
            if mine != chunk {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_only_when_they_name_an_object() {
        let u = S3Uri::parse("s3://data-1/scores/2026/out.parquet").unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.key.as_str()),
            ("data-1", "scores/2026/out.parquet")
        );
        assert_eq!(u.file_name(), "out.parquet");
        assert_eq!(u.to_string(), "s3://data-1/scores/2026/out.parquet");
        for (bad, why) in [
            ("file:///x", "does not start"),
            ("s3://bucket", "names no key"),
            ("s3://bucket/", "names no object"),
            ("s3://bucket/dir/", "names no object"),
            ("s3://Bucket/x", "bucket name"),
            ("s3://ab/x", "bucket name"),
            ("s3://-ab/x", "bucket name"),
            ("s3://bucket/a//b", "segment"),
            ("s3://bucket/a/../b", "segment"),
            ("s3://bucket/a\nb", "control"),
        ] {
            let e = S3Uri::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains(why) && e.contains("s3://BUCKET/KEY"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let u = S3Uri::parse("s3://data/team/a/x.csv").unwrap();
        for (prefix, under) in [
            ("s3://data", true),
            ("s3://data/", true),
            ("s3://data/team", true),
            ("s3://data/team/", true),
            ("s3://data/team/a", true),
            ("s3://data/tea", false),
            ("s3://data/team/a/x.csv", false),
            ("s3://other/team", false),
            ("s3://dat", false),
        ] {
            assert_eq!(u.is_under(prefix), under, "{prefix}");
        }
    }
}
