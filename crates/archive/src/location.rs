//! Where an archive lives: a local directory (the default) or `s3://bucket[/prefix]`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;

use crate::error::{Error, Result};

/// A parsed archive location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory on a local file system.
    Dir(PathBuf),
    /// An S3 (or S3-compatible) bucket, and a key prefix inside it (no leading or trailing `/`).
    S3 {
        /// The bucket.
        bucket: String,
        /// The prefix (may be empty).
        prefix: String,
    },
}

impl Location {
    /// Parses `s3://bucket[/prefix]` or a directory path.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: &str| Error::Location { location: text.to_owned(), reason: reason.to_owned() };
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket name after s3://"));
            }
            let prefix = prefix.trim_matches('/').to_owned();
            return Ok(Location::S3 { bucket: bucket.to_owned(), prefix });
        }
        if text.contains("://") {
            return Err(bad("only directories and s3://bucket[/prefix] are supported"));
        }
        if text.is_empty() {
            return Err(bad("empty"));
        }
        Ok(Location::Dir(PathBuf::from(text)))
    }

    /// The backend. A directory is created (durably) if missing; S3 is configured from the
    /// AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, …) as object_store's `from_env`
    /// reads them.
    pub(crate) fn open_with(
        &self,
        s3_options: &[(&str, &str)],
    ) -> Result<(Arc<dyn ObjectStore>, Option<PathBuf>)> {
        match self {
            Location::Dir(dir) => {
                create_dir_durably(dir).map_err(|e| Error::Location {
                    location: dir.display().to_string(),
                    reason: format!("cannot create the directory: {e}"),
                })?;
                let fs = LocalFileSystem::new_with_prefix(dir)?.with_fsync(true);
                let root = std::fs::canonicalize(dir).map_err(|e| Error::Location {
                    location: dir.display().to_string(),
                    reason: e.to_string(),
                })?;
                Ok((Arc::new(fs), Some(root)))
            }
            Location::S3 { bucket, prefix } => {
                // reqwest's rustls without a bundled provider: ring, installed once.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let mut builder = AmazonS3Builder::from_env();
                for (key, value) in s3_options {
                    let key = key.parse().map_err(|e: object_store::Error| Error::Location {
                        location: self.to_string(),
                        reason: e.to_string(),
                    })?;
                    builder = builder.with_config(key, *value);
                }
                let s3 = builder.with_bucket_name(bucket).build()?;
                if prefix.is_empty() {
                    Ok((Arc::new(s3), None))
                } else {
                    Ok((Arc::new(PrefixStore::new(s3, prefix.as_str())), None))
                }
            }
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(d) => write!(f, "{}", d.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// `mkdir -p`, then fsyncs every directory it created and the parent of the first one, so the
/// archive's root cannot vanish in a power cut after objects in it were made durable.
fn create_dir_durably(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d.to_owned());
        cur = d.parent();
    }
    std::fs::create_dir_all(dir)?;
    for d in missing.iter().rev() {
        sync_dir(d)?;
        if let Some(parent) = d.parent() {
            let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
            sync_dir(parent)?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() -> Result<()> {
        assert_eq!(Location::parse("s3://b")?, Location::S3 { bucket: "b".into(), prefix: String::new() });
        assert_eq!(
            Location::parse("s3://b/x/y/")?,
            Location::S3 { bucket: "b".into(), prefix: "x/y".into() }
        );
        assert_eq!(Location::parse("/a/b")?, Location::Dir("/a/b".into()));
        assert!(Location::parse("s3://").is_err());
        assert!(Location::parse("gs://b").is_err());
        assert!(Location::parse("").is_err());
        assert_eq!(Location::parse("s3://b/p")?.to_string(), "s3://b/p");
        Ok(())
    }
}
