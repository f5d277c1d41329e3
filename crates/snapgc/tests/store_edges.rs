//! The CLI at the edges of what a store is (issue 23 items 4, 8, 12, 13; issue 24 item 3):
//! directories that are not stores, a second import, hostile export files, `status` on a
//! stopped store, the format gate, and the committed fixtures. Own small helpers (cli.rs is
//! another file's business).

#![allow(clippy::unwrap_used)] // tests may unwrap (house rules)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use swingstore::{OpenOptions, SwingStore, format_root_value};
use tempfile::TempDir;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `snapgc --store DIR ARGS...`, killed (and the test failed) after `limit`.
fn snapgc_within(store: &Path, args: &[&str], limit: Duration) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_snapgc"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("SNAPGC_STORE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("snapgc {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn snapgc(store: &Path, args: &[&str]) -> Run {
    snapgc_within(store, args, Duration::from_secs(120))
}

#[track_caller]
fn expect(run: &Run, code: i32) {
    assert_eq!(run.code, code, "exit status; stdout: {}\nstderr: {}", run.stdout, run.stderr);
}

fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
                out.push((entry.path(), Vec::new()));
            } else {
                out.push((entry.path(), fs::read(entry.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A store with one root, exported to `<tmp>/export`.
fn exported(tmp: &TempDir) -> PathBuf {
    let store = SwingStore::create(tmp.path().join("src")).unwrap();
    let saved = store.save_bytes(b"a heap").unwrap();
    store.kv().set("v1.lastSnapshot", &format_root_value(&saved.hash, 3));
    store.commit().unwrap();
    let dir = tmp.path().join("export");
    swingstore::export_to_dir(&store, &dir, swingstore::ArtifactMode::Operational).unwrap();
    dir
}

#[test]
fn read_only_commands_never_adopt_or_clean_a_directory_with_a_kv_of_someones() {
    let tmp = TempDir::new().unwrap();
    let p = tmp.path().join("P");
    fs::create_dir_all(p.join("kv")).unwrap();
    fs::write(p.join("kv/notes.txt"), b"x").unwrap();
    let before = tree(&p);
    for args in [&["stats"][..], &["ls"], &["verify"], &["status"], &["kv", "list"], &["config"]] {
        let run = snapgc(&p, args);
        expect(&run, 2);
        assert!(run.stderr.contains("not a snapgc store"), "{args:?}: {}", run.stderr);
        assert_eq!(tree(&p), before, "{args:?} changed the directory");
    }
    // Nor does a writing command create a store in it.
    expect(&snapgc(&p, &["kv", "set", "a", "b"]), 2);
    assert_eq!(tree(&p), before);
}

#[test]
fn state_import_into_a_target_an_import_holds_exits_3_and_touches_nothing() {
    let tmp = TempDir::new().unwrap();
    let export = exported(&tmp);
    // What an import in progress looks like from outside: its marker, and the store open (the
    // lock held) by the importing process (here, this one).
    let target = tmp.path().join("t");
    let held = SwingStore::create(&target).unwrap();
    held.kv().set("being", "imported");
    held.commit().unwrap();
    fs::write(target.join("IMPORT-INCOMPLETE"), b"").unwrap();
    let before = tree(&target);
    let run = snapgc(&target, &["state", "import", "--dir", export.to_str().unwrap()]);
    expect(&run, 3);
    assert!(run.stderr.contains("in use"), "{}", run.stderr);
    assert_eq!(tree(&target), before, "the second import changed the first one's target");
    assert_eq!(held.kv().get("being").unwrap().as_deref(), Some("imported"));
    drop(held);
    // Once the first is gone, a re-run starts over.
    expect(&snapgc(&target, &["state", "import", "--dir", export.to_str().unwrap()]), 0);
    let store = SwingStore::open(&target, OpenOptions::default()).unwrap();
    assert_eq!(store.stats().unwrap().roots, 1);
}

#[test]
fn state_import_of_a_fifo_or_dev_zero_manifest_exits_2_without_hanging() {
    let tmp = TempDir::new().unwrap();
    let export = exported(&tmp);
    let manifest = export.join(swingstore::MANIFEST_FILE);
    let saved = fs::read(&manifest).unwrap();
    fs::remove_file(&manifest).unwrap();
    let target = tmp.path().join("t");
    let import = ["state", "import", "--dir", export.to_str().unwrap()];
    if Command::new("mkfifo").arg(&manifest).status().is_ok_and(|s| s.success()) {
        let run = snapgc_within(&target, &import, Duration::from_secs(20));
        expect(&run, 2);
        assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
        fs::remove_file(&manifest).unwrap();
    } else {
        eprintln!("skipped: the FIFO half of this test: no mkfifo here");
    }
    std::os::unix::fs::symlink("/dev/zero", &manifest).unwrap();
    let run = snapgc_within(&target, &import, Duration::from_secs(20));
    expect(&run, 2);
    assert!(run.stderr.contains("export-manifest.json"), "{}", run.stderr);
    fs::remove_file(&manifest).unwrap();
    fs::write(&manifest, saved).unwrap();
    expect(&snapgc(&target, &import), 0);
}

/// A stopped store with a leftover temp file, a stale import of nothing: `status` reads it
/// without recovery work (the temp file stays, nothing in the store changes).
#[test]
fn status_on_a_stopped_store_does_no_recovery_work_and_writes_nothing() {
    let tmp = TempDir::new().unwrap();
    let s = tmp.path().join("S");
    {
        let store = SwingStore::create(&s).unwrap();
        let saved = store.save_bytes(b"heap").unwrap();
        store.kv().set("v1.lastSnapshot", &format_root_value(&saved.hash, 1));
        store.commit().unwrap();
    }
    fs::write(s.join("tmp/save-999999-1.tmp"), b"left by a dead process").unwrap();
    // sled's own open may rewrite its snapshot file in kv/ (documented); everything else of the
    // store must stay as it was.
    let outside_kv =
        |s: &Path| -> Vec<_> { tree(s).into_iter().filter(|(p, _)| !p.starts_with(s.join("kv"))).collect() };
    let before = outside_kv(&s);
    let run = snapgc(&s, &["status", "--json"]);
    expect(&run, 0);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["source"], "computed");
    assert_eq!(doc["roots"], 1);
    assert_eq!(outside_kv(&s), before, "status changed the stopped store");
    assert!(s.join("tmp/save-999999-1.tmp").exists(), "recovery work done");
}

#[test]
fn status_of_a_store_that_fails_closed_exits_1_with_one_json_shape() {
    let tmp = TempDir::new().unwrap();
    let s = tmp.path().join("S");
    {
        let store = SwingStore::create(&s).unwrap();
        let saved = store.save_bytes(b"heap").unwrap();
        store.kv().set("v1.lastSnapshot", &format_root_value(&saved.hash, 1));
        let garbage = store.save_bytes(b"garbage").unwrap();
        store.commit().unwrap();
        assert!(store.contains(&garbage.hash));
    }
    // Computed now: the lists a dry run fills are empty, as in status.json.
    let run = snapgc(&s, &["status", "--json"]);
    expect(&run, 0);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["last_pass"]["kept"], serde_json::json!([]), "{doc}");
    assert_eq!(doc["last_pass"]["candidates"], serde_json::json!([]), "{doc}");
    // A malformed root: fail closed; the status says so and exits 1 (docs/CLI.md).
    expect(&snapgc(&s, &["kv", "set", "v2.lastSnapshot", "not json"]), 0);
    let run = snapgc(&s, &["status", "--json"]);
    expect(&run, 1);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(doc["failed_closed"].as_str().unwrap().contains("v2.lastSnapshot"), "{doc}");
    let run = snapgc(&s, &["status"]);
    expect(&run, 1);
    assert!(run.stdout.contains("FAILED CLOSED"), "{}", run.stdout);
}

#[test]
fn a_store_of_a_newer_format_is_refused_by_every_command_and_left_alone() {
    let tmp = TempDir::new().unwrap();
    let s = tmp.path().join("S");
    drop(SwingStore::create(&s).unwrap());
    fs::write(s.join("SNAPGC-STORE"), "snapgc store\nformat 2\n").unwrap();
    let before = tree(&s);
    for args in [&["stats"][..], &["status"], &["gc"], &["kv", "set", "a", "b"]] {
        let run = snapgc(&s, args);
        expect(&run, 2);
        assert!(run.stderr.contains("format 2") && run.stderr.contains("newer snapgc"), "{}", run.stderr);
    }
    assert_eq!(tree(&s), before);
}

/// A copy of `fixtures/<name>` in a temp dir.
fn fixture_copy(name: &str, tmp: &TempDir) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &to.join(entry.file_name()));
            } else {
                fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(name);
    let to = tmp.path().join(name);
    copy(&from, &to);
    to
}

/// The format-1 fixture's archive still gives back the snapshot it archived (its manifest and
/// pack formats are read by today's code), once the store is pointed at the copy.
#[test]
fn the_format_1_fixture_archive_gives_back_its_snapshot() {
    let tmp = TempDir::new().unwrap();
    let dir = fixture_copy("store-format-1", &tmp);
    let (store, archive) = (dir.join("store"), dir.join("archive"));
    expect(&snapgc(&store, &["verify", "--deep"]), 0);
    expect(&snapgc(&store, &["config", "set", "--archive", archive.to_str().unwrap()]), 0);
    let h1 = "71dab29c5d2a8a5b8c266c5742b78ec2dfbd5b0a193c3d8225d7316299318765";
    let out = tmp.path().join("h1");
    expect(&snapgc(&store, &["archive", "get", h1, "-o", out.to_str().unwrap()]), 0);
    assert_eq!(fs::read(&out).unwrap(), b"heap one\n");
    expect(&snapgc(&store, &["archive", "verify", "--deep"]), 0);
}

/// `stats`, `verify` and `ls` open the store read-only (issue 25: no recovery work, no fsync of
/// the store's): they leave even a dead process's temp file in place (a writer's open removes
/// it); a store that needs recovery still gets it from their fallback, the ordinary open.
#[test]
fn stats_verify_and_ls_open_read_only_and_recover_only_when_they_must() {
    let tmp = TempDir::new().unwrap();
    let store = tmp.path().join("store");
    let file = tmp.path().join("one");
    fs::write(&file, b"one kilobyte, more or less").unwrap();
    expect(&snapgc(&store, &["import", file.to_str().unwrap()]), 0);
    let leftover = store.join("tmp").join("save-999999-0.tmp");
    fs::write(&leftover, b"a dead save's temp file").unwrap();
    for args in [&["stats"][..], &["verify", "--deep"], &["ls"]] {
        expect(&snapgc(&store, args), 0);
        assert!(leftover.exists(), "{args:?} opened the store as a writer (it removed the temp leftover)");
    }
    // sled's unfinished snapshot file: a read-only open refuses, the fallback recovers.
    let unfinished = store.join("kv").join("snap.0000000000000001.generating");
    fs::write(&unfinished, b"torn").unwrap();
    let run = snapgc(&store, &["stats", "--json"]);
    expect(&run, 0);
    let stats: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(stats["blobs"], 1, "{}", run.stdout);
    assert!(!unfinished.exists(), "the fallback open recovered the store");
}
