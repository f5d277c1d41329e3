//! A state-sync import killed part-way (an abort in a child process at each import failpoint:
//! after the first and a later artifact, before the commit, after it): the store it leaves is
//! visibly not imported (it refuses to open, naming the unfinished import), and a re-run starts
//! over and builds exactly the exported state.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};
use swingstore::failpoint::points;
use swingstore::{ArtifactMode, ImportOptions, OpenOptions, SwingStore, format_root_value};

const SIGABRT: i32 = 6;

/// A source store (6 vats, two snapshots each, kv entries) exported to `<dir>/export`.
fn exported(dir: &Path) -> Result<(SwingStore, PathBuf)> {
    let store = SwingStore::create(dir.join("source"))?;
    for version in 1..=2u64 {
        for vat in 1..=6u32 {
            let hash = store.save_bytes(&crashtest::heap(vat, version))?.hash;
            store.kv().set(&crashtest::root_key(vat), &format_root_value(&hash, version * 10));
            store.kv().set(&format!("v{vat}.vs.state"), &format!("version {version}"));
        }
        store.commit()?;
    }
    let export = dir.join("export");
    swingstore::export_to_dir(&store, &export, ArtifactMode::Operational)?;
    Ok((store, export))
}

fn crash_import_at(point: &'static str, nth: u64) -> Result<()> {
    let dir = crashtest::scratch_dir()?;
    let (source, export) = exported(dir.path())?;
    let target = dir.path().join("target");
    let out = Command::new(PathBuf::from(env!("CARGO_BIN_EXE_crash-child")))
        .arg("import")
        .arg(&target)
        .arg(dir.path().join("unused-log"))
        .arg(&export)
        .arg(point)
        .arg(nth.to_string())
        .stdin(Stdio::null())
        .output()
        .context("running the child")?;
    ensure!(
        out.status.signal() == Some(SIGABRT),
        "{point} #{nth}: the child should have crashed, it exited with {} ({})",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Visibly not imported: the marker is there and the store refuses to open.
    ensure!(target.join("IMPORT-INCOMPLETE").exists(), "{point} #{nth}: no import marker");
    match SwingStore::open(&target, OpenOptions { create: false }) {
        Err(swingstore::Error::NoStore { reason, .. }) if reason.contains("import") => {}
        Err(other) => {
            bail!("{point} #{nth}: the half-imported store failed to open for another reason: {other}")
        }
        Ok(_) => bail!("{point} #{nth}: a half-imported store opened"),
    }
    // The re-run starts over and builds the exported state.
    let report = swingstore::import_from_dir(&target, &export, &ImportOptions::default())
        .with_context(|| format!("{point} #{nth}: the re-run"))?;
    ensure!(report.epoch == 1 && report.roots == 6, "{point} #{nth}: {report:?}");
    let store = SwingStore::open(&target, OpenOptions { create: false })?;
    let (a, b) = (source.stats()?, store.stats()?);
    ensure!(
        a.live_digest == b.live_digest,
        "{point} #{nth}: live digest {} vs {}",
        a.live_digest,
        b.live_digest
    );
    ensure!(source.kv().scan_prefix("")? == store.kv().scan_prefix("")?, "{point} #{nth}: kv differs");
    ensure!(source.root_history()? == store.root_history()?, "{point} #{nth}: history differs");
    ensure!(b.blobs == b.live, "{point} #{nth}: {} blobs for {} live snapshots", b.blobs, b.live);
    ensure!(store.verify(true, None)?.ok, "{point} #{nth}: verify --deep");
    Ok(())
}

#[test]
fn an_import_killed_after_its_first_artifact_is_visibly_not_imported_and_reruns() -> Result<()> {
    crash_import_at(points::IMPORT_AFTER_ARTIFACT, 1)
}

#[test]
fn an_import_killed_after_a_later_artifact_is_visibly_not_imported_and_reruns() -> Result<()> {
    crash_import_at(points::IMPORT_AFTER_ARTIFACT, 4)
}

#[test]
fn an_import_killed_before_its_commit_is_visibly_not_imported_and_reruns() -> Result<()> {
    crash_import_at(points::IMPORT_BEFORE_COMMIT, 1)
}

#[test]
fn an_import_killed_after_its_commit_but_before_the_marker_went_reruns() -> Result<()> {
    crash_import_at(points::IMPORT_AFTER_COMMIT, 1)
}
