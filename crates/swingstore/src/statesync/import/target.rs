//! The import's target directory, from the lock to the end: an import holds the target's
//! `LOCK` (exclusively) before it looks at anything in it, and until it is done, so a second
//! import (or any open) into the same directory meets [`Error::InUse`].
//!
//! Its life cycle: refuse someone's files; take the lock; under it, look again (what a crashed
//! import left, an unused store, an empty directory) and wipe only the store's own names;
//! write `IMPORT-INCOMPLETE` (durable with the open's directory sync, before anything else of
//! the import); build the store; remove the marker durably ([`SyncStep::ImportFinish`]). After a failure the target is reset to a new,
//! empty store, under the same lock.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::durability::{Durability, SyncStep};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::store::{
    Found, SwingStore, inspect, open_for_import, open_held, remove_planned, take_store_lock, wipe_plan,
};

/// The target of an import, locked.
pub(super) struct Target {
    path: PathBuf,
    /// `<target>/LOCK`, flock'ed exclusively for the whole import (the stores opened during it
    /// share this open file description, hence the lock).
    lock: File,
    durability: Durability,
}

fn target_error(target: &Path, reason: impl Into<String>) -> Error {
    Error::refused(target.display().to_string(), reason)
}

impl Target {
    /// Takes the target: creates the directory if missing (durably), refuses one holding
    /// someone's files (before anything is written in it), takes the lock, then prepares it
    /// under the lock.
    pub fn take(path: &Path) -> Result<Self> {
        let durability = Durability::new()?;
        match fs::symlink_metadata(path) {
            Ok(meta) if !meta.is_dir() => return Err(target_error(path, "exists and is not a directory")),
            Ok(_) => {
                if let Found::NotAStore(what) = inspect(path)? {
                    return Err(target_error(
                        path,
                        format!("the directory is not empty ({what}) and is not a snapgc store"),
                    ));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                durability.create_dir_all(SyncStep::StoreCreate, path)?;
            }
            Err(e) => return Err(Error::io(path, e)),
        }
        durability.set_scope(path);
        let lock_path = Layout::new(path).lock_file();
        let lock = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        take_store_lock(&lock, &lock_path, path)?;
        let target = Self { path: path.to_owned(), lock, durability };
        target.prepare()?;
        Ok(target)
    }

    /// Under the lock: checks that the target may receive an import, wiping what a crashed
    /// import or an unused store left there (the store's own names only).
    fn prepare(&self) -> Result<()> {
        let target = &self.path;
        let layout = Layout::new(target);
        if layout.import_marker().exists() {
            // Only the store's names are wiped; anything else there (a stray marker beside a
            // user's files) refuses, and nothing is removed.
            let plan = wipe_plan(target, true)?;
            tracing::info!("{}: an earlier import did not finish; starting over", target.display());
            return remove_planned(&plan);
        }
        match inspect(target)? {
            Found::Missing | Found::Empty => return Ok(()),
            Found::NotAStore(what) => {
                return Err(target_error(
                    target,
                    format!("the directory is not empty ({what}) and is not a snapgc store"),
                ));
            }
            Found::Store { .. } => {}
        }
        let store = open_held(target, &self.lock)?;
        let unused = store.epoch() == 0
            && store.kv().scan_prefix("")?.is_empty()
            && store.list_blobs()?.is_empty()
            && fs::read_dir(layout.blob_dir()).map_err(|e| Error::io(layout.blob_dir(), e))?.next().is_none();
        let (epoch, roots) = (store.epoch(), store.stats().map(|s| s.roots).unwrap_or(0));
        drop(store);
        if !unused {
            return Err(target_error(
                target,
                format!(
                    "it already holds a store (epoch {epoch}, {roots} roots): an import builds a new \
                     store, in a missing or empty directory"
                ),
            ));
        }
        remove_planned(&wipe_plan(target, false)?)
    }

    /// Writes the import marker, before anything else of the import. Its name is durable before
    /// anything of the import can be: the store's open, which comes next, syncs the directory
    /// ([`SyncStep::StoreCreate`]) before its first sync of sled's log, and only its presence
    /// counts (so no step of its own: the mutation check would find it redundant).
    pub fn mark_incomplete(&self) -> Result<()> {
        let marker = Layout::new(&self.path).import_marker();
        let text = "a snapgc state-sync import is building this store; until this file is gone, \
                    nothing in it counts (re-run the import: it starts over)\n";
        fs::write(&marker, text).map_err(|e| Error::io(&marker, e))
    }

    /// Opens (creating it) the store being built, under the import's lock.
    pub fn open_store(&self) -> Result<SwingStore> {
        open_for_import(&self.path, &self.lock)
    }

    /// The import's commit is durable: the marker goes, durably.
    pub fn finish(&self) -> Result<()> {
        let marker = Layout::new(&self.path).import_marker();
        fs::remove_file(&marker).map_err(|e| Error::io(&marker, e))?;
        self.durability.sync_path(SyncStep::ImportFinish, &self.path)
    }

    /// After a failure: the target becomes a new, empty store (the marker stays until the rest
    /// is gone and the empty store exists, so a crash meanwhile still shows).
    pub fn reset(&self) -> Result<()> {
        if !Layout::new(&self.path).import_marker().exists() {
            self.mark_incomplete()?;
        }
        remove_planned(&wipe_plan(&self.path, true)?)?;
        drop(self.open_store()?);
        self.finish()
    }
}
