//! A child that builds its fresh store by a state-sync import, and the side log that lets a
//! cut check it: a returned import is durable (its end, `IMPORT-INCOMPLETE` removed, included:
//! the `import-finish` step), and an import cut short leaves a target a re-run takes over.
//!
//! The child exports a small source store (vats 1–3, heaps the workload would write) into
//! `<commit log>.import-export/` on the real file system, logs `P 1 <roots>` in the commit log
//! and `P` in the side log (`<commit log>.import`), imports into the store on the crash file
//! system, logs `C 1 <roots>` and `C`, creates `<mount>/import-returned` (a marker the harness
//! can cut at), then runs the workload on the imported store.
//!
//! After the cut, [`settle`] runs before the usual checks: a returned import must have left no
//! marker; one in flight either finished (the store is at the logged `P`) or is re-run (it
//! starts over, as an operator would) and `C 1` is logged, so the usual checks then hold the
//! store to the imported roots.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use crashtest::journal::{Kind, LogWriter, Roots};
use crashtest::{heap, root_key};
use swingstore::{ArtifactMode, ImportOptions, OpenOptions, SwingStore, format_root_value};

/// The marker file a child creates beside the store once the import returned.
pub const MARKER: &str = "import-returned";

/// The side log of the commit log at `log`.
pub fn path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".import");
    PathBuf::from(name)
}

/// Where the child writes the export it imports (real file system).
fn export_dir(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".import-export");
    PathBuf::from(name)
}

fn side_line(log: &Path, tag: &str) -> Result<()> {
    use std::io::Write;
    let mut file =
        std::fs::OpenOptions::new().create(true).append(true).open(path(log)).context("the import log")?;
    file.write_all(format!("{tag}\n").as_bytes()).context("writing the import log")?;
    file.sync_data().context("fsyncing the import log")
}

/// The export a child imports: three vats at versions the workload could have written.
fn make_export(log: &Path, seed: u64) -> Result<(PathBuf, Roots)> {
    let base = export_dir(log);
    let _ = std::fs::remove_dir_all(&base);
    let source = SwingStore::create(base.join("source")).context("the import's source store")?;
    let mut roots = Roots::new();
    for vat in 1..=3u32 {
        let version = (seed.rotate_left(vat * 7) % 1_000_000) + 1;
        let saved = source.save_bytes(&heap(vat, version))?;
        source.kv().set(&root_key(vat), &format_root_value(&saved.hash, version));
        source.kv().set(&format!("v{vat}.vs.imported"), &version.to_string());
        roots.insert(root_key(vat), saved.hash.to_hex());
    }
    source.commit()?;
    let dir = base.join("export");
    swingstore::export_to_dir(&source, &dir, ArtifactMode::Operational)?;
    Ok((dir, roots))
}

/// The child's import into `store` (fresh), logged.
pub fn import(store: &Path, log: &Path, seed: u64) -> Result<()> {
    let (dir, roots) = make_export(log, seed)?;
    let mut commits = LogWriter::append(log)?;
    side_line(log, "P")?;
    commits.write(Kind::Pending, 1, &roots)?;
    swingstore::import_from_dir(store, &dir, &ImportOptions::default()).context("import_from_dir")?;
    commits.write(Kind::Committed, 1, &roots)?;
    side_line(log, "C")?;
    if let Some(parent) = store.parent() {
        std::fs::write(parent.join(MARKER), b"").context("the import marker")?;
    }
    Ok(())
}

/// Before the usual checks: see the module documentation.
pub fn settle(store: &Path, log: &Path) -> Result<()> {
    let side = match std::fs::read_to_string(path(log)) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).context("reading the import log"),
    };
    let returned = side.lines().any(|l| l == "C");
    let marked = store.join(swingstore_import_marker()).exists();
    if returned {
        if marked {
            bail!("the import returned, but after the cut its target still holds IMPORT-INCOMPLETE");
        }
        return Ok(());
    }
    // In flight: finished durably (the store is at the pending epoch), or re-run.
    if !marked
        && let Ok(opened) = SwingStore::open(store, OpenOptions { create: false })
        && opened.epoch() >= 1
    {
        return Ok(());
    }
    let report =
        swingstore::import_from_dir(store, &export_dir(log).join("export"), &ImportOptions::default())
            .context("re-running an import the cut interrupted")?;
    let entries = crashtest::journal::read(log)?;
    let pending =
        entries.iter().rfind(|e| e.kind == Kind::Pending).context("no pending import in the log")?;
    if report.epoch != pending.epoch {
        bail!("the re-run import is at epoch {}, the log's import at {}", report.epoch, pending.epoch);
    }
    LogWriter::append(log)?.write(Kind::Committed, pending.epoch, &pending.roots)
}

fn swingstore_import_marker() -> &'static str {
    "IMPORT-INCOMPLETE"
}

/// Clears the side log and the marker before the next child.
pub fn reset(log: &Path, mount: &Path) {
    let _ = std::fs::remove_file(path(log));
    let _ = std::fs::remove_file(mount.join(MARKER));
}
