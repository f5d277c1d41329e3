//! Target 3 of issue 25: one heap saved and committed in-process, what the kernel waits for after
//! a snapshot. With the store already open, `ROUNDS` rounds of `save` from the heap's file, the
//! root `v1.lastSnapshot` set to it, and `commit` (durable when it returns); prints one JSON line
//! with the median, min and max of a round. `bench/limit.sh` runs it beside the limit tool on the
//! same file.
//!
//! ```text
//! cargo run --release -p swingstore --example save_commit -- [--store DIR] [--rounds N] [FILE]
//! ```
//!
//! `--store DIR`: an existing store, or created there if missing (kept); default a temporary
//! directory on the system temp dir (use a real disk, not tmpfs). `--rounds`: default 7. `FILE`:
//! default the largest heap of the corpus (`$SNAPGC_CORPUS`, else `../shared/corpus/xsnap`).
//!
//! Every timed round saves a new snapshot, as the kernel does after deliveries: the heap's bytes
//! followed by 8 bytes (the process id and the round's number), so each round's hash is new, its blob is renamed to
//! a new name and its commit fsyncs that file and `snapshots/`. (A re-save of a stored hash would
//! rename over the stored blob, which ext4 makes start the new file's writeback at once: +1-2 ms
//! per save on this machine's disk, a cost of identical heaps only.) An untimed first round puts
//! the file in the page cache.

#[path = "../benches/common/mod.rs"]
mod common;

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use swingstore::{SwingStore, format_root_value};

/// Minimum, median and maximum.
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |i: usize| v.get(i).copied().unwrap_or(f64::NAN);
    (at(0), at(v.len() / 2), at(v.len().saturating_sub(1)))
}

fn main() -> anyhow::Result<()> {
    const USAGE: &str = "usage: save_commit [--store DIR] [--rounds N] [FILE]";
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let store_dir = common::take_flag(&mut args, "--store")?.map(PathBuf::from);
    let rounds: usize =
        common::take_flag(&mut args, "--rounds")?.map(|s| s.parse()).transpose()?.unwrap_or(7);
    anyhow::ensure!(args.len() <= 1 && rounds > 0, "{USAGE}");
    let file = match args.pop() {
        Some(f) => PathBuf::from(f),
        None => common::corpus_files()
            .into_iter()
            .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .ok_or_else(|| anyhow::anyhow!("no FILE and no heap in {}", common::corpus_dir().display()))?,
    };
    let tmp = tempfile::tempdir()?;
    let dir = store_dir.unwrap_or_else(|| tmp.path().join("store"));
    let store = SwingStore::create(&dir)?;

    // Untimed: the file into the page cache and the heap into the store.
    let first = store.save(&mut File::open(&file)?)?;
    store.kv().set("v1.lastSnapshot", &format_root_value(&first.hash, 0));
    store.commit()?;

    let (mut total, mut save, mut commit) = (Vec::new(), Vec::new(), Vec::new());
    // New in this store even when it is reused across runs: the process id and the round.
    let salt = u64::from(std::process::id()) << 32;
    for n in 0..rounds as u64 {
        let mut input = File::open(&file)?.chain(std::io::Cursor::new((salt | n).to_le_bytes()));
        let s = Instant::now();
        let saved = store.save(&mut input)?;
        store.kv().set("v1.lastSnapshot", &format_root_value(&saved.hash, 0));
        let c = Instant::now();
        store.commit()?;
        let end = Instant::now();
        anyhow::ensure!(saved.hash != first.hash && !saved.deduplicated, "round {n} saved no new snapshot");
        total.push((end - s).as_secs_f64() * 1e3);
        save.push((c - s).as_secs_f64() * 1e3);
        commit.push((end - c).as_secs_f64() * 1e3);
    }
    let (min, median, max) = spread(&total);
    let mbps = |ms: f64| first.raw_bytes as f64 / 1e6 / (ms / 1e3);
    let round = |x: f64| (x * 100.0).round() / 100.0;
    println!(
        "{}",
        serde_json::json!({
            "file": file.display().to_string(),
            "raw_bytes": first.raw_bytes,
            "stored_bytes": first.stored_bytes,
            "rounds": rounds,
            "round": "save of a new snapshot (the heap + 8 bytes) + root set + commit (fsyncs it)",
            "median_ms": round(median),
            "min_ms": round(min),
            "max_ms": round(max),
            "median_MBps": round(mbps(median)),
            "min_MBps": round(mbps(max)),
            "max_MBps": round(mbps(min)),
            "median_save_ms": round(spread(&save).1),
            "median_commit_ms": round(spread(&commit).1),
        })
    );
    Ok(())
}
