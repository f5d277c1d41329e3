//! Targets 1 and 2 of issue 13, side by side in interleaved rounds: a block of real heaps
//! saved and committed against the same two-core hash ∥ compress pipeline writing to memory;
//! verify --deep and load_into against a two-core decode ∥ sha256 over the same frames in
//! memory. (Target 5, the 1000-write commit, is the `commit` criterion bench.)
//!
//! `cargo run --release -p swingstore --features internals --example block_probe -- [ROUNDS] [--tmp-in DIR]`
//! (each round's store is a temporary directory inside DIR, removed after the round; default the
//! system temp dir: use a real disk, not tmpfs).

#[path = "../benches/common/mod.rs"]
mod common;

use std::io;
use std::time::Instant;

use swingstore::{SnapshotHash, SwingStore};

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    const USAGE: &str = "usage: block_probe [ROUNDS] [--tmp-in DIR]";
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let base = match args.iter().position(|a| a == "--tmp-in") {
        Some(i) => {
            anyhow::ensure!(i + 1 < args.len(), "{USAGE}");
            let dir = args.remove(i + 1);
            args.remove(i);
            std::path::PathBuf::from(dir)
        }
        None => std::env::temp_dir(),
    };
    anyhow::ensure!(args.len() <= 1, "{USAGE}");
    let rounds: usize = args.first().map(|s| s.parse()).transpose()?.unwrap_or(7);
    let heaps = common::heaps();
    let raw: usize = heaps.iter().map(|h| h.bytes.len()).sum();
    eprintln!("{} heaps, {:.1} MB raw, stores in {}", heaps.len(), raw as f64 / 1e6, base.display());
    let frames: Vec<(Vec<u8>, SnapshotHash)> = heaps
        .iter()
        .map(|h| swingstore::internals::compress_to_memory(&h.bytes))
        .collect::<Result<_, _>>()?;

    let mut t = [(); 6].map(|_| Vec::new());
    for _ in 0..rounds {
        // 0: the in-memory save pipeline over the block.
        let s = Instant::now();
        for h in &heaps {
            std::hint::black_box(swingstore::internals::compress_to_memory(&h.bytes)?);
        }
        t[0].push(ms(s));
        // 1: a fresh store, the block saved and committed (durable).
        let dir = tempfile::tempdir_in(&base)?;
        let store = SwingStore::create(dir.path().join("store"))?;
        let s = Instant::now();
        for h in &heaps {
            store.save_bytes(&h.bytes)?;
        }
        let c = Instant::now();
        store.commit()?;
        t[5].push(ms(c));
        t[1].push(ms(s));
        // 2: the in-memory decode ∥ sha256 limit.
        let s = Instant::now();
        for (frame, hash) in &frames {
            anyhow::ensure!(common::decode_and_hash(frame) == *hash.as_bytes());
        }
        t[2].push(ms(s));
        // 3: verify --deep; 4: load_into of each blob in turn (page-ins).
        let s = Instant::now();
        let report = store.verify(true, None)?;
        t[3].push(ms(s));
        anyhow::ensure!(report.ok);
        let s = Instant::now();
        for (_, hash) in &frames {
            store.load_into(hash, &mut io::sink())?;
        }
        t[4].push(ms(s));
    }
    let mb = raw as f64 / 1e6;
    let rate = |v: f64| mb / (v / 1e3);
    let commit = median(t[5].clone());
    let (lim_s, save, lim_l, verify, load) = (
        median(t[0].clone()),
        median(t[1].clone()),
        median(t[2].clone()),
        median(t[3].clone()),
        median(t[4].clone()),
    );
    println!(
        "{}",
        serde_json::json!({
            "heaps": heaps.len(), "raw_mb": mb, "rounds": rounds,
            "save_limit_ms": lim_s, "save_limit_MBps": rate(lim_s),
            "save_commit_ms": save, "of_which_commit_ms": commit, "save_commit_MBps": rate(save), "save_ratio": lim_s / save,
            "load_limit_ms": lim_l, "load_limit_MBps": rate(lim_l),
            "verify_deep_ms": verify, "verify_ratio": lim_l / verify,
            "load_into_ms": load, "load_into_ratio": lim_l / load,
        })
    );
    Ok(())
}
