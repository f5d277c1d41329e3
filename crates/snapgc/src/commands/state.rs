//! `state export --dir D [--mode M]` and `state import --dir D [--mode M] [--expect-data-hash
//! sha256:<hex>] [--snapshots-only]`: state sync in Agoric's format (docs/STATE-SYNC.md).

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use swingstore::{ArtifactMode, ExportDataHash, GcConfig, ImportOptions, SwingStore};

use super::output::{print_json, print_text};
use crate::cli::{Mode, exit};
use crate::human;

fn artifact_mode(mode: Mode) -> ArtifactMode {
    match mode {
        Mode::Operational => ArtifactMode::Operational,
        Mode::Debug => ArtifactMode::Debug,
    }
}

/// `state export --json`: exactly these fields.
#[derive(Serialize)]
struct Exported {
    block_height: u64,
    artifact_mode: String,
    export_data_hash: String,
    records: u64,
    artifacts: u64,
    artifact_bytes: u64,
}

pub fn export(store: &SwingStore, dir: &Path, mode: Mode, json: bool) -> Result<u8> {
    if matches!(mode, Mode::Debug) {
        // Earlier snapshots the collector archived and swept ship from the archive.
        archive::attach(store)
            .context("opening the store's archive (a debug export ships the archived snapshots from it)")?;
    }
    let summary = swingstore::export_to_dir(store, dir, artifact_mode(mode))?;
    tracing::info!(dir = %dir.display(), epoch = summary.block_height, "exported");
    if json {
        print_json(&Exported {
            block_height: summary.block_height,
            artifact_mode: summary.artifact_mode.to_string(),
            export_data_hash: summary.export_data_hash.to_string(),
            records: summary.records,
            artifacts: summary.artifacts,
            artifact_bytes: summary.artifact_bytes,
        })?;
    } else {
        print_text(&format!(
            "exported epoch {} ({}) to {}: {} records, {}, {}\nexport-data {}\n",
            summary.block_height,
            summary.artifact_mode,
            dir.display(),
            summary.records,
            plural(summary.artifacts, "artifact"),
            human::bytes(summary.artifact_bytes),
            summary.export_data_hash,
        ))?;
    }
    Ok(exit::OK)
}

pub struct ImportArgs {
    pub mode: Mode,
    pub expect_data_hash: Option<String>,
    pub snapshots_only: bool,
    pub root_patterns: Vec<String>,
}

/// `state import --json`: exactly these fields.
#[derive(Serialize)]
struct Imported {
    epoch: u64,
    roots: u64,
    kv_entries: u64,
    historical_records: u64,
    artifacts: u64,
    skipped: u64,
}

pub fn import(store: &Path, dir: &Path, args: &ImportArgs, json: bool) -> Result<u8> {
    // Validated before the store is touched.
    let expect_data_hash = args
        .expect_data_hash
        .as_deref()
        .map(ExportDataHash::parse)
        .transpose()
        .context("--expect-data-hash")?;
    let mut config = GcConfig::default();
    for pattern in &args.root_patterns {
        if !config.root_patterns.contains(pattern) {
            config.root_patterns.push(pattern.clone());
        }
    }
    let options = ImportOptions {
        mode: artifact_mode(args.mode),
        expect_data_hash,
        snapshots_only: args.snapshots_only,
        config,
    };
    let report = swingstore::import_from_dir(store, dir, &options)?;
    tracing::info!(store = %store.display(), epoch = report.epoch, "imported");
    if json {
        print_json(&Imported {
            epoch: report.epoch,
            roots: report.roots,
            kv_entries: report.kv_entries,
            historical_records: report.historical_records,
            artifacts: report.artifacts,
            skipped: report.skipped,
        })?;
    } else {
        let mut text = format!(
            "imported block {} into {} (epoch {}): {}, {} kv entries, {} historical records, {} ({})",
            report.block_height.map_or_else(|| "?".to_owned(), |h| h.to_string()),
            store.display(),
            report.epoch,
            plural(report.roots, "root"),
            report.kv_entries,
            report.historical_records,
            plural(report.artifacts, "artifact"),
            human::bytes(report.artifact_bytes),
        );
        if report.ignored_artifacts > 0 {
            text.push_str(&format!(
                ", {} earlier-snapshot artifacts ignored (--mode debug imports them)",
                report.ignored_artifacts
            ));
        }
        if report.skipped > 0 {
            text.push_str(&format!(", {} transcript/bundle records and artifacts skipped", report.skipped));
        }
        text.push_str(&format!("\nexport-data {}\n", report.data_hash));
        print_text(&text)?;
    }
    Ok(exit::OK)
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}
