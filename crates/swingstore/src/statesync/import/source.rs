//! Where an import reads an export from: the [`ExportSource`] trait, and [`ExportDir`], an
//! export directory in cosmic-swingset's `--export-dir` layout. Every file of the directory is
//! opened without following a link and must be a regular file; the manifest is read with a
//! size cap.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::super::format::{MANIFEST_FILE, Manifest, checked_file_name};
use crate::error::{Error, Result};

/// Largest `export-manifest.json` read (about 100 bytes per artifact: room for ~600,000).
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

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

/// Opens `path` for reading if it is a regular file: not a link (not followed), not a FIFO
/// (opened without blocking, then checked), not a device.
fn open_regular(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = fs::OpenOptions::new().read(true).custom_flags(flags.bits() as i32).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(file)
}

impl ExportDir {
    /// Reads and checks the manifest (a regular file of at most [`MAX_MANIFEST_BYTES`]):
    /// every file it names must be a plain file name inside `dir` (no `/`, no `..`, not
    /// absolute).
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let refuse = |reason: String| Error::refused(MANIFEST_FILE, reason);
        let file = open_regular(&path).map_err(|e| refuse(format!("cannot read {}: {e}", path.display())))?;
        let mut text = Vec::new();
        file.take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| refuse(format!("cannot read {}: {e}", path.display())))?;
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(refuse(format!("it is over {MAX_MANIFEST_BYTES} bytes: not an export manifest")));
        }
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|e| refuse(format!("not an export manifest ({e})")))?;
        let data =
            manifest.data.clone().ok_or_else(|| refuse("names no export-data file (`data`)".into()))?;
        checked_file_name(&data).map_err(refuse)?;
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
        open_regular(&self.dir.join(file)).map_err(|e| Error::refused(item, format!("file {file}: {e}")))
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
