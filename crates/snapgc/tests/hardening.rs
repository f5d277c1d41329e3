//! Issue 23, part A, through the real `snapgc` binary: output paths the operator types, the
//! metrics file, the archive's directory and owner, damaged manifests, and the messages.

#![allow(clippy::unwrap_used)] // tests may unwrap (house rules)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use swingstore::{SnapshotHash, format_root_value};
use tempfile::TempDir;
use testkit::bytes as payload;

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", self.text(), self.stderr))
    }

    #[track_caller]
    fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, code, "exit status; stdout: {}\nstderr: {}", self.text(), self.stderr);
        self
    }
}

/// `snapgc --store DIR ARGS...`, run in `cwd` (the store's parent when `None`).
fn snapgc_in(cwd: Option<&Path>, store: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_snapgc"));
    cmd.arg("--store").arg(store).args(args).env_remove("SNAPGC_STORE").env_remove("RUST_LOG");
    cmd.current_dir(cwd.unwrap_or_else(|| store.parent().unwrap()));
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn snapgc(store: &Path, args: &[&str]) -> Run {
    snapgc_in(None, store, args)
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A store with two imported snapshots named by `v1` and `v2`; returns their hashes.
fn store_with_roots(work: &Path) -> (PathBuf, String, String) {
    let store = work.join("store");
    let f1 = work.join("h1.bin");
    let f2 = work.join("h2.bin");
    fs::write(&f1, payload(11, 200_000)).unwrap();
    fs::write(&f2, payload(12, 200_000)).unwrap();
    let doc = snapgc(&store, &["import", "--json", s(&f1), s(&f2)]).expect(0).json();
    let h: Vec<String> =
        doc.as_array().unwrap().iter().map(|r| r["hash"].as_str().unwrap().to_owned()).collect();
    set_root(&store, "v1.lastSnapshot", &h[0], 1);
    set_root(&store, "v2.lastSnapshot", &h[1], 1);
    (store, h[0].clone(), h[1].clone())
}

fn set_root(store: &Path, key: &str, hash: &str, position: u64) {
    let value = format_root_value(&SnapshotHash::parse(hash).unwrap(), position);
    snapgc(store, &["kv", "set", key, &value]).expect(0);
}

fn blob(store: &Path, hash: &str) -> PathBuf {
    store.join("snapshots").join(format!("{hash}.lz4"))
}

fn verify_ok(store: &Path) {
    let doc = snapgc(store, &["verify", "--deep", "--json"]).expect(0).json();
    assert_eq!(doc["ok"], true, "{doc}");
}

/// Item 1: a metrics file, `export -o` or `archive get -o` inside the store (or the archive)
/// is refused before anything is written; the store keeps opening and verifying.
#[test]
fn output_paths_inside_the_store_or_the_archive_are_refused() {
    let work = TempDir::new().unwrap();
    let (store, h1, _) = store_with_roots(work.path());
    let live = blob(&store, &h1);
    let before = fs::read(&live).unwrap();
    let kv_db = store.join("kv").join("db");
    let via_link = work.path().join("link");
    std::os::unix::fs::symlink(&store, &via_link).unwrap();
    for target in [live.clone(), kv_db.clone(), via_link.join("kv/db"), store.join("kv/new-file")] {
        let run = snapgc(&store, &["config", "set", "--metrics-file", s(&target)]).expect(2);
        assert!(run.stderr.contains("inside the store directory"), "{}", run.stderr);
        let run = snapgc(&store, &["export", &h1, "-o", s(&target)]).expect(2);
        assert!(run.stderr.contains("inside the store directory"), "{}", run.stderr);
    }
    // A relative path into the store, from the store's parent.
    snapgc(&store, &["export", &h1, "-o", "store/LOCK"]).expect(2);
    snapgc(&store, &["gc"]).expect(0);
    assert_eq!(fs::read(&live).unwrap(), before, "the live blob is untouched");
    verify_ok(&store);
    snapgc(&store, &["config", "set", "--no-metrics-file"]).expect(0);
    // The default metrics file, given explicitly, is fine.
    snapgc(&store, &["config", "set", "--metrics-file", s(&store.join("metrics.prom"))]).expect(0);

    // The archive directory too.
    let archive = work.path().join("archive");
    snapgc(&store, &["config", "set", "--archive", s(&archive)]).expect(0);
    let into_archive = archive.join("manifests").join("x");
    let run = snapgc(&store, &["config", "set", "--metrics-file", s(&into_archive)]).expect(2);
    assert!(run.stderr.contains("inside the archive directory"), "{}", run.stderr);
    let run = snapgc(&store, &["export", &h1, "-o", s(&archive.join("SNAPGC-ARCHIVE"))]).expect(2);
    assert!(run.stderr.contains("inside the archive directory"), "{}", run.stderr);
    let run = snapgc(&store, &["archive", "get", &h1, "-o", s(&store.join("kv/conf"))]).expect(2);
    assert!(run.stderr.contains("inside the store directory"), "{}", run.stderr);
    // Elsewhere is fine.
    snapgc(&store, &["export", &h1, "-o", s(&work.path().join("out.bin"))]).expect(0);
    verify_ok(&store);
}

/// Item 6 (and 14: a metrics file in a missing directory): absolute, never someone else's file,
/// never written through a planted symlink.
#[test]
fn the_metrics_file_is_absolute_and_never_replaces_a_foreign_file() {
    let work = TempDir::new().unwrap();
    let (store, _, _) = store_with_roots(work.path());
    let textfile = work.path().join("textfile");
    fs::create_dir(&textfile).unwrap();
    // Relative: kept absolute, so every process writes the same file.
    let doc =
        snapgc_in(Some(&textfile), &store, &["config", "set", "--metrics-file", "snapgc.prom", "--json"])
            .expect(0)
            .json();
    let canonical = fs::canonicalize(&textfile).unwrap().join("snapgc.prom");
    assert_eq!(doc["metrics_file"], s(&canonical), "{doc}");
    snapgc(&store, &["gc"]).expect(0);
    assert!(canonical.exists());
    assert!(!store.parent().unwrap().join("snapgc.prom").exists(), "not relative to another cwd");
    // Someone else's file: refused, untouched.
    let bashrc = work.path().join(".bashrc");
    fs::write(&bashrc, "alias ll='ls -l'\n").unwrap();
    let run = snapgc(&store, &["config", "set", "--metrics-file", s(&bashrc)]).expect(2);
    assert!(run.stderr.contains("not a metrics file snapgc wrote"), "{}", run.stderr);
    assert_eq!(fs::read_to_string(&bashrc).unwrap(), "alias ll='ls -l'\n");
    // A directory that does not exist: refused (it could never be written).
    let run =
        snapgc(&store, &["config", "set", "--metrics-file", s(&work.path().join("nope/m.prom"))]).expect(2);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    // Our own file: accepted again.
    snapgc(&store, &["config", "set", "--metrics-file", s(&canonical)]).expect(0);
    // A symlink planted where the metrics go: the writer leaves it (and its target) alone.
    fs::remove_file(&canonical).unwrap();
    std::os::unix::fs::symlink(&bashrc, &canonical).unwrap();
    let run = snapgc(&store, &["gc"]).expect(0);
    assert_eq!(fs::read_to_string(&bashrc).unwrap(), "alias ll='ls -l'\n", "{}", run.stderr);
    assert!(fs::symlink_metadata(&canonical).unwrap().file_type().is_symlink());
    // Item 15: the writer's warning is plain text on a non-terminal stderr.
    assert!(run.stderr.contains("not writing"), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "no ANSI colour on a pipe: {:?}", run.stderr);
    // No temp files left beside it.
    let leftovers: Vec<_> = fs::read_dir(&textfile).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

/// Item 7: `-o` onto a device node, a FIFO, a directory or a symlink is refused (never
/// replaced by a regular file); a regular file or a missing path is written.
#[test]
fn export_and_archive_get_replace_only_regular_files() {
    let work = TempDir::new().unwrap();
    let (store, h1, _) = store_with_roots(work.path());
    // A device node of our own (never the system's /dev/null: a binary with the bug would
    // replace it), made where mknod is allowed.
    let device = work.path().join("null");
    let null: Option<&Path> = match Command::new("mknod").arg(&device).args(["c", "1", "3"]).status() {
        Ok(st) if st.success() => Some(&device),
        _ => {
            eprintln!("SKIP: the device-node case: mknod is not allowed here (not root?)");
            None
        }
    };
    if let Some(null) = null {
        let run = snapgc(&store, &["export", &h1, "-o", s(null)]).expect(2);
        assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::symlink_metadata(null).unwrap().file_type().is_char_device(), "still a device");
    }
    let fifo = work.path().join("fifo");
    match Command::new("mkfifo").arg(&fifo).status() {
        Ok(st) if st.success() => {
            snapgc(&store, &["export", &h1, "-o", s(&fifo)]).expect(2);
            use std::os::unix::fs::FileTypeExt;
            assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO stays");
        }
        _ => eprintln!("SKIP: the FIFO case: mkfifo is not available here"),
    }
    let dir = work.path().join("a-dir");
    fs::create_dir(&dir).unwrap();
    snapgc(&store, &["export", &h1, "-o", s(&dir)]).expect(2);
    let target = work.path().join("target.bin");
    fs::write(&target, b"precious").unwrap();
    let link = work.path().join("link.bin");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    snapgc(&store, &["export", &h1, "-o", s(&link)]).expect(2);
    assert_eq!(fs::read(&target).unwrap(), b"precious");
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    // archive get takes the same path.
    let archive = work.path().join("archive");
    snapgc(&store, &["config", "set", "--archive", s(&archive), "--grace", "0"]).expect(0);
    set_root(&store, "v1.lastSnapshot", &h1, 2);
    let (_, h3) = {
        let f = work.path().join("h3.bin");
        fs::write(&f, payload(13, 100_000)).unwrap();
        let doc = snapgc(&store, &["import", "--json", s(&f)]).expect(0).json();
        ((), doc[0]["hash"].as_str().unwrap().to_owned())
    };
    set_root(&store, "v1.lastSnapshot", &h3, 3);
    snapgc(&store, &["gc"]).expect(0);
    assert!(!blob(&store, &h1).exists(), "archived and swept");
    if let Some(null) = null {
        snapgc(&store, &["archive", "get", &h1, "-o", s(null)]).expect(2);
    }
    snapgc(&store, &["archive", "get", &h1, "-o", s(&dir)]).expect(2);
    snapgc(&store, &["archive", "get", &h1, "-o", s(&link)]).expect(2);
    // Regular files and missing paths are written.
    snapgc(&store, &["archive", "get", &h1, "-o", s(&target)]).expect(0);
    assert_eq!(fs::read(&target).unwrap(), payload(11, 200_000));
    snapgc(&store, &["archive", "get", &h1, "-o", s(&work.path().join("new.bin"))]).expect(0);
}

/// Items 5, 9 and 14: `config set --archive` refuses a user's non-empty directory, a regular
/// file, a directory inside the store, and another store's archive.
#[test]
fn config_set_refuses_an_archive_that_can_never_be_ours() {
    let work = TempDir::new().unwrap();
    let (store, _, _) = store_with_roots(work.path());
    let home = work.path().join("home");
    fs::create_dir(&home).unwrap();
    fs::write(home.join(".bashrc"), "x").unwrap();
    fs::write(home.join("photo#1.jpg"), "y").unwrap();
    let run = snapgc(&store, &["config", "set", "--archive", s(&home)]).expect(2);
    assert!(run.stderr.contains("SNAPGC-ARCHIVE"), "{}", run.stderr);
    assert_eq!(fs::read_dir(&home).unwrap().count(), 2, "nothing written into it");
    let file = work.path().join("file");
    fs::write(&file, "z").unwrap();
    let run = snapgc(&store, &["config", "set", "--archive", s(&file)]).expect(2);
    assert!(run.stderr.contains("not a directory"), "{}", run.stderr);
    for inside in [store.join("snapshots"), store.join("archive")] {
        let run = snapgc(&store, &["config", "set", "--archive", s(&inside)]).expect(2);
        assert!(run.stderr.contains("must not contain one another"), "{}", run.stderr);
    }
    assert!(!store.join("archive").exists());
    let doc = snapgc(&store, &["config", "--json"]).expect(0).json();
    assert!(doc.get("archive").is_none(), "nothing configured: {doc}");
    verify_ok(&store);

    // One archive per store.
    let archive = work.path().join("archive");
    snapgc(&store, &["config", "set", "--archive", s(&archive)]).expect(0);
    assert!(archive.join("SNAPGC-ARCHIVE").is_file(), "the marker names the owner");
    let other_work = work.path().join("other");
    fs::create_dir(&other_work).unwrap();
    let (other, _, _) = store_with_roots(&other_work);
    let run =
        snapgc(&other, &["config", "set", "--archive", s(&archive), "--archive-keep-last", "1"]).expect(2);
    assert!(run.stderr.contains("belongs to another store"), "{}", run.stderr);
    let doc = snapgc(&other, &["config", "--json"]).expect(0).json();
    assert!(doc.get("archive").is_none(), "{doc}");
}

/// Items 3 and 15: garbage at `manifests/<h>.json.zst` does not let `gc --grace 0` sweep the
/// only copy; `archive ls` lists the readable snapshots and names the damaged manifest (exit 1).
#[test]
fn a_damaged_manifest_is_not_archived_and_archive_ls_keeps_going() {
    let work = TempDir::new().unwrap();
    let (store, h1, h2) = store_with_roots(work.path());
    let archive = work.path().join("archive");
    snapgc(&store, &["config", "set", "--archive", s(&archive)]).expect(0);
    fs::create_dir_all(archive.join("manifests")).unwrap();
    let manifest = archive.join("manifests").join(format!("{h1}.json.zst"));
    fs::write(&manifest, b"garbage").unwrap();
    // v1 moves on: h1 is history, due at once with grace 0.
    let f = work.path().join("h3.bin");
    fs::write(&f, payload(13, 100_000)).unwrap();
    let doc = snapgc(&store, &["import", "--json", s(&f)]).expect(0).json();
    let h3 = doc[0]["hash"].as_str().unwrap().to_owned();
    set_root(&store, "v1.lastSnapshot", &h3, 2);
    snapgc(&store, &["gc", "--grace", "0"]).expect(0);
    assert!(!blob(&store, &h1).exists());
    let out = work.path().join("h1.out");
    snapgc(&store, &["archive", "get", &h1, "-o", s(&out)]).expect(0);
    assert_eq!(fs::read(&out).unwrap(), payload(11, 200_000), "archived for real before the unlink");

    // Another snapshot archived, then its manifest damaged: ls lists the rest, names it.
    set_root(&store, "v2.lastSnapshot", &h3, 2);
    snapgc(&store, &["gc", "--grace", "0"]).expect(0);
    fs::write(archive.join("manifests").join(format!("{h2}.json.zst")), b"\x28\xb5\x2f\xfdgarbage").unwrap();
    let run = snapgc(&store, &["archive", "ls", "--json"]).expect(1);
    let listed: Vec<String> =
        run.json().as_array().unwrap().iter().map(|e| e["hash"].as_str().unwrap().to_owned()).collect();
    assert_eq!(listed, std::slice::from_ref(&h1));
    assert!(run.stderr.contains(&h2), "{}", run.stderr);
    let run = snapgc(&store, &["archive", "gc", "--json"]).expect(1);
    assert_eq!(run.json()["unreadable"].as_array().unwrap().len(), 1);
    snapgc(&store, &["archive", "verify"]).expect(1);
}

/// Item 14: a missing live snapshot names its root; `gc --now` over a stale quarantined copy
/// beside a healthy blob succeeds and removes the stale copy.
#[test]
fn a_missing_live_snapshot_names_its_root_and_a_healed_quarantine_is_not_an_error() {
    let work = TempDir::new().unwrap();
    let (store, h1, h2) = store_with_roots(work.path());
    let stale = store.join("snapshots").join(format!("{h2}.lz4.corrupt"));
    fs::write(&stale, b"damaged long ago").unwrap();
    let run = snapgc(&store, &["gc", "--now"]).expect(0);
    assert!(!run.stderr.contains("only copy"), "{}", run.stderr);
    assert!(!stale.exists(), "the offline pass removes the stale quarantined copy");
    snapgc(&store, &["gc", "--now"]).expect(0);

    fs::remove_file(blob(&store, &h1)).unwrap();
    let run = snapgc(&store, &["gc", "--scan", "--json"]).expect(2);
    let doc = run.json();
    let error = doc["errors"].as_array().unwrap().iter().find(|e| e["item"] == h1.as_str()).unwrap().clone();
    assert!(error["error"].as_str().unwrap().contains("named by root v1.lastSnapshot"), "{error}");
}

/// Item 14: a root pattern that would root keys whose values do not parse is refused (every
/// pass would fail closed).
#[test]
fn config_set_refuses_patterns_that_root_unparsable_values() {
    let work = TempDir::new().unwrap();
    let (store, _, _) = store_with_roots(work.path());
    snapgc(&store, &["kv", "set", "notes", "plain text"]).expect(0);
    let run = snapgc(&store, &["config", "set", "--root-pattern", "*", "--root-pattern", "v*.lastSnapshot"])
        .expect(2);
    assert!(run.stderr.contains("notes"), "{}", run.stderr);
    assert!(!run.stderr.contains("invalid configuration: invalid configuration"), "{}", run.stderr);
    let doc = snapgc(&store, &["config", "--json"]).expect(0).json();
    assert_eq!(doc["root_patterns"], serde_json::json!(["v*.lastSnapshot"]));
    snapgc(&store, &["gc"]).expect(0);
}

/// Item 14: while every `gc` fails on the archive, `status` and the metrics say so.
#[test]
fn archive_errors_are_counted_and_raise_attention() {
    let work = TempDir::new().unwrap();
    let (store, h1, _) = store_with_roots(work.path());
    let archive = work.path().join("archive");
    snapgc(&store, &["config", "set", "--archive", s(&archive), "--grace", "0"]).expect(0);
    // The archive becomes unusable: another store's marker.
    fs::write(archive.join("SNAPGC-ARCHIVE"), br#"{"format":1,"owner":"someone-else"}"#).unwrap();
    let f = work.path().join("h3.bin");
    fs::write(&f, payload(13, 100_000)).unwrap();
    let doc = snapgc(&store, &["import", "--json", s(&f)]).expect(0).json();
    set_root(&store, "v1.lastSnapshot", doc[0]["hash"].as_str().unwrap(), 2);
    let run = snapgc(&store, &["gc"]).expect(2);
    assert!(run.stderr.contains("belongs to another store"), "{}", run.stderr);
    assert!(blob(&store, &h1).exists(), "kept, not archived");
    let metrics = fs::read_to_string(store.join("metrics.prom")).unwrap();
    assert!(metrics.contains("\nsnapgc_archive_errors 1\n"), "{metrics}");
    assert!(metrics.contains("\nsnapgc_gc_errors 1\n"), "{metrics}");
    let status: Value = serde_json::from_slice(&fs::read(store.join("status.json")).unwrap()).unwrap();
    assert_eq!(
        (status["errors"].as_u64(), status["archive_errors"].as_u64()),
        (Some(1), Some(1)),
        "{status}"
    );
    // What `status` shows of a running store (status.json) needs attention.
    let status: swingstore::StoreStatus = serde_json::from_value(status).unwrap();
    assert!(status.needs_attention());
}

/// Item 15: `verify` quotes a huge key shortened on stderr; sled's warnings stay off stderr;
/// `export <unknown>` does not warn about unverified bytes it never wrote.
#[test]
fn messages_stay_short_and_true() {
    let work = TempDir::new().unwrap();
    let (store, _, _) = store_with_roots(work.path());
    let key = format!("v{}.lastSnapshot", "9".repeat(100_000));
    snapgc(&store, &["kv", "set", &key, "not a snapshot reference"]).expect(0);
    let run = snapgc(&store, &["verify"]).expect(1);
    assert!(run.stderr.len() < 2_000, "{} bytes of stderr", run.stderr.len());
    assert!(run.stderr.lines().count() == 1, "{}", run.stderr);
    snapgc(&store, &["kv", "delete", &key]).expect(0);

    // sled's own warnings (here: its configuration file found empty, which it rewrites) are
    // not printed by default: they would split an error over several lines.
    fs::write(store.join("kv").join("conf"), b"").unwrap();
    let run = snapgc(&store, &["stats"]).expect(0);
    assert!(!run.stderr.contains("WARN"), "{}", run.stderr);

    let unknown = "ab".repeat(32);
    let out = Command::new(env!("CARGO_BIN_EXE_snapgc"))
        .args(["--store", s(&store), "export", &unknown])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(!stderr.contains("unverified"), "nothing was written: {stderr}");
}
