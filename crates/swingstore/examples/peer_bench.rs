//! Our side of the peer comparison (target 6 of docs/PERFORMANCE.md): the workload of
//! `../shared/peer/agoric/bench.mjs` on our store, printing the same kind of JSON line.
//!
//! Saves in rounds (every vat saves its r-th heap, streamed in 64 KiB reads as from xsnap's
//! pipe), each followed by the root update; after every `--saves-per-commit N` saves (default
//! 1, the peer's default; `0`: all saves in one block) a durable commit and a gc pass (what a
//! validator does per block); then the store is closed and reopened, and every vat's latest snapshot is
//! loaded, fully consumed and verified. Corpus files are read into memory first, as the peer
//! harness does.
//!
//! `cargo run --release -p swingstore --example peer_bench -- --corpus DIR --vats 10 --snaps-per-vat 8 [--saves-per-commit N]`

use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use swingstore::{OpenOptions, SwingStore};
use swingstore::{format_root_value, parse_root_value};

/// Yields `data` in reads of at most 64 KiB, like a pipe from the worker. With a `salt`, the
/// first 8 bytes are replaced by it, so that vats sharing a corpus file do not deduplicate
/// (the peer stores every save; so do we, unless `--dedup`).
struct Chunked<'a> {
    data: &'a [u8],
    salt: Option<u64>,
    pos: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.data[self.pos.min(self.data.len())..];
        let n = buf.len().min(rest.len()).min(64 << 10);
        buf[..n].copy_from_slice(&rest[..n]);
        if let Some(salt) = self.salt {
            for (i, b) in buf[..n].iter_mut().enumerate().take(8usize.saturating_sub(self.pos)) {
                *b = salt.to_le_bytes()[self.pos + i];
            }
        }
        self.pos += n;
        Ok(n)
    }
}

/// One vat's heaps: (delivery count, bytes), by delivery count.
type Series = Vec<(u64, Vec<u8>)>;

fn opt(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == &format!("--{name}")).and_then(|i| args.get(i + 1)).cloned()
}

fn pctl(xs: &[f64], p: f64) -> f64 {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let i = ((p * s.len() as f64) as usize).min(s.len().saturating_sub(1));
    (s.get(i).copied().unwrap_or(0.0) * 100.0).round() / 100.0
}

fn main() -> anyhow::Result<()> {
    let process_started = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let corpus = PathBuf::from(opt(&args, "corpus").unwrap_or_else(|| "../shared/corpus/xsnap".into()));
    let dedup = args.iter().any(|a| a == "--dedup");
    let vats: usize = opt(&args, "vats").map(|v| v.parse()).transpose()?.unwrap_or(10);

    // Series as the peer harness builds them: manifest rows of kind vat/busy, by delivery count.
    let manifest = std::fs::read_to_string(corpus.join("manifest.tsv"))
        .with_context(|| format!("reading {}/manifest.tsv", corpus.display()))?;
    let mut lines = manifest.lines();
    let head: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let col = |name: &str| head.iter().position(|c| *c == name).with_context(|| format!("no {name} column"));
    let (file_c, vat_c, del_c, kind_c) = (col("file")?, col("vat")?, col("deliveries")?, col("kind")?);
    let mut series: Vec<(String, Series)> = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split('\t').collect();
        let (Some(file), Some(vat), Some(del), Some(kind)) =
            (cells.get(file_c), cells.get(vat_c), cells.get(del_c), cells.get(kind_c))
        else {
            continue;
        };
        if *kind != "vat" && *kind != "busy" {
            continue;
        }
        let bytes = std::fs::read(corpus.join(file)).with_context(|| format!("reading {file}"))?;
        let entry = (del.parse::<u64>().unwrap_or(0), bytes);
        match series.iter_mut().find(|(name, _)| name == vat) {
            Some((_, rows)) => rows.push(entry),
            None => series.push(((*vat).to_owned(), vec![entry])),
        }
    }
    if series.is_empty() {
        bail!("no vat series in {}", corpus.display());
    }
    for (_, rows) in &mut series {
        rows.sort_by_key(|(d, _)| *d);
    }
    let shortest = series.iter().map(|(_, r)| r.len()).min().unwrap_or(1);
    let snaps: usize = opt(&args, "snaps-per-vat").map(|v| v.parse()).transpose()?.unwrap_or(shortest);
    let per_commit =
        match opt(&args, "saves-per-commit").map(|v| v.parse::<usize>()).transpose()?.unwrap_or(1) {
            0 => vats * snaps,
            n => n,
        };

    let tmp = tempfile::tempdir()?;
    let dir = opt(&args, "db").map(PathBuf::from).unwrap_or_else(|| tmp.path().join("store"));
    let store = SwingStore::create(&dir)?;

    // Saves: a block of `per_commit` saves (save, root; then a durable commit and gc).
    let (mut raw, mut stored, mut per_save, mut commit_ms, mut gc_ms) = (0u64, 0u64, Vec::new(), 0.0, 0.0);
    let saves_started = Instant::now();
    for r in 0..snaps {
        for v in 0..vats {
            let rows = &series[v % series.len()].1;
            let bytes = &rows[r % rows.len()].1;
            let t = Instant::now();
            let salt = (!dedup).then_some(((r * vats + v) as u64) << 8 | 0xa5);
            let saved = store.save(&mut Chunked { data: bytes, salt, pos: 0 })?;
            store.kv().set(
                &format!("v{}.lastSnapshot", v + 1),
                &format_root_value(&saved.hash, (r as u64 + 1) * 200),
            );
            let done = r * vats + v + 1;
            if done.is_multiple_of(per_commit) || done == vats * snaps {
                let c = Instant::now();
                store.commit()?;
                commit_ms += c.elapsed().as_secs_f64() * 1e3;
                let g = Instant::now();
                store.gc()?;
                gc_ms += g.elapsed().as_secs_f64() * 1e3;
            }
            per_save.push(t.elapsed().as_secs_f64() * 1e3);
            raw += saved.raw_bytes;
            if !saved.deduplicated {
                stored += saved.stored_bytes;
            }
        }
    }
    let save_ms = saves_started.elapsed().as_secs_f64() * 1e3;
    drop(store);

    // Loads: reopen, then every vat's current snapshot, verified.
    let store = SwingStore::open(&dir, OpenOptions::default())?;
    let (mut loaded, mut per_load) = (0u64, Vec::new());
    let loads_started = Instant::now();
    for v in 0..vats {
        let t = Instant::now();
        let key = format!("v{}.lastSnapshot", v + 1);
        let value = store.kv().get(&key)?.with_context(|| format!("no {key}"))?;
        let hash = parse_root_value(&key, value.as_bytes())?;
        loaded += store.load_into(&hash, &mut io::sink())?;
        per_load.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let load_ms = loads_started.elapsed().as_secs_f64() * 1e3;
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    println!(
        "{}",
        serde_json::json!({
            "impl": "snapgc",
            "vats": vats,
            "dedup": dedup,
            "snaps_per_vat": snaps,
            "saves_per_commit": per_commit,
            "durability": "full (fsync file + dir, sled flush per commit)",
            "save": {
                "n": vats * snaps, "raw_bytes": raw, "stored_bytes": stored,
                "wall_ms": r2(save_ms), "MBps": r2(raw as f64 / 1e3 / save_ms),
                "commit_ms": r2(commit_ms), "gc_ms": r2(gc_ms),
                "per_save_ms": { "p50": pctl(&per_save, 0.5), "p99": pctl(&per_save, 0.99) },
            },
            "load": {
                "n": vats, "raw_bytes": loaded, "wall_ms": r2(load_ms),
                "MBps": r2(loaded as f64 / 1e3 / load_ms),
                "per_load_ms": { "p50": pctl(&per_load, 0.5), "p99": pctl(&per_load, 0.99) },
            },
            "process_ms": r2(process_started.elapsed().as_secs_f64() * 1e3),
        })
    );
    Ok(())
}
