//! Where things live inside a store directory (see docs/format.md).
//!
//! ```text
//! <store>/SNAPGC-STORE          marker: this directory is a snapgc store
//! <store>/IMPORT-INCOMPLETE     only while a state-sync import builds the store (it refuses to open)
//! <store>/LOCK                  exclusive lock held while a process has the store open
//! <store>/kv/                   the sled database (kv data, root index, blob metadata, gc state)
//! <store>/snapshots/<hash>.lz4  one blob per snapshot: a standard LZ4 frame of the raw heap
//! <store>/tmp/                  temp files of saves in progress (same file system: rename is atomic)
//! ```

use std::path::{Path, PathBuf};

use crate::hash::SnapshotHash;

/// File name suffix of blob files.
pub const BLOB_SUFFIX: &str = ".lz4";
/// Prefix and suffix of the temp files a save writes (`save-<pid>-<n>.tmp`).
pub const TEMP_PREFIX: &str = "save-";
pub const TEMP_SUFFIX: &str = ".tmp";
/// Name of the marker file that makes a directory a store.
pub const STORE_MARKER: &str = "SNAPGC-STORE";
/// The on-disk format this build reads and writes (the marker's `format N` line; see
/// docs/format.md). A store of another format is refused at open ([`crate::Error::UnsupportedFormat`]).
pub const STORE_FORMAT: u32 = 1;
/// The lock file, flock'ed for the life of a handle.
pub const LOCK_FILE: &str = "LOCK";
/// The sled database's directory.
pub const KV_DIR: &str = "kv";
/// Where a new sled database is built before it is renamed to `kv/`.
pub const KV_STAGING: &str = "kv.new";
/// Present while a state-sync import builds the store (written before anything else, removed
/// once its one commit is durable): a store holding it is not imported and does not open.
pub const IMPORT_MARKER: &str = "IMPORT-INCOMPLETE";
/// Suffix a scanning pass gives an orphan that does not verify (`<hash>.lz4.corrupt`).
pub const QUARANTINE_SUFFIX: &str = ".corrupt";

/// Paths of one store.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn marker_file(&self) -> PathBuf {
        self.root.join(STORE_MARKER)
    }
    pub fn import_marker(&self) -> PathBuf {
        self.root.join(IMPORT_MARKER)
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }
    pub fn kv_dir(&self) -> PathBuf {
        self.root.join(KV_DIR)
    }
    pub fn blob_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }
    pub fn temp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn blob_path(&self, hash: &SnapshotHash) -> PathBuf {
        self.blob_dir().join(blob_file_name(hash))
    }
}

/// `<hash>.lz4`.
pub fn blob_file_name(hash: &SnapshotHash) -> String {
    format!("{hash}{BLOB_SUFFIX}")
}

/// `<hash>.lz4.corrupt`.
pub fn quarantine_file_name(hash: &SnapshotHash) -> String {
    format!("{hash}{BLOB_SUFFIX}{QUARANTINE_SUFFIX}")
}

/// The hash a quarantined file name stands for.
pub fn parse_quarantine_file_name(name: &str) -> Option<SnapshotHash> {
    name.strip_suffix(QUARANTINE_SUFFIX).and_then(parse_blob_file_name)
}

/// The hash a blob file name stands for, if it is a well-formed blob name.
pub fn parse_blob_file_name(name: &str) -> Option<SnapshotHash> {
    name.strip_suffix(BLOB_SUFFIX).and_then(|stem| SnapshotHash::parse(stem).ok())
}
