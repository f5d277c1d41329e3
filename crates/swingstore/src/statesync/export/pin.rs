//! Pinning one committed epoch: under the commit lock, one pass over the committed kv pairs
//! writes the `kv.` records and notes the roots, the root history gives the `snapshot.`
//! records, and every blob the export ships is leased; then the lock is released.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufWriter, Write};

use super::super::ArtifactMode;
use super::super::format::{
    self, ExportDataHash, HashingWriter, MAX_LINE_BYTES, current_key, kv_name, snapshot_name, snapshot_value,
    vat_of_root_key,
};
use super::{ExportArtifact, FromArchive, StateExporter, failed};
use crate::archiver::Archiver;
use crate::error::Result;
use crate::hash::SnapshotHash;
use crate::lease::Lease;
use crate::roots::{format_root_value, parse_root_reference};
use crate::store::SwingStore;

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

/// What a pin gathers.
struct Pin<'a, W: Write> {
    store: &'a SwingStore,
    mode: ArtifactMode,
    out: HashingWriter<W>,
    records: u64,
    artifacts: Vec<ExportArtifact>,
    leases: HashMap<SnapshotHash, Lease>,
    current: BTreeMap<String, Current>,
    snapshot_records: BTreeMap<String, String>,
    /// Debug mode: earlier snapshots already swept (the archive may hold them).
    swept: Vec<ExportArtifact>,
}

fn io_err(e: io::Error) -> crate::Error {
    failed("export data", e)
}

/// [`SwingStore::export_state`].
pub(super) fn pin(store: &SwingStore, mode: ArtifactMode, data: &mut dyn Write) -> Result<StateExporter> {
    // After a failed sync, sled may hold a block that never became durable: nothing is
    // exported from it (as save, commit and gc refuse).
    store.inner.durability.check_durable()?;
    let mut pin = Pin {
        store,
        mode,
        out: HashingWriter::new(BufWriter::with_capacity(1 << 20, data)),
        records: 0,
        artifacts: Vec::new(),
        leases: HashMap::new(),
        current: BTreeMap::new(),
        snapshot_records: BTreeMap::new(),
        swept: Vec::new(),
    };
    let archiver = if mode == ArtifactMode::Debug { store.archiver() } else { None };
    let commit = store.kv().commit_guard();
    let epoch = store.epoch();
    pin.kv_pass(&commit)?;
    pin.history_pass(archiver.is_some())?;
    drop(commit);
    let archived = match &archiver {
        Some(archiver) => pin.ask_archive(archiver.as_ref())?,
        None => HashSet::new(),
    };
    for (key, value) in &pin.snapshot_records {
        pin.records += 1;
        format::write_line(&mut pin.out, key, value).map_err(io_err)?;
    }
    let (digest, data_bytes) = pin.out.finish().map_err(io_err)?;
    let mut artifacts = pin.artifacts;
    for artifact in &mut artifacts {
        artifact.raw_bytes = store.blob_meta(&artifact.hash).ok().flatten().map_or(0, |m| m.raw_bytes);
    }
    artifacts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(StateExporter {
        store: store.clone(),
        epoch,
        mode,
        records: pin.records,
        data_bytes,
        data_hash: ExportDataHash(digest),
        artifacts,
        leases: pin.leases,
        archived: archiver
            .filter(|_| !archived.is_empty())
            .map(|archiver| FromArchive { archiver, hashes: archived }),
    })
}

impl<W: Write> Pin<'_, W> {
    /// The committed kv pairs, in key order: `kv.` records, roots noted and leased.
    fn kv_pass(&mut self, commit: &std::sync::MutexGuard<'_, ()>) -> Result<()> {
        let (store, kv) = (self.store, self.store.kv());
        // The root index says which committed keys are roots and what they name (a value too
        // long or malformed is a bad root there, exactly as the collector sees it).
        let mut roots: HashMap<String, std::result::Result<SnapshotHash, String>> = HashMap::new();
        kv.for_each_root(|key, entry| {
            roots.insert(key.to_owned(), entry.clone());
            Ok(())
        })?;
        kv.for_each_committed(commit, |key, value| {
            let Some(entry) = roots.get(key) else {
                if is_local(key) {
                    return Ok(());
                }
                self.records += 1;
                check_line_fits(key, value)?;
                return format::write_line(&mut self.out, &kv_name(key), value).map_err(io_err);
            };
            let hash = *entry.as_ref().map_err(|reason| failed(format!("root {key}"), reason))?;
            let (_, pos) = parse_root_reference(key, value.as_bytes())?;
            let name = if let Some(vat) = vat_of_root_key(key) {
                // A canonical root value is rebuilt from the snapshot records on import; any
                // other (extra fields, other spacing) also travels verbatim.
                if value != format_root_value(&hash, pos) {
                    self.records += 1;
                    format::write_line(&mut self.out, &kv_name(key), value).map_err(io_err)?;
                }
                self.current.insert(vat.to_owned(), Current { pos, hash });
                snapshot_name(vat, pos)
            } else {
                self.records += 1;
                format::write_line(&mut self.out, &kv_name(key), value).map_err(io_err)?;
                kv_name(key)
            };
            self.artifacts.push(ExportArtifact { name, hash, in_use: true, raw_bytes: 0 });
            self.leases.entry(hash).or_insert_with(|| store.lease(hash));
            Ok(())
        })
    }

    /// The snapshot records: the current one of each vat, and every earlier one the history
    /// keeps (also of vats whose root is gone: the history outlives them). In debug mode the
    /// earlier snapshots still stored are leased and shipped; swept ones are noted for the
    /// archive (`with_archive`).
    fn history_pass(&mut self, with_archive: bool) -> Result<()> {
        for (vat, c) in &self.current {
            let name = snapshot_name(vat, c.pos);
            self.snapshot_records.insert(current_key(vat), name.clone());
            self.snapshot_records.insert(name, snapshot_value(vat, c.pos, &c.hash, true));
        }
        for used in crate::roots::history::all(self.store.kv().db())? {
            let Some(vat) = vat_of_root_key(&used.key) else { continue };
            if self.current.get(vat).is_some_and(|c| c.pos == used.position) {
                continue;
            }
            let name = snapshot_name(vat, used.position);
            if self.mode == ArtifactMode::Debug {
                // Leased first, then looked for: a blob present now stays until shipped.
                let lease = self.store.lease(used.hash);
                let artifact =
                    ExportArtifact { name: name.clone(), hash: used.hash, in_use: false, raw_bytes: 0 };
                if self.store.contains(&used.hash) {
                    self.leases.entry(used.hash).or_insert(lease);
                    self.artifacts.push(artifact);
                } else if with_archive {
                    self.swept.push(artifact);
                }
            }
            self.snapshot_records.insert(name, snapshot_value(vat, used.position, &used.hash, false));
        }
        Ok(())
    }

    /// Swept earlier snapshots the archive holds ship from it, verified as they are read (one
    /// question per snapshot, outside the commit lock: an S3 archive answers over the network).
    fn ask_archive(&mut self, archiver: &(dyn Archiver + 'static)) -> Result<HashSet<SnapshotHash>> {
        let mut archived = HashSet::new();
        let mut answers: HashMap<SnapshotHash, bool> = HashMap::new();
        for artifact in std::mem::take(&mut self.swept) {
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
                self.artifacts.push(artifact);
            }
        }
        Ok(archived)
    }
}
