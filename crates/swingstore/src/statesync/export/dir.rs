//! An export directory in cosmic-swingset's `--export-dir` layout: the export data, one file
//! per artifact (written by a few workers, each verified as it is written), the manifest last.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::super::ArtifactMode;
use super::super::format::{DATA_FILE, ExportDataHash, MANIFEST_FILE, Manifest, artifact_file_name};
use super::{ExportArtifact, StateExporter, failed};
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;
use crate::store::SwingStore;

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
