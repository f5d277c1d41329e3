//! The child of one cut: what is drawn for it (trigger, seed, blocks, a config change, a kill
//! without a power cut), starting it with the store's environment, and waiting for it to
//! finish or be cut.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crashtest::Rng;

use super::options::{CHILD_SUBCOMMAND, Options, StoreEnv};
use super::{HarnessError, io};
use crate::configlog;
use crate::mount::Mounted;
use crate::state::lock;
use crate::trigger::Trigger;

/// A child that has not finished or been cut by then is killed and reported.
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);

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
pub(super) fn kind(t: &Trigger) -> &'static str {
    match t {
        Trigger::AtRequest(_) => "request",
        Trigger::AtTime(_) => "time",
        Trigger::Before { .. } => "before",
        Trigger::After { .. } => "after",
        Trigger::AfterExit => "after-exit",
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Calibration {
    /// Requests of the last child that ran to the end.
    pub requests: u64,
    /// Its run time.
    pub time: Duration,
    pub known: bool,
}

pub(super) fn draw_trigger(rng: &mut Rng, cal: &Calibration) -> Trigger {
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
pub(super) enum Ending {
    /// The file system froze (trigger or harness) and the child was killed.
    Cut,
    /// The child finished its blocks before any cut.
    Finished,
    /// The child failed on its own, before any cut.
    Failed(String),
    /// Neither finished nor cut in time.
    Hung,
}

pub(super) fn wait_child(
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

pub(super) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (_, Some(sig)) => format!("signal {sig}"),
        _ => status.to_string(),
    }
}

pub(super) fn tail(path: &Path, bytes: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(bytes);
    let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
    text[start..].trim().replace('\n', " | ")
}

/// The panic message in a process's stderr (the line after `panicked at`), else its tail.
pub(super) fn panic_or_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    match text.find("panicked at") {
        Some(i) => text[i..].lines().take(2).collect::<Vec<_>>().join(": "),
        None => tail(path, 600),
    }
}

/// What is drawn for one child.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub trigger: Trigger,
    pub seed: u64,
    pub max_blocks: u64,
    /// The child changes the collector configuration first ([`configlog`]).
    pub change_config: bool,
    /// The first child of a fresh store builds it by a state-sync import ([`crate::importlog`]).
    pub import: bool,
    /// A process kill without a power cut: the live state goes on (a later cut crashes it).
    pub kill_only: bool,
    /// A kill right after a save renamed its blob into place, before any sync of it.
    pub kill_after_rename: bool,
}

/// Draws the next child. `carried`: the last cut was a kill handed on unchecked, so this
/// child's open is the unclean one and it is cut right after one of its first commits.
pub(super) fn plan(
    rng: &mut Rng,
    cal: &Calibration,
    carried: bool,
    first_on_store: bool,
    max_blocks: u64,
) -> Plan {
    let mut trigger = draw_trigger(rng, cal);
    if carried {
        // The restarted child's first commits: a cut right after one of its first fsyncs of
        // sled's log (the open syncs it once or twice, then each commit once), before a later
        // block's saves sync the blob area again.
        let nth = rng.range(2, 5);
        trigger = Trigger::After { op: "fsync".into(), pattern: "*/kv/db".into(), nth, ack: true };
    }
    let seed = rng.next_u64();
    let max_blocks = rng.range(1, max_blocks.max(1));
    // (Not for a child carried on from a kill: its first block is the clone above.)
    let change_config = !carried && rng.chance(25, 100);
    // The first child of a fresh store may build it by a state-sync import (importlog).
    let import = !carried && !change_config && first_on_store && rng.chance(30, 100);
    if import && cal.known && rng.chance(50, 100) {
        // Right after the import marker's removal, or right after the import returned.
        trigger = if rng.chance(50, 100) {
            Trigger::After { op: "unlink".into(), pattern: "*/IMPORT-INCOMPLETE".into(), nth: 1, ack: true }
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
    let kill_only = cal.known && rng.chance(12, 100);
    let kill_after_rename = kill_only && rng.chance(50, 100);
    if kill_after_rename {
        // Killed right after a save renamed its blob into place, before any sync of it
        // (the blob the next process's unclean open must make durable: `open-blobs`).
        let nth = rng.range(1, 6);
        trigger = Trigger::After { op: "rename".into(), pattern: "*/snapshots/*".into(), nth, ack: true };
    }
    Plan { trigger, seed, max_blocks, change_config, import, kill_only, kill_after_rename }
}

/// Starts the child of `plan` (`<exe> __child <store> <log> <seed> <max_blocks> [config|import]`),
/// its stderr to `stderr_path`.
pub(super) fn spawn(
    options: &Options,
    env: &StoreEnv,
    plan: &Plan,
    store_dir: &Path,
    log_path: &Path,
    stderr_path: &Path,
) -> Result<Child, HarnessError> {
    let mut cmd = Command::new(&options.child_exe);
    cmd.arg(CHILD_SUBCOMMAND)
        .arg(store_dir)
        .arg(log_path)
        .arg(plan.seed.to_string())
        .arg(plan.max_blocks.to_string());
    if plan.change_config {
        cmd.arg("config");
    } else if plan.import {
        cmd.arg("import");
    }
    env.apply(&mut cmd);
    // Large kv values are chunked by the store, but with tiny sled segments even a node of
    // chunks goes to a sled value file (kv-blobs' work). sled does not make those safe
    // against a torn write-back (docs/CRASH-SAFETY.md), so only plain cuts use them there.
    cmd.env("CRASHTEST_BIG_VALUES", if env.segment_size.is_none() || !options.torn { "1" } else { "0" });
    let stderr = fs::File::create(stderr_path).map_err(io("creating the child's stderr file"))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(io(format!("starting {}", options.child_exe.display())))
}

impl Ending {
    /// What went wrong before any cut, if anything.
    pub(super) fn problem(&self, stderr_path: &Path) -> Option<String> {
        match self {
            Ending::Failed(how) => {
                Some(format!("the child failed before any cut ({how}): {}", tail(stderr_path, 600)))
            }
            Ending::Hung => Some(format!("the child neither finished nor was cut in {CHILD_TIMEOUT:?}")),
            Ending::Finished | Ending::Cut => None,
        }
    }
}
