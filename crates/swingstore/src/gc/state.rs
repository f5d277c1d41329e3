//! The collector's skip state (`s/gc_state`): what the last full pass saw, so that a pass with
//! nothing new to decide is O(1).

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::Result;
use crate::schema::GC_STATE_KEY;

/// What the last full collection saw, so that a pass with nothing new to decide is O(1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcState {
    /// Root generation (bumped by every commit that touches a root key) at the mark.
    pub root_generation: u64,
    /// Save generation (bumped by every save, new or dedup) at the mark.
    pub save_generation: u64,
    /// The grace the pass used.
    pub grace: u64,
    /// Earliest committed epoch at which a kept blob falls due (`u64::MAX`: none).
    pub next_due_epoch: u64,
    /// Number of root keys and distinct live hashes found (reported by skipped passes).
    pub roots: u64,
    /// Distinct live snapshots.
    pub live: u64,
    /// Blob count and bytes known after the pass.
    pub blobs: u64,
    /// Their bytes on disk.
    pub stored_bytes: u64,
}

impl GcState {
    /// The state the last full pass left, if any (an undecodable one counts as none).
    pub(crate) fn load(db: &sled::Db) -> Result<Option<GcState>> {
        let Some(bytes) = db.get(GC_STATE_KEY)? else { return Ok(None) };
        Ok(codec::decode::<GcState>(&bytes, "gc state").ok())
    }

    /// Records it (not synced: losing it only costs one full pass).
    pub(crate) fn store(&self, db: &sled::Db) -> Result<()> {
        db.insert(GC_STATE_KEY, codec::encode(self)?)?;
        Ok(())
    }

    /// Forgets it: the next pass is a full one.
    pub(crate) fn forget(db: &sled::Db) -> Result<()> {
        db.remove(GC_STATE_KEY)?;
        Ok(())
    }

    /// Whether nothing that could change a decision has changed since: same roots, no save,
    /// same grace, and no kept blob falling due yet.
    pub(crate) fn still_holds(
        &self,
        epoch: u64,
        grace: u64,
        root_generation: u64,
        save_generation: u64,
    ) -> bool {
        self.root_generation == root_generation
            && self.save_generation == save_generation
            && self.grace == grace
            && epoch < self.next_due_epoch
    }
}
