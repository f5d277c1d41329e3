//! The cut loop: a child runs crashtest's kernel workload on a store on powerfs (its commit
//! log on a real file system); at a random moment the file system freezes and the child is
//! SIGKILLed; the durable image (torn with `--torn`) is mounted again and the store is
//! reopened and checked (in a `__check` process with the store's environment: the sled segment
//! size it was created with, the durability step a mutation run skips):
//!
//! 1. durability: the store is at the last commit the child saw return, or at the one in
//!    flight (`crashtest::check::check_after_crash`);
//! 2. nothing live lost: every committed root's blob loads and verifies (same check);
//! 3. crashes leak, never lose: settling (an offline pass, or commits with gc) reclaims every
//!    leftover (`crashtest::check::settle` + `check_clean`).
//!
//! A failure of any of them (or a store that does not open) is one [`Violation`]; the run
//! goes on with a fresh store. Several cuts hit one store (each child continues what the last
//! check left) before a fresh one.
//!
//! * `options`: how a run is set up, and the environment of the processes that open a store;
//! * `child`: what is drawn for each child, starting it, waiting for its end or its cut;
//! * `check`: the check of one cut, in a process of its own;
//! * this module: the loop, the power cut and the report.

mod check;
mod child;
mod options;

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crashtest::Rng;
use crashtest::check::Settle;
use crashtest::journal::{LogWriter, Roots};

pub use check::{Checked, attach_archive, check_store, maybe_configure_archive, settle_named};
pub use options::{CHECK_SUBCOMMAND, CHILD_SUBCOMMAND, Options, SKIP_SYNC_ENV, SLED_SEGMENT_ENV, Segments};

use crate::configlog;
use crate::model::Image;
use crate::mount::{MountError, Mounted, mount};
use crate::reqlog::RequestLog;
use crate::state::lock;
use child::{Calibration, Ending, Plan};
use options::StoreEnv;

/// One failed check.
#[derive(Debug, Clone)]
pub struct Violation {
    /// 1-based cut number.
    pub cut: u64,
    pub trigger: String,
    pub torn: bool,
    pub error: String,
    /// The request log of the cut.
    pub request_log: PathBuf,
}

impl Violation {
    /// The line printed for it.
    pub fn line(&self, seed: u64) -> String {
        format!(
            "violation: cut {} (seed {seed}, trigger {}, torn {}): {}; request log: {}",
            self.cut,
            self.trigger,
            self.torn,
            self.error,
            self.request_log.display()
        )
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub cuts: u64,
    pub violations: Vec<Violation>,
    pub stores: u64,
    /// Cuts by kind of trigger that actually fired (`after-exit` when the child finished first).
    pub by_trigger: std::collections::BTreeMap<&'static str, u64>,
    /// Commits the children logged as returned.
    pub commits_logged: u64,
    /// Reopened at the in-flight commit.
    pub at_pending: u64,
    /// Roots loaded and verified right after a cut.
    pub roots_verified: u64,
    /// FUSE requests the children made.
    pub requests: u64,
    pub elapsed: Duration,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<String> = self.by_trigger.iter().map(|(k, n)| format!("{k} {n}")).collect();
        write!(
            f,
            "powerloss: {} stores, cuts by trigger: {}; {} commits logged, {} reopened at the in-flight commit, \
             {} roots verified after a cut, {} FUSE requests; {:.1} s",
            self.stores,
            kinds.join(", "),
            self.commits_logged,
            self.at_pending,
            self.roots_verified,
            self.requests,
            self.elapsed.as_secs_f64()
        )
    }
}

/// A run could not go on (not a violation: the harness itself failed).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Setup(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}

/// Where a run keeps its files (in the scratch directory).
struct Paths {
    mnt: PathBuf,
    store_dir: PathBuf,
    log: PathBuf,
    child_stderr: PathBuf,
}

/// The store the next child works on: its environment, the state the last check left, how
/// many cuts it has had, and whether the last cut was a kill handed on unchecked (the log
/// goes on, the next child opens what the killed one left).
struct OnStore {
    env: StoreEnv,
    state: (u64, Roots),
    cuts: u64,
    carried: bool,
}

/// Runs the cut loop; prints each violation (and with `verbose` each cut) to `out` as it
/// happens.
pub fn run(options: &Options, out: &mut dyn Write) -> Result<Report, HarnessError> {
    let started = Instant::now();
    let mnt = options.scratch.join("mnt");
    fs::create_dir_all(&mnt).map_err(io("creating the mount point"))?;
    let paths = Paths {
        store_dir: mnt.join("store"),
        log: options.scratch.join("commits.log"),
        child_stderr: options.scratch.join("child.stderr"),
        mnt,
    };
    let mut mounted = Some(mount(&paths.mnt, Image::empty())?);
    let mut c = Cutter {
        options,
        paths,
        rng: Rng::new(options.seed),
        cal: Calibration::default(),
        report: Report { stores: 1, ..Report::default() },
        out,
    };
    let env =
        StoreEnv { skip_sync: options.skip_sync.clone(), segment_size: options.segments.draw(&mut c.rng) };
    let mut store = OnStore { env, state: (0, Roots::new()), cuts: 0, carried: false };
    for cut in 1..=options.cuts {
        let m = mounted.take().ok_or_else(|| HarnessError::Setup("not mounted".into()))?;
        let m = if store.cuts >= options.cuts_per_store {
            m.unmount()?;
            c.report.stores += 1;
            // Tiny sled segments reach segment reuse and large-value files in short runs.
            let env = StoreEnv { segment_size: options.segments.draw(&mut c.rng), ..store.env };
            store = OnStore { env, state: (0, Roots::new()), cuts: 0, carried: false };
            mount(&c.paths.mnt, Image::empty())?
        } else {
            m
        };
        mounted = Some(c.one_cut(cut, m, &mut store)?);
    }
    if let Some(m) = mounted {
        m.unmount()?;
    }
    let mut report = c.report;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// What the loop carries from cut to cut.
struct Cutter<'a> {
    options: &'a Options,
    paths: Paths,
    rng: Rng,
    cal: Calibration,
    report: Report,
    out: &'a mut dyn Write,
}

impl Cutter<'_> {
    /// One cut: a child, its cut (or its end), the power cut, the check; a violation is recorded
    /// and makes the next cut start a fresh store. Returns the file system for the next cut.
    fn one_cut(&mut self, cut: u64, m: Mounted, store: &mut OnStore) -> Result<Mounted, HarnessError> {
        let Self { options, paths, rng, cal, report, out } = self;
        let options: &Options = options;
        store.cuts += 1;
        if !store.carried {
            drop(
                LogWriter::create(&paths.log, store.state.0, &store.state.1)
                    .map_err(|e| HarnessError::Setup(format!("{e:#}")))?,
            );
        }
        let plan = child::plan(rng, cal, store.carried, store.cuts == 1, options.max_blocks);
        configlog::reset(&paths.log, &paths.mnt);
        crate::importlog::reset(&paths.log, &paths.mnt);
        {
            let mut st = lock(m.shared());
            st.log.note(format!(
                "cut {cut}: child seed {}, {} blocks, sled segment size {:?}, skip-sync {:?}",
                plan.seed, plan.max_blocks, store.env.segment_size, store.env.skip_sync
            ));
            st.arm(plan.trigger.clone());
        }
        let mut running =
            child::spawn(options, &store.env, &plan, &paths.store_dir, &paths.log, &paths.child_stderr)?;
        let (ending, elapsed) =
            child::wait_child(&mut running, &m, &plan.trigger).map_err(io("waiting for the child"))?;
        let (counted, fired) = {
            let mut st = lock(m.shared());
            st.disarm();
            (st.counted(), st.frozen().map(|f| f.why.clone()))
        };
        report.requests += counted;
        let mut problem = ending.problem(&paths.child_stderr);
        if matches!(ending, Ending::Finished) {
            *cal = Calibration { requests: counted, time: elapsed, known: true };
        }
        let fired_kind = match ending {
            _ if plan.kill_only => "kill-only",
            Ending::Cut => child::kind(&plan.trigger),
            _ => "after-exit",
        };
        *report.by_trigger.entry(fired_kind).or_default() += 1;
        let trigger_text = fired.unwrap_or_else(|| crate::trigger::Trigger::AfterExit.to_string());
        let (m, request_log) = power_cut(m, &plan, options.torn, rng, &paths.mnt)?;

        // A kill right after a rename goes straight on to the next child, unchecked, as a node
        // restarts on what its killed process left: that child's open is then the unclean one
        // (the check's own open and clean close would otherwise sync the blob area first:
        // `open-blobs`), and it is cut right after one of its first commits. The log goes on,
        // and that cut's check covers both children.
        // (Not an import killed part-way: only a re-run import, which the check does, takes
        // over what it left.)
        store.carried = plan.kill_after_rename
            && !plan.import
            && matches!(ending, Ending::Cut)
            && problem.is_none()
            && cut < options.cuts
            && store.cuts < options.cuts_per_store;
        let mode = if rng.chance(50, 100) { Settle::Now } else { Settle::Grace };
        let keep = std::env::var_os("POWERLOSS_KEEP_STORES").is_some();
        if keep {
            // What the cut left, before the check touches it.
            let before = options.scratch.join("before-check");
            let _ = fs::remove_dir_all(&before);
            copy_tree(&paths.store_dir, &before);
        }
        if problem.is_none() && !store.carried {
            match check::check_in_process(options, &store.env, &paths.store_dir, &paths.log, mode)? {
                Ok(checked) => {
                    report.commits_logged += checked.commits_logged;
                    report.roots_verified += checked.roots_verified;
                    report.at_pending += u64::from(checked.at_pending);
                    if options.verbose {
                        let _ = writeln!(
                            out,
                            "cut {cut:>5}: {trigger_text} after {counted} requests ({:.0} ms); epoch {} ({}), {} roots",
                            elapsed.as_secs_f64() * 1e3,
                            checked.epoch,
                            if checked.at_pending { "in flight" } else { "logged" },
                            checked.roots.len()
                        );
                    }
                    store.state = (checked.epoch, checked.roots);
                }
                Err(e) => problem = Some(e),
            }
        }
        report.cuts += 1;
        if let Some(error) = problem {
            let v = violation(options, paths, cut, trigger_text, error, request_log, keep)?;
            let _ = writeln!(out, "{}", v.line(options.seed));
            report.violations.push(v);
            // Nothing is known about that store any more: the next cut starts a fresh one.
            store.cuts = options.cuts_per_store;
        }
        lock(m.shared()).log.clear();
        Ok(m)
    }
}

/// The cut itself: a kill only (the file system thaws and goes on), or the power cut (the
/// durable image, torn with `torn`, mounted again). Returns the file system and the request
/// log of the cut.
fn power_cut(
    m: Mounted,
    plan: &Plan,
    torn: bool,
    rng: &mut Rng,
    mnt: &Path,
) -> Result<(Mounted, RequestLog), HarnessError> {
    if plan.kill_only {
        let mut st = lock(m.shared());
        st.thaw();
        let log = st.log.clone();
        drop(st);
        return Ok((m, log));
    }
    let image = m.crash(if torn { Some(rng) } else { None });
    let log: RequestLog = lock(m.shared()).log.clone();
    m.unmount()?;
    Ok((mount(mnt, image)?, log))
}

/// Records a violation: the request log (with the child's stderr) in the report directory,
/// and with `keep` the store as the check found it and as the cut left it.
fn violation(
    options: &Options,
    paths: &Paths,
    cut: u64,
    trigger: String,
    error: String,
    mut log: RequestLog,
    keep: bool,
) -> Result<Violation, HarnessError> {
    let path = options.report_dir.join(format!("cut-{cut}.requests"));
    log.note(format!("child stderr: {}", child::tail(&paths.child_stderr, 2000)));
    log.note(format!("violation: {error}"));
    fs::create_dir_all(&options.report_dir).map_err(io("creating the report directory"))?;
    log.dump(&path).map_err(io(format!("writing {}", path.display())))?;
    // The store as the check found it (after a failed check of what the cut left, that is the
    // durable image itself), for a closer look: `POWERLOSS_KEEP_STORES=1`.
    if keep {
        copy_tree(&paths.store_dir, &options.report_dir.join(format!("cut-{cut}.store")));
        copy_tree(
            &options.scratch.join("before-check"),
            &options.report_dir.join(format!("cut-{cut}.before-check")),
        );
    }
    Ok(Violation { cut, trigger, torn: options.torn, error, request_log: path })
}

/// `cp -a FROM TO`, best effort (a debugging aid).
fn copy_tree(from: &Path, to: &Path) {
    let _ = std::process::Command::new("cp").arg("-a").arg(from).arg(to).status();
}

#[cfg(test)]
mod tests {
    use super::child::{draw_trigger, kind};
    use super::*;
    use crate::trigger::Trigger;
    #[test]
    fn a_checked_line_round_trips() {
        let mut roots = Roots::new();
        for checked in [
            Checked {
                epoch: 0,
                roots: roots.clone(),
                at_pending: false,
                roots_verified: 0,
                commits_logged: 0,
            },
            {
                roots.insert("v1.lastSnapshot".into(), "ab".repeat(32));
                roots.insert("v7.lastSnapshot".into(), "cd".repeat(32));
                Checked { epoch: 42, roots, at_pending: true, roots_verified: 2, commits_logged: 9 }
            },
        ] {
            assert_eq!(Checked::from_line(&checked.to_line()), Some(checked));
        }
        assert_eq!(Checked::from_line("checked 1 0 0"), None);
        assert_eq!(Checked::from_line("reopening the store after the cut: no store"), None);
    }

    #[test]
    fn without_calibration_the_first_cut_runs_the_child_to_the_end() {
        let mut rng = Rng::new(1);
        let cal = Calibration { requests: 0, time: Duration::ZERO, known: false };
        assert_eq!(draw_trigger(&mut rng, &cal), Trigger::AfterExit);
        let cal = Calibration { requests: 500, time: Duration::from_millis(80), known: true };
        let kinds: std::collections::BTreeSet<&str> =
            (0..400).map(|_| kind(&draw_trigger(&mut rng, &cal))).collect();
        assert_eq!(kinds.len(), 5, "{kinds:?}");
    }
}
