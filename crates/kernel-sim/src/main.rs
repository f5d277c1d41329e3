//! kernel-sim: run a SwingSet-like kernel on a snapshot store, collecting after every commit.
//! See docs/KERNEL-SIM.md.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use kernel_sim::heap::{self, HeapSource};
use kernel_sim::stats::human_bytes;
use kernel_sim::{SimConfig, SimResult, Summary, WorkloadKind, svg};
use swingstore::SwingStore;

/// A SwingSet-like kernel that saves XS heap snapshots into a snapgc store and collects after
/// every commit. Prints a summary table (or, with --json, one JSON document).
#[derive(Debug, Parser)]
#[command(name = "kernel-sim", version)]
struct Args {
    /// Workload to run.
    #[arg(long, value_enum, default_value_t = WorkloadKind::Testnet)]
    workload: WorkloadKind,
    /// Blocks to run [default: 600 for testnet, 300 otherwise].
    #[arg(long)]
    blocks: Option<u64>,
    /// Seed of every random choice: one seed, one history, one blob set.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of vats: testnet's vat count, vattp's busy vats, zygote's clones (each part of mixed).
    #[arg(long)]
    vats: Option<u64>,
    /// Deliveries between snapshots of a vat.
    #[arg(long, default_value_t = 200)]
    snapshot_interval: u64,
    /// Deliveries before a vat's first snapshot.
    #[arg(long, default_value_t = 3)]
    snapshot_initial: u64,
    /// Workers online at most (LRU eviction).
    #[arg(long, default_value_t = 50)]
    max_vats_online: usize,
    /// Slow each page-in load and each exported snapshot read by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    page_in_delay_ms: u64,
    /// Start a state-sync export every K blocks (0: never).
    #[arg(long, default_value_t = 100, value_name = "K")]
    export_every: u64,
    /// Grace in epochs, persisted as the store's default [default: the store's, 2].
    #[arg(long)]
    grace: Option<u64>,
    /// Run without collection.
    #[arg(long, conflicts_with = "compare")]
    no_gc: bool,
    /// Delete at most N blobs per collection (a tight budget falls behind: see the backlog
    /// line, e.g. `--workload zygote --gc-budget 1`).
    #[arg(long, value_name = "N")]
    gc_budget: Option<u64>,
    /// Run twice on fresh stores, with and without collection, and report both.
    #[arg(long)]
    compare: bool,
    /// Extra `vN.vs.*` keys per vat.
    #[arg(long, default_value_t = 0, value_name = "N")]
    vatstore_keys: u64,
    /// Restart the kernel (every worker offline) every N blocks; 0: never [default: 250 for
    /// testnet and mixed, 0 otherwise].
    #[arg(long, value_name = "N")]
    restart_every: Option<u64>,
    /// Start vats from the .xss heap snapshots in DIR instead of the embedded lockdown heap.
    #[arg(long, value_name = "DIR")]
    heaps: Option<PathBuf>,
    /// Cap each vat's starting heap at this many bytes (a slice of the source heap).
    #[arg(long, value_name = "BYTES")]
    heap_limit: Option<usize>,
    /// Store directory (created, and kept). Default: a temporary directory, removed at the end.
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// Keep the temporary store(s) and print where they are.
    #[arg(long)]
    keep: bool,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
    /// Write an SVG chart of stored bytes and blob count per block.
    #[arg(long, value_name = "FILE.svg")]
    report: Option<PathBuf>,
    /// Archive every replaced snapshot a root named into DIR before it is swept (created and
    /// kept); the report and the chart show what the archive holds and what the same history
    /// costs as whole LZ4 blobs and as whole gzip-6 files.
    #[arg(long, value_name = "DIR")]
    archive: Option<PathBuf>,
}

/// What the archive holds at the end, and the same history as whole files.
#[derive(Debug, Default, serde::Serialize)]
struct ArchiveSummary {
    location: String,
    snapshots: u64,
    raw_bytes: u64,
    chunks: u64,
    stored_bytes: u64,
    whole_lz4_bytes: u64,
    whole_gzip6_bytes: u64,
    #[serde(skip)]
    series: svg::ArchiveSeries,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Err(e) = real_main(&args) {
        eprintln!("kernel-sim: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main(args: &Args) -> Result<()> {
    let sources: Vec<HeapSource> = match &args.heaps {
        Some(dir) => heap::from_dir(dir).with_context(|| format!("--heaps {}", dir.display()))?,
        None => vec![heap::embedded()?],
    };
    if let Some(limit) = args.heap_limit
        && limit < heap::MIN_HEAP
    {
        bail!("--heap-limit must be at least {} bytes", heap::MIN_HEAP);
    }
    let config = SimConfig {
        workload: args.workload,
        blocks: args.blocks,
        seed: args.seed,
        vats: args.vats,
        snapshot_interval: args.snapshot_interval,
        snapshot_initial: args.snapshot_initial,
        max_vats_online: args.max_vats_online,
        page_in_delay: Duration::from_millis(args.page_in_delay_ms),
        export_every: args.export_every,
        grace: args.grace,
        gc: !args.no_gc,
        gc_budget: args.gc_budget,
        vatstore_keys: args.vatstore_keys,
        restart_every: args.restart_every,
        heap_limit: args.heap_limit,
    };
    let mut archived = None;
    let main = run_one(
        args,
        &config,
        &sources,
        args.store.as_deref(),
        if config.gc { "with gc" } else { "no gc" },
        args.archive.as_deref().map(|dir| (dir, &mut archived)),
    )?;
    let baseline = if args.compare {
        let base_config = SimConfig { gc: false, ..config.clone() };
        Some(run_one(args, &base_config, &sources, None, "no gc (baseline)", None)?)
    } else {
        None
    };

    if let Some(path) = &args.report {
        let picture = svg::storage_report_with_archive(
            &main,
            baseline.as_ref(),
            archived.as_ref().map(|a: &ArchiveSummary| &a.series),
        );
        std::fs::write(path, picture).with_context(|| format!("writing the report {}", path.display()))?;
    }
    if args.json {
        let mut doc = serde_json::to_value(&main.summary)?;
        if let (Some(base), Some(obj)) = (&baseline, doc.as_object_mut()) {
            obj.insert("no_gc".into(), serde_json::to_value(&base.summary)?);
        }
        if let (Some(a), Some(obj)) = (&archived, doc.as_object_mut()) {
            obj.insert("archive".into(), serde_json::to_value(a)?);
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_table(&main.summary, baseline.as_ref().map(|b| &b.summary));
        if let Some(a) = &archived {
            print_archive(a);
        }
        if let Some(path) = &args.report {
            println!("report: {}", path.display());
        }
    }
    Ok(())
}

/// Opens the store (given, or a fresh temporary one), runs, and removes or keeps it.
fn run_one(
    args: &Args,
    config: &SimConfig,
    sources: &[HeapSource],
    dir: Option<&Path>,
    label: &str,
    archive_to: Option<(&Path, &mut Option<ArchiveSummary>)>,
) -> Result<SimResult> {
    let temp = match dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new().prefix("kernel-sim-").tempdir().context("creating a temporary store")?,
        ),
    };
    let path = match (dir, &temp) {
        (Some(d), _) => d.to_owned(),
        (None, Some(t)) => t.path().join("store"),
        (None, None) => bail!("no store directory"),
    };
    let store = SwingStore::create(&path).with_context(|| format!("opening the store {}", path.display()))?;
    // Per archived snapshot: the archive bytes its step wrote.
    let steps: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let archive = match &archive_to {
        None => None,
        Some((dir, _)) => {
            let dir = std::path::absolute(dir).with_context(|| format!("--archive {}", dir.display()))?;
            let location = dir.display().to_string();
            store.set_archive_config(Some(swingstore::ArchiveConfig {
                location: location.clone(),
                keep_last: 0,
            }))?;
            // Opened as this store's archive (its marker names the store; another's is refused).
            let archive = Arc::new(
                archive::Archive::open_owned(&location, &store.store_id()?, &[])
                    .with_context(|| format!("--archive {location}"))?,
            );
            let seen = Arc::clone(&steps);
            store.set_archiver(Arc::new(archive::StoreArchiver::with_observer(
                Arc::clone(&archive),
                Arc::new(move |done| {
                    if let Ok(mut m) = seen.lock() {
                        m.insert(done.hash.clone(), done.pack_bytes + done.manifest_bytes);
                    }
                }),
            )));
            Some((location, archive))
        }
    };
    let bar = progress_bar(config.blocks(), label);
    let tick = |block: u64, _: u64| {
        if let Some(b) = &bar {
            b.set_position(block);
        }
    };
    let result = kernel_sim::run(config, &store, sources, &tick)
        .with_context(|| format!("simulation ({label}) on the store {}", path.display()));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    drop(store);
    if let (Some((location, archive)), Some((_, out)), Ok(result)) = (archive, archive_to, &result) {
        let steps = steps.lock().map(|m| m.clone()).unwrap_or_default();
        *out = Some(summarize_archive(location, &archive, result, &steps)?);
    }
    if let Some(t) = temp {
        if args.keep {
            let kept = t.keep();
            eprintln!("kernel-sim: kept the {label} store at {}", kept.join("store").display());
        } else {
            t.close().with_context(|| format!("removing the temporary store of {label}"))?;
        }
    }
    result
}

fn progress_bar(blocks: u64, label: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(blocks);
    let style = ProgressStyle::with_template("{prefix:>18} [{bar:40}] block {pos}/{len} {elapsed_precise}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    Some(bar)
}

fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

fn print_table(main: &Summary, base: Option<&Summary>) {
    let s = main;
    println!(
        "kernel-sim: workload {}, {} blocks, seed {}, grace {}, heap {}",
        s.workload, s.blocks, s.seed, s.grace, s.heap_source
    );
    println!();
    let head = |a: &str, b: &str| match base {
        Some(_) => println!("{:<28}{:>14}{:>14}", "", a, b),
        None => println!("{:<28}{:>14}", "", a),
    };
    head(if s.gc { "with gc" } else { "no gc" }, "no gc");
    let row = |name: &str, f: &dyn Fn(&Summary) -> String| match base {
        Some(b) => println!("{name:<28}{:>14}{:>14}", f(s), f(b)),
        None => println!("{name:<28}{:>14}", f(s)),
    };
    row("snapshots saved (dedup)", &|x| format!("{} ({})", x.snapshots_saved, x.snapshots_deduplicated));
    row("page-ins", &|x| x.page_ins.to_string());
    row("vats live / terminated", &|x| format!("{} / {}", x.vats_live, x.vats_terminated));
    row("blobs on disk", &|x| x.blobs.to_string());
    row("  of which live", &|x| x.live.to_string());
    row("stored bytes", &|x| human_bytes(x.stored_bytes));
    row("  of which live", &|x| human_bytes(x.live_stored_bytes));
    row("peak stored bytes", &|x| human_bytes(x.peak_stored_bytes));
    row("blobs swept", &|x| x.swept.to_string());
    row("gc ms/block p50/p99/max", &|x| {
        if x.gc { format!("{}/{}/{}", ms(x.gc_p50_us), ms(x.gc_p99_us), ms(x.gc_max_us)) } else { "-".into() }
    });
    row("gc backlog", &|x| {
        if !x.gc {
            "-".into()
        } else if x.backlog_falling_behind {
            format!("BEHIND, {} pending", x.backlog_pending)
        } else if x.backlog_behind_blocks > 0 {
            format!("caught up ({} blocks behind)", x.backlog_behind_blocks)
        } else {
            "keeping up".into()
        }
    });
    row("exports (snapshots read)", &|x| format!("{} ({})", x.exports, x.exported_snapshots));
    row("wall time", &|x| format!("{:.1} s", x.wall_ms as f64 / 1000.0));
    println!();
    if let Some(b) = base
        && s.stored_bytes > 0
    {
        println!(
            "Without gc the store holds {:.1}x the bytes ({} vs {}); with gc it holds {} more than the live set.",
            b.stored_bytes as f64 / s.stored_bytes as f64,
            human_bytes(b.stored_bytes),
            human_bytes(s.stored_bytes),
            human_bytes(s.stored_bytes.saturating_sub(s.live_stored_bytes)),
        );
    }
    println!(
        "Every page-in ({}) and every exported snapshot ({}) loaded and verified.",
        s.page_ins, s.exported_snapshots
    );
}

/// The archive after the run, and what the same history (each archived snapshot) costs as
/// the store's whole LZ4 blobs and as Agoric's whole gzip-6 files, cumulated per block.
fn summarize_archive(
    location: String,
    archive: &archive::Archive,
    result: &SimResult,
    steps: &HashMap<String, u64>,
) -> Result<ArchiveSummary> {
    let stats = archive.stats()?;
    let mut entries = archive.list()?;
    entries.sort_by_key(|e| (e.archived_epoch, e.hash.clone()));
    let mut a = ArchiveSummary {
        location,
        snapshots: stats.snapshots,
        raw_bytes: stats.raw_bytes,
        chunks: stats.chunks,
        stored_bytes: stats.stored_bytes,
        ..ArchiveSummary::default()
    };
    let (mut arch, mut lz4, mut gz) = (0u64, 0u64, 0u64);
    for e in &entries {
        let hash = swingstore::SnapshotHash::parse(&e.hash)?;
        let bytes = archive.get_bytes(&hash)?;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        enc.write_all(&bytes)?;
        gz += enc.finish()?.len() as u64;
        lz4 += result.blob_sizes.get(&hash).copied().unwrap_or(0);
        arch += steps.get(&e.hash).copied().unwrap_or(0);
        match a.series.points.last_mut() {
            Some(last) if last.0 == e.archived_epoch => *last = (e.archived_epoch, arch, lz4, gz),
            _ => a.series.points.push((e.archived_epoch, arch, lz4, gz)),
        }
    }
    a.whole_lz4_bytes = lz4;
    a.whole_gzip6_bytes = gz;
    Ok(a)
}

fn print_archive(a: &ArchiveSummary) {
    println!();
    println!("archive {}:", a.location);
    println!("{:<28}{:>14}", "snapshots archived", a.snapshots);
    println!("{:<28}{:>14}", "  raw bytes", human_bytes(a.raw_bytes));
    println!("{:<28}{:>14}", "  distinct chunks", a.chunks);
    println!("{:<28}{:>14}", "archive bytes", human_bytes(a.stored_bytes));
    println!("{:<28}{:>14}", "as whole LZ4 blobs", human_bytes(a.whole_lz4_bytes));
    println!("{:<28}{:>14}", "as whole gzip-6 files", human_bytes(a.whole_gzip6_bytes));
    if a.stored_bytes > 0 {
        println!(
            "The archive keeps this history in 1/{:.1} of the bytes of whole LZ4 blobs and 1/{:.1} of whole gzip-6 files.",
            a.whole_lz4_bytes as f64 / a.stored_bytes as f64,
            a.whole_gzip6_bytes as f64 / a.stored_bytes as f64
        );
    }
}
