//! Creating a store's pieces durably: its directory (every directory `mkdir -p` made, synced
//! in its parent), and a new sled database, built in `kv.new/` and renamed to `kv/` once its
//! files are synced.

use std::fs;

use super::identify::{KvState, kv_state, remove_planned, sled_files};
use super::sled_db::open_sled;
use crate::durability::{Durability, SyncStep};
use crate::error::{Error, IoContext, Result};
use crate::layout::{KV_STAGING, Layout};

/// Whether the store has no sled database yet: no `kv/`, or a `kv/` holding only names sled
/// writes but not its database (left by a crash of an older version while it created one:
/// nothing was ever committed in it; those names are removed, one by one). A `kv/` holding
/// anything else is refused, never removed: the store did not create it.
pub(super) fn needs_new_kv(layout: &Layout) -> Result<bool> {
    match kv_state(&layout.kv_dir())? {
        KvState::Absent => Ok(true),
        KvState::Sled => Ok(false),
        KvState::Unfinished(mut paths) => {
            paths.push(layout.kv_dir());
            remove_planned(&paths)?;
            Ok(true)
        }
        KvState::Foreign(why) => Err(Error::NoStore {
            path: layout.root().to_owned(),
            reason: format!("{why}: refusing to touch it (a store's kv/ holds only sled's files)"),
        }),
    }
}

/// Builds a new sled database in `kv.new/`, makes its files and their names durable, then
/// renames it to `kv/` and syncs the store directory: a crash during creation leaves no
/// half-written `kv/` (sled writes its `conf` file in two writes; a store whose `conf` is torn
/// would never open again).
pub(super) fn create_kv(layout: &Layout, durability: &Durability) -> Result<()> {
    let staging = layout.root().join(KV_STAGING);
    remove_kv_staging(layout)?;
    {
        let db = open_sled(&staging, layout.root())?;
        db.flush()?;
    }
    let mut dirs = vec![staging.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            if entry.file_type().at(&entry.path())?.is_dir() {
                dirs.push(entry.path());
            }
            durability.sync_path(SyncStep::KvCreate, &entry.path())?;
        }
    }
    durability.sync_path(SyncStep::KvCreate, &staging)?;
    fs::rename(&staging, layout.kv_dir()).at(&layout.kv_dir())?;
    durability.sync_path(SyncStep::KvCreate, layout.root())
}

/// Removes `kv.new/`, what a creation cut short left (only sled's names in it; anything else
/// there is left alone, with a warning: the store did not write it).
pub(super) fn remove_kv_staging(layout: &Layout) -> Result<()> {
    let staging = layout.root().join(KV_STAGING);
    let files = match kv_state(&staging)? {
        KvState::Absent => return Ok(()),
        KvState::Sled => sled_files(&staging)?,
        KvState::Unfinished(files) => files,
        KvState::Foreign(why) => {
            tracing::warn!("{why}; leaving {} alone", staging.display());
            return Ok(());
        }
    };
    let mut plan = files;
    plan.push(staging);
    remove_planned(&plan)
}
