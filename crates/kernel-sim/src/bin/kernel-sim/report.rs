//! What a run prints: the summary table (main run beside the baseline), and the archive's
//! summary against the same history as whole LZ4 blobs and whole gzip-6 files.

use std::collections::HashMap;
use std::io::Write as _;

use anyhow::Result;
use kernel_sim::stats::human_bytes;
use kernel_sim::{SimResult, Summary, svg};

/// What the archive holds at the end, and the same history as whole files.
#[derive(Debug, Default, serde::Serialize)]
pub struct ArchiveSummary {
    location: String,
    snapshots: u64,
    raw_bytes: u64,
    chunks: u64,
    stored_bytes: u64,
    whole_lz4_bytes: u64,
    whole_gzip6_bytes: u64,
    #[serde(skip)]
    pub series: svg::ArchiveSeries,
}

fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

pub fn print_table(main: &Summary, base: Option<&Summary>) {
    let s = main;
    println!(
        "kernel-sim: workload {}, {} blocks, seed {}, grace {}, heap {}",
        s.workload, s.blocks, s.seed, s.grace, s.heap_source
    );
    println!();
    let head = |a: &str, b: &str| match base {
        Some(_) => println!("{:<28}{:>14}{:>14}", "", a, b),
        None => println!("{:<28}{:>14}", "", a),
    };
    head(if s.gc { "with gc" } else { "no gc" }, "no gc");
    let row = |name: &str, f: &dyn Fn(&Summary) -> String| match base {
        Some(b) => println!("{name:<28}{:>14}{:>14}", f(s), f(b)),
        None => println!("{name:<28}{:>14}", f(s)),
    };
    row("snapshots saved (dedup)", &|x| format!("{} ({})", x.snapshots_saved, x.snapshots_deduplicated));
    row("page-ins", &|x| x.page_ins.to_string());
    row("vats live / terminated", &|x| format!("{} / {}", x.vats_live, x.vats_terminated));
    row("blobs on disk", &|x| x.blobs.to_string());
    row("  of which live", &|x| x.live.to_string());
    row("stored bytes", &|x| human_bytes(x.stored_bytes));
    row("  of which live", &|x| human_bytes(x.live_stored_bytes));
    row("peak stored bytes", &|x| human_bytes(x.peak_stored_bytes));
    row("blobs swept", &|x| x.swept.to_string());
    row("gc ms/block p50/p99/max", &|x| {
        if x.gc { format!("{}/{}/{}", ms(x.gc_p50_us), ms(x.gc_p99_us), ms(x.gc_max_us)) } else { "-".into() }
    });
    row("gc backlog", &|x| {
        if !x.gc {
            "-".into()
        } else if x.backlog_falling_behind {
            format!("BEHIND, {} pending", x.backlog_pending)
        } else if x.backlog_behind_blocks > 0 {
            format!("caught up ({} blocks behind)", x.backlog_behind_blocks)
        } else {
            "keeping up".into()
        }
    });
    row("exports (snapshots read)", &|x| format!("{} ({})", x.exports, x.exported_snapshots));
    row("wall time", &|x| format!("{:.1} s", x.wall_ms as f64 / 1000.0));
    println!();
    if let Some(b) = base
        && s.stored_bytes > 0
    {
        println!(
            "Without gc the store holds {:.1}x the bytes ({} vs {}); with gc it holds {} more than the live set.",
            b.stored_bytes as f64 / s.stored_bytes as f64,
            human_bytes(b.stored_bytes),
            human_bytes(s.stored_bytes),
            human_bytes(s.stored_bytes.saturating_sub(s.live_stored_bytes)),
        );
    }
    println!(
        "Every page-in ({}) and every exported snapshot ({}) loaded and verified.",
        s.page_ins, s.exported_snapshots
    );
}

/// The archive after the run, and what the same history (each archived snapshot) costs as
/// the store's whole LZ4 blobs and as Agoric's whole gzip-6 files, cumulated per block.
pub fn summarize_archive(
    location: String,
    archive: &archive::Archive,
    result: &SimResult,
    steps: &HashMap<String, u64>,
) -> Result<ArchiveSummary> {
    let stats = archive.stats()?;
    let mut entries = archive.list()?;
    entries.sort_by_key(|e| (e.archived_epoch, e.hash.clone()));
    let mut a = ArchiveSummary {
        location,
        snapshots: stats.snapshots,
        raw_bytes: stats.raw_bytes,
        chunks: stats.chunks,
        stored_bytes: stats.stored_bytes,
        ..ArchiveSummary::default()
    };
    let (mut arch, mut lz4, mut gz) = (0u64, 0u64, 0u64);
    for e in &entries {
        let hash = swingstore::SnapshotHash::parse(&e.hash)?;
        let bytes = archive.get_bytes(&hash)?;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        enc.write_all(&bytes)?;
        gz += enc.finish()?.len() as u64;
        lz4 += result.blob_sizes.get(&hash).copied().unwrap_or(0);
        arch += steps.get(&e.hash).copied().unwrap_or(0);
        match a.series.points.last_mut() {
            Some(last) if last.0 == e.archived_epoch => *last = (e.archived_epoch, arch, lz4, gz),
            _ => a.series.points.push((e.archived_epoch, arch, lz4, gz)),
        }
    }
    a.whole_lz4_bytes = lz4;
    a.whole_gzip6_bytes = gz;
    Ok(a)
}

pub fn print_archive(a: &ArchiveSummary) {
    println!();
    println!("archive {}:", a.location);
    println!("{:<28}{:>14}", "snapshots archived", a.snapshots);
    println!("{:<28}{:>14}", "  raw bytes", human_bytes(a.raw_bytes));
    println!("{:<28}{:>14}", "  distinct chunks", a.chunks);
    println!("{:<28}{:>14}", "archive bytes", human_bytes(a.stored_bytes));
    println!("{:<28}{:>14}", "as whole LZ4 blobs", human_bytes(a.whole_lz4_bytes));
    println!("{:<28}{:>14}", "as whole gzip-6 files", human_bytes(a.whole_gzip6_bytes));
    if a.stored_bytes > 0 {
        println!(
            "The archive keeps this history in 1/{:.1} of the bytes of whole LZ4 blobs and 1/{:.1} of whole gzip-6 files.",
            a.whole_lz4_bytes as f64 / a.stored_bytes as f64,
            a.whole_gzip6_bytes as f64 / a.stored_bytes as f64
        );
    }
}
