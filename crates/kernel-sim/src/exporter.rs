//! State-sync export: a slow reader that must be able to read every snapshot the committed
//! roots named when it started, however long it takes, while the kernel keeps committing,
//! moving roots and collecting.
//!
//! It is the library's exporter ([`SwingStore::export_state`], docs/STATE-SYNC.md): the
//! kernel pins the committed epoch on its own thread, right after the commit and before the
//! next one (the export data is written then, to a sink that only hashes it, and every
//! artifact's blob is leased); the exporter thread then ships each distinct snapshot once,
//! verified (after the page-in delay), to a sink, and releases its lease once it is read.

use std::collections::BTreeMap;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use swingstore::{ArtifactMode, ExportArtifact, SnapshotHash, StateExporter, SwingStore};

use crate::error::{Result, SimError};

/// An export in flight.
#[derive(Debug)]
pub struct Export {
    /// Distinct snapshots it reads.
    pub snapshots: u64,
    handle: JoinHandle<Result<u64>>,
}

impl Export {
    /// Pins the committed state now (export data and leases), then ships the artifacts on a
    /// thread.
    pub fn start(store: &SwingStore, block: u64, delay: Duration) -> Result<Self> {
        let failed = move |hash: String, reason: String| SimError::Export { block, hash, reason };
        let mut exporter = store
            .export_state(ArtifactMode::Operational, &mut std::io::sink())
            .map_err(|e| failed("-".into(), e.to_string()))?;
        // One artifact per root; clones share a snapshot, which is read once.
        let mut distinct: BTreeMap<SnapshotHash, ExportArtifact> = BTreeMap::new();
        for artifact in exporter.artifacts() {
            distinct.entry(artifact.hash).or_insert_with(|| artifact.clone());
        }
        let snapshots = distinct.len() as u64;
        let handle = thread::Builder::new()
            .name(format!("export {block}"))
            .spawn(move || ship(&mut exporter, distinct.into_values(), delay, failed))
            .map_err(|e| SimError::Config(format!("cannot start an exporter thread: {e}")))?;
        Ok(Self { snapshots, handle })
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the exporter: raw bytes read, or the (fatal) reason it failed.
    pub fn finish(self) -> Result<u64> {
        self.handle.join().map_err(|_| SimError::Thread("exporter"))?
    }
}

fn ship(
    exporter: &mut StateExporter,
    artifacts: impl Iterator<Item = ExportArtifact>,
    delay: Duration,
    failed: impl Fn(String, String) -> SimError,
) -> Result<u64> {
    let mut bytes = 0;
    for artifact in artifacts {
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        bytes += exporter
            .write_artifact(&artifact, &mut std::io::sink())
            .map_err(|e| failed(artifact.hash.to_hex(), e.to_string()))?;
        exporter.release(&artifact.hash);
    }
    Ok(bytes)
}
