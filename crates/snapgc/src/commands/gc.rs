//! `gc [--dry-run] [--grace N] [--now] [--budget N] [--scan]`: one collection, its JSON report
//! or its table (and in a dry run one line per blob).

use anyhow::Result;
use swingstore::{GcOptions, GcReport, SwingStore};

use super::output::{print_json, print_text, with_progress};
use crate::cli::{GcArgs, exit};
use crate::human;

pub fn run(store: &SwingStore, args: &GcArgs, json: bool) -> Result<u8> {
    let report = with_progress("sweeping", true, |progress| {
        store.gc_with(&GcOptions {
            grace: args.grace,
            budget: args.budget,
            dry_run: args.dry_run,
            now: args.now,
            // The library lists the blob area itself after an unclean shutdown; `--scan` forces it.
            scan: args.scan,
            progress,
        })
    })?;
    if json {
        print_json(&report)?;
    } else {
        print_text(&gc_table(&report, args))?;
    }
    for e in &report.errors {
        eprintln!("snapgc: gc could not handle {}: {}", e.item, e.error);
    }
    Ok(if report.errors.is_empty() { exit::OK } else { exit::ERROR })
}

fn gc_table(r: &GcReport, args: &GcArgs) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let mode = match (r.dry_run, args.now) {
        (true, true) => " (dry run of an offline --now pass: nothing changed)",
        (true, false) => " (dry run: nothing changed)",
        (false, true) => " (offline --now pass)",
        (false, false) => "",
    };
    let swept = if r.dry_run { "would sweep" } else { "swept" };
    let _ = writeln!(s, "gc at epoch {}, grace {}{mode}", r.epoch, r.grace);
    let _ = writeln!(s, "  {:<16} {}", "roots", r.roots);
    let _ = writeln!(s, "  {:<16} {}", "live", r.live);
    let _ = writeln!(s, "  {:<16} {}, {}", swept, human::blobs(r.swept), human::bytes(r.swept_bytes));
    let _ = writeln!(s, "  {:<16} {}", "kept (grace)", r.kept_grace);
    let _ = writeln!(s, "  {:<16} {}", "kept (young)", r.kept_young);
    let _ = writeln!(s, "  {:<16} {}", "kept (leased)", r.kept_leased);
    if r.pending > 0 {
        let _ = writeln!(s, "  {:<16} {} (budget reached; the next pass continues)", "pending", r.pending);
    }
    if r.orphans_adopted > 0 {
        let _ = writeln!(s, "  {:<16} {}", "orphans adopted", r.orphans_adopted);
    }
    if r.temp_removed > 0 {
        let _ = writeln!(s, "  {:<16} {}", "temp removed", r.temp_removed);
    }
    if !r.strays.is_empty() {
        let _ = writeln!(s, "  {:<16} {}", "strays", r.strays.join(", "));
    }
    if !r.errors.is_empty() {
        let _ = writeln!(s, "  {:<16} {}", "errors", r.errors.len());
    }
    let _ = writeln!(
        s,
        "  {:<16} mark {}, sweep {}",
        "time",
        human::micros(r.mark_us),
        human::micros(r.sweep_us)
    );
    if r.dry_run {
        for c in &r.candidates {
            let _ =
                writeln!(s, "would sweep  {}  {:>10}  {}", c.hash, human::bytes(c.stored_bytes), c.reason);
        }
        for k in &r.kept {
            let _ = writeln!(s, "keep         {}  {:>10}  {}", k.hash, "", k.reason);
        }
    }
    s
}
