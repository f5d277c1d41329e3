//! The check of one cut: reopen the store on the remounted image, check durability and that
//! nothing live is lost, settle, check that everything leaked is reclaimed (and the archive,
//! if the store has one); in a `__check` process of its own, with the store's environment.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use crashtest::check::{Settle, check_after_crash, check_clean, committed_roots, settle};
use crashtest::journal::{self as commit_log, Roots};
use swingstore::{OpenOptions, SwingStore};

use super::child::{describe, panic_or_tail, tail};
use super::options::{CHECK_SUBCOMMAND, Options, StoreEnv};
use super::{HarnessError, io};

/// A check that has not finished by then is killed and reported.
const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

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

/// Runs `__check` in a process of its own (the store's environment, sled's threads and any
/// panic stay there). `Ok(Err(text))` is a violation.
pub(super) fn check_in_process(
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
