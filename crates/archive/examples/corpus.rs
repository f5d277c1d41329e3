//! The archive on real heap series (`../shared/corpus/xsnap`, or the directory given): each
//! series archived in order, all but its last snapshot, next to what the same snapshots cost
//! as whole LZ4 blobs (the hot store's files) and as Agoric's whole gzip-6 files; and the
//! speed of an archive step against a save, and of `get` against a hot-store load.
//!
//! ```sh
//! cargo run --release -p archive --example corpus [-- [DIR] [--tmp-in SCRATCH]]
//! ```
//!
//! Stores and archives go in a temporary directory inside SCRATCH (default the system temp
//! dir; give a real disk, not tmpfs, so fsyncs cost what they cost), removed at the end.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use archive::{Archive, StoreArchiver};
use swingstore::{ArchiveConfig, OpenOptions, SwingStore, format_root_value};

fn gzip6(bytes: &[u8]) -> Result<u64> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(bytes)?;
    Ok(enc.finish()?.len() as u64)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Series name to its files, in delivery order (`vat-<name>.dNNNN.xss`).
fn series(dir: &Path) -> Result<BTreeMap<String, Vec<PathBuf>>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(rest) = name.strip_prefix("vat-")
            && let Some((vat, _)) = rest.split_once(".d")
            && name.ends_with(".xss")
        {
            out.entry(vat.to_owned()).or_default().push(path);
        }
    }
    for files in out.values_mut() {
        files.sort();
    }
    Ok(out)
}

#[derive(Default, Clone)]
struct Totals {
    snapshots: u64,
    raw: u64,
    lz4: u64,
    gzip: u64,
    archive: u64,
}

impl Totals {
    fn row(&self, name: &str) {
        println!(
            "{:<14} {:>5} {:>10} {:>10} {:>10} {:>10} {:>8.1}x {:>8.1}x",
            name,
            self.snapshots,
            self.raw,
            self.lz4,
            self.gzip,
            self.archive,
            self.lz4 as f64 / self.archive.max(1) as f64,
            self.gzip as f64 / self.archive.max(1) as f64
        );
    }

    fn add(&mut self, o: &Totals) {
        self.snapshots += o.snapshots;
        self.raw += o.raw;
        self.lz4 += o.lz4;
        self.gzip += o.gzip;
        self.archive += o.archive;
    }
}

#[derive(Default)]
struct Timings {
    saves: Vec<Duration>,
    steps: Vec<Duration>,
    loads: Vec<(u64, Duration)>,
    gets: Vec<(u64, Duration)>,
}

/// Archives `series` (one store, one vat per series) into one archive, or into one archive per
/// series; returns each series' share (for a shared archive: the bytes its snapshots added).
fn run(
    scratch: &Path,
    all: &BTreeMap<String, Vec<PathBuf>>,
    shared: bool,
    t: &mut Timings,
) -> Result<Vec<(String, Totals)>> {
    let mut rows = Vec::new();
    let tag = if shared { "shared" } else { "own" };
    let mut current: Option<(SwingStore, Arc<Archive>)> = None;
    for (vat, (name, files)) in all.iter().enumerate() {
        if current.is_none() || !shared {
            let store_dir = scratch.join(format!("{tag}-{name}-store"));
            let archive_dir = scratch.join(format!("{tag}-{name}-archive"));
            let store = SwingStore::open(&store_dir, OpenOptions { create: true })?;
            let mut config = store.config();
            config.grace = 0;
            store.set_config(config)?;
            store.set_archive_config(Some(ArchiveConfig {
                location: archive_dir.display().to_string(),
                keep_last: 0,
            }))?;
            let archive = Arc::new(Archive::open(&archive_dir.display().to_string())?);
            store.set_archiver(Arc::new(StoreArchiver::new(Arc::clone(&archive))));
            current = Some((store, archive));
        }
        let Some((store, archive)) = &current else { bail!("no store") };
        let before = archive.stats()?.stored_bytes;
        let mut row = Totals::default();
        let key = format!("v{}.lastSnapshot", vat + 1);
        let archived = &files[..files.len().saturating_sub(1)];
        for (i, path) in files.iter().enumerate() {
            let bytes = std::fs::read(path)?;
            let started = Instant::now();
            let info = store.save_bytes(&bytes)?;
            store.kv().set(&key, &format_root_value(&info.hash, i as u64));
            store.commit()?;
            t.saves.push(started.elapsed());
            if i < archived.len() {
                row.snapshots += 1;
                row.raw += bytes.len() as u64;
                row.lz4 += info.stored_bytes;
                row.gzip += gzip6(&bytes)?;
                let started = Instant::now();
                store.load_into(&info.hash, &mut std::io::sink())?;
                t.loads.push((bytes.len() as u64, started.elapsed()));
            }
            // The collection that archives and sweeps the snapshot this one replaced.
            let started = Instant::now();
            let report = store.gc()?;
            let took = started.elapsed();
            if !report.errors.is_empty() {
                bail!("gc: {:?}", report.errors);
            }
            if i >= 2 && report.swept > 0 {
                // Steady state (a vat's second snapshot shares little with its first).
                t.steps.push(took);
            }
        }
        row.archive = archive.stats()?.stored_bytes - before;
        for path in archived {
            let bytes = std::fs::read(path)?;
            let hash = swingstore::SnapshotHash::of(&bytes);
            let started = Instant::now();
            let n = archive.get_into(&hash, &mut std::io::sink())?;
            t.gets.push((n, started.elapsed()));
        }
        rows.push((name.clone(), row));
    }
    Ok(rows)
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let scratch_in = match args.iter().position(|a| a == "--tmp-in") {
        Some(i) if i + 1 < args.len() => {
            let dir = args.remove(i + 1);
            args.remove(i);
            PathBuf::from(dir)
        }
        Some(_) => bail!("--tmp-in needs a directory"),
        None => std::env::temp_dir(),
    };
    if args.len() > 1 {
        bail!("usage: corpus [DIR] [--tmp-in SCRATCH]");
    }
    let dir = args.first().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/xsnap"))
    });
    let all = series(&dir)?;
    if all.is_empty() {
        bail!("no vat-<name>.dNNNN.xss series in {}", dir.display());
    }
    // Never inside the checkout: a killed run must not leave a store in the tree.
    let scratch = tempfile::Builder::new().prefix("archive-corpus-").tempdir_in(&scratch_in)?;
    println!("archive on the heap series of {} (all but the last snapshot of each series)", dir.display());
    println!("chunker: {}; codec: {}", archive::params::CHUNKER, archive::params::CODEC);
    let mut t = Timings::default();
    for shared in [false, true] {
        println!();
        println!(
            "{}",
            if shared {
                "one archive for the node (every series in it; a series' row: the bytes it added)"
            } else {
                "one archive per series"
            }
        );
        println!(
            "{:<14} {:>5} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9}",
            "series", "snaps", "raw", "lz4", "gzip-6", "archive", "lz4/arch", "gz/arch"
        );
        let rows = run(scratch.path(), &all, shared, &mut t)?;
        let mut total = Totals::default();
        for (name, row) in &rows {
            row.row(name);
            total.add(row);
        }
        total.row("all");
    }
    println!();
    let save = median(t.saves);
    let step = median(t.steps);
    println!("save + commit of a heap (durable), median:             {}", ms(save));
    println!(
        "gc pass archiving + sweeping the replaced heap, median: {} ({:.2}x the save)",
        ms(step),
        step.as_secs_f64() / save.as_secs_f64()
    );
    let rate = |v: &[(u64, Duration)]| {
        let bytes: u64 = v.iter().map(|(n, _)| n).sum();
        let time: Duration = v.iter().map(|(_, d)| *d).sum();
        bytes as f64 / time.as_secs_f64().max(1e-9)
    };
    let (load, get) = (rate(&t.loads), rate(&t.gets));
    println!("hot-store load (verified):     {:.0} MB/s", load / 1e6);
    println!("archive get (local, verified): {:.0} MB/s ({:.2}x the load)", get / 1e6, get / load);
    Ok(())
}
