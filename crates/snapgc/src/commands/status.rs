//! `status`: how a store is doing, even while a kernel runs it. A running store writes
//! `status.json` itself (after its collections, at most about once a second); this reads that
//! file without taking the store's lock. A stopped store is opened read-only (its lock taken
//! shared, once: a kernel's open waits for it instead of failing; no recovery work, nothing
//! written) and its status computed.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use swingstore::{STATUS_FILE, StoreStatus, SwingStore};

use super::output::{print_json, print_text};
use crate::cli::exit;
use crate::human;

/// Where the figures come from.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
enum Source {
    /// Written by the process running the store.
    StatusFile,
    /// Computed now: the store was not in use.
    Computed,
}

#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    status: StoreStatus,
    source: Source,
    /// How long ago the figures were written.
    age_ms: u64,
    /// Whether the process that wrote them is still running.
    writer_alive: bool,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Whether process `pid` exists (Linux: `/proc/<pid>`).
fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

pub fn run(dir: &Path, json: bool) -> Result<u8> {
    let shown = match SwingStore::open_read_only(dir) {
        Ok(store) => {
            let status = store.status().context("computing the status")?;
            Shown { age_ms: 0, writer_alive: true, source: Source::Computed, status }
        }
        Err(swingstore::Error::InUse { .. }) => {
            let path = dir.join(STATUS_FILE);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    bail!("the store is in use and has written no status yet ({} absent)", path.display())
                }
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            };
            let status: StoreStatus = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} does not parse", path.display()))?;
            Shown {
                age_ms: now_ms().saturating_sub(status.updated_unix_ms),
                writer_alive: alive(status.pid),
                source: Source::StatusFile,
                status,
            }
        }
        Err(other) => return Err(other.into()),
    };
    if json {
        print_json(&shown)?;
    } else {
        print_text(&render(dir, &shown))?;
    }
    Ok(if shown.status.needs_attention() { exit::PROBLEMS } else { exit::OK })
}

fn render(dir: &Path, shown: &Shown) -> String {
    use std::fmt::Write as _;
    let s = &shown.status;
    let mut out = String::new();
    let origin = match shown.source {
        Source::Computed => "computed now: the store is not in use".to_owned(),
        Source::StatusFile => format!(
            "written by pid {} ({}), {} ago",
            s.pid,
            if shown.writer_alive { "running" } else { "NOT RUNNING" },
            human::micros(shown.age_ms.saturating_mul(1000))
        ),
    };
    let _ = writeln!(out, "status of {} ({origin})", dir.display());
    let row = |out: &mut String, label: &str, value: String| {
        let _ = writeln!(out, "  {label:<12} {value}");
    };
    row(&mut out, "epoch", s.epoch.to_string());
    row(&mut out, "roots", format!("{} (live snapshots {})", s.roots, s.live));
    row(
        &mut out,
        "blobs",
        format!("{}, {} (live {})", s.blobs, human::bytes(s.stored_bytes), human::bytes(s.live_bytes)),
    );
    row(
        &mut out,
        "garbage",
        format!(
            "{}, {}; pending {}",
            human::blobs(s.garbage_blobs),
            human::bytes(s.garbage_bytes),
            s.pending
        ),
    );
    let p = &s.last_pass;
    row(
        &mut out,
        "last pass",
        format!(
            "epoch {}: swept {}; kept grace {}, young {}, leased {}; {} errors; mark {}, sweep {}",
            p.epoch,
            human::blobs(p.swept),
            p.kept_grace,
            p.kept_young,
            p.kept_leased,
            p.errors.len(),
            human::micros(p.mark_us),
            human::micros(p.sweep_us)
        ),
    );
    let b = &s.backlog;
    let verdict = if b.falling_behind {
        "FALLING BEHIND".to_owned()
    } else if b.pending > 0 {
        match b.drain_epochs {
            Some(e) => format!("draining, ~{e} epochs to go"),
            None => "pending, not draining".to_owned(),
        }
    } else {
        "keeping up".to_owned()
    };
    row(
        &mut out,
        "backlog",
        format!(
            "{} passes over {} epochs: produced {}, reclaimed {}, growth {:+}; {verdict}",
            b.window_passes, b.window_epochs, b.produced_blobs, b.reclaimed_blobs, b.growth_blobs
        ),
    );
    row(
        &mut out,
        "totals",
        format!("{} passes, {} swept ({})", s.passes_total, s.swept_total, human::bytes(s.swept_bytes_total)),
    );
    let mut attention = Vec::new();
    if s.missing_live > 0 {
        attention.push(format!("{} LIVE SNAPSHOT(S) MISSING", s.missing_live));
    }
    if let Some(why) = &s.failed_closed {
        attention.push(format!("FAILED CLOSED: {why}"));
    }
    if let Some(why) = &s.last_error {
        attention.push(format!("last error: {why}"));
    }
    if s.errors > 0 {
        let archive = if s.archive_errors > 0 {
            format!(" ({} could not be archived)", s.archive_errors)
        } else {
            String::new()
        };
        attention.push(format!("LAST GC REPORTED {} ERROR(S){archive}", s.errors));
    }
    row(&mut out, "attention", if attention.is_empty() { "none".into() } else { attention.join("; ") });
    out
}
