//! The kill loop: run the workload in a child process, kill it (SIGKILL after a random delay,
//! or an abort at a random failpoint hit), reopen, check, settle, check clean; repeat.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use swingstore::{OpenOptions, SwingStore};

use crate::check::{Settle, check_after_crash, check_clean, committed_roots, settle};
use crate::journal::{self, LogWriter, Roots};
use crate::{ALL_POINTS, Rng};

pub struct Options {
    /// Kills to perform.
    pub kills: u64,
    pub seed: u64,
    /// The `crash-child` executable.
    pub child: PathBuf,
    /// Where stores are created.
    pub dir: PathBuf,
    /// Kills on one store before starting a fresh one.
    pub kills_per_store: u64,
    /// Print one line per kill.
    pub verbose: bool,
}

/// The figures of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub kills: u64,
    pub stores: u64,
    /// SIGKILL after a random delay.
    pub by_signal: u64,
    /// Aborted at a failpoint, per point.
    pub by_failpoint: BTreeMap<String, u64>,
    /// Commits the children logged as returned.
    pub commits_logged: u64,
    /// Reopened at the last logged commit.
    pub at_logged: u64,
    /// Reopened at the in-flight commit (durable, not yet logged).
    pub at_pending: u64,
    /// Roots whose blob was loaded and verified right after a crash.
    pub roots_verified: u64,
    /// Recovery work: blobs swept, temp files removed, orphans adopted.
    pub swept: u64,
    pub temp_removed: u64,
    pub orphans_adopted: u64,
    /// Settles by an offline pass / by commits with grace.
    pub settled_now: u64,
    pub settled_grace: u64,
    pub grace_passes: u64,
    pub elapsed: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fp: u64 = self.by_failpoint.values().sum();
        writeln!(
            f,
            "kills: {} ({} SIGKILL at a random time, {fp} at a failpoint) on {} stores",
            self.kills, self.by_signal, self.stores
        )?;
        for (p, n) in &self.by_failpoint {
            writeln!(f, "  {p}: {n}")?;
        }
        writeln!(f, "commits logged by the children: {}", self.commits_logged)?;
        writeln!(
            f,
            "reopened at the last logged commit: {}, at the in-flight commit: {}",
            self.at_logged, self.at_pending
        )?;
        writeln!(f, "roots loaded and verified right after a crash: {}", self.roots_verified)?;
        writeln!(
            f,
            "recovery: {} blobs swept, {} temp files removed, {} orphans adopted",
            self.swept, self.temp_removed, self.orphans_adopted
        )?;
        writeln!(
            f,
            "settled: {} by an offline pass, {} by commits with grace ({} commit+gc passes)",
            self.settled_now, self.settled_grace, self.grace_passes
        )?;
        write!(f, "violations: 0; elapsed {:.1} s", self.elapsed.as_secs_f64())
    }
}

/// How long a failpoint-armed child may run before it is killed anyway.
const FAILPOINT_TIMEOUT: Duration = Duration::from_secs(3);

enum Death {
    Signal,
    Failpoint,
}

fn wait_for(child: &mut std::process::Child, limit: Duration) -> Result<Option<ExitStatus>> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if start.elapsed() >= limit {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn unexpected(status: ExitStatus, stderr: &Path) -> anyhow::Error {
    let text = fs::read_to_string(stderr).unwrap_or_default();
    anyhow::anyhow!("the child exited on its own ({status}): {text}")
}

/// Runs the kill loop.
pub fn run(options: &Options) -> Result<Summary> {
    let started = Instant::now();
    let mut rng = Rng::new(options.seed);
    let mut summary = Summary::default();
    let log_path = options.dir.join("commits.log");
    let stderr_path = options.dir.join("child.stderr");
    let mut store_path = PathBuf::new();
    let mut state: (u64, Roots) = (0, Roots::new());
    let mut on_this_store = options.kills_per_store;

    while summary.kills < options.kills {
        if on_this_store >= options.kills_per_store {
            if store_path.exists() {
                fs::remove_dir_all(&store_path)
                    .with_context(|| format!("removing {}", store_path.display()))?;
            }
            store_path = options.dir.join(format!("store-{}", summary.stores));
            summary.stores += 1;
            state = (0, Roots::new());
            on_this_store = 0;
        }
        let child_seed = rng.next_u64();
        drop(LogWriter::create(&log_path, state.0, &state.1)?);

        let mut cmd = Command::new(&options.child);
        cmd.arg("workload").arg(&store_path).arg(&log_path).arg(child_seed.to_string());
        let armed = if rng.chance(50, 100) {
            let point = *rng.pick(&ALL_POINTS);
            let nth = rng.range(1, 12);
            cmd.arg(point).arg(nth.to_string());
            Some(point)
        } else {
            None
        };
        let stderr = fs::File::create(&stderr_path)?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", options.child.display()))?;

        let limit =
            if armed.is_some() { FAILPOINT_TIMEOUT } else { Duration::from_millis(rng.range(1, 400)) };
        let death = match wait_for(&mut child, limit)? {
            Some(status) if armed.is_some() && status.signal() == Some(libc_sigabrt()) => Death::Failpoint,
            Some(status) => return Err(unexpected(status, &stderr_path)),
            None => {
                child.kill()?; // SIGKILL
                let status = child.wait()?;
                if status.signal() != Some(9) && !status.success() {
                    return Err(unexpected(status, &stderr_path));
                }
                Death::Signal
            }
        };
        summary.kills += 1;
        on_this_store += 1;
        let how = match death {
            Death::Signal => {
                summary.by_signal += 1;
                "SIGKILL".to_owned()
            }
            Death::Failpoint => {
                let point = armed.unwrap_or("?");
                *summary.by_failpoint.entry(point.to_owned()).or_default() += 1;
                format!("abort at {point}")
            }
        };

        let entries = journal::read(&log_path)?;
        let expect = journal::expectations(&entries)?;
        summary.commits_logged += expect.commits_logged;
        let context = || {
            format!("kill {} ({how}, child seed {child_seed}, store {})", summary.kills, store_path.display())
        };
        if !store_path.join("kv").exists() {
            // Killed before the store was even created: nothing to check.
            summary.at_logged += 1;
            continue;
        }
        let store = SwingStore::open(&store_path, OpenOptions { create: false }).with_context(context)?;
        let after = check_after_crash(&store, &expect).with_context(context)?;
        if after.at_pending {
            summary.at_pending += 1;
        } else {
            summary.at_logged += 1;
        }
        summary.roots_verified += after.roots as u64;
        let mode = if rng.chance(50, 100) { Settle::Now } else { Settle::Grace };
        let settled = settle(&store, mode).with_context(context)?;
        check_clean(&store).with_context(context)?;
        match mode {
            Settle::Now => summary.settled_now += 1,
            Settle::Grace => {
                summary.settled_grace += 1;
                summary.grace_passes += settled.passes;
            }
        }
        summary.swept += settled.swept;
        summary.temp_removed += settled.temp_removed;
        summary.orphans_adopted += settled.orphans_adopted;
        state = (store.epoch(), committed_roots(&store)?);
        if options.verbose {
            eprintln!(
                "kill {:>5}: {how:<28} epoch {:>4} ({}), {} roots, recovery swept {} / temp {} / adopted {}",
                summary.kills,
                after.epoch,
                if after.at_pending { "in-flight" } else { "logged" },
                after.roots,
                settled.swept,
                settled.temp_removed,
                settled.orphans_adopted
            );
        }
        drop(store);
    }
    if store_path.exists() {
        fs::remove_dir_all(&store_path)?;
    }
    summary.elapsed = started.elapsed();
    if summary.kills != options.kills {
        bail!("performed {} kills, asked for {}", summary.kills, options.kills);
    }
    Ok(summary)
}

/// SIGABRT on Linux (and every other POSIX system we run on).
const fn libc_sigabrt() -> i32 {
    6
}
