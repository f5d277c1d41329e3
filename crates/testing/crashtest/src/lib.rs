//! Crash and fault safety harness for swingstore (see docs/CRASH-SAFETY.md).
//!
//! * [`workload`]: the kernel-like workload a child process runs until it is killed; it logs
//!   every commit (intent before, outcome after, each fsynced) to a side file.
//! * [`check`]: what the parent checks after a crash (every committed root loads and verifies),
//!   how it settles the store (gc until quiescent) and what "clean" means afterwards.
//! * [`journal`]: the commit journal a child keeps beside the store (intent `P` before each
//!   commit, outcome `C` after, each fsynced), and what it says the store must hold.
//! * [`driver`]: the kill loop (SIGKILL at a random time, or a crash at a random failpoint).
//! * [`scenario`]: a scripted scenario that reaches every failpoint once, for the per-point tests.
//! * here: what the workload writes and the checks read (heaps, root keys and values, big kv
//!   values, the committed roots), so `check` and `workload` depend on this root, not on each
//!   other.

pub mod check;
pub mod driver;
pub mod journal;
pub mod scenario;
pub mod workload;

use anyhow::Result;
use swingstore::SwingStore;
use swingstore::failpoint::points;
use swingstore::{RootPatterns, parse_root_value};

use crate::journal::Roots;

/// Every failpoint the library defines.
pub const ALL_POINTS: [&str; 9] = [
    points::SAVE_AFTER_WRITE,
    points::SAVE_AFTER_META,
    points::SAVE_BEFORE_DIR_SYNC,
    points::COMMIT_BEFORE_SYNC,
    points::GC_AFTER_ORPHAN_VERIFY,
    points::GC_BEFORE_CONDEMN,
    points::GC_AFTER_CONDEMN,
    points::SWEEP_BEFORE_UNLINK,
    points::SWEEP_AFTER_UNLINK,
];

/// The failpoints of a state-sync import (tests/suite/import_crash.rs).
pub const IMPORT_POINTS: [&str; 3] =
    [points::IMPORT_AFTER_ARTIFACT, points::IMPORT_BEFORE_COMMIT, points::IMPORT_AFTER_COMMIT];

/// The `&'static str` of a failpoint given by name (from a command line).
pub fn point_named(name: &str) -> Option<&'static str> {
    ALL_POINTS.iter().chain(&IMPORT_POINTS).copied().find(|p| *p == name)
}

/// The deterministic PRNG of the harnesses (SplitMix64, shared with kernel-sim): a seed
/// replays exactly.
pub use testkit::Rng;

/// The synthetic heap of `vat` at `version`: deterministic, 1–48 KiB, compressible like an XS
/// heap, its first line `vat <vat> version <version>` (the workload's clones read it).
pub fn heap(vat: u32, version: u64) -> Vec<u8> {
    let seed = (u64::from(vat) << 40) ^ version ^ 0x5EED;
    let len = 1024 + Rng::new(seed).below(47 * 1024) as usize;
    let mut out = format!("vat {vat} version {version}\n").into_bytes();
    out.extend_from_slice(&testkit::compressible_bytes(seed, len.saturating_sub(out.len())));
    out
}

/// The vat number of a root key `v<N>.lastSnapshot`.
pub fn vat_of(key: &str) -> Option<u32> {
    key.strip_prefix('v')?.strip_suffix(".lastSnapshot")?.parse().ok()
}

/// The root key of vat `vat`.
pub fn root_key(vat: u32) -> String {
    format!("v{vat}.lastSnapshot")
}

/// The `startPos.itemCount` of a root value (the workload stores the heap version there).
pub fn item_count(value: &str) -> Option<u64> {
    let json: serde_json::Value = serde_json::from_str(value).ok()?;
    json.get("startPos")?.get("itemCount")?.as_u64()
}

/// A large kv value that says its own length (`<len>:xxxx…`): the workload writes it, the
/// check after a crash reads it back.
pub fn big_value(len: usize) -> String {
    let head = format!("{len}:");
    let mut value = head.clone();
    value.extend(std::iter::repeat_n('x', len.saturating_sub(head.len())));
    value
}

/// Whether a kv value written by [`big_value`] is whole.
pub fn big_value_is_whole(value: &str) -> bool {
    value.split_once(':').and_then(|(n, _)| n.parse::<usize>().ok()).is_some_and(|n| n == value.len())
}

/// The committed roots of an open store with no staged writes: key to hash hex (what a
/// check compares, and what the workload resumes from).
pub fn committed_roots(store: &SwingStore) -> Result<Roots> {
    let patterns = RootPatterns::new(&store.config().root_patterns)?;
    let mut roots = Roots::new();
    for (key, value) in store.kv().scan_prefix("")? {
        if !patterns.is_root(&key) || store.kv().get_committed(&key)?.as_deref() != Some(value.as_str()) {
            continue;
        }
        let hash = parse_root_value(&key, value.as_bytes())?;
        roots.insert(key, hash.to_hex());
    }
    Ok(roots)
}

/// A scratch directory on tmpfs when there is one (the process-kill tests do not depend on
/// fsync reaching the disk: a killed process loses only what it had not handed to the kernel),
/// else the system temp dir. `CRASHTEST_DIR` overrides.
pub fn scratch_dir() -> std::io::Result<tempfile::TempDir> {
    if let Some(dir) = std::env::var_os("CRASHTEST_DIR") {
        std::fs::create_dir_all(&dir)?;
        return tempfile::tempdir_in(dir);
    }
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return Ok(dir);
    }
    tempfile::tempdir()
}
