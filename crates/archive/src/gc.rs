//! The archive's collector: retention decides which manifests stay; packs that no kept
//! manifest names are condemned (recorded in `state/gc.json`) and deleted only once the
//! store's committed epoch has moved `grace` epochs past their condemnation, if still unnamed.
//!
//! * Fail closed: a manifest that does not read or parse aborts the pass before any deletion
//!   (its chunks might be the only copy of a snapshot's history).
//! * A pack of an unfinished archive step (a crash between the pack and its manifest) is named
//!   by no manifest: condemned by the first pass, deleted `grace` epochs later (leaks are
//!   reclaimed). The index never offers its chunks, so no later step refers to it.
//! * Budgeted (deletions per pass), idempotent (a pass repeated, or cut short by a crash,
//!   only redoes or delays work).
//! * Packs are not repacked: a pack stays whole while any kept manifest names one of its
//!   chunks; the bytes of its unnamed chunks are reported as `dead_bytes`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::{Error, Result};
use crate::index::Index;
use crate::manifest::Manifest;
use crate::params::FORMAT;
use crate::store::{
    Archive, MANIFEST_DIR, PACK_DIR, STATE_OBJECT, manifest_name, manifest_path, pack_name, pack_path,
};
use serde::{Deserialize, Serialize};

/// Options of one archive collection.
#[derive(Debug, Clone, Default)]
pub struct ArchiveGcOptions {
    /// The store's committed epoch now.
    pub epoch: u64,
    /// Epochs between a pack's condemnation and its deletion.
    pub grace: u64,
    /// Keep the last N snapshots of each root key (by position); 0 keeps all.
    pub keep_last: u64,
    /// At most this many objects deleted (manifests and packs).
    pub budget: Option<u64>,
    /// Decide and report; change nothing.
    pub dry_run: bool,
}

/// What one archive collection did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveGcReport {
    /// The epoch it worked at.
    pub epoch: u64,
    /// The grace it used.
    pub grace: u64,
    /// The retention (0: all).
    pub keep_last: u64,
    /// Manifests found.
    pub manifests: u64,
    /// Manifests retention dropped (deleted).
    pub manifests_dropped: u64,
    /// Snapshots whose manifests retention dropped.
    pub dropped: Vec<String>,
    /// Packs found.
    pub packs: u64,
    /// Packs newly condemned.
    pub packs_condemned: u64,
    /// Condemned packs kept until their grace ends.
    pub packs_in_grace: u64,
    /// Packs deleted.
    pub packs_deleted: u64,
    /// Their bytes.
    pub bytes_deleted: u64,
    /// Deletions left for a later pass by the budget.
    pub pending: u64,
    /// Bytes of chunks no kept manifest names, in packs kept for their other chunks.
    pub dead_bytes: u64,
    /// Leftover staging files of interrupted writes removed (local archives).
    pub staging_removed: u64,
    /// Manifests that do not read, and why: while any is listed no pack is condemned or
    /// deleted (it could name any of them).
    pub unreadable: Vec<String>,
    /// Nothing was changed.
    pub dry_run: bool,
}

/// `state/gc.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    format: u32,
    /// Pack id (hex) to the epoch it was condemned at.
    condemned: BTreeMap<String, u64>,
}

impl Archive {
    fn load_state(&self) -> Result<State> {
        match self.get_object(&STATE_OBJECT.into(), 64 * 1024 * 1024)? {
            None => Ok(State { format: FORMAT, ..State::default() }),
            Some(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(s) if s.format == FORMAT => Ok(s),
                // Unreadable condemnations only delay deletions: start over.
                _ => {
                    tracing::warn!("the archive's {STATE_OBJECT} does not parse; condemnations start over");
                    Ok(State { format: FORMAT, ..State::default() })
                }
            },
        }
    }

    fn store_state(&self, state: &State) -> Result<()> {
        let bytes =
            serde_json::to_vec(state).map_err(|e| Error::Other(format!("encoding the state: {e}")))?;
        self.put_object(&STATE_OBJECT.into(), bytes)
    }

    /// One collection of the archive (see the module docs).
    pub fn gc(&self, options: &ArchiveGcOptions) -> Result<ArchiveGcReport> {
        let mut inner = self.lock();
        let (epoch, grace) = (options.epoch, options.grace);
        let mut report = ArchiveGcReport {
            epoch,
            grace,
            keep_last: options.keep_last,
            dry_run: options.dry_run,
            ..ArchiveGcReport::default()
        };
        let mut budget = options.budget.unwrap_or(u64::MAX);
        // A manifest that does not read stops only its own snapshot: it could name any pack,
        // so no pack is condemned or deleted while one is unreadable (fail closed on packs),
        // but retention and the other snapshots go on, and the report names it.
        let scan = self.read_manifests()?;
        let manifests = scan.manifests;
        let packs_frozen = !scan.unreadable.is_empty();
        report.unreadable = scan.unreadable.iter().map(|p| format!("{}: {}", p.item, p.problem)).collect();
        report.manifests = manifests.len() as u64;
        let (kept, dropped) = retain(manifests, options.keep_last);
        let referenced: BTreeSet<[u8; 32]> = kept.iter().flat_map(|m| m.packs()).collect();
        let packs: Vec<([u8; 32], u64)> = self
            .list_objects(PACK_DIR)?
            .into_iter()
            .filter_map(|meta| pack_name(&meta.location).map(|id| (id, meta.size)))
            .collect();
        report.packs = packs.len() as u64;
        let mut named: HashMap<[u8; 32], u64> = HashMap::new();
        let mut seen = BTreeSet::new();
        for m in &kept {
            for c in &m.chunks {
                if seen.insert((c.pack, c.offset)) {
                    *named.entry(c.pack).or_default() += u64::from(c.stored_len);
                }
            }
        }
        for (id, size) in &packs {
            if let Some(live) = named.get(id) {
                report.dead_bytes += size.saturating_sub(*live);
            }
        }

        let mut state = self.load_state()?;
        // Manifests first: retention's decision (their packs are condemned below).
        for m in &dropped {
            if budget == 0 {
                report.pending += 1;
                continue;
            }
            report.dropped.push(m.hash.to_hex());
            report.manifests_dropped += 1;
            if !options.dry_run {
                self.delete_object(&manifest_path(&m.hash))?;
            }
            budget -= 1;
        }
        // Kept manifests whose deletion the budget deferred still name their packs.
        let deferred: BTreeSet<[u8; 32]> = dropped
            .iter()
            .filter(|m| !report.dropped.contains(&m.hash.to_hex()))
            .flat_map(|m| m.packs())
            .collect();
        let mut due = Vec::new();
        let mut changed = false;
        let listed: BTreeSet<[u8; 32]> = packs.iter().map(|(id, _)| *id).collect();
        for (id, size) in &packs {
            let hex = hex::encode(id);
            if referenced.contains(id) || deferred.contains(id) {
                changed |= state.condemned.remove(&hex).is_some();
                continue;
            }
            if packs_frozen {
                // Maybe named by an unreadable manifest: kept, its condemnation (if any) too.
                continue;
            }
            match state.condemned.get(&hex) {
                Some(&at) if epoch >= at.saturating_add(grace) => due.push((*id, *size)),
                Some(_) => report.packs_in_grace += 1,
                None => {
                    report.packs_condemned += 1;
                    changed = true;
                    state.condemned.insert(hex, epoch);
                    if grace == 0 {
                        due.push((*id, *size));
                    } else {
                        report.packs_in_grace += 1;
                    }
                }
            }
        }
        // Condemnations of packs that are gone are forgotten.
        let before = state.condemned.len();
        state.condemned.retain(|hex, _| {
            let mut id = [0u8; 32];
            hex::decode_to_slice(hex, &mut id).is_ok() && listed.contains(&id)
        });
        changed |= state.condemned.len() != before;
        if options.dry_run {
            for (_, size) in &due {
                if budget == 0 {
                    report.pending += 1;
                    continue;
                }
                budget -= 1;
                report.packs_deleted += 1;
                report.bytes_deleted += size;
            }
            return Ok(report);
        }
        // The condemnations are durable before any deletion they allow.
        if changed {
            self.store_state(&state)?;
        }
        let mut deleted_any = false;
        for (id, size) in due {
            if budget == 0 {
                report.pending += 1;
                continue;
            }
            self.delete_object(&pack_path(&id))?;
            state.condemned.remove(&hex::encode(id));
            deleted_any = true;
            budget -= 1;
            report.packs_deleted += 1;
            report.bytes_deleted += size;
        }
        if deleted_any {
            self.store_state(&state)?;
        }
        report.staging_removed = self.remove_staging_leftovers();
        // The index offers only chunks of kept manifests from now on.
        let still: Vec<Manifest> = kept
            .into_iter()
            .chain(dropped.into_iter().filter(|m| !report.dropped.contains(&m.hash.to_hex())))
            .collect();
        inner.index = Some(Index::from_manifests(still));
        Ok(report)
    }

    /// Local archives: removes the staging files of writes a crash interrupted. object_store
    /// stages a put as `<object name>#<digits>` beside the object, so only such names are
    /// removed, and only in the archive's own folders (`manifests/`, `packs/<2 hex>/`,
    /// `state/`, the root for the marker): a user's `notes#1.txt` is never touched.
    /// Runs under the archive's lock, so no write of this process is in flight.
    fn remove_staging_leftovers(&self) -> u64 {
        let Some(root) = &self.local_root else { return 0 };
        let mut dirs: Vec<(std::path::PathBuf, Folder)> = vec![
            (root.clone(), Folder::Root),
            (root.join(MANIFEST_DIR), Folder::Manifests),
            (root.join("state"), Folder::State),
        ];
        if let Ok(entries) = std::fs::read_dir(root.join(PACK_DIR)) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let fan_out = name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit());
                if fan_out && entry.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push((entry.path(), Folder::Packs));
                }
            }
        }
        let mut removed = 0;
        for (dir, folder) in dirs {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if entry.file_type().is_ok_and(|t| t.is_file())
                    && is_staging_name(&name, folder)
                    && std::fs::remove_file(entry.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        removed
    }
}

/// The archive's folders, for the names their staging files may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Folder {
    Root,
    Manifests,
    Packs,
    State,
}

/// `<object name>#<digits>`, where the object name is one the folder holds.
fn is_staging_name(name: &str, folder: Folder) -> bool {
    let Some((object, digits)) = name.rsplit_once('#') else { return false };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    match folder {
        Folder::Root => object == crate::store::MARKER_OBJECT,
        Folder::Manifests => manifest_name(&object.into()).is_some(),
        Folder::Packs => pack_name(&object.into()).is_some(),
        Folder::State => object == "gc.json",
    }
}

/// Splits manifests into kept and dropped: with `keep_last` N > 0, the N of highest position
/// (then archived epoch, then hash) of each root key stay.
fn retain(manifests: Vec<Manifest>, keep_last: u64) -> (Vec<Manifest>, Vec<Manifest>) {
    if keep_last == 0 {
        return (manifests, Vec::new());
    }
    let mut by_root: BTreeMap<String, Vec<Manifest>> = BTreeMap::new();
    for m in manifests {
        by_root.entry(m.root.clone()).or_default().push(m);
    }
    let (mut kept, mut dropped) = (Vec::new(), Vec::new());
    for (_, mut list) in by_root {
        list.sort_by(|a, b| {
            (b.position, b.archived_epoch, b.hash.to_hex()).cmp(&(
                a.position,
                a.archived_epoch,
                a.hash.to_hex(),
            ))
        });
        let keep = usize::try_from(keep_last).unwrap_or(usize::MAX).min(list.len());
        let rest = list.split_off(keep);
        kept.extend(list);
        dropped.extend(rest);
    }
    let by_hash = |m: &Manifest| m.hash;
    kept.sort_by_key(by_hash);
    dropped.sort_by_key(by_hash);
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_staging_names_of_archive_objects_are_staging() {
        let hash = "ab".repeat(32);
        assert!(is_staging_name(&format!("{hash}.pack#12"), Folder::Packs));
        assert!(is_staging_name(&format!("{hash}.json.zst#3"), Folder::Manifests));
        assert!(is_staging_name("gc.json#7", Folder::State));
        assert!(is_staging_name("SNAPGC-ARCHIVE#1", Folder::Root));
        assert!(!is_staging_name("notes#1.txt", Folder::Root));
        assert!(!is_staging_name(&format!("{hash}.pack#"), Folder::Packs));
        assert!(!is_staging_name(&format!("{hash}.pack#1a"), Folder::Packs));
        assert!(!is_staging_name(&format!("{hash}.json.zst#3"), Folder::Packs));
        assert!(!is_staging_name("photo#2.jpg", Folder::Manifests));
        assert!(!is_staging_name("gc.json#7", Folder::Root));
    }
}
