//! Every fsync the store issues, by name, and the poison a failed one leaves.
//!
//! A store is durable only through the steps listed in [`SyncStep`]; nothing else of ours (and
//! nothing of sled's: its `flush()` is `sync_file_range`, which persists neither an appended
//! log's size nor the device cache) makes anything durable. Each step has a name so that the
//! power-loss harness can switch it off one at a time (feature `failpoints`, env variable
//! `SWINGSTORE_SKIP_SYNC`) and show that some crash then loses data: no step is there by habit.
//!
//! **Poison.** A sync that fails is never retried: on Linux a second fsync can report success
//! after the kernel dropped the dirty pages the first one failed to write (fsyncgate). The
//! handle is poisoned instead: every later `save`, `commit`, `set_config` and `gc` fails with
//! [`Error::Poisoned`] until the store is reopened (and reopening re-reads what is durable); so
//! do kv reads and state exports (`check_durable`): sled may hold the block whose commit failed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};

/// A durability step of the store (see docs/CRASH-SAFETY.md for what each one protects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncStep {
    /// The store directory's name in its parent and its entries: at creation (every directory
    /// `mkdir -p` made), at an open that creates something in it, and at an open after an
    /// unclean close or before any commit (a killed creation or import leaves them unsynced);
    /// not at a clean reopen of a store with a commit.
    StoreCreate,
    /// A new sled database: sled's files and `kv/`.
    KvCreate,
    /// At open: sled's log, once it records that a session is open (before any unlink).
    OpenMarker,
    /// At open after an unclean close: every blob file, then `snapshots/` (a killed process
    /// leaves renamed blobs its commit never synced).
    OpenBlobs,
    /// At commit: each blob file renamed into place in the block (issued together).
    BlobFile,
    /// At commit: `snapshots/`, after the blob files, before the block's roots are written.
    BlobDir,
    /// At commit: sled's log (`kv/db`) after sled's flush: the commit's own durability.
    KvLog,
    /// At commit: sled's large-value files (`kv/blobs/`, values over ~128 KiB, which sled
    /// writes without fsync) and their directory.
    KvBlobs,
    /// At open: `kv/` (and `kv/blobs/`), after sled's recovery wrote its snapshot file.
    KvDir,
    /// `set_config`: sled's log after the new configuration and root index.
    Config,
    /// A clean close: pending blob files and `snapshots/` (unlinks included) before the
    /// unclean-close marker goes; the directory only if a blob was renamed into it since its
    /// last sync or a collection ran in the session.
    CloseBlobs,
    /// State-sync import: the `IMPORT-INCOMPLETE` marker's removal, once the import's one
    /// commit is durable (without it a returned import could come back marked, and refuse to
    /// open). The marker's creation needs no step of its own: the store's open that follows it
    /// syncs the directory (`store-create`) before anything of the import can be durable.
    ImportFinish,
}

// Names, descriptions and the list serve the test builds (the mutation check, `--list-syncs`).
#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
impl SyncStep {
    /// Every step, in the order a store meets them.
    pub const ALL: [SyncStep; 12] = [
        SyncStep::StoreCreate,
        SyncStep::KvCreate,
        SyncStep::KvDir,
        SyncStep::OpenMarker,
        SyncStep::OpenBlobs,
        SyncStep::BlobFile,
        SyncStep::BlobDir,
        SyncStep::KvLog,
        SyncStep::KvBlobs,
        SyncStep::Config,
        SyncStep::CloseBlobs,
        SyncStep::ImportFinish,
    ];

    /// The step's name (`--skip-sync NAME`, `SWINGSTORE_SKIP_SYNC`).
    pub const fn name(self) -> &'static str {
        match self {
            SyncStep::StoreCreate => "store-create",
            SyncStep::KvCreate => "kv-create",
            SyncStep::OpenMarker => "open-marker",
            SyncStep::OpenBlobs => "open-blobs",
            SyncStep::BlobFile => "blob-file",
            SyncStep::BlobDir => "blob-dir",
            SyncStep::KvLog => "kv-log",
            SyncStep::KvBlobs => "kv-blobs",
            SyncStep::KvDir => "kv-dir",
            SyncStep::Config => "config",
            SyncStep::CloseBlobs => "close-blobs",
            SyncStep::ImportFinish => "import-finish",
        }
    }

    /// The failpoint that can inject a failure into this step (`sync.<name>`).
    pub const fn point(self) -> &'static str {
        match self {
            SyncStep::StoreCreate => "sync.store-create",
            SyncStep::KvCreate => "sync.kv-create",
            SyncStep::OpenMarker => "sync.open-marker",
            SyncStep::OpenBlobs => "sync.open-blobs",
            SyncStep::BlobFile => "sync.blob-file",
            SyncStep::BlobDir => "sync.blob-dir",
            SyncStep::KvLog => "sync.kv-log",
            SyncStep::KvBlobs => "sync.kv-blobs",
            SyncStep::KvDir => "sync.kv-dir",
            SyncStep::Config => "sync.config",
            SyncStep::CloseBlobs => "sync.close-blobs",
            SyncStep::ImportFinish => "sync.import-finish",
        }
    }

    /// What the step makes durable, in one line.
    pub const fn what(self) -> &'static str {
        match self {
            SyncStep::StoreCreate => {
                "the store directory's name in its parent, and its entries, when an open may find them unsynced"
            }
            SyncStep::KvCreate => "a new sled database's files and their names in kv/",
            SyncStep::OpenMarker => "the open-session marker, before any unlink of the session",
            SyncStep::OpenBlobs => "after an unclean close, every blob a killed process left unsynced",
            SyncStep::BlobFile => "the bytes of every blob saved in the block, before the directory",
            SyncStep::BlobDir => "the names of the block's blobs, before any root can name them",
            SyncStep::KvLog => "the committed block itself (sled's log), before commit() returns",
            SyncStep::KvBlobs => "sled's large-value files and their names, with the commit",
            SyncStep::KvDir => "the name of the snapshot file sled's recovery writes at open",
            SyncStep::Config => "a new collector configuration and its root index",
            SyncStep::CloseBlobs => "pending blobs and unlinks, before a clean close drops the marker",
            SyncStep::ImportFinish => "the import marker's removal, once the import's commit is durable",
        }
    }

    /// The step of a given name.
    pub fn named(name: &str) -> Option<SyncStep> {
        SyncStep::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The store's syncs and its poison flag.
#[derive(Debug, Default)]
pub(crate) struct Durability {
    poisoned: Mutex<Option<String>>,
    /// A read-only handle (`status`): every write is refused.
    read_only: Option<PathBuf>,
    /// Test builds only: the one step to skip (the mutation check).
    skip: Option<SyncStep>,
    /// The store's canonical directory, once it exists: the scope of its test hooks.
    scope: OnceLock<PathBuf>,
}

impl Durability {
    /// Reads `SWINGSTORE_SKIP_SYNC` in test builds (an unknown name is an error, so a typo in
    /// the mutation check cannot pass as "nothing found").
    pub fn new() -> Result<Self> {
        Ok(Self {
            poisoned: Mutex::new(None),
            read_only: None,
            skip: skip_from_env()?,
            scope: OnceLock::new(),
        })
    }

    /// The durability of a read-only handle on the store at `root`: [`check`](Self::check)
    /// refuses every write.
    pub fn read_only(root: &Path) -> Result<Self> {
        Ok(Self { read_only: Some(root.to_owned()), ..Self::new()? })
    }

    /// Records the store's directory (canonical), the scope of its test hooks.
    pub fn set_scope(&self, root: &Path) {
        let _ = self.scope.set(std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned()));
    }

    /// The scope of the store's test hooks (empty before the directory exists).
    pub fn scope(&self) -> &Path {
        self.scope.get().map_or(Path::new(""), PathBuf::as_path)
    }

    /// `Err(Poisoned)` once any sync of this handle has failed (`Err(ReadOnly)` always, for a
    /// read-only handle).
    pub fn check(&self) -> Result<()> {
        if let Some(path) = &self.read_only {
            return Err(Error::ReadOnly { path: path.clone(), what: "writing".into() });
        }
        match &*self.lock() {
            None => Ok(()),
            Some(reason) => Err(Error::Poisoned { reason: reason.clone() }),
        }
    }

    /// `Err(Poisoned)` once any sync of this handle has failed (a read-only handle passes):
    /// what reads of committed state check, since sled may then hold a block that never
    /// became durable.
    pub fn check_durable(&self) -> Result<()> {
        match &*self.lock() {
            None => Ok(()),
            Some(reason) => Err(Error::Poisoned { reason: reason.clone() }),
        }
    }

    /// Poisons the handle (first reason wins) and returns the error to report.
    pub fn poison(&self, error: Error) -> Error {
        let mut poisoned = self.lock();
        if poisoned.is_none() {
            tracing::error!("{error}; the store refuses every later write until it is reopened");
            *poisoned = Some(error.to_string());
        }
        error
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.poisoned.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `step` runs (it is skipped only by the mutation check of a test build).
    pub fn runs(&self, step: SyncStep) -> bool {
        self.skip != Some(step)
    }

    /// fsyncs an open file as `step`; a failure poisons the handle.
    pub fn sync_file(&self, step: SyncStep, file: &File, path: &Path) -> Result<()> {
        if !self.runs(step) {
            return Ok(());
        }
        let result = crate::failpoint::hit(self.scope(), step.point()).and_then(|()| file.sync_all());
        result.map_err(|e| self.poison(Error::io(path, e)))
    }

    /// Opens `path` (a file or a directory) and fsyncs it as `step`; a failure poisons.
    pub fn sync_path(&self, step: SyncStep, path: &Path) -> Result<()> {
        if !self.runs(step) {
            return Ok(());
        }
        let result = crate::failpoint::hit(self.scope(), step.point())
            .and_then(|()| File::open(path))
            .and_then(|f| f.sync_all());
        result.map_err(|e| self.poison(Error::io(path, e)))
    }
}

impl Durability {
    /// Opens `path` and fsyncs it as `step`. A file that is gone has nothing left to make
    /// durable.
    pub fn sync_if_present(&self, step: SyncStep, path: &Path) -> Result<()> {
        match File::open(path) {
            Ok(file) => self.sync_file(step, &file, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.poison(Error::io(path, e))),
        }
    }

    /// `mkdir -p root`, then fsyncs, as `step`, the parent of every directory it created,
    /// deepest first (the one way a directory of ours is created durably).
    pub fn create_dir_all(&self, step: SyncStep, root: &Path) -> Result<()> {
        let mut missing = Vec::new();
        let mut at = Some(root);
        while let Some(dir) = at {
            if dir.as_os_str().is_empty() || dir.exists() {
                break;
            }
            missing.push(dir.to_owned());
            at = dir.parent();
        }
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        for dir in &missing {
            self.sync_path(step, &parent_of(dir))?;
        }
        Ok(())
    }
}

/// The directory holding `dir` (`.` for a bare relative name).
pub(crate) fn parent_of(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => Path::new(".").to_owned(),
    }
}

#[cfg(feature = "failpoints")]
fn skip_from_env() -> Result<Option<SyncStep>> {
    match std::env::var("SWINGSTORE_SKIP_SYNC") {
        Err(_) => Ok(None),
        Ok(name) if name.is_empty() => Ok(None),
        Ok(name) => match SyncStep::named(&name) {
            Some(step) => {
                tracing::warn!("test build: skipping the durability step {name}");
                Ok(Some(step))
            }
            None => Err(Error::Config(format!(
                "SWINGSTORE_SKIP_SYNC={name:?} names no durability step (known: {})",
                SyncStep::ALL.map(SyncStep::name).join(", ")
            ))),
        },
    }
}

#[cfg(not(feature = "failpoints"))]
fn skip_from_env() -> Result<Option<SyncStep>> {
    Ok(None)
}
