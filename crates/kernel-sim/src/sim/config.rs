//! The settings of one run ([`SimConfig`]), their defaults (Agoric's snapshot schedule, 50
//! workers, an export every 100 blocks) and the checks [`run`](super::run) makes first.

use std::time::Duration;

use crate::error::{Result, SimError};
use crate::workload::WorkloadKind;

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub workload: WorkloadKind,
    /// Blocks to run (default: the workload's).
    pub blocks: Option<u64>,
    pub seed: u64,
    /// Overrides the workload's vat count (per part for `mixed`).
    pub vats: Option<u64>,
    pub snapshot_interval: u64,
    pub snapshot_initial: u64,
    pub max_vats_online: usize,
    /// Each page-in and each exported snapshot read waits this long first.
    pub page_in_delay: Duration,
    /// Start an export every this many blocks (0: never).
    pub export_every: u64,
    /// Default grace persisted in the store (default: keep the store's).
    pub grace: Option<u64>,
    /// Collect after every commit.
    pub gc: bool,
    /// Delete at most this many blobs per collection (`None`: no budget).
    pub gc_budget: Option<u64>,
    /// `vN.vs.*` keys per vat.
    pub vatstore_keys: u64,
    /// Restart the kernel (all workers offline) every this many blocks (default: the
    /// workload's; 0: never).
    pub restart_every: Option<u64>,
    /// Cap on each vat's base heap (a slice of the source heap); `None`: the whole heap.
    pub heap_limit: Option<usize>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            workload: WorkloadKind::Testnet,
            blocks: None,
            seed: 1,
            vats: None,
            snapshot_interval: 200,
            snapshot_initial: 3,
            max_vats_online: 50,
            page_in_delay: Duration::ZERO,
            export_every: 100,
            grace: None,
            gc: true,
            gc_budget: None,
            vatstore_keys: 0,
            restart_every: None,
            heap_limit: None,
        }
    }
}

impl SimConfig {
    pub fn blocks(&self) -> u64 {
        self.blocks.unwrap_or_else(|| self.workload.default_blocks())
    }

    pub fn restart_every(&self) -> u64 {
        self.restart_every.unwrap_or_else(|| self.workload.default_restart_every())
    }

    /// Refuses settings the kernel cannot run with.
    pub fn validate(&self) -> Result<()> {
        if self.max_vats_online == 0 {
            return Err(SimError::Config("--max-vats-online must be at least 1".into()));
        }
        if self.snapshot_interval == 0 {
            return Err(SimError::Config("--snapshot-interval must be at least 1".into()));
        }
        Ok(())
    }
}
