//! The importer: builds a new store from an export, all or nothing, trusting only the export
//! data (and, given its hash, not even that).
//!
//! 1. The target must be missing, empty, an unused store, or what a crashed import left (which
//!    is wiped: a re-run starts over). `IMPORT-INCOMPLETE` is written and fsynced first; a store
//!    holding it refuses to open, so a crash at any later point leaves a store that is visibly
//!    not imported.
//! 2. The export data is read once, streamed through sha256 (checked against
//!    [`ImportOptions::expect_data_hash`] at its end, before any artifact is looked at): plain
//!    kv entries go to sled in batches as they come (bounded memory, invisible behind the
//!    marker), root kv entries and snapshot records are kept.
//! 3. Every artifact must have a record; it is streamed into the store, whose save hashes it,
//!    and the hash must be the record's. Every in-use snapshot must have arrived.
//! 4. One commit: every root, the root kv entries, the history records of earlier snapshots;
//!    it fsyncs the blobs (in parallel), their directory, then the kv log, once.
//! 5. The marker goes (and the directory is fsynced).
//!
//! Any refusal leaves the target as a new, empty store (no root, no blob, epoch 0).

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::ArtifactMode;
use super::format::{
    self, DATA_FILE, ExportDataHash, HashingReader, LineReader, MANIFEST_FILE, Manifest, Name,
    SnapshotRecord, checked_file_name, kv_name, snapshot_name, vat_root_key,
};
use crate::config::GcConfig;
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;
use crate::hooks::{self, points};
use crate::layout::{IMPORT_MARKER, Layout, STORE_MARKER};
use crate::roots::{RootUse, parse_root_reference};
use crate::store::{OpenOptions, SwingStore, open_for_import};

/// Where an import reads an export from: export data and artifacts, as Agoric's
/// `importSwingStore` reads an exporter. Everything it gives is checked.
pub trait ExportSource {
    /// The export data: JSON lines, one `[key, value]` array each (`null` deletes the key).
    fn export_data(&mut self) -> Result<Box<dyn Read + Send + '_>>;
    /// The names of the artifacts offered.
    fn artifact_names(&mut self) -> Result<Vec<String>>;
    /// The raw bytes of one artifact.
    fn open_artifact(&mut self, name: &str) -> Result<Box<dyn Read + Send + '_>>;
}

/// An export directory (cosmic-swingset's `--export-dir` layout: `export-manifest.json`, the
/// export data file it names, one file per artifact), as an [`ExportSource`].
#[derive(Debug)]
pub struct ExportDir {
    dir: PathBuf,
    manifest: Manifest,
    data: String,
    files: BTreeMap<String, String>,
}

impl ExportDir {
    /// Reads and checks the manifest: every file it names must be a plain file name inside
    /// `dir` (no `/`, no `..`, not absolute).
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = fs::read(&path)
            .map_err(|e| Error::refused(MANIFEST_FILE, format!("cannot read {}: {e}", path.display())))?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| Error::refused(MANIFEST_FILE, format!("not an export manifest ({e})")))?;
        let data = manifest
            .data
            .clone()
            .ok_or_else(|| Error::refused(MANIFEST_FILE, "names no export-data file (`data`)"))?;
        checked_file_name(&data).map_err(|reason| Error::refused(MANIFEST_FILE, reason))?;
        let mut files = BTreeMap::new();
        for (name, file) in &manifest.artifacts {
            checked_file_name(file).map_err(|reason| Error::refused(format!("artifact {name}"), reason))?;
            if files.insert(name.clone(), file.clone()).is_some() {
                return Err(Error::refused(format!("artifact {name}"), "listed twice in the manifest"));
            }
        }
        Ok(Self { dir: dir.to_owned(), manifest, data, files })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Opens a file of the directory that must be a regular file (not a link, FIFO, …).
    fn open_file(&self, item: &str, file: &str) -> Result<File> {
        let path = self.dir.join(file);
        let refuse = |reason: String| Error::refused(item, reason);
        let meta = fs::symlink_metadata(&path).map_err(|e| refuse(format!("file {file}: {e}")))?;
        if !meta.is_file() {
            return Err(refuse(format!("file {file} is not a regular file")));
        }
        File::open(&path).map_err(|e| refuse(format!("file {file}: {e}")))
    }
}

impl ExportSource for ExportDir {
    fn export_data(&mut self) -> Result<Box<dyn Read + Send + '_>> {
        let data = self.data.clone();
        Ok(Box::new(self.open_file(&data, &data)?))
    }

    fn artifact_names(&mut self) -> Result<Vec<String>> {
        Ok(self.manifest.artifacts.iter().map(|(name, _)| name.clone()).collect())
    }

    fn open_artifact(&mut self, name: &str) -> Result<Box<dyn Read + Send + '_>> {
        let file =
            self.files.get(name).cloned().ok_or_else(|| Error::refused(name, "not in the manifest"))?;
        Ok(Box::new(self.open_file(&format!("artifact {name}"), &file)?))
    }
}

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
    prepare_target(target)?;
    let result = (|| {
        mark_incomplete(target)?;
        let store = open_for_import(target)?;
        store.set_config(options.config.clone())?;
        let report = work(&store)?;
        drop(store);
        finish(target)?;
        Ok(report)
    })();
    if result.is_err()
        && let Err(e) = reset_target(target)
    {
        tracing::warn!("could not reset {} after a failed import: {e}", target.display());
    }
    result
}

fn target_error(target: &Path, reason: impl Into<String>) -> Error {
    Error::refused(target.display().to_string(), reason)
}

/// Checks that `target` may receive an import, wiping what a crashed import or an unused
/// store left there.
fn prepare_target(target: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(target) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(target, e)),
    };
    if !meta.is_dir() {
        return Err(target_error(target, "exists and is not a directory"));
    }
    let mut entries = fs::read_dir(target).map_err(|e| Error::io(target, e))?;
    if entries.next().is_none() {
        return Ok(());
    }
    let layout = Layout::new(target);
    if layout.import_marker().exists() {
        tracing::info!("{}: an earlier import did not finish; starting over", target.display());
        return wipe(target, true);
    }
    if !layout.root().join(STORE_MARKER).is_file() && !layout.kv_dir().is_dir() {
        return Err(target_error(target, "the directory is not empty and is not a snapgc store"));
    }
    let store = SwingStore::open(target, OpenOptions { create: false })?;
    let unused = store.epoch() == 0
        && store.kv().scan_prefix("")?.is_empty()
        && store.list_blobs()?.is_empty()
        && fs::read_dir(layout.blob_dir()).map_err(|e| Error::io(layout.blob_dir(), e))?.next().is_none();
    let (epoch, roots) = (store.epoch(), store.stats().map(|s| s.roots).unwrap_or(0));
    drop(store);
    if !unused {
        return Err(target_error(
            target,
            format!(
                "it already holds a store (epoch {epoch}, {roots} roots): an import builds a new \
                 store, in a missing or empty directory"
            ),
        ));
    }
    wipe(target, false)
}

/// Removes everything in `target` (the import marker last, if `keep_marker` is false it goes
/// with the rest; if true it stays).
fn wipe(target: &Path, keep_marker: bool) -> Result<()> {
    for entry in fs::read_dir(target).map_err(|e| Error::io(target, e))? {
        let entry = entry.map_err(|e| Error::io(target, e))?;
        if keep_marker && entry.file_name() == IMPORT_MARKER {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type().map_err(|e| Error::io(&path, e))?.is_dir();
        let removed = if is_dir { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        removed.map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}

/// Writes the import marker durably (creating `target` if needed) before anything else.
fn mark_incomplete(target: &Path) -> Result<()> {
    if !target.exists() {
        fs::create_dir_all(target).map_err(|e| Error::io(target, e))?;
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    let marker = Layout::new(target).import_marker();
    let text = "a snapgc state-sync import is building this store; until this file is gone, \
                nothing in it counts (re-run the import: it starts over)\n";
    let file = File::create(&marker).map_err(|e| Error::io(&marker, e))?;
    io::Write::write_all(&mut &file, text.as_bytes()).map_err(|e| Error::io(&marker, e))?;
    file.sync_all().map_err(|e| Error::io(&marker, e))?;
    sync_dir(target)
}

/// The import's commit is durable: the marker goes, durably.
fn finish(target: &Path) -> Result<()> {
    let marker = Layout::new(target).import_marker();
    fs::remove_file(&marker).map_err(|e| Error::io(&marker, e))?;
    sync_dir(target)
}

/// After a failure: `target` becomes a new, empty store (the marker stays until the rest is
/// gone and the empty store exists, so a crash meanwhile still shows).
fn reset_target(target: &Path) -> Result<()> {
    if !target.exists() {
        return Ok(());
    }
    if !Layout::new(target).import_marker().exists() {
        mark_incomplete(target)?;
    }
    wipe(target, true)?;
    drop(open_for_import(target)?);
    finish(target)
}

/// Pass state: what the export data said.
#[derive(Default)]
struct Records {
    /// `(vatID, snapPos)` → the record.
    snapshots: BTreeMap<(String, u64), SnapshotRecord>,
    /// vatID → the position its `.current` names.
    currents: BTreeMap<String, u64>,
    /// `kv.` entries whose key is a root under the store's patterns.
    root_kv: BTreeMap<String, Option<String>>,
    kv_entries: u64,
    skipped: u64,
}

/// Plain kv entries written per batch.
const KV_BATCH: usize = 4096;

/// Pass 1: the export data.
fn read_export_data(
    store: &SwingStore,
    source: &mut dyn ExportSource,
    options: &ImportOptions,
) -> Result<(Records, ExportDataHash)> {
    let kv = store.kv();
    let mut rec = Records::default();
    let mut input = HashingReader::new(source.export_data()?);
    let mut lines = LineReader::new(BufReader::with_capacity(1 << 20, &mut input));
    let mut plain: BTreeMap<String, Option<String>> = BTreeMap::new();
    loop {
        let line = lines.next_record().map_err(|e| Error::refused(DATA_FILE, format!("cannot read: {e}")))?;
        let Some(parsed) = line else { break };
        let (key, value) = parsed.map_err(|reason| Error::refused(DATA_FILE, reason))?;
        let refuse = |reason: String| Error::refused(format!("record {key}"), reason);
        match format::classify(&key).map_err(refuse)? {
            Name::Kv(k) => {
                rec.kv_entries += u64::from(value.is_some());
                if kv.is_root(k) {
                    rec.root_kv.insert(k.to_owned(), value);
                } else {
                    plain.insert(k.to_owned(), value);
                    if plain.len() >= KV_BATCH {
                        kv.write_unstaged(&plain)?;
                        plain.clear();
                    }
                }
            }
            Name::Snapshot { vat, pos } => {
                let id = (vat.to_owned(), pos);
                match value {
                    None => {
                        rec.snapshots.remove(&id);
                    }
                    Some(v) => {
                        let parsed = format::parse_snapshot_value(vat, pos, &v).map_err(refuse)?;
                        rec.snapshots.insert(id, parsed);
                    }
                }
            }
            Name::Current { vat } => match value {
                None => {
                    rec.currents.remove(vat);
                }
                Some(v) => {
                    let pos = format::parse_current_value(vat, &v).map_err(refuse)?;
                    rec.currents.insert(vat.to_owned(), pos);
                }
            },
            Name::Transcript | Name::Bundle if options.snapshots_only => rec.skipped += 1,
            kind @ (Name::Transcript | Name::Bundle) => return Err(refuse(refusal_of(&kind, "record"))),
        }
    }
    if !plain.is_empty() {
        kv.write_unstaged(&plain)?;
    }
    drop(lines);
    let (digest, _) = input.finish();
    let hash = ExportDataHash(digest);
    if let Some(expected) = options.expect_data_hash
        && expected != hash
    {
        return Err(Error::refused(
            DATA_FILE,
            format!(
                "its sha256 is {hash}, the trusted value is {expected}: the export data is not the one expected"
            ),
        ));
    }
    Ok((rec, hash))
}

fn refusal_of(kind: &Name<'_>, what: &str) -> String {
    let type_name = if matches!(kind, Name::Transcript) { "a transcript span" } else { "a code bundle" };
    format!(
        "{type_name} {what}: this store keeps snapshots only, and will not drop data silently \
         (import with --snapshots-only to skip and count transcript and bundle records and artifacts)"
    )
}

/// A root the commit will set, and the snapshot it needs.
struct RootPlan {
    key: String,
    value: String,
    hash: SnapshotHash,
    /// The record that vouches for it (named in a refusal).
    record: String,
}

/// Checks the snapshot records against each other and the store's patterns; plans the roots.
fn plan_roots(store: &SwingStore, rec: &mut Records) -> Result<Vec<RootPlan>> {
    let kv = store.kv();
    let mut in_use: BTreeMap<&str, u64> = BTreeMap::new();
    for ((vat, pos), r) in &rec.snapshots {
        if !r.in_use {
            continue;
        }
        if let Some(other) = in_use.insert(vat, *pos) {
            return Err(Error::refused(
                format!("record {}", snapshot_name(vat, *pos)),
                format!("vat {vat} has two in-use snapshots ({} too)", snapshot_name(vat, other)),
            ));
        }
    }
    for (vat, pos) in &rec.currents {
        if in_use.get(vat.as_str()) != Some(pos) {
            return Err(Error::refused(
                format!("record {}", format::current_key(vat)),
                format!("it names {}, which is not an in-use snapshot record", snapshot_name(vat, *pos)),
            ));
        }
    }
    let mut plans = Vec::new();
    for (vat, pos) in in_use {
        let name = snapshot_name(vat, pos);
        if !rec.currents.contains_key(vat) {
            return Err(Error::refused(
                format!("record {}", format::current_key(vat)),
                format!("missing: {name} is in use"),
            ));
        }
        let hash = rec.snapshots[&(vat.to_owned(), pos)].hash;
        let key = vat_root_key(vat);
        if !kv.is_root(&key) {
            return Err(Error::refused(
                format!("record {name}"),
                format!("its root key {key} is not a root under the store's root patterns"),
            ));
        }
        let value = match rec.root_kv.remove(&key).flatten() {
            None => crate::roots::format_root_value(&hash, pos),
            Some(verbatim) => {
                match parse_root_reference(&key, verbatim.as_bytes()) {
                    Ok((h, p)) if h == hash && p == pos => {}
                    _ => {
                        return Err(Error::refused(
                            format!("record {}", kv_name(&key)),
                            format!("its value does not name the snapshot of {name}"),
                        ));
                    }
                }
                verbatim
            }
        };
        plans.push(RootPlan { key, value, hash, record: name });
    }
    for (key, value) in std::mem::take(&mut rec.root_kv) {
        let Some(value) = value else { continue };
        let record = kv_name(&key);
        let hash = match parse_root_reference(&key, value.as_bytes()) {
            Ok((hash, _)) if value.len() <= 4096 => hash,
            Ok(_) => {
                return Err(Error::refused(
                    format!("record {record}"),
                    "a root value over 4096 bytes names no snapshot",
                ));
            }
            Err(e) => {
                return Err(Error::refused(
                    format!("record {record}"),
                    format!("a root value that names no snapshot: {e}"),
                ));
            }
        };
        plans.push(RootPlan { key, value, hash, record });
    }
    Ok(plans)
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
            Error::Io { cause, .. } => Error::refused(&item, format!("cannot read it: {cause}")),
            other => other,
        })?;
        if saved.hash != expected {
            return Err(Error::refused(
                &item,
                format!("its sha256 is {}, the export data says {expected}", saved.hash),
            ));
        }
        hooks::hit(&scope, points::IMPORT_AFTER_ARTIFACT).map_err(|e| Error::io(&scope, e))?;
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
    hooks::hit(&scope, points::IMPORT_BEFORE_COMMIT).map_err(|e| Error::io(&scope, e))?;
    let epoch = store.commit()?;
    hooks::hit(&scope, points::IMPORT_AFTER_COMMIT).map_err(|e| Error::io(&scope, e))?;
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
