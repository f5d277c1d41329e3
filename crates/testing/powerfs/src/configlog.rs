//! A child's collector-configuration change and its side log, so that a cut can check that a
//! `set_config` that returned is durable (crashtest's workload never changes the configuration).
//!
//! Before the workload, some children change the grace and toggle an extra root pattern that
//! matches no key (so nothing is un-rooted). The side log (`<commit log>.config`, on the real
//! file system like the commit log, each line fsynced) says:
//!
//! ```text
//! B <config before>
//! P <config asked for>
//! C <config asked for>      (set_config returned)
//! ```
//!
//! Then the child creates `<mount>/config-returned`, a marker on the crash file system that the
//! harness can cut right at (`create */config-returned`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use crashtest::Rng;
use swingstore::{GcConfig, SwingStore};

/// The marker file a child creates next to the store once `set_config` returned.
pub const MARKER: &str = "config-returned";

/// An extra root pattern that no key of the workload matches.
const EXTRA_PATTERN: &str = "x*.lastSnapshot";

/// The side log of the commit log at `log`.
pub fn path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".config");
    PathBuf::from(name)
}

/// One configuration, as logged.
fn text(config: &GcConfig) -> String {
    format!("grace={} patterns={}", config.grace, config.root_patterns.join(";"))
}

fn line(file: &mut File, tag: char, config: &GcConfig) -> Result<()> {
    file.write_all(format!("{tag} {}\n", text(config)).as_bytes()).context("writing the config log")?;
    file.sync_data().context("fsyncing the config log")
}

/// The change a child makes: a new grace (1–3), and the extra pattern toggled.
pub fn change(store: &Path, log: &Path, rng: &mut Rng) -> Result<()> {
    let mut side = OpenOptions::new().create(true).append(true).open(path(log)).context("the config log")?;
    let handle = SwingStore::create(store).context("opening the store to change its configuration")?;
    let before = handle.config();
    let mut after = before.clone();
    after.grace = rng.range(1, 3);
    if let Some(i) = after.root_patterns.iter().position(|p| p == EXTRA_PATTERN) {
        after.root_patterns.remove(i);
    } else {
        after.root_patterns.push(EXTRA_PATTERN.to_owned());
    }
    line(&mut side, 'B', &before)?;
    line(&mut side, 'P', &after)?;
    handle.set_config(after.clone()).context("set_config")?;
    line(&mut side, 'C', &after)?;
    if let Some(parent) = store.parent() {
        std::fs::write(parent.join(MARKER), b"").context("the config marker")?;
    }
    drop(handle);
    Ok(())
}

/// The store's configuration is the one a returned `set_config` asked for, or (when the call
/// was in flight) the one before or the one asked for.
pub fn check(store: &SwingStore, log: &Path) -> Result<()> {
    let text_now = text(&store.config());
    let side = match std::fs::read_to_string(path(log)) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).context("reading the config log"),
    };
    let complete = &side[..side.rfind('\n').map_or(0, |i| i + 1)];
    let entry = |tag: &str| complete.lines().rev().find_map(|l| l.strip_prefix(tag)).map(str::to_owned);
    match (entry("C "), entry("P "), entry("B ")) {
        (Some(done), _, _) if done != text_now => {
            bail!("set_config returned ({done}) but the store's configuration is {text_now}")
        }
        (None, Some(asked), Some(before)) if text_now != asked && text_now != before => {
            bail!("configuration {text_now} after a set_config in flight from {before} to {asked}")
        }
        _ => Ok(()),
    }
}

/// Clears the side log and the marker before the next child.
pub fn reset(log: &Path, mount: &Path) {
    let _ = std::fs::remove_file(path(log));
    let _ = std::fs::remove_file(mount.join(MARKER));
}
