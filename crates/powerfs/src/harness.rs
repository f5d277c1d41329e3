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

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use crashtest::Rng;
use crashtest::check::{Settle, check_after_crash, check_clean, committed_roots, settle};
use crashtest::log::{self as commit_log, LogWriter, Roots};
use swingstore::{OpenOptions, SwingStore};

use crate::configlog;
use crate::model::Image;
use crate::mount::{MountError, Mounted, mount};
use crate::reqlog::RequestLog;
use crate::state::lock;
use crate::trigger::Trigger;

/// The environment variable the library reads to skip one durability step.
pub const SKIP_SYNC_ENV: &str = "SWINGSTORE_SKIP_SYNC";
/// The environment variable that gives sled tiny log segments (a power of two; the same for
/// the life of a store, since sled records it: every process that opens the store gets it).
pub const SLED_SEGMENT_ENV: &str = "SWINGSTORE_SLED_SEGMENT_SIZE";
/// The hidden subcommand that runs the workload:
/// `<exe> __child <store> <log> <seed> <max_blocks> [config]` (`config`: change the collector
/// configuration first, see [`configlog`](crate::configlog)).
pub const CHILD_SUBCOMMAND: &str = "__child";
/// The hidden subcommand that checks a store after a cut: `<exe> __check <store> <log> <now|grace>`;
/// prints one [`Checked`] line, or the violation and exits non-zero.
pub const CHECK_SUBCOMMAND: &str = "__check";

/// A check that has not finished by then is killed and reported.
const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// A child that has not finished or been cut by then is killed and reported.
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Cuts to perform.
    pub cuts: u64,
    /// Seed of everything random (replay a run with the same seed).
    pub seed: u64,
    /// Tear unsynced pages at each cut.
    pub torn: bool,
    /// A durability step the children skip (`SWINGSTORE_SKIP_SYNC`).
    pub skip_sync: Option<String>,
    /// A line per cut.
    pub verbose: bool,
    /// The executable that runs the workload when called as `<exe> __child <store> <log> <seed>
    /// <max_blocks>` (the powerloss binary itself).
    pub child_exe: PathBuf,
    /// Scratch space on a real file system: the mount point, the commit log, child output.
    pub scratch: PathBuf,
    /// Where request logs of violating cuts are written (kept after the run).
    pub report_dir: PathBuf,
    /// Cuts on one store before a fresh one.
    pub cuts_per_store: u64,
    /// Blocks a child runs at most (each child draws 1..=this).
    pub max_blocks: u64,
    /// The sled segment sizes stores get.
    pub segments: Segments,
}

/// Which sled log segment size each store gets (`SWINGSTORE_SLED_SEGMENT_SIZE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segments {
    /// Half the stores sled's default, half a small power of two (8–64 KiB: segment reuse and
    /// large-value files within short runs). Below 8 KiB sled 0.34 itself breaks: at 1–2 KiB
    /// it panics on reopen even after a clean close ("cannot find pid in view_for_key"), and at
    /// 4 KiB its recovery once dropped a record it had fsynced; such sizes say nothing about
    /// the store.
    Mixed,
    /// Always sled's default.
    Default,
    /// Always this size.
    Fixed(u64),
}

impl Segments {
    /// `mixed`, `default` or a size in bytes (`POWERLOSS_SEGMENTS`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "mixed" => Some(Self::Mixed),
            "default" => Some(Self::Default),
            n => n.parse().ok().filter(|n: &u64| n.is_power_of_two()).map(Self::Fixed),
        }
    }

    fn draw(self, rng: &mut Rng) -> Option<u64> {
        match self {
            Self::Mixed => rng.chance(50, 100).then(|| 1 << rng.range(13, 16)),
            Self::Default => None,
            Self::Fixed(n) => Some(n),
        }
    }
}

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

/// (operation, path pattern, largest k): the requests pattern triggers count.
const PATTERNS: &[(&str, &str, u64)] = &[
    ("fsync", "*/kv/*", 6),
    ("fsync", "*/kv/db", 10),
    ("write", "*/kv/*", 40),
    ("fsync", "*/tmp/*", 10),
    ("write", "*/tmp/*", 30),
    ("rename", "*/snapshots/*", 10),
    ("fsyncdir", "*/snapshots", 6),
    ("unlink", "*/snapshots/*", 4),
    ("fsyncdir", "*", 8),
    ("create", "*", 20),
    ("mkdir", "*", 4),
    ("rename", "*/kv/*", 4),
    ("unlink", "*/kv/*", 4),
    ("setattr", "*/kv/*", 4),
    ("fsync", "*", 20),
];

/// The kind of a trigger, for the report.
fn kind(t: &Trigger) -> &'static str {
    match t {
        Trigger::AtRequest(_) => "request",
        Trigger::AtTime(_) => "time",
        Trigger::Before { .. } => "before",
        Trigger::After { .. } => "after",
        Trigger::AfterExit => "after-exit",
    }
}

struct Calibration {
    /// Requests of the last child that ran to the end.
    requests: u64,
    /// Its run time.
    time: Duration,
    known: bool,
}

fn draw_trigger(rng: &mut Rng, cal: &Calibration) -> Trigger {
    if !cal.known {
        return Trigger::AfterExit;
    }
    let roll = rng.below(100);
    if roll < 30 {
        Trigger::AtRequest(rng.range(1, cal.requests.max(1)))
    } else if roll < 42 {
        Trigger::AtTime(Duration::from_micros(rng.range(0, cal.time.as_micros().max(1) as u64)))
    } else if roll < 92 {
        let (op, pattern, most) = *rng.pick(PATTERNS);
        let nth = rng.range(1, most);
        let (op, pattern) = (op.to_owned(), pattern.to_owned());
        match rng.below(4) {
            0 | 1 => Trigger::Before { op, pattern, nth },
            2 => Trigger::After { op, pattern, nth, ack: true },
            _ => Trigger::After { op, pattern, nth, ack: false },
        }
    } else {
        Trigger::AfterExit
    }
}

/// How one child ended.
enum Ending {
    /// The file system froze (trigger or harness) and the child was killed.
    Cut,
    /// The child finished its blocks before any cut.
    Finished,
    /// The child failed on its own, before any cut.
    Failed(String),
    /// Neither finished nor cut in time.
    Hung,
}

fn wait_child(
    child: &mut Child,
    mounted: &Mounted,
    trigger: &Trigger,
) -> std::io::Result<(Ending, Duration)> {
    let start = Instant::now();
    loop {
        let exited = child.try_wait()?;
        let frozen = lock(mounted.shared()).frozen().is_some();
        if frozen {
            // Never let it go on: it must not see anything after the cut.
            let _ = child.kill();
            child.wait()?;
            return Ok((Ending::Cut, start.elapsed()));
        }
        if let Some(status) = exited {
            let elapsed = start.elapsed();
            return Ok((
                if status.success() { Ending::Finished } else { Ending::Failed(describe(status)) },
                elapsed,
            ));
        }
        if let Trigger::AtTime(at) = trigger
            && start.elapsed() >= *at
        {
            lock(mounted.shared()).freeze(format!("{trigger}"));
            continue;
        }
        if start.elapsed() >= CHILD_TIMEOUT {
            lock(mounted.shared()).freeze("the child hung");
            let _ = child.kill();
            child.wait()?;
            return Ok((Ending::Hung, start.elapsed()));
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (_, Some(sig)) => format!("signal {sig}"),
        _ => status.to_string(),
    }
}

fn tail(path: &Path, bytes: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(bytes);
    let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
    text[start..].trim().replace('\n', " | ")
}

/// The panic message in a process's stderr (the line after `panicked at`), else its tail.
fn panic_or_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    match text.find("panicked at") {
        Some(i) => text[i..].lines().take(2).collect::<Vec<_>>().join(": "),
        None => tail(path, 600),
    }
}

/// What the check of one cut found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The store's epoch after settling (the next child's starting state).
    pub epoch: u64,
    /// Its committed roots after settling.
    pub roots: Roots,
    /// The store was at the in-flight commit right after the cut.
    pub at_pending: bool,
    /// Roots loaded and verified right after the cut.
    pub roots_verified: u64,
    /// Commits the child logged as returned.
    pub commits_logged: u64,
}

impl Checked {
    /// `checked <epoch> <in flight 0|1> <verified> <commits> <key=hex,…|->`.
    pub fn to_line(&self) -> String {
        let roots = if self.roots.is_empty() {
            "-".to_owned()
        } else {
            self.roots.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
        };
        format!(
            "checked {} {} {} {} {roots}",
            self.epoch,
            u8::from(self.at_pending),
            self.roots_verified,
            self.commits_logged
        )
    }

    /// Parses [`to_line`](Self::to_line).
    pub fn from_line(line: &str) -> Option<Self> {
        let mut parts = line.strip_prefix("checked ")?.split(' ');
        let mut num = || parts.next().and_then(|p| p.parse::<u64>().ok());
        let (epoch, pending, roots_verified, commits_logged) = (num()?, num()?, num()?, num()?);
        let body = parts.next()?;
        let mut roots = Roots::new();
        if body != "-" {
            for pair in body.split(',') {
                let (k, v) = pair.split_once('=')?;
                roots.insert(k.to_owned(), v.to_owned());
            }
        }
        Some(Self { epoch, roots, at_pending: pending == 1, roots_verified, commits_logged })
    }
}

/// Settle modes by name (the `__check` argument).
pub fn settle_named(name: &str) -> Option<Settle> {
    match name {
        "now" => Some(Settle::Now),
        "grace" => Some(Settle::Grace),
        _ => None,
    }
}

fn settle_name(mode: Settle) -> &'static str {
    match mode {
        Settle::Now => "now",
        Settle::Grace => "grace",
    }
}

/// Reopens the store on the remounted image and checks it (see the module docs): what the
/// `__check` process runs, with the store's environment.
pub fn check_store(store_dir: &Path, log_path: &Path, mode: Settle) -> anyhow::Result<Checked> {
    crate::importlog::settle(store_dir, log_path).context("the import, right after the cut")?;
    let entries = commit_log::read(log_path)?;
    let expect = commit_log::expectations(&entries)?;
    // Only a child that never got past opening may leave no store behind.
    let may_be_absent = entries.len() == 1 && expect.committed.epoch == 0;
    let store = if may_be_absent {
        SwingStore::create(store_dir)
    } else {
        SwingStore::open(store_dir, OpenOptions { create: false })
    }
    .context("reopening the store after the cut")?;
    let after = check_after_crash(&store, &expect).context("right after the cut")?;
    crate::configlog::check(&store, log_path).context("right after the cut")?;
    let archive = archive::attach(&store).context("opening the store's archive after the cut")?;
    settle(&store, mode).with_context(|| format!("settling ({mode:?})"))?;
    check_clean(&store).with_context(|| format!("after settling ({mode:?})"))?;
    if let Some(archive) = &archive {
        check_archive(&store, archive).context("the archive after settling")?;
    }
    let checked = Checked {
        epoch: store.epoch(),
        roots: committed_roots(&store)?,
        at_pending: after.at_pending,
        roots_verified: after.roots as u64,
        commits_logged: expect.commits_logged,
    };
    drop(store);
    Ok(checked)
}

/// The archive directory of a store on the crash file system: beside it.
fn archive_dir(store_dir: &Path) -> PathBuf {
    store_dir.parent().unwrap_or(store_dir).join("archive")
}

/// For half the stores (by the first child's seed), configures a local archive on the crash
/// file system before the workload's first block. A store that exists already is left alone
/// (no extra open: the workload's own open after a kill stays the unclean one).
pub fn maybe_configure_archive(store_dir: &Path, seed: u64) -> anyhow::Result<()> {
    if seed % 2 == 1 || store_dir.exists() {
        return Ok(());
    }
    let store = SwingStore::create(store_dir).context("opening the store to configure its archive")?;
    if store.epoch() == 0 && store.archive_config().is_none() {
        let location = archive_dir(store_dir).display().to_string();
        store.set_archive_config(Some(swingstore::ArchiveConfig { location, keep_last: 0 }))?;
    }
    Ok(())
}

/// The workload's open hook: attaches the store's archive, if it has one.
pub fn attach_archive(store: &SwingStore) -> anyhow::Result<()> {
    archive::attach(store).context("attaching the archive")?;
    Ok(())
}

/// Nothing acknowledged is lost, leaks are reclaimed: every snapshot a committed root ever
/// named that the hot store no longer holds reads back, verified, from the archive; after an
/// offline archive gc no pack byte is unnamed and the archive verifies deeply.
fn check_archive(store: &SwingStore, archive: &archive::Archive) -> anyhow::Result<()> {
    let mut from_archive = 0;
    for used in store.root_history()? {
        if store.contains(&used.hash) {
            continue;
        }
        let bytes = archive.get_bytes(&used.hash).with_context(|| {
            format!(
                "{} named {} at {}, swept, but it is not in the archive",
                used.key, used.hash, used.position
            )
        })?;
        anyhow::ensure!(swingstore::SnapshotHash::of(&bytes) == used.hash, "archived bytes of {}", used.hash);
        from_archive += 1;
    }
    let report = archive.gc(&archive::ArchiveGcOptions {
        epoch: store.epoch(),
        grace: 0,
        keep_last: 0,
        budget: None,
        dry_run: false,
    })?;
    let stats = archive.stats()?;
    anyhow::ensure!(
        stats.unnamed_bytes == 0,
        "leaked pack bytes after an offline archive gc: {stats:?} ({report:?})"
    );
    let verify = archive.verify(true)?;
    anyhow::ensure!(verify.ok, "archive verify: {:?}", verify.problems);
    let _ = from_archive;
    Ok(())
}

/// The environment of every process that opens one store.
#[derive(Debug, Clone, Default)]
struct StoreEnv {
    skip_sync: Option<String>,
    segment_size: Option<u64>,
}

impl StoreEnv {
    fn apply(&self, cmd: &mut Command) {
        cmd.env_remove(SKIP_SYNC_ENV).env_remove(SLED_SEGMENT_ENV);
        if let Some(step) = &self.skip_sync {
            cmd.env(SKIP_SYNC_ENV, step);
        }
        if let Some(size) = self.segment_size {
            cmd.env(SLED_SEGMENT_ENV, size.to_string());
        }
    }
}

/// Runs `__check` in a process of its own (the store's environment, sled's threads and any
/// panic stay there). `Ok(Err(text))` is a violation.
fn check_in_process(
    options: &Options,
    env: &StoreEnv,
    store_dir: &Path,
    log_path: &Path,
    mode: Settle,
) -> Result<Result<Checked, String>, HarnessError> {
    let out_path = options.scratch.join("check.out");
    let err_path = options.scratch.join("check.stderr");
    let stdout = fs::File::create(&out_path).map_err(io("creating the check's output file"))?;
    let stderr = fs::File::create(&err_path).map_err(io("creating the check's stderr file"))?;
    let mut cmd = Command::new(&options.child_exe);
    cmd.arg(CHECK_SUBCOMMAND).arg(store_dir).arg(log_path).arg(settle_name(mode));
    env.apply(&mut cmd);
    let mut check = cmd
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(io(format!("starting {} {CHECK_SUBCOMMAND}", options.child_exe.display())))?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = check.try_wait().map_err(io("waiting for the check"))? {
            break status;
        }
        if start.elapsed() >= CHECK_TIMEOUT {
            let _ = check.kill();
            let _ = check.wait();
            return Ok(Err(format!(
                "the check did not finish in {CHECK_TIMEOUT:?}: {}",
                tail(&err_path, 600)
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let text = fs::read_to_string(&out_path).unwrap_or_default();
    let last = text.lines().last().unwrap_or_default();
    if status.success()
        && let Some(checked) = Checked::from_line(last)
    {
        return Ok(Ok(checked));
    }
    let said = text.trim().replace('\n', " | ");
    Ok(Err(match said.is_empty() {
        false => said,
        true => format!("the check failed ({}): {}", describe(status), panic_or_tail(&err_path)),
    }))
}

/// Runs the cut loop; prints each violation (and with `verbose` each cut) to `out` as it
/// happens.
pub fn run(options: &Options, out: &mut dyn Write) -> Result<Report, HarnessError> {
    let started = Instant::now();
    let mut rng = Rng::new(options.seed);
    let mut report = Report::default();
    let mnt = options.scratch.join("mnt");
    fs::create_dir_all(&mnt).map_err(io("creating the mount point"))?;
    let log_path = options.scratch.join("commits.log");
    let stderr_path = options.scratch.join("child.stderr");
    let store_dir = mnt.join("store");
    let mut mounted = Some(mount(&mnt, Image::empty())?);
    let mut cal = Calibration { requests: 0, time: Duration::ZERO, known: false };
    let mut state: (u64, Roots) = (0, Roots::new());
    let mut on_this_store = 0;
    // The last cut was a kill handed on unchecked: the log goes on, the next child opens what
    // the killed one left.
    let mut carried = false;
    let mut env =
        StoreEnv { skip_sync: options.skip_sync.clone(), segment_size: options.segments.draw(&mut rng) };
    report.stores = 1;

    for cut in 1..=options.cuts {
        let m = mounted.take().ok_or_else(|| HarnessError::Setup("not mounted".into()))?;
        let m = if on_this_store >= options.cuts_per_store {
            m.unmount()?;
            report.stores += 1;
            on_this_store = 0;
            state = (0, Roots::new());
            // Tiny sled segments reach segment reuse and large-value files in short runs.
            env.segment_size = options.segments.draw(&mut rng);
            mount(&mnt, Image::empty())?
        } else {
            m
        };
        on_this_store += 1;
        if !carried {
            drop(
                LogWriter::create(&log_path, state.0, &state.1)
                    .map_err(|e| HarnessError::Setup(format!("{e:#}")))?,
            );
        }

        let mut trigger = draw_trigger(&mut rng, &cal);
        if carried {
            // The restarted child's first commits: a cut right after one of its first fsyncs of
            // sled's log (the open syncs it once or twice, then each commit once), before a later
            // block's saves sync the blob area again.
            let nth = rng.range(2, 5);
            trigger = Trigger::After { op: "fsync".into(), pattern: "*/kv/db".into(), nth, ack: true };
        }
        let child_seed = rng.next_u64();
        let max_blocks = rng.range(1, options.max_blocks.max(1));
        // (Not for a child carried on from a kill: its first block is the clone above.)
        let change_config = !carried && rng.chance(25, 100);
        // The first child of a fresh store may build it by a state-sync import (importlog).
        let import = !carried && !change_config && on_this_store == 1 && rng.chance(30, 100);
        if import && cal.known && rng.chance(50, 100) {
            // Right after the import marker's removal, or right after the import returned.
            trigger = if rng.chance(50, 100) {
                Trigger::After {
                    op: "unlink".into(),
                    pattern: "*/IMPORT-INCOMPLETE".into(),
                    nth: 1,
                    ack: true,
                }
            } else {
                Trigger::Before {
                    op: "create".into(),
                    pattern: format!("*/{}", crate::importlog::MARKER),
                    nth: 1,
                }
            };
        }
        if change_config && cal.known && rng.chance(50, 100) {
            // Right after set_config returned (and was logged).
            let (op, pattern) = ("create".to_owned(), format!("*/{}", configlog::MARKER));
            trigger = if rng.chance(50, 100) {
                Trigger::Before { op, pattern, nth: 1 }
            } else {
                Trigger::After { op, pattern, nth: 1, ack: true }
            };
        }
        // A process kill without a power cut: the live state goes on (a later cut crashes it).
        let kill_only = cal.known && rng.chance(12, 100);
        let kill_after_rename = kill_only && rng.chance(50, 100);
        if kill_after_rename {
            // Killed right after a save renamed its blob into place, before any sync of it
            // (the blob the next process's unclean open must make durable: `open-blobs`).
            let nth = rng.range(1, 6);
            trigger = Trigger::After { op: "rename".into(), pattern: "*/snapshots/*".into(), nth, ack: true };
        }
        configlog::reset(&log_path, &mnt);
        crate::importlog::reset(&log_path, &mnt);
        let mut cmd = Command::new(&options.child_exe);
        cmd.arg(CHILD_SUBCOMMAND)
            .arg(&store_dir)
            .arg(&log_path)
            .arg(child_seed.to_string())
            .arg(max_blocks.to_string());
        if change_config {
            cmd.arg("config");
        } else if import {
            cmd.arg("import");
        }
        env.apply(&mut cmd);
        // Large kv values are chunked by the store, but with tiny sled segments even a node of
        // chunks goes to a sled value file (kv-blobs' work). sled does not make those safe
        // against a torn write-back (docs/CRASH-SAFETY.md), so only plain cuts use them there.
        cmd.env("CRASHTEST_BIG_VALUES", if env.segment_size.is_none() || !options.torn { "1" } else { "0" });
        let stderr = fs::File::create(&stderr_path).map_err(io("creating the child's stderr file"))?;
        {
            let mut st = lock(m.shared());
            st.log.note(format!(
                "cut {cut}: child seed {child_seed}, {max_blocks} blocks, sled segment size {:?}, skip-sync {:?}",
                env.segment_size, env.skip_sync
            ));
            st.arm(trigger.clone());
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(io(format!("starting {}", options.child_exe.display())))?;
        let (ending, elapsed) = wait_child(&mut child, &m, &trigger).map_err(io("waiting for the child"))?;
        let (counted, fired) = {
            let mut st = lock(m.shared());
            st.disarm();
            (st.counted(), st.frozen().map(|f| f.why.clone()))
        };
        report.requests += counted;
        let mut problem = match &ending {
            Ending::Failed(how) => {
                Some(format!("the child failed before any cut ({how}): {}", tail(&stderr_path, 600)))
            }
            Ending::Hung => Some(format!("the child neither finished nor was cut in {CHILD_TIMEOUT:?}")),
            Ending::Finished => {
                cal = Calibration { requests: counted, time: elapsed, known: true };
                None
            }
            Ending::Cut => None,
        };
        let fired_kind = match ending {
            _ if kill_only => "kill-only",
            Ending::Cut => kind(&trigger),
            _ => "after-exit",
        };
        *report.by_trigger.entry(fired_kind).or_default() += 1;
        let trigger_text = match &fired {
            Some(why) => why.clone(),
            None => Trigger::AfterExit.to_string(),
        };

        let (m, request_log) = if kill_only {
            let mut st = lock(m.shared());
            st.thaw();
            let log = st.log.clone();
            drop(st);
            (m, log)
        } else {
            // The power cut.
            let image = m.crash(if options.torn { Some(&mut rng) } else { None });
            let log: RequestLog = lock(m.shared()).log.clone();
            m.unmount()?;
            (mount(&mnt, image)?, log)
        };

        // A kill right after a rename goes straight on to the next child, unchecked, as a node
        // restarts on what its killed process left: that child's open is then the unclean one
        // (the check's own open and clean close would otherwise sync the blob area first:
        // `open-blobs`), and it is cut right after one of its first commits. The log goes on,
        // and that cut's check covers both children.
        // (Not an import killed part-way: only a re-run import, which the check does, takes
        // over what it left.)
        let carry = kill_after_rename
            && !import
            && matches!(ending, Ending::Cut)
            && problem.is_none()
            && cut < options.cuts
            && on_this_store < options.cuts_per_store;
        carried = carry;
        let mode = if rng.chance(50, 100) { Settle::Now } else { Settle::Grace };
        let keep = std::env::var_os("POWERLOSS_KEEP_STORES").is_some();
        if keep {
            // What the cut left, before the check touches it.
            let before = options.scratch.join("before-check");
            let _ = fs::remove_dir_all(&before);
            let _ = std::process::Command::new("cp").arg("-a").arg(&store_dir).arg(&before).status();
        }
        if problem.is_none() && !carry {
            match check_in_process(options, &env, &store_dir, &log_path, mode)? {
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
                    state = (checked.epoch, checked.roots);
                }
                Err(e) => problem = Some(e),
            }
        }
        report.cuts += 1;
        if let Some(error) = problem {
            let path = options.report_dir.join(format!("cut-{cut}.requests"));
            let mut log = request_log;
            log.note(format!("child stderr: {}", tail(&stderr_path, 2000)));
            log.note(format!("violation: {error}"));
            fs::create_dir_all(&options.report_dir).map_err(io("creating the report directory"))?;
            log.dump(&path).map_err(io(format!("writing {}", path.display())))?;
            // The store as the check found it (after a failed check of what the cut left, that
            // is the durable image itself), for a closer look: `POWERLOSS_KEEP_STORES=1`.
            if keep {
                let kept = options.report_dir.join(format!("cut-{cut}.store"));
                let _ = std::process::Command::new("cp").arg("-a").arg(&store_dir).arg(&kept).status();
                let before = options.report_dir.join(format!("cut-{cut}.before-check"));
                let from = options.scratch.join("before-check");
                let _ = std::process::Command::new("cp").arg("-a").arg(&from).arg(&before).status();
            }
            let v = Violation { cut, trigger: trigger_text, torn: options.torn, error, request_log: path };
            let _ = writeln!(out, "{}", v.line(options.seed));
            report.violations.push(v);
            // Nothing is known about that store any more: the next cut starts a fresh one.
            on_this_store = options.cuts_per_store;
        }
        lock(m.shared()).log.clear();
        mounted = Some(m);
    }
    if let Some(m) = mounted {
        m.unmount()?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

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
