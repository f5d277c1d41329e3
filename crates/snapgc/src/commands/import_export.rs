//! `import FILE...` (streamed saves, one committed block) and `export HASH [-o FILE]` (verified
//! bytes to stdout, or to FILE renamed into place only once verified).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use swingstore::{SnapshotHash, SwingStore};

use super::output::{Dest, print_json, print_text, write_snapshot};
use crate::cli::exit;

#[derive(Serialize)]
struct Imported {
    hash: String,
    file: String,
    raw_bytes: u64,
    stored_bytes: u64,
    /// The blob was already stored (its protection was renewed, nothing was written).
    deduplicated: bool,
}

/// Saves one file (streamed: the store hashes and compresses as it reads, bounded memory).
fn import_one(store: &SwingStore, path: &Path) -> Result<Imported> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file.metadata().with_context(|| format!("cannot stat {}", path.display()))?;
    if meta.is_dir() {
        bail!("{} is a directory, not a snapshot file", path.display());
    }
    // The file itself, not a BufReader: the save reads 256 KiB blocks, which a 1 MiB BufReader
    // would copy through its buffer (one more copy of every byte; issue 25).
    let mut reader = file;
    let info = store.save(&mut reader).with_context(|| format!("importing {}", path.display()))?;
    tracing::info!(file = %path.display(), hash = %info.hash, "saved");
    Ok(Imported {
        hash: info.hash.to_hex(),
        file: path.display().to_string(),
        raw_bytes: info.raw_bytes,
        stored_bytes: info.stored_bytes,
        deduplicated: info.deduplicated,
    })
}

pub fn import(store: &SwingStore, files: &[PathBuf], json: bool) -> Result<u8> {
    // Two saves at a time: each save's pipeline leaves a core idle while it starts and drains,
    // which the other fills. The rows keep the order of the files.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let workers = files.len().clamp(1, 2);
    let mut results: Vec<Option<Result<Imported>>> = (0..files.len()).map(|_| None).collect();
    let slots: Vec<std::sync::Mutex<&mut Option<Result<Imported>>>> =
        results.iter_mut().map(std::sync::Mutex::new).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !failed.load(std::sync::atomic::Ordering::SeqCst) {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(path) = files.get(i) else { break };
                    let result = import_one(store, path);
                    if result.is_err() {
                        failed.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    if let Ok(mut slot) = slots[i].lock() {
                        **slot = Some(result);
                    }
                }
            });
        }
    });
    drop(slots);
    let mut rows = Vec::with_capacity(files.len());
    for result in results.into_iter().flatten() {
        // The first failure stops the import before anything is committed.
        rows.push(result?);
    }
    let epoch = store.commit().context("committing the import block")?;
    tracing::info!(epoch, "import committed");
    if json {
        print_json(&rows)?;
    } else {
        let text: String = rows.iter().map(|r| format!("{}  {}\n", r.hash, r.file)).collect();
        print_text(&text)?;
    }
    Ok(exit::OK)
}

#[derive(Serialize)]
struct Exported {
    hash: String,
    file: String,
    raw_bytes: u64,
}

pub fn export(store: &SwingStore, hash: &SnapshotHash, output: Option<&Path>, json: bool) -> Result<u8> {
    let forbidden = super::protected_dirs(store);
    let dest = Dest { file: output, temp_prefix: ".snapgc-export-", forbidden: &forbidden };
    let written = write_snapshot("export", hash, &format!("exporting {hash}"), &dest, json, |out| {
        Ok(store.load_into(hash, out)?)
    })?;
    if let (Some(raw_bytes), Some(output), true) = (written, output, json) {
        print_json(&Exported { hash: hash.to_hex(), file: output.display().to_string(), raw_bytes })?;
    }
    Ok(exit::OK)
}
