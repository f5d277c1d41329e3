//! The exporter: pins one committed epoch, then ships it while the kernel goes on.
//!
//! Under the commit lock (which every commit and every collection holds), one pass over the
//! committed kv pairs (in key order, as sled keeps them) writes the `kv.` records straight to
//! the caller's writer, notes the roots, reads the root history, builds the `snapshot.`
//! records (written after the `kv.` ones: `"kv."` sorts before `"snapshot."`, so the whole
//! export data is in key order) and takes a lease on every blob it will ship. Then the lock is
//! released: the kernel commits and collects again, and the leases keep every pinned blob on
//! disk until it is shipped, as Agoric's exporter keeps its SQLite read transaction.
//!
//! Memory: the kv pairs stream (one at a time); the snapshot records (one per snapshot a root
//! ever named) and the artifact list are held, a few hundred bytes each.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::ArtifactMode;
use super::format::{
    self, DATA_FILE, ExportDataHash, HashingWriter, MANIFEST_FILE, MAX_LINE_BYTES, Manifest,
    artifact_file_name, current_key, kv_name, snapshot_name, snapshot_value, vat_of_root_key,
};
use crate::archive::Archiver;
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;
use crate::lease::Lease;
use crate::roots::{format_root_value, parse_root_reference};
use crate::store::SwingStore;

/// One artifact of an export. In debug mode an earlier snapshot the collector archived and
/// swept ships from the attached archiver; it holds no lease there, so an archive gc that drops
/// it before it ships fails its [`StateExporter::write_artifact`] (no bytes pass as verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportArtifact {
    /// Its name: `snapshot.<vatID>.<snapPos>`, or `kv.<key>` for the snapshot a root of
    /// another pattern names.
    pub name: String,
    /// The snapshot (the sha256 of the artifact's bytes).
    pub hash: SnapshotHash,
    /// A committed root names it (`false`: an earlier snapshot, shipped in debug mode).
    pub in_use: bool,
    /// Its raw length, from the blob's metadata (0 when unknown).
    pub raw_bytes: u64,
}

/// A pinned export of one committed epoch: its export data is written, and every artifact it
/// lists is leased until shipped, released or the exporter is dropped.
#[derive(Debug)]
pub struct StateExporter {
    store: SwingStore,
    epoch: u64,
    mode: ArtifactMode,
    records: u64,
    data_bytes: u64,
    data_hash: ExportDataHash,
    artifacts: Vec<ExportArtifact>,
    leases: HashMap<SnapshotHash, Lease>,
    /// Debug mode: the archiver, and the earlier snapshots that ship from it (swept from the
    /// store after they were archived).
    archived: Option<FromArchive>,
}

/// The earlier snapshots a debug export ships from the archive, and the archiver to read them.
struct FromArchive {
    archiver: Arc<dyn Archiver>,
    hashes: HashSet<SnapshotHash>,
}

impl std::fmt::Debug for FromArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FromArchive").field("snapshots", &self.hashes.len()).finish_non_exhaustive()
    }
}

fn failed(item: impl Into<String>, reason: impl std::fmt::Display) -> Error {
    Error::ExportFailed { item: crate::error::shorten(&item.into()), reason: reason.to_string() }
}

impl SwingStore {
    /// Pins the committed state for a state-sync export: writes its export data (sorted
    /// `[key, value]` JSON lines) to `data` and leases every blob the export ships, all under
    /// the commit lock; returns the exporter that ships the artifacts afterwards, while the
    /// kernel keeps committing and collecting.
    ///
    /// `data` is written while commits wait: give a file or a buffer, not a slow stream. Fails
    /// (before anything is leased) on a root whose value names no snapshot, as the collector
    /// does.
    pub fn export_state(&self, mode: ArtifactMode, data: &mut dyn Write) -> Result<StateExporter> {
        pin(self, mode, data)
    }
}

/// Agoric's non-consensus keys (`getKeyType`: `host.*`, `local.*`): node-local state, never
/// export data (Agoric's importer refuses `host.` keys). Roots are exported whatever their key.
fn is_local(key: &str) -> bool {
    key.starts_with("host.") || key.starts_with("local.")
}

/// Refuses a kv pair whose export-data line an import could not read back (over
/// [`MAX_LINE_BYTES`]), naming the key, before any byte of it is written.
fn check_line_fits(key: &str, value: &str) -> Result<()> {
    // JSON escaping at most sextuples a character (`\u0001`): only long values are measured.
    if (key.len() + value.len()) * 6 + 16 <= MAX_LINE_BYTES {
        return Ok(());
    }
    let len = format::line_len(&kv_name(key), value).map_err(|e| failed(kv_name(key), e))?;
    if len > MAX_LINE_BYTES {
        return Err(failed(
            kv_name(key),
            format!(
                "its export-data line would be {len} bytes; an import reads lines of at most \
                 {MAX_LINE_BYTES} bytes, so no import could take this export"
            ),
        ));
    }
    Ok(())
}

/// A snapshot a vat's root names now.
struct Current {
    pos: u64,
    hash: SnapshotHash,
}

fn pin(store: &SwingStore, mode: ArtifactMode, data: &mut dyn Write) -> Result<StateExporter> {
    // After a failed sync, sled may hold a block that never became durable: nothing is
    // exported from it (as save, commit and gc refuse).
    store.inner.durability.check_durable()?;
    let kv = store.kv();
    let io_err = |e: io::Error| failed("export data", e);
    let mut out = HashingWriter::new(BufWriter::with_capacity(1 << 20, data));
    let mut records = 0u64;
    let mut artifacts: Vec<ExportArtifact> = Vec::new();
    let mut leases: HashMap<SnapshotHash, Lease> = HashMap::new();
    let commit = kv.commit_guard();
    let epoch = store.epoch();
    // The root index says which committed keys are roots and what they name (a value too long
    // or malformed is a bad root there, exactly as the collector sees it).
    let mut roots: HashMap<String, std::result::Result<SnapshotHash, String>> = HashMap::new();
    kv.for_each_root(|key, entry| {
        roots.insert(key.to_owned(), entry.clone());
        Ok(())
    })?;
    let mut current: BTreeMap<String, Current> = BTreeMap::new();
    let archiver = if mode == ArtifactMode::Debug { store.archiver() } else { None };
    let mut archived: HashSet<SnapshotHash> = HashSet::new();
    let mut swept: Vec<ExportArtifact> = Vec::new();
    kv.for_each_committed(&commit, |key, value| {
        let Some(entry) = roots.get(key) else {
            if is_local(key) {
                return Ok(());
            }
            records += 1;
            check_line_fits(key, value)?;
            return format::write_line(&mut out, &kv_name(key), value).map_err(io_err);
        };
        let hash = *entry.as_ref().map_err(|reason| failed(format!("root {key}"), reason))?;
        let (_, pos) = parse_root_reference(key, value.as_bytes())?;
        let leased = |leases: &mut HashMap<SnapshotHash, Lease>| {
            leases.entry(hash).or_insert_with(|| store.lease(hash));
        };
        if let Some(vat) = vat_of_root_key(key) {
            // A canonical root value is rebuilt from the snapshot records on import; any other
            // (extra fields, other spacing) also travels verbatim, so it comes back as it was.
            if value != format_root_value(&hash, pos) {
                records += 1;
                format::write_line(&mut out, &kv_name(key), value).map_err(io_err)?;
            }
            artifacts.push(ExportArtifact {
                name: snapshot_name(vat, pos),
                hash,
                in_use: true,
                raw_bytes: 0,
            });
            current.insert(vat.to_owned(), Current { pos, hash });
        } else {
            records += 1;
            format::write_line(&mut out, &kv_name(key), value).map_err(io_err)?;
            artifacts.push(ExportArtifact { name: kv_name(key), hash, in_use: true, raw_bytes: 0 });
        }
        leased(&mut leases);
        Ok(())
    })?;

    // The snapshot records: the current one of each vat, and every earlier one the history
    // keeps (also of vats whose root is gone: the history outlives them).
    let mut snapshot_records: BTreeMap<String, String> = BTreeMap::new();
    for (vat, c) in &current {
        let name = snapshot_name(vat, c.pos);
        snapshot_records.insert(current_key(vat), name.clone());
        snapshot_records.insert(name, snapshot_value(vat, c.pos, &c.hash, true));
    }
    for used in crate::roots::history::all(kv.db())? {
        let Some(vat) = vat_of_root_key(&used.key) else { continue };
        if current.get(vat).is_some_and(|c| c.pos == used.position) {
            continue;
        }
        let name = snapshot_name(vat, used.position);
        if mode == ArtifactMode::Debug {
            // Leased first, then looked for: a blob present now stays until shipped. One
            // already swept was archived first (with an archive configured): it may ship from
            // the attached archiver, asked below, once the commit lock is released.
            let lease = store.lease(used.hash);
            let artifact =
                ExportArtifact { name: name.clone(), hash: used.hash, in_use: false, raw_bytes: 0 };
            if store.contains(&used.hash) {
                leases.entry(used.hash).or_insert(lease);
                artifacts.push(artifact);
            } else if archiver.is_some() {
                swept.push(artifact);
            }
        }
        snapshot_records.insert(name, snapshot_value(vat, used.position, &used.hash, false));
    }
    drop(commit);

    // Swept earlier snapshots the archive holds ship from it, verified as they are read (one
    // question per snapshot, outside the commit lock: an S3 archive answers over the network).
    if let Some(archiver) = &archiver {
        let mut answers: HashMap<SnapshotHash, bool> = HashMap::new();
        for artifact in swept {
            let held = match answers.get(&artifact.hash) {
                Some(&held) => held,
                None => {
                    let held = archiver
                        .is_archived(&artifact.hash)
                        .map_err(|e| failed(format!("archived snapshot {}", artifact.hash), e))?;
                    answers.insert(artifact.hash, held);
                    held
                }
            };
            if held {
                archived.insert(artifact.hash);
                artifacts.push(artifact);
            }
        }
    }

    for (key, value) in &snapshot_records {
        records += 1;
        format::write_line(&mut out, key, value).map_err(io_err)?;
    }
    let (digest, data_bytes) = out.finish().map_err(io_err)?;
    for artifact in &mut artifacts {
        artifact.raw_bytes = store.blob_meta(&artifact.hash).ok().flatten().map_or(0, |m| m.raw_bytes);
    }
    artifacts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(StateExporter {
        store: store.clone(),
        epoch,
        mode,
        records,
        data_bytes,
        data_hash: ExportDataHash(digest),
        artifacts,
        leases,
        archived: archiver
            .filter(|_| !archived.is_empty())
            .map(|archiver| FromArchive { archiver, hashes: archived }),
    })
}

impl StateExporter {
    /// The committed epoch pinned (the export's `blockHeight`).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The artifact mode.
    pub fn mode(&self) -> ArtifactMode {
        self.mode
    }

    /// Export-data records written.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes of export data written.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// The sha256 of the export data written.
    pub fn data_hash(&self) -> ExportDataHash {
        self.data_hash
    }

    /// The artifacts, by name.
    pub fn artifacts(&self) -> &[ExportArtifact] {
        &self.artifacts
    }

    /// Writes an artifact's raw bytes to `out`, verified (length and sha256) as they stream;
    /// returns the length. On an error `out` has received unverified bytes: discard them.
    pub fn write_artifact(&self, artifact: &ExportArtifact, out: &mut dyn Write) -> Result<u64> {
        if let Some(from) = &self.archived
            && from.hashes.contains(&artifact.hash)
        {
            return match from.archiver.read_archived(&artifact.hash, out) {
                Ok(Some(n)) => Ok(n),
                Ok(None) => Err(failed(&artifact.name, "the archive no longer holds it")),
                Err(e) => Err(failed(&artifact.name, e)),
            };
        }
        if !self.leases.contains_key(&artifact.hash) {
            return Err(failed(&artifact.name, "its lease was released"));
        }
        self.store.load_into(&artifact.hash, out).map_err(|e| failed(&artifact.name, e))
    }

    /// Drops the lease on `hash` (once every artifact holding it is shipped), so the collector
    /// may reclaim the blob; a later [`write_artifact`](Self::write_artifact) of it fails
    /// (unless it ships from the archive, which holds no lease: see [`ExportArtifact`]).
    pub fn release(&mut self, hash: &SnapshotHash) {
        self.leases.remove(hash);
    }
}

/// What [`export_to_dir`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// The committed epoch exported (the manifest's `blockHeight`).
    pub block_height: u64,
    /// The artifact mode.
    pub artifact_mode: ArtifactMode,
    /// The sha256 of `export-data.jsonl`.
    pub export_data_hash: ExportDataHash,
    /// Export-data records (lines).
    pub records: u64,
    /// Artifacts (files).
    pub artifacts: u64,
    /// Their raw bytes, in all.
    pub artifact_bytes: u64,
}

/// Exports the committed state into `dir` (created; refused if it exists and is not empty) in
/// cosmic-swingset's `--export-dir` layout: `export-data.jsonl`, one file per artifact (raw
/// bytes, each verified as it is written), then `export-manifest.json`, written last (renamed
/// into place), so a directory without a manifest is an unfinished export. Artifacts are
/// written by as many workers as `verify --deep` uses; artifacts of the same snapshot (clones) share one file's bytes
/// (hard links). Nothing is fsynced: the importer verifies everything anyway.
pub fn export_to_dir(store: &SwingStore, dir: &Path, mode: ArtifactMode) -> Result<ExportSummary> {
    let created_dir = prepare_dir(dir)?;
    let mut written: Vec<PathBuf> = Vec::new();
    let result = write_dir(store, dir, mode, &mut written);
    if result.is_err() {
        // Leave no half export behind: what we wrote goes (and the directory, if ours).
        for path in written.iter().rev() {
            let _ = fs::remove_file(path);
        }
        if created_dir {
            let _ = fs::remove_dir(dir);
        }
    }
    result
}

/// Creates `dir`, or accepts it empty; returns whether it was created.
fn prepare_dir(dir: &Path) -> Result<bool> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if !meta.is_dir() => Err(failed(dir.display().to_string(), "exists and is not a directory")),
        Ok(_) => {
            let mut entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
            if entries.next().is_some() {
                return Err(failed(
                    dir.display().to_string(),
                    "the directory is not empty (an export is written only into a new or empty directory)",
                ));
            }
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            Ok(true)
        }
        Err(e) => Err(Error::io(dir, e)),
    }
}

fn create_new(path: &Path, written: &mut Vec<PathBuf>) -> Result<File> {
    let file =
        fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| Error::io(path, e))?;
    written.push(path.to_owned());
    Ok(file)
}

fn write_dir(
    store: &SwingStore,
    dir: &Path,
    mode: ArtifactMode,
    written: &mut Vec<PathBuf>,
) -> Result<ExportSummary> {
    let data_path = dir.join(DATA_FILE);
    let mut data = create_new(&data_path, written)?;
    let exporter = store.export_state(mode, &mut data)?;
    drop(data);

    // One file per artifact; the first artifact of each snapshot is written (verified), the
    // others link to it.
    let files: Vec<String> = exporter.artifacts().iter().map(|a| artifact_file_name(&a.name)).collect();
    let mut first_of: HashMap<SnapshotHash, usize> = HashMap::new();
    let mut primaries = Vec::new();
    let mut copies = Vec::new();
    for (i, artifact) in exporter.artifacts().iter().enumerate() {
        match first_of.get(&artifact.hash) {
            Some(&first) => copies.push((first, i)),
            None => {
                first_of.insert(artifact.hash, i);
                primaries.push(i);
            }
        }
    }
    let mut sizes = vec![0u64; files.len()];
    for &i in &primaries {
        // Created up front (in this thread) so a failure can remove them.
        create_new(&dir.join(&files[i]), written)?;
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<u64>)>> = Mutex::new(Vec::new());
    // As many workers as `verify --deep` runs (each is two threads: decode and write, hash).
    let parallel = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 4);
    let workers = primaries.len().min(parallel);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&i) = primaries.get(k) else { break };
                    let artifact = &exporter.artifacts()[i];
                    let result = write_one(&exporter, artifact, &dir.join(&files[i]));
                    let stop = result.is_err();
                    results.lock().unwrap_or_else(|p| p.into_inner()).push((i, result));
                    if stop {
                        // Stop the other worker soon: the export fails anyway.
                        next.store(primaries.len(), Ordering::SeqCst);
                        break;
                    }
                }
            });
        }
    });
    for (i, result) in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
        sizes[i] = result?;
    }
    for (first, i) in copies {
        let from = dir.join(&files[first]);
        let to = dir.join(&files[i]);
        if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(|e| Error::io(&to, e))?;
        }
        written.push(to);
        sizes[i] = sizes[first];
    }

    let manifest = Manifest {
        block_height: exporter.epoch(),
        artifact_mode: Some(mode.as_str().to_owned()),
        data: Some(DATA_FILE.to_owned()),
        artifacts: exporter
            .artifacts()
            .iter()
            .zip(&files)
            .map(|(a, f)| (a.name.clone(), f.clone()))
            .collect(),
    };
    let temp = dir.join(format!(".{MANIFEST_FILE}.tmp"));
    let mut file = create_new(&temp, written)?;
    let mut text = serde_json::to_vec_pretty(&manifest).map_err(|e| failed(MANIFEST_FILE, e))?;
    text.push(b'\n');
    file.write_all(&text).map_err(|e| Error::io(&temp, e))?;
    drop(file);
    let final_path = dir.join(MANIFEST_FILE);
    fs::rename(&temp, &final_path).map_err(|e| Error::io(&final_path, e))?;
    written.pop();
    written.push(final_path);
    Ok(ExportSummary {
        block_height: exporter.epoch(),
        artifact_mode: mode,
        export_data_hash: exporter.data_hash(),
        records: exporter.records(),
        artifacts: exporter.artifacts().len() as u64,
        artifact_bytes: sizes.iter().sum(),
    })
}

fn write_one(exporter: &StateExporter, artifact: &ExportArtifact, path: &Path) -> Result<u64> {
    // Unbuffered: the load writes whole decoded blocks (256 KiB), and a buffer would only add
    // a copy of every byte.
    let mut file =
        fs::OpenOptions::new().write(true).truncate(true).open(path).map_err(|e| Error::io(path, e))?;
    exporter.write_artifact(artifact, &mut file)
}
