//! The read-only views: `stats` (totals), `verify [--deep]` (problems, exit 1) and `ls` (every
//! known blob).

use std::io::{self, BufWriter, Write};

use anyhow::Result;
use swingstore::SwingStore;

use super::output::{print_json, print_text, with_progress};
use crate::cli::exit;
use crate::human;

pub fn stats(store: &SwingStore, json: bool) -> Result<u8> {
    let st = store.stats()?;
    if json {
        print_json(&st)?;
        return Ok(exit::OK);
    }
    let row = |label: &str, value: String| format!("{label:<14} {value}\n");
    let text = [
        row("epoch", st.epoch.to_string()),
        row("roots", st.roots.to_string()),
        row("live", st.live.to_string()),
        row("blobs", st.blobs.to_string()),
        row("raw size", human::bytes(st.raw_bytes)),
        row("stored size", human::bytes(st.stored_bytes)),
        row("garbage", format!("{}, {}", human::blobs(st.garbage), human::bytes(st.garbage_bytes))),
        row("live digest", st.live_digest.clone()),
    ]
    .concat();
    print_text(&text)?;
    Ok(exit::OK)
}

pub fn verify(store: &SwingStore, deep: bool, json: bool) -> Result<u8> {
    let report = with_progress("verifying", deep, |progress| store.verify(deep, progress))?;
    if json {
        print_json(&report)?;
    } else {
        use std::fmt::Write as _;
        let mut s = String::new();
        let depth = if deep { "deep" } else { "shallow (sizes only; --deep re-hashes)" };
        let verdict = if report.ok { "ok" } else { "PROBLEMS FOUND" };
        let _ = writeln!(s, "verify: {verdict}, {} checked, {depth}", human::blobs(report.checked));
        for (label, list) in [
            ("missing", &report.missing),
            ("corrupt", &report.corrupt),
            ("orphan", &report.orphans),
            ("bad root", &report.bad_roots),
        ] {
            for item in list {
                let _ = writeln!(s, "  {label:<9} {item}");
            }
        }
        print_text(&s)?;
    }
    if report.ok {
        return Ok(exit::OK);
    }
    let mut parts = Vec::new();
    for (label, n) in [
        ("missing", report.missing.len()),
        ("corrupt", report.corrupt.len()),
        ("orphans", report.orphans.len()),
        ("bad roots", report.bad_roots.len()),
    ] {
        if n > 0 {
            parts.push(format!("{n} {label}"));
        }
    }
    let first = report
        .missing
        .first()
        .map(|h| format!("missing {h}"))
        .or_else(|| report.corrupt.first().map(|h| format!("corrupt {h}")))
        .or_else(|| report.orphans.first().map(|f| format!("orphan {f}")))
        .or_else(|| report.bad_roots.first().map(|k| format!("bad root {k}")))
        .map(|first| human::shorten(&first))
        .unwrap_or_default();
    eprintln!(
        "snapgc: verify found problems in {}: {} (first: {first})",
        store.path().display(),
        parts.join(", ")
    );
    Ok(exit::PROBLEMS)
}

pub fn ls(store: &SwingStore, json: bool) -> Result<u8> {
    let blobs = store.list_blobs()?;
    if json {
        print_json(&blobs)?;
        return Ok(exit::OK);
    }
    let mut out = BufWriter::new(io::stdout().lock());
    writeln!(
        out,
        "{:<64}  {:<12}  {:>10}  {:>10}  {:>6}  {:>9}  roots",
        "hash", "state", "raw", "stored", "saved", "condemned"
    )?;
    for b in &blobs {
        let condemned = b.condemned_epoch.map(|e| e.to_string()).unwrap_or_else(|| "-".into());
        let roots = if b.roots.is_empty() { "-".to_owned() } else { b.roots.join(",") };
        writeln!(
            out,
            "{:<64}  {:<12}  {:>10}  {:>10}  {:>6}  {:>9}  {roots}",
            b.hash,
            b.state,
            human::bytes(b.raw_bytes),
            human::bytes(b.stored_bytes),
            b.saved_epoch,
            condemned
        )?;
    }
    out.flush()?;
    Ok(exit::OK)
}
