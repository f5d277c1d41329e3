//! The `snapgc archive` command family (`archive_cmd`, so that `archive::` always means the
//! `archive` crate).
//!
//! `archive ls | get | stats | verify [--deep] | gc [--dry-run]`: the archive the store is
//! configured with (`config set --archive LOCATION`), and attaching it before a collection.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail};
use archive::{Archive, ArchiveGcOptions};
use serde::Serialize;
use swingstore::{SnapshotHash, SwingStore};

use super::output::{Dest, print_json, print_text, write_snapshot};
use crate::cli::exit;
use crate::human;

/// Before a collection: opens the configured archive and attaches it. If it cannot be opened
/// the collector keeps every blob that needs archiving and reports each (exit 2): history is
/// never deleted unarchived.
pub fn attach_or_warn(store: &SwingStore) {
    if let Err(e) = archive::attach(store) {
        eprintln!(
            "snapgc: warning: the archive cannot be opened ({e}); snapshots that need archiving are kept"
        );
    }
}

fn open(store: &SwingStore) -> Result<Arc<Archive>> {
    match archive::open_for(store)? {
        Some(archive) => Ok(archive),
        None => bail!("no archive is configured for this store (snapgc config set --archive LOCATION)"),
    }
}

pub fn ls(store: &SwingStore, json: bool) -> Result<u8> {
    // One damaged manifest does not hide the others: listed, then named on stderr (exit 1).
    let (entries, unreadable) = open(store)?.listing()?;
    if json {
        print_json(&entries)?;
    } else {
        let text: String = entries
            .iter()
            .map(|e| {
                format!(
                    "{}  {:>10}  {}@{}  archived at epoch {}\n",
                    e.hash,
                    human::bytes(e.raw_bytes),
                    e.root,
                    e.position,
                    e.archived_epoch
                )
            })
            .collect();
        print_text(&text)?;
    }
    for p in &unreadable {
        eprintln!("snapgc: archive manifest {} does not read: {}", p.item, p.problem);
    }
    Ok(if unreadable.is_empty() { exit::OK } else { exit::PROBLEMS })
}

#[derive(Serialize)]
struct Got {
    hash: String,
    file: String,
    raw_bytes: u64,
}

pub fn get(store: &SwingStore, hash: &SnapshotHash, output: Option<&Path>, json: bool) -> Result<u8> {
    let archive = open(store)?;
    let doing = format!("reading {hash} from the archive");
    let forbidden = super::protected_dirs(store);
    let dest = Dest { file: output, temp_prefix: ".snapgc-archive-get-", forbidden: &forbidden };
    let written =
        write_snapshot("archive get", hash, &doing, &dest, json, |out| Ok(archive.get_into(hash, out)?))?;
    if let (Some(raw_bytes), Some(output), true) = (written, output, json) {
        print_json(&Got { hash: hash.to_hex(), file: output.display().to_string(), raw_bytes })?;
    }
    Ok(exit::OK)
}

pub fn stats(store: &SwingStore, json: bool) -> Result<u8> {
    let st = open(store)?.stats()?;
    if json {
        print_json(&st)?;
        return Ok(exit::OK);
    }
    let row = |label: &str, value: String| format!("{label:<14} {value}\n");
    let ratio = if st.stored_bytes > 0 { st.raw_bytes as f64 / st.stored_bytes as f64 } else { 0.0 };
    let text = [
        row("snapshots", st.snapshots.to_string()),
        row("raw size", human::bytes(st.raw_bytes)),
        row("chunks", format!("{} ({} raw)", st.chunks, human::bytes(st.unique_raw_bytes))),
        row("stored size", format!("{} ({ratio:.1}:1)", human::bytes(st.stored_bytes))),
        row("packs", format!("{}, {}", st.packs, human::bytes(st.pack_bytes))),
        row("manifests", human::bytes(st.manifest_bytes)),
        row("unnamed", human::bytes(st.unnamed_bytes)),
    ]
    .concat();
    print_text(&text)?;
    Ok(exit::OK)
}

pub fn verify(store: &SwingStore, deep: bool, json: bool) -> Result<u8> {
    let report = open(store)?.verify(deep)?;
    if json {
        print_json(&report)?;
    } else {
        use std::fmt::Write as _;
        let mut s = String::new();
        let depth = if deep { "deep" } else { "shallow (layout only; --deep reassembles and re-hashes)" };
        let verdict = if report.ok { "ok" } else { "PROBLEMS FOUND" };
        let _ = writeln!(
            s,
            "archive verify: {verdict}, {} snapshots, {} packs, {depth}",
            report.snapshots, report.packs
        );
        for p in &report.problems {
            let _ = writeln!(s, "  {}  {}", p.item, p.problem);
        }
        print_text(&s)?;
    }
    if report.ok {
        Ok(exit::OK)
    } else {
        eprintln!("snapgc: archive verify found {} problem(s)", report.problems.len());
        Ok(exit::PROBLEMS)
    }
}

pub fn gc(store: &SwingStore, dry_run: bool, budget: Option<u64>, json: bool) -> Result<u8> {
    let archive = open(store)?;
    let keep_last = store.archive_config().map(|c| c.keep_last).unwrap_or(0);
    let report = archive.gc(&ArchiveGcOptions {
        epoch: store.epoch(),
        grace: store.config().grace,
        keep_last,
        budget,
        dry_run,
    })?;
    if json {
        print_json(&report)?;
    } else {
        use std::fmt::Write as _;
        let mut s = String::new();
        let mode = if dry_run { " (dry run: nothing changed)" } else { "" };
        let keep = if keep_last == 0 { "all".to_owned() } else { format!("last {keep_last} per root") };
        let _ =
            writeln!(s, "archive gc at epoch {}, grace {}, keep {keep}{mode}", report.epoch, report.grace);
        let _ =
            writeln!(s, "  {:<18} {} of {}", "manifests dropped", report.manifests_dropped, report.manifests);
        let _ = writeln!(s, "  {:<18} {}", "packs condemned", report.packs_condemned);
        let _ = writeln!(s, "  {:<18} {}", "packs in grace", report.packs_in_grace);
        let deleted = if dry_run { "packs to delete" } else { "packs deleted" };
        let _ =
            writeln!(s, "  {:<18} {}, {}", deleted, report.packs_deleted, human::bytes(report.bytes_deleted));
        let _ = writeln!(s, "  {:<18} {}", "dead in kept packs", human::bytes(report.dead_bytes));
        if report.pending > 0 {
            let _ = writeln!(
                s,
                "  {:<18} {} (budget reached; the next pass continues)",
                "pending", report.pending
            );
        }
        if !report.unreadable.is_empty() {
            let _ = writeln!(
                s,
                "  {:<18} {} (no pack is deleted while one is unreadable)",
                "unreadable",
                report.unreadable.len()
            );
        }
        print_text(&s)?;
    }
    for problem in &report.unreadable {
        eprintln!("snapgc: archive manifest {problem}");
    }
    Ok(if report.unreadable.is_empty() { exit::OK } else { exit::PROBLEMS })
}
