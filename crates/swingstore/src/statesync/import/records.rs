//! Pass 1 of an import: the export data, read once and streamed through sha256. Plain kv
//! entries go to sled in batches as they come (bounded memory, invisible behind the import
//! marker); root kv entries and snapshot records are kept for the plan.
//!
//! Refused, naming the line: a record whose key appeared on an earlier line (Agoric's importer
//! would silently keep the last), and a `kv.host.*` or `kv.local.*` record that is not a root
//! under the store's patterns (Agoric's kernel kvStore refuses `host.` keys; `local.` keys are
//! node-local and no exporter writes them).

use std::collections::{BTreeMap, HashSet};
use std::io::BufReader;

use super::super::format::{
    self, DATA_FILE, ExportDataHash, HashingReader, LineReader, Name, SnapshotRecord,
};
use super::{ExportSource, ImportOptions};
use crate::error::{Error, Result};
use crate::store::SwingStore;

/// What the export data said.
#[derive(Default)]
pub(super) struct Records {
    /// `(vatID, snapPos)` → the record.
    pub snapshots: BTreeMap<(String, u64), SnapshotRecord>,
    /// vatID → the position its `.current` names.
    pub currents: BTreeMap<String, u64>,
    /// `kv.` entries whose key is a root under the store's patterns.
    pub root_kv: BTreeMap<String, Option<String>>,
    pub kv_entries: u64,
    pub skipped: u64,
}

/// Plain kv entries written per batch.
const KV_BATCH: usize = 4096;

/// Agoric's non-consensus keys (`getKeyType`: `host.*`, `local.*`).
pub(super) fn is_local(key: &str) -> bool {
    key.starts_with("host.") || key.starts_with("local.")
}

/// Reads the export data; returns its records and its sha256 (checked against the trusted
/// value, if given, at its end).
pub(super) fn read_export_data(
    store: &SwingStore,
    source: &mut dyn ExportSource,
    options: &ImportOptions,
) -> Result<(Records, ExportDataHash)> {
    let kv = store.kv();
    let mut rec = Records::default();
    let mut input = HashingReader::new(source.export_data()?);
    let mut lines = LineReader::new(BufReader::with_capacity(1 << 20, &mut input));
    let mut plain: BTreeMap<String, Option<String>> = BTreeMap::new();
    // Keys of records seen whose trace the maps above no longer hold: plain kv deletions
    // written to sled, snapshot and current deletions.
    let mut deleted: HashSet<String> = HashSet::new();
    loop {
        let line = lines.next_record().map_err(|e| Error::refused(DATA_FILE, format!("cannot read: {e}")))?;
        let Some(parsed) = line else { break };
        let (key, value) = parsed.map_err(|reason| Error::refused(DATA_FILE, reason))?;
        let number = lines.line_number();
        let refuse =
            |reason: String| Error::refused(format!("record {key}"), format!("line {number}: {reason}"));
        let repeated =
            || refuse("the key appeared on an earlier line (an export lists each key once)".into());
        let kind = format::classify(&key).map_err(refuse)?;
        if deleted.contains(&key) {
            return Err(repeated());
        }
        match kind {
            Name::Kv(k) => {
                rec.kv_entries += u64::from(value.is_some());
                if kv.is_root(k) {
                    if rec.root_kv.insert(k.to_owned(), value).is_some() {
                        return Err(repeated());
                    }
                    continue;
                }
                if is_local(k) {
                    return Err(refuse(
                        "a host.* or local.* key is node-local state, never export data (Agoric's \
                         kernel kvStore refuses host keys); only a root under the store's patterns \
                         may have such a key"
                            .into(),
                    ));
                }
                if plain.contains_key(k) || kv.get_committed(k)?.is_some() {
                    return Err(repeated());
                }
                if value.is_none() {
                    deleted.insert(key.clone());
                }
                plain.insert(k.to_owned(), value);
                if plain.len() >= KV_BATCH {
                    kv.write_unstaged(&plain)?;
                    plain.clear();
                }
            }
            Name::Snapshot { vat, pos } => {
                let id = (vat.to_owned(), pos);
                match value {
                    None => {
                        if rec.snapshots.remove(&id).is_some() {
                            return Err(repeated());
                        }
                        deleted.insert(key.clone());
                    }
                    Some(v) => {
                        let parsed = format::parse_snapshot_value(vat, pos, &v).map_err(refuse)?;
                        if rec.snapshots.insert(id, parsed).is_some() {
                            return Err(repeated());
                        }
                    }
                }
            }
            Name::Current { vat } => match value {
                None => {
                    if rec.currents.remove(vat).is_some() {
                        return Err(repeated());
                    }
                    deleted.insert(key.clone());
                }
                Some(v) => {
                    let pos = format::parse_current_value(vat, &v).map_err(refuse)?;
                    if rec.currents.insert(vat.to_owned(), pos).is_some() {
                        return Err(repeated());
                    }
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

/// Why a transcript or bundle record or artifact is refused.
pub(super) fn refusal_of(kind: &Name<'_>, what: &str) -> String {
    let type_name = if matches!(kind, Name::Transcript) { "a transcript span" } else { "a code bundle" };
    format!(
        "{type_name} {what}: this store keeps snapshots only, and will not drop data silently \
         (import with --snapshots-only to skip and count transcript and bundle records and artifacts)"
    )
}
