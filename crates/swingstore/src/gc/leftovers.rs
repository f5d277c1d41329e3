//! What a scanning pass finds besides the blobs it knows: temp files of dead saves, orphans
//! (blob files without metadata: a crash between rename and metadata, or an unlink a crash
//! undid), strays (names that are not blob names), and live snapshots that are missing.
//!
//! Every change here happens under the sweep lock and is re-checked there: an orphan is
//! adopted or quarantined only if no save has published that blob since the pass started,
//! and quarantined only if its file is still the very one that failed to verify (same inode),
//! and only for a content error, never an I/O error.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;

use super::Pass;
use super::area::{AreaListing, current_meta};
use super::report::{GcReport, Kept, SweepError};
use crate::blob;
use crate::blob::BlobMeta;
use crate::codec;
use crate::error::{Error, Result};
use crate::failpoint::{self, points};
use crate::hash::SnapshotHash;
use crate::layout::{TEMP_PREFIX, TEMP_SUFFIX, parse_quarantine_file_name, quarantine_file_name};
use crate::schema::meta_key;
use crate::store::open_blob;

/// Removes temp files of saves no longer in progress. Only the names saves write are ours.
pub(super) fn remove_temp_leftovers(pass: &Pass<'_>, report: &mut GcReport) -> Result<()> {
    let temp_dir = pass.store.layout().temp_dir();
    for entry in fs::read_dir(&temp_dir).map_err(|e| Error::io(&temp_dir, e))? {
        let entry = entry.map_err(|e| Error::io(&temp_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)) {
            // Not a name the store writes: reported as a stray, never removed.
            report.strays.push(format!("tmp/{}", crate::error::shorten(&name)));
            continue;
        }
        if pass.options.dry_run {
            continue;
        }
        // A save registers its temp name under the sweep lock before creating the file, so a
        // name not registered under that lock is a leftover.
        let locked = pass.store.inner.sweep.lock();
        if locked.active_temps.contains(&name) {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => report.temp_removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => report.errors.push(SweepError { item: format!("tmp/{name}"), error: e.to_string() }),
        }
    }
    Ok(())
}

/// Reports strays; an offline pass removes the store's own (quarantined blobs no root names).
pub(super) fn handle_strays(pass: &Pass<'_>, listing: &AreaListing, report: &mut GcReport) {
    let dir = pass.store.layout().blob_dir();
    for stray in &listing.strays {
        report.strays.push(crate::error::shorten(stray));
        let quarantined = parse_quarantine_file_name(stray);
        // A healthy `<h>.lz4` beside a stale `<h>.lz4.corrupt` (a later save healed it): the
        // quarantined file is not the only copy; an offline pass removes it like any other.
        let healed = quarantined.is_some_and(|hash| listing.has_file(&hash));
        if let Some(hash) = quarantined
            && pass.live.contains(&hash)
            && !healed
        {
            report.errors.push(SweepError {
                item: hash.to_hex(),
                error: format!(
                    "a committed root names this snapshot, whose only copy {stray} failed verification; \
                     kept for salvage"
                ),
            });
            continue;
        }
        if !pass.options.now || pass.options.dry_run {
            continue;
        }
        if quarantined.is_none() {
            // Not a name the store writes: someone else's file. Reported, never removed.
            continue;
        }
        match fs::remove_file(dir.join(stray)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => report.errors.push(SweepError { item: stray.clone(), error: e.to_string() }),
        }
    }
}

/// Reports every live snapshot without a regular file (the mark has the live set); returns how
/// many are missing.
pub(super) fn check_live_present(
    pass: &Pass<'_>,
    listing: Option<&AreaListing>,
    report: &mut GcReport,
) -> u64 {
    let mut missing: Vec<&SnapshotHash> = pass
        .live
        .live
        .keys()
        .filter(|hash| match listing {
            Some(listing) => !listing.has_file(hash),
            None => !pass.store.contains(hash),
        })
        .collect();
    missing.sort();
    let count = missing.len() as u64;
    for hash in missing {
        // The mark records keys only when asked: look the root up for the (rare) missing one.
        let key = match pass.live.first_root(hash) {
            Some(key) => crate::error::shorten(key),
            None => root_naming(pass, hash).unwrap_or_else(|| "(unknown)".into()),
        };
        report.errors.push(SweepError {
            item: hash.to_hex(),
            error: format!("live snapshot missing (named by root {key}): its vat cannot be paged in"),
        });
    }
    count
}

/// The first committed root key naming `hash`, shortened.
fn root_naming(pass: &Pass<'_>, hash: &SnapshotHash) -> Option<String> {
    let mut found = None;
    let _ = pass.store.inner.kv.for_each_root(|key, entry| {
        if found.is_none() && entry.as_ref().is_ok_and(|h| h == hash) {
            found = Some(crate::error::shorten(key));
        }
        Ok(())
    });
    found
}

/// Identity of a file: a rename over the name makes a different one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

fn file_id(meta: &fs::Metadata) -> FileId {
    FileId { dev: meta.dev(), ino: meta.ino() }
}

/// Verifies an orphan: the identity of the file read (when it could be opened), and its raw
/// and stored lengths or why it does not verify.
fn verify_orphan(pass: &Pass<'_>, hash: &SnapshotHash) -> (Option<FileId>, Result<(u64, u64)>) {
    let path = pass.store.layout().blob_path(hash);
    let file = match open_blob(&path, hash) {
        Ok(f) => f,
        Err(e) => return (None, Err(e)),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return (None, Err(Error::io(&path, e))),
    };
    let verified = blob::copy_verified(file, *hash, None, &mut io::sink(), blob::Hashing::Inline)
        .map(|raw| (raw, meta.len()));
    (Some(file_id(&meta)), verified)
}

/// Orphans: adopted as young (verified first), or in an offline pass deleted when no root
/// names them. One that does not verify is quarantined as `<name>.corrupt`.
pub(super) fn handle_orphans(
    pass: &Pass<'_>,
    listing: &AreaListing,
    known: &mut BTreeMap<SnapshotHash, Result<BlobMeta, String>>,
    report: &mut GcReport,
) -> Result<bool> {
    let store = pass.store;
    let layout = store.layout();
    let mut settled = true;
    for (hash, file_type) in &listing.blob_files {
        if known.contains_key(hash) {
            continue;
        }
        if !file_type.is_file() {
            // Reported by every scanning pass and by `verify`; it needs an operator.
            report
                .errors
                .push(SweepError { item: hash.to_hex(), error: "not a regular file; left alone".into() });
            continue;
        }
        let referenced = pass.live.contains(hash);
        if pass.options.now && !referenced {
            let stored = fs::metadata(layout.blob_path(hash)).map(|m| m.len()).unwrap_or(0);
            let meta = BlobMeta { raw_bytes: 0, stored_bytes: stored, saved_epoch: 0, condemned_epoch: None };
            known.insert(*hash, Ok(meta));
            continue;
        }
        if pass.options.dry_run {
            report
                .kept
                .push(Kept { hash: hash.to_hex(), reason: "orphan (adopted by the next pass)".into() });
            settled = false;
            continue;
        }
        let (verified_id, verified) = verify_orphan(pass, hash);
        failpoint::hit(pass.store.inner.durability.scope(), points::GC_AFTER_ORPHAN_VERIFY)
            .map_err(|e| Error::io(pass.store.inner.durability.scope(), e))?;
        let locked = store.inner.sweep.lock();
        // A save published it meanwhile: the save's record stands, there is nothing to adopt.
        if locked.saved_since(hash, pass.save_generation) || current_meta(store, hash)?.is_some() {
            if let Some(meta) = current_meta(store, hash)? {
                known.insert(*hash, Ok(meta));
            }
            continue;
        }
        // Decide only about the very file that was verified.
        let now_id = fs::symlink_metadata(layout.blob_path(hash)).ok().map(|m| file_id(&m));
        if verified_id.is_some() && verified_id != now_id {
            settled = false;
            continue;
        }
        match verified {
            Ok((raw, stored)) => {
                let meta = BlobMeta {
                    raw_bytes: raw,
                    stored_bytes: stored,
                    saved_epoch: pass.epoch + 1,
                    condemned_epoch: None,
                };
                store.inner.kv.db().insert(meta_key(hash), codec::encode(&meta)?)?;
                report.orphans_adopted += 1;
                known.insert(*hash, Ok(meta));
            }
            Err(Error::NotFound { .. }) => {}
            Err(e @ Error::Corrupt { .. }) if verified_id.is_some() => {
                let moved = quarantine(pass, hash, &e);
                drop(locked);
                report.errors.push(SweepError { item: hash.to_hex(), error: moved });
            }
            Err(e) => {
                // An I/O error says nothing about the content: leave the file, report it.
                report
                    .errors
                    .push(SweepError { item: hash.to_hex(), error: format!("orphan unreadable: {e}") });
            }
        }
    }
    Ok(settled)
}

/// Renames a corrupt orphan to `<name>.corrupt` (a stray: kept and reported, removed only by
/// an offline pass when no root names it). Runs under the sweep lock, after the caller checked
/// that the file is still the one that failed. Returns the message to report.
fn quarantine(pass: &Pass<'_>, hash: &SnapshotHash, error: &Error) -> String {
    let layout = pass.store.layout();
    let from = layout.blob_path(hash);
    let to = layout.blob_dir().join(quarantine_file_name(hash));
    match fs::rename(&from, &to) {
        Ok(()) => format!("orphan does not verify: {error}; moved to {}", to.display()),
        Err(e) => format!("orphan does not verify: {error}; could not move it aside: {e}"),
    }
}
