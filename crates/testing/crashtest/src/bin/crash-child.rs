//! The child process of the crash tests. It runs until it is killed (or crashes itself at an
//! armed failpoint).
//!
//! ```text
//! crash-child workload <store> <log> <seed> [<failpoint> <nth-hit>]
//! crash-child scenario <store> <log> <failpoint>
//! crash-child commit-fail-then-gc <store> <log>
//! crash-child import <store> <log> <export-dir> <failpoint> <nth-hit>
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use crashtest::journal::{LogWriter, Roots};
use crashtest::scenario;
use crashtest::{point_named, workload};
use swingstore::failpoint::{self, Action, points};
use swingstore::{GcOptions, SwingStore};

fn arg(args: &[String], i: usize, what: &str) -> Result<String> {
    args.get(i).cloned().with_context(|| format!("missing argument: {what}"))
}

fn point(name: &str) -> Result<&'static str> {
    point_named(name).with_context(|| format!("unknown failpoint {name:?}"))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = arg(&args, 0, "mode")?;
    let store = PathBuf::from(arg(&args, 1, "store")?);
    let log = PathBuf::from(arg(&args, 2, "log")?);
    match mode.as_str() {
        "workload" => {
            let seed = arg(&args, 3, "seed")?.parse().context("seed")?;
            let crash_at = match args.get(4) {
                Some(name) => Some((point(name)?, arg(&args, 5, "nth hit")?.parse().context("nth")?)),
                None => None,
            };
            workload::run(&workload::Options { store, log, seed, crash_at, max_blocks: 1_000_000 })
        }
        "scenario" => {
            let target = point(&arg(&args, 3, "failpoint")?)?;
            let store = SwingStore::create(&store)?;
            let mut log = LogWriter::create(&log, 0, &Roots::new())?;
            scenario::run(&store, Some(&mut log), |phase| {
                if phase == scenario::phase_of(target) {
                    failpoint::set(target, Action::Crash);
                }
            })?;
            bail!("the scenario finished without reaching {target}")
        }
        "commit-fail-then-gc" => {
            // A commit whose sync fails, then a collection, then a crash: the failed sync
            // poisons the handle, so the collection must refuse instead of acting on state that
            // the crash could roll back.
            let store = SwingStore::create(&store)?;
            let mut log = LogWriter::create(&log, 0, &Roots::new())?;
            let h = scenario::setup(&store, Some(&mut log))?;
            scenario::step_garbage(&store)?;
            scenario::step_save(&store, &h)?;
            failpoint::set(points::COMMIT_BEFORE_SYNC, Action::Fail);
            if scenario::step_commit(&store, Some(&mut log), &h).is_ok() {
                bail!("the commit should have failed");
            }
            failpoint::clear_all();
            // Crash as soon as a collection has unlinked A1, before anything else happens.
            let a1 = store.path().join("snapshots").join(format!("{}.lz4", h.a1));
            failpoint::set(
                points::SWEEP_AFTER_UNLINK,
                Action::Call(Arc::new(move || {
                    if !a1.exists() {
                        std::process::abort();
                    }
                })),
            );
            match store.gc_with(&GcOptions { grace: Some(0), ..GcOptions::default() }) {
                Err(swingstore::Error::Poisoned { .. }) => eprintln!("gc after the failed commit: refused"),
                other => bail!("gc after a failed commit sync must be refused as poisoned, got {other:?}"),
            }
            std::process::abort()
        }
        "import" => {
            // A state-sync import of <export-dir> into <store> (default options), aborted at
            // the nth hit of an import failpoint.
            let export = PathBuf::from(arg(&args, 3, "export dir")?);
            let target = point(&arg(&args, 4, "failpoint")?)?;
            let nth: u64 = arg(&args, 5, "nth hit")?.parse().context("nth")?;
            let hits = std::sync::atomic::AtomicU64::new(0);
            failpoint::set(
                target,
                Action::Call(Arc::new(move || {
                    if hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == nth {
                        std::process::abort();
                    }
                })),
            );
            swingstore::import_from_dir(&store, &export, &swingstore::ImportOptions::default())?;
            bail!("the import finished without reaching hit {nth} of {target}")
        }
        other => bail!("unknown mode {other:?}"),
    }
}
