//! How a run is set up: the options, the sled segment sizes stores get, and the environment
//! (and hidden subcommands) of the processes that open a store.

use std::path::PathBuf;
use std::process::Command;

use crashtest::Rng;

/// The environment variable the library reads to skip one durability step.
pub const SKIP_SYNC_ENV: &str = "SWINGSTORE_SKIP_SYNC";
/// The environment variable that gives sled tiny log segments (a power of two; the same for
/// the life of a store, since sled records it: every process that opens the store gets it).
pub const SLED_SEGMENT_ENV: &str = "SWINGSTORE_SLED_SEGMENT_SIZE";
/// The hidden subcommand that runs the workload:
/// `<exe> __child <store> <log> <seed> <max_blocks> [config]` (`config`: change the collector
/// configuration first, see [`configlog`](crate::configlog)).
pub const CHILD_SUBCOMMAND: &str = "__child";
/// The hidden subcommand that checks a store after a cut: `<exe> __check <store> <log> <now|grace>`;
/// prints one [`Checked`](crate::harness::Checked) line, or the violation and exits non-zero.
pub const CHECK_SUBCOMMAND: &str = "__check";

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Cuts to perform.
    pub cuts: u64,
    /// Seed of everything random (replay a run with the same seed).
    pub seed: u64,
    /// Tear unsynced pages at each cut.
    pub torn: bool,
    /// A durability step the children skip (`SWINGSTORE_SKIP_SYNC`).
    pub skip_sync: Option<String>,
    /// A line per cut.
    pub verbose: bool,
    /// The executable that runs the workload when called as `<exe> __child <store> <log> <seed>
    /// <max_blocks>` (the powerloss binary itself).
    pub child_exe: PathBuf,
    /// Scratch space on a real file system: the mount point, the commit log, child output.
    pub scratch: PathBuf,
    /// Where request logs of violating cuts are written (kept after the run).
    pub report_dir: PathBuf,
    /// Cuts on one store before a fresh one.
    pub cuts_per_store: u64,
    /// Blocks a child runs at most (each child draws 1..=this).
    pub max_blocks: u64,
    /// The sled segment sizes stores get.
    pub segments: Segments,
}

/// Which sled log segment size each store gets (`SWINGSTORE_SLED_SEGMENT_SIZE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segments {
    /// Half the stores sled's default, half a small power of two (8–64 KiB: segment reuse and
    /// large-value files within short runs). Below 8 KiB sled 0.34 itself breaks: at 1–2 KiB
    /// it panics on reopen even after a clean close ("cannot find pid in view_for_key"), and at
    /// 4 KiB its recovery once dropped a record it had fsynced; such sizes say nothing about
    /// the store.
    Mixed,
    /// Always sled's default.
    Default,
    /// Always this size.
    Fixed(u64),
}

impl Segments {
    /// `mixed`, `default` or a size in bytes (`POWERLOSS_SEGMENTS`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "mixed" => Some(Self::Mixed),
            "default" => Some(Self::Default),
            n => n.parse().ok().filter(|n: &u64| n.is_power_of_two()).map(Self::Fixed),
        }
    }

    pub(super) fn draw(self, rng: &mut Rng) -> Option<u64> {
        match self {
            Self::Mixed => rng.chance(50, 100).then(|| 1 << rng.range(13, 16)),
            Self::Default => None,
            Self::Fixed(n) => Some(n),
        }
    }
}

/// The environment of every process that opens one store.
#[derive(Debug, Clone, Default)]
pub(super) struct StoreEnv {
    pub skip_sync: Option<String>,
    pub segment_size: Option<u64>,
}

impl StoreEnv {
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env_remove(SKIP_SYNC_ENV).env_remove(SLED_SEGMENT_ENV);
        if let Some(step) = &self.skip_sync {
            cmd.env(SKIP_SYNC_ENV, step);
        }
        if let Some(size) = self.segment_size {
            cmd.env(SLED_SEGMENT_ENV, size.to_string());
        }
    }
}
