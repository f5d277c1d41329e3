//! The importer: builds a new store from an export, all or nothing, trusting only the export
//! data (and, given its hash, not even that).
//!
//! 1. The target must be missing, empty, an unused store, or what a crashed import left (whose
//!    store names are wiped: a re-run starts over); its `LOCK` is taken before anything in it
//!    is looked at, and held to the end (`target.rs`). `IMPORT-INCOMPLETE` is written and
//!    fsynced first; a store holding it refuses to open, so a crash at any later point leaves
//!    a store that is visibly not imported.
//! 2. The export data is read once, streamed through sha256 (checked against
//!    [`ImportOptions::expect_data_hash`] at its end, before any artifact is looked at)
//!    (`records.rs`): plain kv entries go to sled in batches as they come, root kv entries and
//!    snapshot records are kept; the roots are planned (`plan.rs`).
//! 3. Every artifact must have a record; it is streamed into the store, whose save hashes it,
//!    and the hash must be the record's. Every in-use snapshot must have arrived.
//! 4. One commit: every root, the root kv entries, the history records of earlier snapshots;
//!    it fsyncs the blobs, their directory, then the kv log, once.
//! 5. The marker goes (and the directory is fsynced).
//!
//! Any refusal leaves the target as a new, empty store (no root, no blob, epoch 0).
//!
//! * `source.rs`: [`ExportSource`] and [`ExportDir`] (what is read, and how carefully);
//! * `target.rs`: the target's lock and life cycle; `records.rs`: the export data;
//!   `plan.rs`: the roots.

mod plan;
mod records;
mod source;
mod target;

use std::collections::{BTreeMap, HashSet};
use std::io::BufReader;
use std::path::Path;

pub use source::{ExportDir, ExportSource};

use self::plan::{RootPlan, plan_roots};
use self::records::{read_export_data, refusal_of};
use self::target::Target;
use super::ArtifactMode;
use super::format::{self, ExportDataHash, Name, vat_root_key};
use crate::config::GcConfig;
use crate::error::{Error, Result};
use crate::failpoint::{self, points};
use crate::hash::SnapshotHash;
use crate::roots::RootUse;
use crate::store::SwingStore;

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `Operational`: import the in-use snapshots (earlier ones offered are ignored, their
    /// records kept); `Debug`: also verify and save every earlier snapshot offered (no root
    /// names them: the collector reclaims them after grace).
    pub mode: ArtifactMode,
    /// Refuse unless the export data's sha256 is this (the trusted value, e.g. from a block).
    pub expect_data_hash: Option<ExportDataHash>,
    /// Skip (and count) Agoric's `transcript.*` and `bundle.*` records and artifacts instead
    /// of refusing them: this store keeps snapshots only.
    pub snapshots_only: bool,
    /// The new store's configuration (its root patterns decide which `kv.` entries are roots:
    /// give the exporting store's, e.g. kernel-sim's `zygote.*.snapshot`).
    pub config: GcConfig,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The new store's epoch (its one commit).
    pub epoch: u64,
    /// The export's block height (from the manifest, for an [`ExportDir`]).
    pub block_height: Option<u64>,
    /// Root keys committed.
    pub roots: u64,
    /// `kv.` records imported (root values included).
    pub kv_entries: u64,
    /// `inUse: 0` snapshot records kept as root history.
    pub historical_records: u64,
    /// Artifacts saved (each verified).
    pub artifacts: u64,
    /// Their raw bytes.
    pub artifact_bytes: u64,
    /// Earlier-snapshot artifacts offered and not used (operational mode).
    pub ignored_artifacts: u64,
    /// `transcript.*` / `bundle.*` records and artifacts skipped (with `snapshots_only`).
    pub skipped: u64,
    /// The sha256 of the export data read.
    pub data_hash: ExportDataHash,
}

/// Imports the export in directory `dir` into a new store at `target` (see the module
/// documentation; [`import_state`] with an [`ExportDir`]).
pub fn import_from_dir(target: &Path, dir: &Path, options: &ImportOptions) -> Result<ImportReport> {
    run(target, options, &mut |store| {
        let mut source = ExportDir::open(dir)?;
        let block_height = source.manifest().block_height;
        let mut report = build(store, &mut source, options)?;
        report.block_height = Some(block_height);
        Ok(report)
    })
}

/// Imports an export into a new store at `target`: all or nothing. `target` must be missing,
/// empty, a store that was never used, or what a crashed import left (started over). On any
/// refusal ([`Error::ImportRefused`], naming the record or artifact) or other error, `target`
/// is left a new, empty store: no root, no blob.
pub fn import_state(
    target: &Path,
    source: &mut dyn ExportSource,
    options: &ImportOptions,
) -> Result<ImportReport> {
    run(target, options, &mut |store| build(store, source, options))
}

fn run(
    target: &Path,
    options: &ImportOptions,
    work: &mut dyn FnMut(&SwingStore) -> Result<ImportReport>,
) -> Result<ImportReport> {
    options.config.validate()?;
    let target = Target::take(target)?;
    let result = (|| {
        target.mark_incomplete()?;
        let store = target.open_store()?;
        store.set_config(options.config.clone())?;
        let report = work(&store)?;
        // The marker goes while the store is still open: a process killed before its removal
        // is durable leaves the store marked as not closed cleanly, so the next open syncs the
        // directory (issue 25: a clean reopen does not).
        target.finish()?;
        drop(store);
        Ok(report)
    })();
    if result.is_err()
        && let Err(e) = target.reset()
    {
        tracing::warn!("could not reset the target after a failed import: {e}");
    }
    result
}

/// The whole import into the open, marked store.
fn build(store: &SwingStore, source: &mut dyn ExportSource, options: &ImportOptions) -> Result<ImportReport> {
    let scope = store.inner.durability.scope().to_owned();
    let (mut rec, data_hash) = read_export_data(store, source, options)?;
    let plans = plan_roots(store, &mut rec)?;
    let needed_by_kv: BTreeMap<&str, &RootPlan> =
        plans.iter().filter(|p| p.record.starts_with("kv.")).map(|p| (p.key.as_str(), p)).collect();

    let mut imported: HashSet<SnapshotHash> = HashSet::new();
    let (mut artifacts, mut artifact_bytes, mut ignored) = (0u64, 0u64, 0u64);
    for name in source.artifact_names()? {
        let item = format!("artifact {name}");
        let kind = format::classify(&name)
            .map_err(|reason| Error::refused(&item, reason.replace("record type", "artifact type")))?;
        let expected = match kind {
            Name::Snapshot { vat, pos } => {
                let Some(r) = rec.snapshots.get(&(vat.to_owned(), pos)) else {
                    return Err(Error::refused(&item, "an artifact with no record in the export data"));
                };
                if !r.in_use && options.mode == ArtifactMode::Operational {
                    ignored += 1;
                    continue;
                }
                r.hash
            }
            Name::Kv(key) => match needed_by_kv.get(key) {
                Some(plan) => plan.hash,
                None if store.kv().get_committed(key)?.is_some() => {
                    return Err(Error::refused(
                        &item,
                        format!(
                            "{key} is a kv key but not a root under the store's root patterns, so its \
                             snapshot would be collected: import with the exporting store's patterns"
                        ),
                    ));
                }
                None => return Err(Error::refused(&item, "an artifact with no record in the export data")),
            },
            Name::Current { .. } => return Err(Error::refused(&item, "not an artifact name")),
            Name::Transcript | Name::Bundle if options.snapshots_only => {
                rec.skipped += 1;
                continue;
            }
            kind @ (Name::Transcript | Name::Bundle) => {
                return Err(Error::refused(&item, refusal_of(&kind, "artifact")));
            }
        };
        let reader = source.open_artifact(&name)?;
        let mut reader = BufReader::with_capacity(1 << 20, reader);
        let saved = store.save(&mut reader).map_err(|e| match e {
            Error::Stream { cause, .. } => Error::refused(&item, format!("cannot read it: {cause}")),
            other => other,
        })?;
        if saved.hash != expected {
            return Err(Error::refused(
                &item,
                format!("its sha256 is {}, the export data says {expected}", saved.hash),
            ));
        }
        failpoint::hit(&scope, points::IMPORT_AFTER_ARTIFACT).map_err(|e| Error::io(&scope, e))?;
        imported.insert(expected);
        artifacts += 1;
        artifact_bytes += saved.raw_bytes;
    }
    for plan in &plans {
        if !imported.contains(&plan.hash) {
            return Err(Error::refused(
                format!("artifact {}", plan.record),
                format!("missing: root {} is in use and names snapshot {}", plan.key, plan.hash),
            ));
        }
    }

    let history: Vec<RootUse> = rec
        .snapshots
        .iter()
        .filter(|(_, r)| !r.in_use)
        .map(|((vat, pos), r)| RootUse { key: vat_root_key(vat), position: *pos, hash: r.hash })
        .collect();
    let historical_records = history.len() as u64;
    let kv = store.kv();
    for plan in &plans {
        kv.set(&plan.key, &plan.value);
    }
    kv.stage_history(history);
    failpoint::hit(&scope, points::IMPORT_BEFORE_COMMIT).map_err(|e| Error::io(&scope, e))?;
    let epoch = store.commit()?;
    failpoint::hit(&scope, points::IMPORT_AFTER_COMMIT).map_err(|e| Error::io(&scope, e))?;
    Ok(ImportReport {
        epoch,
        block_height: None,
        roots: plans.len() as u64,
        kv_entries: rec.kv_entries,
        historical_records,
        artifacts,
        artifact_bytes,
        ignored_artifacts: ignored,
        skipped: rec.skipped,
        data_hash,
    })
}
