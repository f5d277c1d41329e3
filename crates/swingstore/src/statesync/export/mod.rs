//! The exporter: pins one committed epoch, then ships it while the kernel goes on
//! (`pin.rs`: the pin; `dir.rs`: an export directory).
//!
//! Under the commit lock (which every commit and every collection holds), one pass over the
//! committed kv pairs (in key order, as sled keeps them) writes the `kv.` records straight to
//! the caller's writer, notes the roots, reads the root history, builds the `snapshot.`
//! records (written after the `kv.` ones: `"kv."` sorts before `"snapshot."`, so the whole
//! export data is in key order) and takes a lease on every blob it will ship. Then the lock is
//! released: the kernel commits and collects again, and the leases keep every pinned blob on
//! disk until it is shipped, as Agoric's exporter keeps its SQLite read transaction.
//!
//! Memory: the kv pairs stream (one at a time); the snapshot records (one per snapshot a root
//! ever named) and the artifact list are held, a few hundred bytes each.

mod dir;
mod pin;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;

pub use dir::{ExportSummary, export_to_dir};

use super::ArtifactMode;
use super::format::ExportDataHash;
use crate::archiver::Archiver;
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;
use crate::lease::Lease;
use crate::store::SwingStore;

/// One artifact of an export. In debug mode an earlier snapshot the collector archived and
/// swept ships from the attached archiver; it holds no lease there, so an archive gc that drops
/// it before it ships fails its [`StateExporter::write_artifact`] (no bytes pass as verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportArtifact {
    /// Its name: `snapshot.<vatID>.<snapPos>`, or `kv.<key>` for the snapshot a root of
    /// another pattern names.
    pub name: String,
    /// The snapshot (the sha256 of the artifact's bytes).
    pub hash: SnapshotHash,
    /// A committed root names it (`false`: an earlier snapshot, shipped in debug mode).
    pub in_use: bool,
    /// Its raw length, from the blob's metadata (0 when unknown).
    pub raw_bytes: u64,
}

/// A pinned export of one committed epoch: its export data is written, and every artifact it
/// lists is leased until shipped, released or the exporter is dropped.
#[derive(Debug)]
pub struct StateExporter {
    store: SwingStore,
    epoch: u64,
    mode: ArtifactMode,
    records: u64,
    data_bytes: u64,
    data_hash: ExportDataHash,
    artifacts: Vec<ExportArtifact>,
    leases: HashMap<SnapshotHash, Lease>,
    /// Debug mode: the archiver, and the earlier snapshots that ship from it (swept from the
    /// store after they were archived).
    archived: Option<FromArchive>,
}

/// The earlier snapshots a debug export ships from the archive, and the archiver to read them.
struct FromArchive {
    archiver: Arc<dyn Archiver>,
    hashes: HashSet<SnapshotHash>,
}

impl std::fmt::Debug for FromArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FromArchive").field("snapshots", &self.hashes.len()).finish_non_exhaustive()
    }
}

pub(super) fn failed(item: impl Into<String>, reason: impl std::fmt::Display) -> Error {
    Error::ExportFailed { item: crate::error::shorten(&item.into()), reason: reason.to_string() }
}

impl SwingStore {
    /// Pins the committed state for a state-sync export: writes its export data (sorted
    /// `[key, value]` JSON lines) to `data` and leases every blob the export ships, all under
    /// the commit lock; returns the exporter that ships the artifacts afterwards, while the
    /// kernel keeps committing and collecting.
    ///
    /// `data` is written while commits wait: give a file or a buffer, not a slow stream. Fails
    /// (before anything is leased) on a root whose value names no snapshot, as the collector
    /// does.
    pub fn export_state(&self, mode: ArtifactMode, data: &mut dyn Write) -> Result<StateExporter> {
        pin::pin(self, mode, data)
    }
}

impl StateExporter {
    /// The committed epoch pinned (the export's `blockHeight`).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The artifact mode.
    pub fn mode(&self) -> ArtifactMode {
        self.mode
    }

    /// Export-data records written.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes of export data written.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// The sha256 of the export data written.
    pub fn data_hash(&self) -> ExportDataHash {
        self.data_hash
    }

    /// The artifacts, by name.
    pub fn artifacts(&self) -> &[ExportArtifact] {
        &self.artifacts
    }

    /// Writes an artifact's raw bytes to `out`, verified (length and sha256) as they stream;
    /// returns the length. On an error `out` has received unverified bytes: discard them.
    pub fn write_artifact(&self, artifact: &ExportArtifact, out: &mut dyn Write) -> Result<u64> {
        if let Some(from) = &self.archived
            && from.hashes.contains(&artifact.hash)
        {
            return match from.archiver.read_archived(&artifact.hash, out) {
                Ok(Some(n)) => Ok(n),
                Ok(None) => Err(failed(&artifact.name, "the archive no longer holds it")),
                Err(e) => Err(failed(&artifact.name, e)),
            };
        }
        if !self.leases.contains_key(&artifact.hash) {
            return Err(failed(&artifact.name, "its lease was released"));
        }
        self.store.load_into(&artifact.hash, out).map_err(|e| failed(&artifact.name, e))
    }

    /// Drops the lease on `hash` (once every artifact holding it is shipped), so the collector
    /// may reclaim the blob; a later [`write_artifact`](Self::write_artifact) of it fails
    /// (unless it ships from the archive, which holds no lease: see [`ExportArtifact`]).
    pub fn release(&mut self, hash: &SnapshotHash) {
        self.leases.remove(hash);
    }
}
