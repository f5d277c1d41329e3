//! What a directory holds before we touch it: a store (and of which format), an empty
//! directory, or someone else's files. Every open and every state-sync import asks this first.
//!
//! **The rule.** A directory is a store if it holds the `SNAPGC-STORE` marker (whose format
//! this build must know, else [`Error::UnsupportedFormat`]), or a `kv/` that really holds
//! sled's files (`kv/conf` or `kv/db`: a store written before the marker existed). A `kv/`
//! holding anything else is never adopted, emptied or removed. A directory that is neither is
//! used only if it is empty (or holds only what a creation cut short leaves: `LOCK`,
//! `IMPORT-INCOMPLETE`).

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result, shorten};
use crate::layout::{
    IMPORT_MARKER, KV_DIR, KV_STAGING, LOCK_FILE, Layout, STORE_FORMAT, STORE_MARKER, TEMP_PREFIX,
    TEMP_SUFFIX, parse_blob_file_name, parse_quarantine_file_name,
};

/// What a directory holds.
#[derive(Debug)]
pub(crate) enum Found {
    /// Nothing there.
    Missing,
    /// An empty directory (or one holding only `LOCK` / `IMPORT-INCOMPLETE`).
    Empty,
    /// A store: with the marker (its format known), or an older one with only sled's `kv/`.
    Store { marked: bool },
    /// A directory with files of someone else's (the reason names one).
    NotAStore(String),
}

/// What `kv/` holds.
#[derive(Debug)]
pub(crate) enum KvState {
    /// No `kv/`.
    Absent,
    /// sled's database (`conf` or `db` present).
    Sled,
    /// Only names sled writes, but neither `conf` nor `db` (an older version's creation cut
    /// short: nothing was ever committed in it), or nothing at all. The paths to remove.
    Unfinished(Vec<PathBuf>),
    /// A name sled never writes: not ours; never touched.
    Foreign(String),
}

/// The names sled 0.34 writes in its directory.
fn is_sled_name(name: &str) -> bool {
    matches!(name, "conf" | "db" | "blobs") || name.starts_with("snap.")
}

/// What `kv_dir` holds.
pub(crate) fn kv_state(kv_dir: &Path) -> Result<KvState> {
    let meta = match fs::symlink_metadata(kv_dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(KvState::Absent),
        Err(e) => return Err(Error::io(kv_dir, e)),
    };
    if !meta.is_dir() {
        return Ok(KvState::Foreign(format!("{} is not a directory", kv_dir.display())));
    }
    let is_file = |name: &str| fs::symlink_metadata(kv_dir.join(name)).is_ok_and(|m| m.is_file());
    if is_file("conf") || is_file("db") {
        return Ok(KvState::Sled);
    }
    let mut ours = Vec::new();
    for entry in fs::read_dir(kv_dir).at(kv_dir)? {
        let entry = entry.at(kv_dir)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry.file_type().at(&entry.path())?;
        let sled_dir_ok = name == "blobs" && kind.is_dir() && dir_is_empty(&entry.path())?;
        let sled_file_ok = name != "blobs" && is_sled_name(&name) && kind.is_file();
        if !(sled_dir_ok || sled_file_ok) {
            return Ok(KvState::Foreign(format!(
                "{} holds {:?}, which sled never writes",
                kv_dir.display(),
                shorten(&name)
            )));
        }
        ours.push(entry.path());
    }
    Ok(KvState::Unfinished(ours))
}

fn dir_is_empty(dir: &Path) -> Result<bool> {
    Ok(fs::read_dir(dir).at(dir)?.next().is_none())
}

/// The marker's text for this build's format.
pub(crate) fn marker_text() -> String {
    format!("snapgc store\nformat {STORE_FORMAT}\n")
}

/// Reads the marker and checks its format (the format gate). `Ok(false)`: there is no marker.
pub(crate) fn check_marker(root: &Path, layout: &Layout) -> Result<bool> {
    let path = layout.marker_file();
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let unsupported = |found: String, hint: &str| Error::UnsupportedFormat {
        path: root.to_owned(),
        found,
        supported: STORE_FORMAT,
        hint: hint.to_owned(),
    };
    let damaged = "the SNAPGC-STORE marker is damaged; if this store was written by this version, \
                   restore the marker's two lines `snapgc store` and `format 1`";
    if !meta.is_file() {
        return Err(unsupported("unreadable (the marker is not a regular file)".into(), damaged));
    }
    // Bounded: the marker is two short lines.
    let mut text = String::new();
    fs::File::open(&path)
        .and_then(|f| f.take(4096).read_to_string(&mut text))
        .map_err(|e| unsupported(format!("unreadable ({e})"), damaged))?;
    let mut lines = text.lines();
    if lines.next() != Some("snapgc store") {
        return Err(unsupported("unknown (the marker does not start with `snapgc store`)".into(), damaged));
    }
    let Some(format) = lines.find_map(|l| l.strip_prefix("format ")) else {
        return Err(unsupported("unknown (the marker names no format)".into(), damaged));
    };
    match format.trim().parse::<u32>() {
        Ok(n) if n == STORE_FORMAT => Ok(true),
        Ok(n) if n > STORE_FORMAT => Err(unsupported(
            n.to_string(),
            "it was written by a newer snapgc: open it with that release (or a later one); this \
             build does not read it, and will not change it",
        )),
        Ok(n) => Err(unsupported(
            n.to_string(),
            "no release ever wrote this format: the marker is damaged or the directory is not a \
             snapgc store",
        )),
        Err(_) => Err(unsupported(format!("{:?}", shorten(format.trim())), damaged)),
    }
}

/// What `root` holds (see the module documentation). Unknown formats are refused here.
pub(crate) fn inspect(root: &Path) -> Result<Found> {
    let layout = Layout::new(root);
    let meta = match fs::metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(Error::io(root, e)),
    };
    if !meta.is_dir() {
        return Err(Error::NoStore { path: root.to_owned(), reason: "not a directory".into() });
    }
    let marked = check_marker(root, &layout)?;
    match kv_state(&layout.kv_dir())? {
        KvState::Foreign(why) if marked => {
            return Err(Error::NoStore {
                path: root.to_owned(),
                reason: format!("{why}: refusing to touch it (a store's kv/ holds only sled's files)"),
            });
        }
        _ if marked => return Ok(Found::Store { marked }),
        KvState::Sled => return Ok(Found::Store { marked }),
        _ => {}
    }
    // Empty, or holding only what a creation cut short leaves: the lock file (taken before the
    // marker is written) or the import marker (an import that crashed before it made the store).
    for entry in fs::read_dir(root).at(root)? {
        let entry = entry.at(root)?;
        let name = entry.file_name();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        let ours = is_file && (name == LOCK_FILE || name == IMPORT_MARKER);
        if !ours {
            return Ok(Found::NotAStore(format!("it holds {:?}", shorten(&name.to_string_lossy()))));
        }
    }
    Ok(Found::Empty)
}

/// Whether a top-level name is one a store writes (what an import's wipe may remove).
fn is_store_name(name: &str) -> bool {
    matches!(name, STORE_MARKER | IMPORT_MARKER | LOCK_FILE | KV_DIR | KV_STAGING | "snapshots" | "tmp")
        || name == crate::status::STATUS_FILE
        || name == crate::status::METRICS_FILE
        || name.starts_with(&format!(".{}.", crate::status::STATUS_FILE))
        || name.starts_with(&format!(".{}.", crate::status::METRICS_FILE))
}

/// The paths an import's wipe removes from `root`: only the store's own names, each checked
/// (`kv/` only if it holds only sled's names, `snapshots/` only blob and quarantine files, `tmp/`
/// only save temp files). `Err` (nothing removed) names the first entry that is not the store's.
/// `LOCK` stays (the import holds it), and `IMPORT-INCOMPLETE` when `keep_marker`.
pub(crate) fn wipe_plan(root: &Path, keep_marker: bool) -> Result<Vec<PathBuf>> {
    let refuse = |what: String| Error::NoStore {
        path: root.to_owned(),
        reason: format!(
            "{what}, which is not the store's: refusing to wipe the directory (move it away, or \
             import into a new directory)"
        ),
    };
    let mut plan = Vec::new();
    for entry in fs::read_dir(root).at(root)? {
        let entry = entry.at(root)?;
        let name = entry.file_name();
        let text = name.to_string_lossy().into_owned();
        if !is_store_name(&text) {
            return Err(refuse(format!("it holds {:?}", shorten(&text))));
        }
        if name == LOCK_FILE || (keep_marker && name == IMPORT_MARKER) {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().at(&path)?;
        match text.as_str() {
            KV_DIR | KV_STAGING if kind.is_dir() => match kv_state(&path)? {
                KvState::Sled => plan.extend(sled_files(&path)?),
                KvState::Unfinished(files) => plan.extend(files),
                KvState::Absent => {}
                KvState::Foreign(why) => return Err(refuse(why)),
            },
            "snapshots" | "tmp" if kind.is_dir() => {
                for inner in fs::read_dir(&path).at(&path)? {
                    let inner = inner.at(&path)?;
                    let n = inner.file_name();
                    let n = n.to_string_lossy();
                    let ok = inner.file_type().at(&inner.path())?.is_file()
                        && if text == "tmp" {
                            n.starts_with(TEMP_PREFIX) && n.ends_with(TEMP_SUFFIX)
                        } else {
                            parse_blob_file_name(&n).is_some() || parse_quarantine_file_name(&n).is_some()
                        };
                    if !ok {
                        return Err(refuse(format!("{}/{:?}", text, shorten(&n))));
                    }
                    plan.push(inner.path());
                }
            }
            _ if kind.is_file() => {}
            _ => return Err(refuse(format!("{text:?} (not what the store writes there)"))),
        }
        plan.push(path);
    }
    Ok(plan)
}

/// sled's files in `kv_dir` (all of them sled's names: checked by [`kv_state`]), deepest
/// first.
pub(crate) fn sled_files(kv_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(kv_dir).at(kv_dir)? {
        let entry = entry.at(kv_dir)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        let kind = entry.file_type().at(&path)?;
        if !is_sled_name(&name) {
            return Err(Error::NoStore {
                path: kv_dir.to_owned(),
                reason: format!(
                    "it holds {:?}, which sled never writes: refusing to remove it",
                    shorten(&name)
                ),
            });
        }
        if kind.is_dir() {
            // `blobs/`: sled's large-value files, named by number.
            for inner in fs::read_dir(&path).at(&path)? {
                let inner = inner.at(&path)?;
                let n = inner.file_name();
                let numeric = n.to_str().is_some_and(|s| s.parse::<i64>().is_ok());
                if !numeric || !inner.file_type().at(&inner.path())?.is_file() {
                    return Err(Error::NoStore {
                        path: path.clone(),
                        reason: format!(
                            "it holds {:?}, which sled never writes: refusing to remove it",
                            shorten(&n.to_string_lossy())
                        ),
                    });
                }
                out.push(inner.path());
            }
        }
        out.push(path);
    }
    Ok(out)
}

/// Removes the paths of a [`wipe_plan`] (files, then their directories, in plan order).
pub(crate) fn remove_planned(plan: &[PathBuf]) -> Result<()> {
    for path in plan {
        let result = match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => fs::remove_dir(path),
            Ok(_) => fs::remove_file(path),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Ok(())
}
