//! The command line (clap): every flag of the binary, and the simulation it asks for.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kernel_sim::{SimConfig, WorkloadKind};

/// A SwingSet-like kernel that saves XS heap snapshots into a snapgc store and collects after
/// every commit. Prints a summary table (or, with --json, one JSON document).
#[derive(Debug, Parser)]
#[command(name = "kernel-sim", version)]
pub struct Args {
    /// Workload to run.
    #[arg(long, value_enum, default_value_t = WorkloadKind::Testnet)]
    pub workload: WorkloadKind,
    /// Blocks to run [default: 600 for testnet, 300 otherwise].
    #[arg(long)]
    pub blocks: Option<u64>,
    /// Seed of every random choice: one seed, one history, one blob set.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of vats: testnet's vat count, vattp's busy vats, zygote's clones (each part of mixed).
    #[arg(long)]
    pub vats: Option<u64>,
    /// Deliveries between snapshots of a vat.
    #[arg(long, default_value_t = 200)]
    pub snapshot_interval: u64,
    /// Deliveries before a vat's first snapshot.
    #[arg(long, default_value_t = 3)]
    pub snapshot_initial: u64,
    /// Workers online at most (LRU eviction).
    #[arg(long, default_value_t = 50)]
    pub max_vats_online: usize,
    /// Slow each page-in load and each exported snapshot read by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub page_in_delay_ms: u64,
    /// Start a state-sync export every K blocks (0: never).
    #[arg(long, default_value_t = 100, value_name = "K")]
    pub export_every: u64,
    /// Grace in epochs, persisted as the store's default [default: the store's, 2].
    #[arg(long)]
    pub grace: Option<u64>,
    /// Run without collection.
    #[arg(long, conflicts_with = "compare")]
    pub no_gc: bool,
    /// Delete at most N blobs per collection (a tight budget falls behind: see the backlog
    /// line, e.g. `--workload zygote --gc-budget 1`).
    #[arg(long, value_name = "N")]
    pub gc_budget: Option<u64>,
    /// Run twice on fresh stores, with and without collection, and report both.
    #[arg(long)]
    pub compare: bool,
    /// Extra `vN.vs.*` keys per vat.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub vatstore_keys: u64,
    /// Restart the kernel (every worker offline) every N blocks; 0: never [default: 250 for
    /// testnet and mixed, 0 otherwise].
    #[arg(long, value_name = "N")]
    pub restart_every: Option<u64>,
    /// Start vats from the .xss heap snapshots in DIR instead of the embedded lockdown heap.
    #[arg(long, value_name = "DIR")]
    pub heaps: Option<PathBuf>,
    /// Cap each vat's starting heap at this many bytes (a slice of the source heap).
    #[arg(long, value_name = "BYTES")]
    pub heap_limit: Option<usize>,
    /// Store directory (created, and kept). Default: a temporary directory, removed at the end.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Keep the temporary store(s) and print where they are.
    #[arg(long)]
    pub keep: bool,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG chart of stored bytes and blob count per block.
    #[arg(long, value_name = "FILE.svg")]
    pub report: Option<PathBuf>,
    /// Archive every replaced snapshot a root named into DIR before it is swept (created and
    /// kept); the report and the chart show what the archive holds and what the same history
    /// costs as whole LZ4 blobs and as whole gzip-6 files.
    #[arg(long, value_name = "DIR")]
    pub archive: Option<PathBuf>,
}

impl Args {
    /// The simulation these flags describe (the main run; `--compare` adds a baseline).
    pub fn sim_config(&self) -> SimConfig {
        SimConfig {
            workload: self.workload,
            blocks: self.blocks,
            seed: self.seed,
            vats: self.vats,
            snapshot_interval: self.snapshot_interval,
            snapshot_initial: self.snapshot_initial,
            max_vats_online: self.max_vats_online,
            page_in_delay: Duration::from_millis(self.page_in_delay_ms),
            export_every: self.export_every,
            grace: self.grace,
            gc: !self.no_gc,
            gc_budget: self.gc_budget,
            vatstore_keys: self.vatstore_keys,
            restart_every: self.restart_every,
            heap_limit: self.heap_limit,
        }
    }
}
