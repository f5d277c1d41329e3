//! One invocation: the heaps, the run (and the `--compare` baseline) each on its own store,
//! the archive wired to the store when asked, then the report.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use kernel_sim::heap::{self, HeapSource};
use kernel_sim::{SimConfig, SimResult, svg};
use swingstore::SwingStore;

use crate::cli::Args;
use crate::report::{ArchiveSummary, print_archive, print_table, summarize_archive};

/// Runs what `args` ask for, then prints (or writes) the report.
pub fn real_main(args: &Args) -> Result<()> {
    let sources: Vec<HeapSource> = match &args.heaps {
        Some(dir) => heap::from_dir(dir).with_context(|| format!("--heaps {}", dir.display()))?,
        None => vec![heap::embedded()?],
    };
    if let Some(limit) = args.heap_limit
        && limit < heap::MIN_HEAP
    {
        bail!("--heap-limit must be at least {} bytes", heap::MIN_HEAP);
    }
    let config = args.sim_config();
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
