//! Runs the real `snapgc` binary on temporary stores: the interface in issue 5 is a contract
//! (subcommands, flags, JSON field names, exit codes).

#![allow(clippy::unwrap_used)] // tests may unwrap (house rules)

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use swingstore::format_root_value;
use swingstore::{OpenOptions, SnapshotHash, SwingStore};
use tempfile::TempDir;
// `payload(seed, len)`: deterministic, incompressible bytes.
use testkit::bytes as payload;

const FIXTURE: &str = "36464bd86289b0e24cc96894a3dac23f0f4438d4afa5ed28fa63938c65e1c0c5";

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

/// `snapgc --store DIR ARGS...`
fn snapgc(store: &Path, args: &[&str]) -> Run {
    let mut full: Vec<&str> = vec!["--store", store.to_str().unwrap()];
    full.extend_from_slice(args);
    snapgc_raw(&full)
}

fn snapgc_raw(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_snapgc"))
        .args(args)
        .env_remove("SNAPGC_STORE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

/// Imports files (one block) and returns their hashes.
fn import(store: &Path, files: &[&Path]) -> Vec<String> {
    let mut args = vec!["import", "--json"];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let doc = snapgc(store, &args).expect(0).json();
    doc.as_array().unwrap().iter().map(|row| row["hash"].as_str().unwrap().to_owned()).collect()
}

fn set_root(store: &Path, key: &str, hash: &str) {
    let value = format_root_value(&SnapshotHash::parse(hash).unwrap(), 1);
    snapgc(store, &["kv", "set", key, &value]).expect(0);
}

fn epoch(store: &Path) -> u64 {
    snapgc(store, &["stats", "--json"]).expect(0).json()["epoch"].as_u64().unwrap()
}

/// Name -> size of every file in a directory (sorted).
fn listing(dir: &Path) -> BTreeMap<String, u64> {
    match fs::read_dir(dir) {
        Err(_) => BTreeMap::new(),
        Ok(entries) => entries
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len())
            })
            .collect(),
    }
}

fn blob_path(store: &Path, hash: &str) -> PathBuf {
    store.join("snapshots").join(format!("{hash}.lz4"))
}

fn fixture_heap() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(format!("{FIXTURE}.lz4"));
    let mut out = Vec::new();
    lz4_flex::frame::FrameDecoder::new(fs::File::open(path).unwrap()).read_to_end(&mut out).unwrap();
    out
}

fn has_keys(doc: &Value, keys: &[&str]) {
    for k in keys {
        assert!(doc.get(k).is_some(), "field {k} missing in {doc}");
    }
}

fn hashes_of(list: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        list.as_array().unwrap().iter().map(|x| x["hash"].as_str().unwrap().to_owned()).collect();
    out.sort();
    out
}

fn strings(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_owned()).collect()
}

fn round_trip(store: &Path, work: &Path, heap_file: &Path, heap: &[u8]) {
    let expected = SnapshotHash::of(heap).to_hex();
    let before = epoch(store);
    let run = snapgc(store, &["import", heap_file.to_str().unwrap()]).expect(0);
    assert_eq!(run.text(), format!("{expected}  {}\n", heap_file.display()));
    assert_eq!(epoch(store), before + 1, "import commits exactly one block");
    let out = work.join("exported.bin");
    snapgc(store, &["export", &expected, "-o", out.to_str().unwrap()]).expect(0);
    assert!(fs::read(&out).unwrap() == heap, "exported file differs from the heap");
    let run = snapgc(store, &["export", &expected]).expect(0);
    assert!(run.stdout == heap, "exported stdout differs from the heap");
    fs::remove_file(&out).unwrap();
}

#[test]
fn import_export_round_trip_of_real_heaps() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let heap = fixture_heap();
    assert!(heap.len() > 1_000_000);
    assert_eq!(SnapshotHash::of(&heap).to_hex(), FIXTURE);
    let heap_file = write_file(work.path(), "base-lockdown.xss", &heap);

    // JSON fields; two files in one import commit one block.
    let small = write_file(work.path(), "small.bin", b"abc");
    let doc = snapgc(&store, &["import", "--json", heap_file.to_str().unwrap(), small.to_str().unwrap()])
        .expect(0)
        .json();
    let rows = doc.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    has_keys(&rows[0], &["hash", "file", "raw_bytes", "stored_bytes"]);
    assert_eq!(rows[0]["hash"], FIXTURE);
    assert_eq!(rows[0]["file"], heap_file.to_str().unwrap());
    assert_eq!(rows[0]["raw_bytes"].as_u64().unwrap(), heap.len() as u64);
    let stored = rows[0]["stored_bytes"].as_u64().unwrap();
    assert!(stored > 0 && stored < heap.len() as u64, "a heap compresses");
    assert_eq!(stored, fs::metadata(blob_path(&store, FIXTURE)).unwrap().len());
    assert_eq!(rows[1]["hash"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(epoch(&store), 1);

    // Re-import (dedup) plus export to file and stdout.
    round_trip(&store, work.path(), &heap_file, &heap);

    // Real corpus heaps when present (never needed by CI).
    let corpus = Path::new("/work/shared/corpus/xsnap");
    let mut files: Vec<(u64, PathBuf)> = match fs::read_dir(corpus) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "xss"))
            .filter_map(|p| fs::metadata(&p).ok().map(|m| (m.len(), p)))
            .filter(|(len, _)| *len <= 64 << 20)
            .collect(),
        Err(_) => Vec::new(),
    };
    if files.is_empty() {
        println!("note: no corpus heaps under {} (or none small enough); fixture only", corpus.display());
    }
    files.sort();
    for (_, path) in files.into_iter().take(3) {
        let heap = fs::read(&path).unwrap();
        round_trip(&store, work.path(), &path, &heap);
    }
    snapgc(&store, &["verify", "--deep"]).expect(0);
}

/// A store with: A live (v1), B replaced (was v1), C unreferenced young, plus an orphan file,
/// a stray file and a leftover temp file. Returns (A, B, C, orphan hash).
fn messy_store(store: &Path, work: &Path) -> (String, String, String, String) {
    let (a, b, c) = three_blobs(store, work);
    let orphan = add_leftovers(store);
    (a, b, c, orphan)
}

/// A live (v1), B replaced (was v1), C never referenced. Epoch 5 after.
fn three_blobs(store: &Path, work: &Path) -> (String, String, String) {
    let files: Vec<PathBuf> =
        (0..3).map(|i| write_file(work, &format!("p{i}.bin"), &payload(i + 1, 50_000))).collect();
    let b = import(store, &[&files[0]]).remove(0);
    set_root(store, "v1.lastSnapshot", &b);
    let a = import(store, &[&files[1]]).remove(0);
    set_root(store, "v1.lastSnapshot", &a);
    let c = import(store, &[&files[2]]).remove(0);
    (a, b, c)
}

/// An orphan file, a stray file and a leftover temp file. Returns the orphan's hash.
fn add_leftovers(store: &Path) -> String {
    // An orphan: a well-named blob file the store has no metadata for (a copy of A's frame
    // would not verify under another name, so make a real frame for other bytes).
    let orphan_bytes = payload(99, 10_000);
    let orphan = SnapshotHash::of(&orphan_bytes).to_hex();
    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
    std::io::Write::write_all(&mut enc, &orphan_bytes).unwrap();
    fs::write(blob_path(store, &orphan), enc.finish().unwrap()).unwrap();
    fs::write(store.join("snapshots").join("junk.txt"), b"not a blob").unwrap();
    fs::write(store.join("tmp").join("save-1-1.tmp"), b"half a save").unwrap();
    orphan
}

#[test]
fn dry_run_changes_nothing() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let (a, b, c) = three_blobs(&store, work.path());
    // A real pass condemns B (saved at 1) at 5; two more epochs make it due at 7.
    let doc = snapgc(&store, &["gc", "--json"]).expect(0).json();
    assert_eq!((doc["epoch"].as_u64(), doc["kept_grace"].as_u64()), (Some(5), Some(1)), "{doc}");
    for i in 0..2 {
        snapgc(&store, &["kv", "set", "other", &i.to_string()]).expect(0);
    }
    add_leftovers(&store);
    let state = |store: &Path| {
        (
            snapgc(store, &["ls", "--json"]).expect(0).json(),
            snapgc(store, &["stats", "--json"]).expect(0).json(),
            snapgc(store, &["kv", "list"]).expect(0).text(),
            listing(&store.join("snapshots")),
            listing(&store.join("tmp")),
        )
    };
    let before = state(&store);
    assert_eq!(before.3.len(), 5, "3 blobs, an orphan and a stray: {:?}", before.3);

    let doc = snapgc(&store, &["gc", "--dry-run", "--json"]).expect(0).json();
    assert_eq!(doc["dry_run"], true);
    let candidates = hashes_of(&doc["candidates"]);
    assert_eq!(candidates, vec![b.clone()], "only B is due: {doc}");
    assert!(doc["candidates"][0]["reason"].as_str().unwrap().contains("unreferenced"));
    assert!(doc["candidates"][0]["stored_bytes"].as_u64().unwrap() > 0);
    let kept: BTreeMap<String, String> = doc["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["hash"].as_str().unwrap().to_owned(), k["reason"].as_str().unwrap().to_owned()))
        .collect();
    assert!(kept[&a].contains("v1.lastSnapshot"), "{kept:?}");
    assert!(kept.contains_key(&c), "C is kept (young or in grace): {kept:?}");
    assert_eq!(doc["swept"], 1);

    let doc = snapgc(&store, &["gc", "--dry-run", "--now", "--json"]).expect(0).json();
    let candidates = hashes_of(&doc["candidates"]);
    assert!(candidates.contains(&b) && candidates.contains(&c) && !candidates.contains(&a), "{doc}");
    snapgc(&store, &["gc", "--dry-run", "--grace", "0"]).expect(0);
    let text = snapgc(&store, &["gc", "--dry-run"]).expect(0).text();
    assert!(text.contains("would sweep") && text.contains(&b), "{text}");

    assert_eq!(state(&store), before, "a dry run changed the store");
}

/// Runs gc after each epoch and checks exactly when an unreferenced blob goes.
fn check_grace(config_grace: Option<u64>, pass_grace: Option<u64>) {
    let g = pass_grace.or(config_grace).unwrap_or(2);
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    snapgc(&store, &["kv", "set", "boot", "1"]).expect(0); // C = 1
    if let Some(cg) = config_grace {
        snapgc(&store, &["config", "set", "--grace", &cg.to_string()]).expect(0);
    }
    let fa = write_file(work.path(), "a.bin", &payload(1, 20_000));
    let fb = write_file(work.path(), "b.bin", &payload(2, 20_000));
    let fy = write_file(work.path(), "y.bin", &payload(3, 20_000));
    let a = import(&store, &[&fa]).remove(0); // saved 2, C = 2
    set_root(&store, "v1.lastSnapshot", &a); // C = 3
    let mut both = import(&store, &[&fb, &fy]); // saved 4, C = 4
    let (b, y) = (both.remove(0), both.remove(0));
    set_root(&store, "v1.lastSnapshot", &b); // C = 5: A's root replaced
    assert_eq!(epoch(&store), 5);

    // (hash, saved epoch): condemned by the first gc at C >= saved + G (gc runs from C = 5 on),
    // swept by the first gc at C >= condemned + G.
    let expected = |saved: u64| {
        let condemned = 5u64.max(saved + g);
        (condemned, condemned + g)
    };
    let (a_condemned, a_swept) = expected(2);
    let (y_condemned, y_swept) = expected(4);
    let grace_arg = pass_grace.map(|p| p.to_string());
    let mut gc_args = vec!["gc", "--json"];
    if let Some(p) = &grace_arg {
        gc_args.extend(["--grace", p]);
    }
    let mut c = 5;
    loop {
        let report = snapgc(&store, &gc_args).expect(0).json();
        assert_eq!(report["epoch"], c);
        assert_eq!(report["grace"], g);
        let expect_swept = u64::from(c == a_swept) + u64::from(c == y_swept);
        assert_eq!(report["swept"], expect_swept, "G={g} C={c}: {report}");
        for (hash, condemned, swept) in [(&a, a_condemned, a_swept), (&y, y_condemned, y_swept)] {
            assert_eq!(blob_path(&store, hash).exists(), c < swept, "G={g} C={c} blob {hash}");
            if c < swept && pass_grace.is_none() {
                // `ls` uses the persisted grace: it agrees with the pass only when they match.
                let ls = snapgc(&store, &["ls", "--json"]).expect(0).json();
                let row = ls.as_array().unwrap().iter().find(|r| r["hash"] == hash.as_str()).unwrap().clone();
                if c >= condemned {
                    assert_eq!(row["state"], "condemned", "G={g} C={c} {row}");
                    assert_eq!(row["condemned_epoch"], condemned);
                } else {
                    assert_eq!(row["state"], "young", "G={g} C={c} {row}");
                }
            }
        }
        assert!(blob_path(&store, &b).exists(), "the live blob stays");
        if c >= a_swept.max(y_swept) {
            break;
        }
        snapgc(&store, &["kv", "set", "other.key", &c.to_string()]).expect(0);
        c += 1;
        assert!(c < 30);
    }
    let stats = snapgc(&store, &["stats", "--json"]).expect(0).json();
    assert_eq!(stats["blobs"], 1);
    assert_eq!(stats["garbage"], 0);
}

#[test]
fn grace_is_honoured() {
    check_grace(None, None); // default G = 2
    check_grace(Some(0), None);
    check_grace(Some(3), None);
    check_grace(Some(1), Some(4)); // --grace applies to the pass
}

#[test]
fn now_leaves_only_live_blobs() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let (a, _b, _c, _orphan) = messy_store(&store, work.path());
    let run = snapgc(&store, &["gc", "--now", "--json"]).expect(0);
    assert!(run.stderr.is_empty(), "no progress bar off a terminal: {:?}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["dry_run"], false);
    assert_eq!(doc["swept"], 3, "B, C and the orphan: {doc}");
    // junk.txt is not a name the store writes: reported, never removed.
    assert_eq!(
        listing(&store.join("snapshots")).into_keys().collect::<Vec<_>>(),
        vec![format!("{a}.lz4"), "junk.txt".to_owned()]
    );
    assert_eq!(strings(&doc["strays"]), vec!["junk.txt"]);
    fs::remove_file(store.join("snapshots").join("junk.txt")).unwrap();
    assert!(listing(&store.join("tmp")).is_empty());
    let ls = snapgc(&store, &["ls", "--json"]).expect(0).json();
    assert_eq!(hashes_of(&ls), vec![a.clone()]);
    assert_eq!(ls[0]["state"], "live");
    let stats = snapgc(&store, &["stats", "--json"]).expect(0).json();
    assert_eq!(stats["blobs"], stats["live"]);
    assert_eq!(stats["blobs"], 1);
    let run = snapgc(&store, &["verify", "--deep", "--json"]).expect(0);
    assert!(run.stderr.is_empty(), "no progress bar off a terminal: {:?}", run.stderr);
    assert_eq!(run.json()["ok"], true);
}

#[test]
fn malformed_root_fails_closed() {
    for bad in ["not json", r#"{"snapshotID":"../../etc/passwd","startPos":{"itemCount":1}}"#] {
        let work = TempDir::new().unwrap();
        let store = work.path().join("store");
        messy_store(&store, work.path());
        // kv set is a debugging tool: it stores what it is given.
        snapgc(&store, &["kv", "set", "v9.lastSnapshot", bad]).expect(0);
        assert_eq!(snapgc(&store, &["kv", "get", "v9.lastSnapshot"]).expect(0).text(), format!("{bad}\n"));
        let before = (listing(&store.join("snapshots")), listing(&store.join("tmp")));
        for args in [&["gc"][..], &["gc", "--now"], &["gc", "--grace", "0"]] {
            let run = snapgc(&store, args).expect(2);
            assert!(run.stderr.starts_with("snapgc: "), "{}", run.stderr);
            assert!(run.stderr.contains("v9.lastSnapshot"), "the error names the key: {}", run.stderr);
            assert_eq!(run.stderr.trim_end().lines().count(), 1, "one line: {}", run.stderr);
        }
        let run = snapgc(&store, &["gc", "--now", "--json"]).expect(2);
        assert!(run.json()["error"].as_str().unwrap().contains("v9.lastSnapshot"));
        assert_eq!((listing(&store.join("snapshots")), listing(&store.join("tmp"))), before, "gc deleted");
        let verify = snapgc(&store, &["verify", "--json"]).expect(1).json();
        assert_eq!(strings(&verify["bad_roots"]), vec!["v9.lastSnapshot"]);
    }
}

/// A healthy store with two rooted blobs; returns their hashes.
fn healthy_store(store: &Path, work: &Path) -> (String, String) {
    let f1 = write_file(work, "h1.bin", &payload(11, 200_000));
    let f2 = write_file(work, "h2.bin", &payload(12, 200_000));
    let mut h = import(store, &[&f1, &f2]);
    let (h1, h2) = (h.remove(0), h.remove(0));
    set_root(store, "v1.lastSnapshot", &h1);
    set_root(store, "v2.lastSnapshot", &h2);
    let doc = snapgc(store, &["verify", "--deep", "--json"]).expect(0).json();
    has_keys(&doc, &["ok", "checked", "missing", "corrupt", "orphans", "bad_roots"]);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["checked"], 2);
    (h1, h2)
}

/// `verify --deep --json`, expecting exit 1 and exactly one problem in `list`.
fn expect_one_problem(store: &Path, list: &str, item: &str) {
    let doc = snapgc(store, &["verify", "--deep", "--json"]).expect(1).json();
    assert_eq!(doc["ok"], false);
    for name in ["missing", "corrupt", "orphans", "bad_roots"] {
        let expected: Vec<String> = if name == list { vec![item.to_owned()] } else { vec![] };
        assert_eq!(strings(&doc[name]), expected, "{name} in {doc}");
    }
    let run = snapgc(store, &["verify", "--deep"]).expect(1);
    assert!(run.stderr.contains(item), "stderr names {item}: {}", run.stderr);
}

#[test]
fn verify_deep_finds_bit_flips_truncation_missing_blobs_and_orphans() {
    // Bit flip: same size, so only --deep sees it; export refuses it and leaves no file.
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let (h1, _) = healthy_store(&store, work.path());
    let path = blob_path(&store, &h1);
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    fs::write(&path, &bytes).unwrap();
    snapgc(&store, &["verify"]).expect(0);
    expect_one_problem(&store, "corrupt", &h1);
    let out_dir = work.path().join("out");
    fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("heap.xss");
    let run = snapgc(&store, &["export", &h1, "-o", out.to_str().unwrap()]).expect(2);
    assert!(run.stderr.contains(&h1), "{}", run.stderr);
    assert!(listing(&out_dir).is_empty(), "a corrupt export left files: {:?}", listing(&out_dir));
    snapgc(&store, &["export", &h1]).expect(2);

    // Truncated.
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let (h1, _) = healthy_store(&store, work.path());
    let path = blob_path(&store, &h1);
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len / 2).unwrap();
    expect_one_problem(&store, "corrupt", &h1);

    // Missing live blob.
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let (_, h2) = healthy_store(&store, work.path());
    fs::remove_file(blob_path(&store, &h2)).unwrap();
    expect_one_problem(&store, "missing", &h2);

    // Orphan.
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    healthy_store(&store, work.path());
    let name = format!("{}.lz4", SnapshotHash::of(b"orphan").to_hex());
    fs::write(store.join("snapshots").join(&name), b"whatever").unwrap();
    expect_one_problem(&store, "orphans", &name);
}

#[test]
fn a_held_store_gives_exit_3() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    snapgc(&store, &["kv", "set", "k", "v"]).expect(0);
    let file = write_file(work.path(), "x.bin", b"x");
    let held = SwingStore::open(&store, OpenOptions { create: false }).unwrap();
    for args in [
        &["stats"][..],
        &["gc"],
        &["gc", "--json"],
        &["kv", "set", "k", "w"],
        &["kv", "get", "k"],
        &["import", file.to_str().unwrap()],
        &["verify", "--deep"],
    ] {
        let run = snapgc(&store, args).expect(3);
        assert!(run.stderr.contains("in use"), "{}", run.stderr);
        assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    }
    assert_eq!(held.kv().get_committed("k").unwrap().as_deref(), Some("v"));
    drop(held);
    assert_eq!(snapgc(&store, &["kv", "get", "k"]).expect(0).text(), "v\n");
}

#[test]
fn read_only_commands_never_create_a_store() {
    let work = TempDir::new().unwrap();
    let missing = work.path().join("nowhere");
    let hash = SnapshotHash::of(b"x").to_hex();
    let commands: [&[&str]; 12] = [
        &["export", &hash],
        &["kv", "get", "k"],
        &["kv", "list"],
        &["kv", "delete", "k"],
        &["stats"],
        &["verify"],
        &["verify", "--deep"],
        &["ls"],
        &["config"],
        &["config", "set", "--grace", "1"],
        &["gc"],
        &["gc", "--dry-run"],
    ];
    for args in commands {
        let run = snapgc(&missing, args).expect(2);
        assert!(run.stderr.contains("nowhere"), "names the path: {}", run.stderr);
        assert!(!missing.exists(), "{args:?} created the store");
    }
    // An existing directory that is not a store is left as it is.
    let empty = work.path().join("empty");
    fs::create_dir(&empty).unwrap();
    for args in commands {
        snapgc(&empty, args).expect(2);
    }
    assert!(listing(&empty).is_empty(), "{:?}", listing(&empty));
    // No --store at all.
    let run = snapgc_raw(&["stats"]).expect(2);
    assert!(run.stderr.contains("--store"), "{}", run.stderr);

    // import and kv set create it.
    let file = write_file(work.path(), "x.bin", b"x");
    snapgc(&work.path().join("s1"), &["import", file.to_str().unwrap()]).expect(0);
    snapgc(&work.path().join("s2"), &["kv", "set", "k", "v"]).expect(0);
    assert_eq!(epoch(&work.path().join("s1")), 1);
    assert_eq!(epoch(&work.path().join("s2")), 1);
}

#[test]
fn bad_hashes_are_refused_with_exit_2() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    snapgc(&store, &["kv", "set", "k", "v"]).expect(0);
    let upper = SnapshotHash::of(b"x").to_hex().to_uppercase();
    for bad in ["../../etc/passwd", "abc", upper.as_str(), ""] {
        let run = snapgc(&store, &["export", bad]).expect(2);
        assert!(run.stderr.contains("invalid snapshot hash"), "{}", run.stderr);
        let run = snapgc(&store, &["export", bad, "--json"]).expect(2);
        assert!(run.json()["error"].is_string());
    }
    let absent = SnapshotHash::of(b"absent").to_hex();
    let out = work.path().join("out.bin");
    let run = snapgc(&store, &["export", &absent, "-o", out.to_str().unwrap()]).expect(2);
    assert!(run.stderr.contains(&absent) && run.stderr.contains("not in the store"), "{}", run.stderr);
    assert!(!out.exists());
}

#[test]
fn kv_commands_commit_one_block_each() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    snapgc(&store, &["kv", "set", "a.1", "one"]).expect(0);
    snapgc(&store, &["kv", "set", "a.2", "-two with spaces"]).expect(0);
    let doc = snapgc(&store, &["--json", "kv", "set", "b", "three"]).expect(0).json();
    assert_eq!(doc["epoch"], 3);
    assert_eq!(epoch(&store), 3);
    assert_eq!(snapgc(&store, &["kv", "get", "a.2"]).expect(0).text(), "-two with spaces\n");
    assert_eq!(snapgc(&store, &["kv", "list", "a."]).expect(0).text(), "a.1\tone\na.2\t-two with spaces\n");
    assert_eq!(snapgc(&store, &["kv", "list"]).expect(0).text().lines().count(), 3);
    let doc = snapgc(&store, &["kv", "list", "--json"]).expect(0).json();
    assert_eq!(doc[2]["key"], "b");
    assert_eq!(doc[2]["value"], "three");
    let doc = snapgc(&store, &["kv", "get", "b", "--json"]).expect(0).json();
    assert_eq!(doc["value"], "three");

    snapgc(&store, &["kv", "delete", "a.1"]).expect(0);
    assert_eq!(epoch(&store), 4);
    let run = snapgc(&store, &["kv", "get", "a.1"]).expect(1);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("a.1"), "{}", run.stderr);
    assert_eq!(snapgc(&store, &["kv", "get", "a.1", "--json"]).expect(1).json()["value"], Value::Null);
    let run = snapgc(&store, &["kv", "delete", "a.1"]).expect(1);
    assert!(run.stderr.contains("a.1"), "{}", run.stderr);
    assert_eq!(epoch(&store), 4, "a failed delete commits nothing");
    // gc never advances the epoch.
    snapgc(&store, &["gc"]).expect(0);
    snapgc(&store, &["gc", "--now"]).expect(0);
    assert_eq!(epoch(&store), 4);
}

#[test]
fn json_outputs_carry_the_contract_fields() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let (_a, _b, _c, _) = messy_store(&store, work.path());
    let gc_fields = [
        "epoch",
        "roots",
        "live",
        "swept",
        "swept_bytes",
        "kept_grace",
        "kept_leased",
        "dry_run",
        "candidates",
        "kept",
        "mark_us",
        "sweep_us",
    ];
    let doc = snapgc(&store, &["gc", "--dry-run", "--json"]).expect(0).json();
    has_keys(&doc, &gc_fields);
    for k in doc["kept"].as_array().unwrap() {
        has_keys(k, &["hash", "reason"]);
    }
    let doc = snapgc(&store, &["--json", "gc", "--scan"]).expect(0).json();
    has_keys(&doc, &gc_fields);
    assert_eq!(doc["roots"], 1);
    assert_eq!(doc["live"], 1);
    assert_eq!(doc["orphans_adopted"], 1);
    let doc = snapgc(&store, &["gc", "--now", "--dry-run", "--json"]).expect(0).json();
    for c in doc["candidates"].as_array().unwrap() {
        has_keys(c, &["hash", "stored_bytes", "reason"]);
    }
    let doc = snapgc(&store, &["stats", "--json"]).expect(0).json();
    has_keys(
        &doc,
        &["epoch", "roots", "live", "blobs", "raw_bytes", "stored_bytes", "garbage", "garbage_bytes"],
    );
    assert_eq!(doc["blobs"], 4, "A, B, C and the adopted orphan");
    assert_eq!(doc["garbage"], 3);
    let doc = snapgc(&store, &["ls", "--json"]).expect(0).json();
    assert_eq!(doc.as_array().unwrap().len(), 4);
    for row in doc.as_array().unwrap() {
        has_keys(
            row,
            &["hash", "raw_bytes", "stored_bytes", "saved_epoch", "state", "condemned_epoch", "roots"],
        );
        let state = row["state"].as_str().unwrap();
        assert!(["live", "young", "unreferenced", "condemned"].contains(&state), "{row}");
    }
    let doc = snapgc(&store, &["verify", "--json"]).expect(1).json();
    assert_eq!(strings(&doc["orphans"]), vec!["junk.txt"], "the stray is reported: {doc}");
    let doc = snapgc(&store, &["config", "--json"]).expect(0).json();
    assert_eq!(doc["root_patterns"], serde_json::json!(["v*.lastSnapshot"]));
    assert_eq!(doc["grace"], 2);
    assert!(doc["metrics_file"].as_str().unwrap().ends_with("metrics.prom"), "{doc}");
    let doc = snapgc(
        &store,
        &["config", "set", "--grace", "5", "--root-pattern", "v*.lastSnapshot", "zygote.*", "--json"],
    )
    .expect(0)
    .json();
    // The config's own fields, extended with what changed.
    assert_eq!(doc["root_patterns"], serde_json::json!(["v*.lastSnapshot", "zygote.*"]));
    assert_eq!(doc["grace"], 5);
    assert_eq!(doc["changed"]["grace_before"], 2);
    assert_eq!(strings(&doc["changed"]["patterns_added"]), vec!["zygote.*"]);
    let doc = snapgc(&store, &["config", "--json"]).expect(0).json();
    assert_eq!(doc["grace"], 5);
    snapgc(&store, &["config", "set"]).expect(2);
    snapgc(&store, &["config", "set", "--root-pattern", "a**b"]).expect(2);
    // Human output of every command works too.
    for args in [&["stats"][..], &["ls"], &["config"], &["gc", "--dry-run"], &["verify"]] {
        let run = snapgc(&store, args);
        assert!(run.code == 0 || run.code == 1, "{args:?}: {}", run.stderr);
        assert!(!run.stdout.is_empty(), "{args:?} printed nothing");
    }
}

#[test]
fn budget_bounds_a_pass_and_sweep_errors_exit_2() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let files: Vec<PathBuf> =
        (0..3).map(|i| write_file(work.path(), &format!("b{i}.bin"), &payload(40 + i, 1000))).collect();
    import(&store, &[&files[0], &files[1], &files[2]]);
    let doc = snapgc(&store, &["gc", "--now", "--budget", "1", "--json"]).expect(0).json();
    assert_eq!(doc["swept"], 1);
    assert_eq!(doc["pending"], 2);
    let doc = snapgc(&store, &["gc", "--now", "--json"]).expect(0).json();
    assert_eq!(doc["swept"], 2);

    // A blob-named file that is not a blob: the pass goes on, lists it, exits 2.
    let name = blob_path(&store, &SnapshotHash::of(b"fake").to_hex());
    fs::write(&name, b"not an lz4 frame").unwrap();
    let run = snapgc(&store, &["gc", "--scan", "--json"]).expect(2);
    let doc = run.json();
    assert_eq!(doc["errors"].as_array().unwrap().len(), 1, "{doc}");
    assert!(run.stderr.contains(&SnapshotHash::of(b"fake").to_hex()), "{}", run.stderr);
    // Kept, but quarantined under a non-blob name so no later pass decodes it again.
    let mut quarantined = name.clone().into_os_string();
    quarantined.push(".corrupt");
    assert!(!name.exists() && PathBuf::from(quarantined).exists());
    let again = snapgc(&store, &["gc", "--scan", "--json"]).expect(0).json();
    assert_eq!(again["strays"].as_array().map(Vec::len), Some(1), "{again}");
}

#[test]
fn a_pass_after_a_commit_that_changed_no_root_is_skipped() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let file = write_file(work.path(), "a.bin", &payload(77, 5000));
    let hashes = import(&store, &[&file]);
    let value = format_root_value(&SnapshotHash::parse(&hashes[0]).unwrap(), 1);
    snapgc(&store, &["kv", "set", "v1.lastSnapshot", &value]).expect(0);
    let full = snapgc(&store, &["gc", "--json"]).expect(0).json();
    assert_eq!(full["skipped"], false);
    snapgc(&store, &["kv", "set", "v1.t.endPosition", "9"]).expect(0);
    let skipped = snapgc(&store, &["gc", "--json"]).expect(0).json();
    assert_eq!(skipped["skipped"], true, "{skipped}");
    assert_eq!((skipped["roots"].as_u64(), skipped["live"].as_u64()), (Some(1), Some(1)));
    snapgc(&store, &["kv", "set", "v2.lastSnapshot", &value]).expect(0);
    let again = snapgc(&store, &["gc", "--json"]).expect(0).json();
    assert_eq!(again["skipped"], false, "a root changed: the pass must mark");
    assert_eq!(again["roots"], 2);
}

// ---------------------------------------------------------------------------------------------
// Hardening: nothing the CLI accepts may lose a live snapshot, brick a store or touch files
// that are not the store's.

#[test]
fn kv_set_of_a_root_naming_an_absent_blob_exits_2_and_commits_nothing() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let (h1, _h2) = healthy_store(&store, work.path());
    snapgc(&store, &["kv", "delete", "v1.lastSnapshot"]).expect(0);
    snapgc(&store, &["gc", "--grace", "0"]).expect(0);
    snapgc(&store, &["gc", "--grace", "0"]).expect(0);
    assert!(!blob_path(&store, &h1).exists(), "h1 was collected");
    let before = epoch(&store);
    let value = format_root_value(&SnapshotHash::parse(&h1).unwrap(), 1);
    let run = snapgc(&store, &["kv", "set", "v1.lastSnapshot", &value]).expect(2);
    assert!(
        run.stderr.contains("not in the store") && run.stderr.contains("v1.lastSnapshot"),
        "{}",
        run.stderr
    );
    assert_eq!(epoch(&store), before, "nothing committed");
    snapgc(&store, &["kv", "get", "v1.lastSnapshot"]).expect(1);
    snapgc(&store, &["verify"]).expect(0);
    // A malformed value is still stored as given (the collector then fails closed on it).
    snapgc(&store, &["kv", "set", "v1.lastSnapshot", "not json"]).expect(0);
    snapgc(&store, &["gc"]).expect(2);
}

#[test]
fn config_set_refuses_to_unroot_committed_keys_without_force() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let (h1, _h2) = healthy_store(&store, work.path());
    let text = snapgc(&store, &["config", "set", "--root-pattern", "v*.lastSnapshot", "zygote.*.snapshot"])
        .expect(0)
        .text();
    assert!(text.contains("changed: root patterns +\"zygote.*.snapshot\""), "{text}");
    set_root(&store, "zygote.base.snapshot", &h1);
    snapgc(&store, &["kv", "delete", "v1.lastSnapshot"]).expect(0);
    let run = snapgc(&store, &["config", "set", "--root-pattern", "v*.lastSnapshot"]).expect(2);
    assert!(run.stderr.contains("zygote.base.snapshot"), "the key is named: {}", run.stderr);
    let shown = snapgc(&store, &["config", "--json"]).expect(0).json();
    assert_eq!(shown["root_patterns"].as_array().unwrap().len(), 2, "unchanged: {shown}");
    let doc = snapgc(&store, &["gc", "--dry-run", "--grace", "0", "--json"]).expect(0).json();
    assert!(!hashes_of(&doc["candidates"]).contains(&h1), "the zygote stays live: {doc}");
    let doc = snapgc(&store, &["config", "set", "--root-pattern", "v*.lastSnapshot", "--force", "--json"])
        .expect(0)
        .json();
    assert_eq!(strings(&doc["changed"]["keys_unrooted"]), vec!["zygote.base.snapshot"]);
}

#[test]
fn an_oversized_config_is_refused_and_the_store_still_opens() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    healthy_store(&store, work.path());
    let long = format!("v*.{}", "x".repeat(70_000));
    let run = snapgc(&store, &["config", "set", "--root-pattern", &long]).expect(2);
    assert!(run.stderr.len() < 1_000, "a long pattern is not quoted whole: {} bytes", run.stderr.len());
    let many: Vec<String> = (0..15_000).map(|i| format!("p{i}.*")).collect();
    let mut args = vec!["config", "set", "--root-pattern"];
    args.extend(many.iter().map(String::as_str));
    snapgc(&store, &args).expect(2);
    snapgc(&store, &["config"]).expect(0);
    snapgc(&store, &["config", "set", "--grace", "3"]).expect(0);
    snapgc(&store, &["verify"]).expect(0);
}

#[test]
fn a_store_is_never_created_in_a_directory_of_other_files() {
    let work = TempDir::new().unwrap();
    let d = work.path().join("D");
    fs::create_dir_all(d.join("tmp")).unwrap();
    fs::create_dir_all(d.join("snapshots")).unwrap();
    fs::write(d.join("tmp").join("notes.txt"), b"x").unwrap();
    fs::write(d.join("snapshots").join("photo.jpg"), b"x").unwrap();
    let run = snapgc(&d, &["kv", "set", "a", "b"]).expect(2);
    assert!(run.stderr.contains("not a snapgc store"), "{}", run.stderr);
    let heap = write_file(work.path(), "heap.bin", &payload(1, 1000));
    snapgc(&d, &["import", heap.to_str().unwrap()]).expect(2);
    snapgc(&d, &["gc", "--now"]).expect(2);
    assert!(d.join("tmp").join("notes.txt").exists() && d.join("snapshots").join("photo.jpg").exists());
    assert!(!d.join("kv").exists() && !d.join("LOCK").exists(), "nothing of a store was written");
    // An empty directory is fine, and so is a missing one.
    let empty = work.path().join("E");
    fs::create_dir(&empty).unwrap();
    snapgc(&empty, &["kv", "set", "a", "b"]).expect(0);
    snapgc(&work.path().join("new/deep"), &["kv", "set", "a", "b"]).expect(0);
    // Files dropped into a store later are reported, never removed.
    fs::write(empty.join("tmp").join("notes.txt"), b"x").unwrap();
    fs::write(empty.join("snapshots").join("photo.jpg"), b"x").unwrap();
    let doc = snapgc(&empty, &["gc", "--now", "--json"]).expect(0).json();
    assert_eq!(strings(&doc["strays"]), vec!["photo.jpg", "tmp/notes.txt"], "{doc}");
    assert!(
        empty.join("tmp").join("notes.txt").exists() && empty.join("snapshots").join("photo.jpg").exists()
    );
}

#[test]
fn gc_exits_2_when_a_live_blob_is_missing_a_directory_or_a_dangling_symlink() {
    for damage in ["missing", "directory", "symlink"] {
        let work = TempDir::new().unwrap();
        let store = work.path().join("store");
        let (h1, _h2) = healthy_store(&store, work.path());
        let path = blob_path(&store, &h1);
        fs::remove_file(&path).unwrap();
        match damage {
            "directory" => fs::create_dir(&path).unwrap(),
            "symlink" => std::os::unix::fs::symlink(work.path().join("nowhere"), &path).unwrap(),
            _ => {}
        }
        for args in [&["gc", "--json"][..], &["gc", "--scan", "--json"], &["gc", "--now", "--json"]] {
            let run = snapgc(&store, args).expect(2);
            let doc = run.json();
            let items: Vec<&str> =
                doc["errors"].as_array().unwrap().iter().map(|e| e["item"].as_str().unwrap()).collect();
            assert!(items.contains(&h1.as_str()), "{damage} {args:?}: {doc}");
            assert!(run.stderr.contains(&h1), "{damage}: {}", run.stderr);
        }
    }
}

#[test]
fn an_offline_pass_keeps_the_quarantined_copy_of_a_live_blob() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let (h1, _h2) = healthy_store(&store, work.path());
    let path = blob_path(&store, &h1);
    let quarantined = store.join("snapshots").join(format!("{h1}.lz4.corrupt"));
    fs::rename(&path, &quarantined).unwrap();
    let run = snapgc(&store, &["gc", "--now", "--json"]).expect(2);
    assert!(quarantined.exists(), "the only copy of a live heap was deleted");
    assert!(run.stderr.contains("salvage"), "{}", run.stderr);
    // Once no root names it, an offline pass removes it (it is the store's own file).
    snapgc(&store, &["kv", "delete", "v1.lastSnapshot"]).expect(0);
    snapgc(&store, &["gc", "--now"]).expect(0);
    assert!(!quarantined.exists());
}

#[test]
fn a_fifo_in_place_of_a_blob_is_an_error_not_a_hang() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let (h1, _h2) = healthy_store(&store, work.path());
    let path = blob_path(&store, &h1);
    fs::remove_file(&path).unwrap();
    let made = Command::new("mkfifo").arg(&path).status();
    if !made.is_ok_and(|s| s.success()) {
        // Straight to stderr: libtest captures `eprintln!`, so a skip would not show.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED a_fifo_in_place_of_a_blob_is_an_error_not_a_hang: mkfifo unavailable"
        );
        return;
    }
    let out = work.path().join("out.xss");
    let started = std::time::Instant::now();
    let run = snapgc(&store, &["export", &h1, "-o", out.to_str().unwrap()]).expect(2);
    assert!(run.stderr.contains("FIFO"), "{}", run.stderr);
    snapgc(&store, &["verify", "--deep"]).expect(1);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn error_messages_say_each_cause_once_and_quote_long_keys_short() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let (h1, _h2) = healthy_store(&store, work.path());
    // A directory squatting on a blob's name: the cause appears once.
    snapgc(&store, &["kv", "delete", "v1.lastSnapshot"]).expect(0);
    snapgc(&store, &["gc", "--now"]).expect(0);
    fs::create_dir(blob_path(&store, &h1)).unwrap();
    let file = write_file(work.path(), "again.bin", &payload(11, 200_000));
    let run = snapgc(&store, &["import", file.to_str().unwrap()]).expect(2);
    assert_eq!(run.stderr.matches("in the way").count(), 1, "{}", run.stderr);
    // A malformed root under a 1 MB key (set through the library: too long for an argument):
    // the error line stays short.
    fs::remove_dir(blob_path(&store, &h1)).unwrap();
    let key = format!("v{}.lastSnapshot", "1".repeat(1_000_000));
    {
        let handle = SwingStore::open(&store, OpenOptions::default()).unwrap();
        handle.kv().set(&key, "not json");
        handle.commit().unwrap();
    }
    let run = snapgc(&store, &["gc"]).expect(2);
    assert!(run.stderr.len() < 2_000, "{} bytes of stderr", run.stderr.len());
    // A root value that is a JSON array is malformed (Agoric's JSON.parse(v).snapshotID is undefined).
    {
        let handle = SwingStore::open(&store, OpenOptions::default()).unwrap();
        handle.kv().delete(&key);
        handle.commit().unwrap();
    }
    snapgc(&store, &["kv", "set", "v3.lastSnapshot", &format!("[\"{h1}\"]")]).expect(0);
    let run = snapgc(&store, &["gc"]).expect(2);
    assert!(run.stderr.contains("v3.lastSnapshot"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// status

#[test]
fn status_reads_a_running_store_without_its_lock_and_computes_a_stopped_one() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    let (h1, _h2) = healthy_store(&store, work.path());
    // Stopped: computed now.
    let doc = snapgc(&store, &["status", "--json"]).expect(0).json();
    has_keys(
        &doc,
        &[
            "epoch",
            "roots",
            "live",
            "blobs",
            "stored_bytes",
            "live_bytes",
            "garbage_blobs",
            "garbage_bytes",
            "pending",
            "last_pass",
            "backlog",
            "pid",
            "updated_unix_ms",
            "source",
            "age_ms",
            "writer_alive",
        ],
    );
    assert_eq!(doc["source"], "computed");
    assert_eq!(doc["live"], 2);
    // Running: this test process holds the store (as a kernel would) and collects.
    let handle = SwingStore::open(&store, OpenOptions::default()).unwrap();
    handle.kv().set("x", "y");
    handle.commit().unwrap();
    handle.gc().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let doc = loop {
        let run = snapgc(&store, &["status", "--json"]);
        if run.code == 0 {
            break run.json();
        }
        assert!(std::time::Instant::now() < deadline, "no status while running: {}", run.stderr);
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(doc["source"], "status-file");
    assert_eq!(doc["writer_alive"], true);
    assert_eq!(doc["pid"], std::process::id());
    let text = snapgc(&store, &["status"]).expect(0).text();
    assert!(text.contains("running") && text.contains("backlog"), "{text}");
    // A live snapshot gone: exit 1, named in the text.
    fs::remove_file(blob_path(&store, &h1)).unwrap();
    handle.kv().set("x", "z");
    handle.commit().unwrap();
    handle.gc().unwrap();
    drop(handle);
    let run = snapgc(&store, &["status"]).expect(1);
    assert!(run.text().contains("MISSING"), "{}", run.text());
}

#[test]
fn config_set_metrics_file_persists_the_path() {
    let work = TempDir::new().unwrap();
    let store = work.path().join("store");
    healthy_store(&store, work.path());
    let target = work.path().join("textfile").join("snapgc.prom");
    fs::create_dir_all(target.parent().unwrap()).unwrap();
    let doc = snapgc(&store, &["config", "set", "--metrics-file", target.to_str().unwrap(), "--json"])
        .expect(0)
        .json();
    assert_eq!(doc["metrics_file"], target.to_str().unwrap());
    snapgc(&store, &["gc"]).expect(0);
    assert!(target.exists(), "the metrics file is written where configured");
    let text = fs::read_to_string(&target).unwrap();
    assert!(text.contains("# TYPE snapgc_garbage_bytes gauge"), "{text}");
    snapgc(&store, &["config", "set", "--no-metrics-file"]).expect(0);
    let doc = snapgc(&store, &["config", "--json"]).expect(0).json();
    assert!(doc["metrics_file"].as_str().unwrap().ends_with("metrics.prom"));
}

/// The archive's interface (issue 15): `config set --archive / --no-archive /
/// --archive-keep-last`, `archive ls|get|stats|verify|gc` and their JSON fields.
#[test]
fn archive_commands_keep_their_contract() {
    let work = TempDir::new().expect("tmp");
    let store = work.path().join("store");
    let archive_dir = work.path().join("archive");
    let heap = fixture_heap();
    let (a, b, c) = (&heap[..400_000], &heap[..420_000], &heap[10_000..430_000]);
    let files: Vec<PathBuf> = [("a.xss", a), ("b.xss", b), ("c.xss", c)]
        .iter()
        .map(|(name, bytes)| write_file(work.path(), name, bytes))
        .collect();
    let hashes = import(&store, &[&files[0], &files[1], &files[2]]);
    snapgc(&store, &["config", "set", "--grace", "0"]).expect(0);
    // Retention needs an archive.
    snapgc(&store, &["config", "set", "--archive-keep-last", "1"]).expect(2);
    let doc = snapgc(&store, &["config", "set", "--archive", archive_dir.to_str().expect("utf-8"), "--json"])
        .expect(0)
        .json();
    assert_eq!(doc["archive"], archive_dir.to_str().expect("utf-8"));
    assert_eq!(doc["archive_keep_last"], 0);
    let shown = snapgc(&store, &["config", "--json"]).expect(0).json();
    assert_eq!(shown["archive"], archive_dir.to_str().expect("utf-8"));
    assert!(snapgc(&store, &["config"]).expect(0).text().contains("archive"));

    set_root(&store, "v1.lastSnapshot", &hashes[0]);
    // The next snapshot of the vat, at a later position (Agoric's `snapPos`).
    let next = format_root_value(&SnapshotHash::parse(&hashes[1]).expect("a hash"), 2);
    snapgc(&store, &["kv", "set", "v1.lastSnapshot", &next]).expect(0);
    let report = snapgc(&store, &["gc", "--json"]).expect(0).json();
    // b and c went: a was named by a root (archived), c never was (not archived).
    assert_eq!(report["swept"], 2, "{report}");
    let ls = snapgc(&store, &["archive", "ls", "--json"]).expect(0).json();
    let rows = ls.as_array().expect("an array");
    assert_eq!(rows.len(), 1, "{ls}");
    let row = rows[0].as_object().expect("an object");
    let mut keys: Vec<&str> = row.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["archived_epoch", "hash", "position", "raw_bytes", "root"]);
    assert_eq!(row["hash"], hashes[0].as_str());
    assert_eq!(row["root"], "v1.lastSnapshot");
    assert_eq!(row["raw_bytes"], a.len());
    let stats = snapgc(&store, &["archive", "stats", "--json"]).expect(0).json();
    has_keys(&stats, &["snapshots", "raw_bytes", "chunks", "stored_bytes"]);
    assert_eq!(stats["snapshots"], 1);
    assert!(stats["stored_bytes"].as_u64().expect("a number") < a.len() as u64 / 2);
    assert!(snapgc(&store, &["archive", "stats"]).expect(0).text().contains("snapshots"));

    // get: to a file (only once verified), and to stdout.
    let out = work.path().join("got.xss");
    snapgc(&store, &["archive", "get", &hashes[0], "-o", out.to_str().expect("utf-8")]).expect(0);
    assert_eq!(fs::read(&out).expect("read"), a);
    let run = snapgc(&store, &["archive", "get", &hashes[0]]).expect(0);
    assert_eq!(run.stdout, a);
    snapgc(&store, &["archive", "get", &hashes[2]]).expect(2);
    snapgc(&store, &["archive", "get", "nothex"]).expect(2);
    let v = snapgc(&store, &["archive", "verify", "--deep", "--json"]).expect(0).json();
    assert_eq!(v["ok"], true, "{v}");

    // A debug state export ships the archived (swept) snapshot, verified, beside the current one;
    // an operational one only the current one.
    let export = work.path().join("export-debug");
    let args = ["state", "export", "--dir", export.to_str().expect("utf-8"), "--mode", "debug", "--json"];
    let doc = snapgc(&store, &args).expect(0).json();
    assert_eq!(doc["artifacts"], 2, "{doc}");
    let manifest: Value =
        serde_json::from_slice(&fs::read(export.join("export-manifest.json")).expect("manifest"))
            .expect("json");
    let shipped: Vec<Vec<u8>> = manifest["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|pair| fs::read(export.join(pair[1].as_str().expect("file"))).expect("artifact"))
        .collect();
    assert!(
        shipped.iter().any(|x| x == a) && shipped.iter().any(|x| x == b),
        "the archived and the current snapshot"
    );
    let export = work.path().join("export-operational");
    let doc = snapgc(&store, &["state", "export", "--dir", export.to_str().expect("utf-8"), "--json"])
        .expect(0)
        .json();
    assert_eq!(doc["artifacts"], 1, "{doc}");

    // A damaged pack: get fails and leaves FILE as it was; verify --deep exits 1.
    let pack =
        walk(&archive_dir).into_iter().find(|p| p.extension().is_some_and(|e| e == "pack")).expect("a pack");
    let mut bytes = fs::read(&pack).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    fs::write(&pack, bytes).expect("write");
    fs::write(&out, b"old").expect("write");
    snapgc(&store, &["archive", "get", &hashes[0], "-o", out.to_str().expect("utf-8")]).expect(2);
    assert_eq!(fs::read(&out).expect("read"), b"old", "FILE is replaced only once verified");
    snapgc(&store, &["archive", "verify", "--deep"]).expect(1);
    snapgc(&store, &["archive", "verify"]).expect(0);

    // gc: retention 1 keeps the one manifest; a dry run changes nothing.
    snapgc(&store, &["config", "set", "--archive-keep-last", "1"]).expect(0);
    let dry = snapgc(&store, &["archive", "gc", "--dry-run", "--json"]).expect(0).json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["manifests_dropped"], 0);
    snapgc(&store, &["archive", "gc"]).expect(0);

    // An archive that cannot be opened: the collector keeps history (exit 2), deletes nothing.
    import(&store, &[&files[0]]);
    set_root(&store, "v1.lastSnapshot", &hashes[0]);
    // (`config set` refuses a location that can never work: this one breaks afterwards.)
    let bad = work.path().join("broken-later");
    snapgc(&store, &["config", "set", "--archive", bad.to_str().expect("utf-8")]).expect(0);
    fs::write(bad.join("SNAPGC-ARCHIVE"), br#"{"format":1,"owner":"another store"}"#).expect("write");
    let run = snapgc(&store, &["gc", "--json"]).expect(2);
    assert_eq!(run.json()["swept"], 0, "{}", run.text());
    assert!(blob_path(&store, &hashes[1]).exists(), "history is kept");
    let doc = snapgc(&store, &["config", "set", "--no-archive", "--json"]).expect(0).json();
    assert!(doc.get("archive").is_none(), "{doc}");
    snapgc(&store, &["archive", "ls"]).expect(2);
    assert_eq!(snapgc(&store, &["gc", "--json"]).expect(0).json()["swept"], 1);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

// ---------------------------------------------------------------- state export / import (issue 14)

fn sha256_hex(bytes: &[u8]) -> String {
    SnapshotHash::of(bytes).to_hex()
}

#[track_caller]
fn exact_fields(doc: &Value, fields: &[&str]) {
    let mut got: Vec<&str> = doc.as_object().expect("a JSON object").keys().map(String::as_str).collect();
    got.sort_unstable();
    let mut want = fields.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "fields of {doc}");
}

/// A store with two vats (v1 replaced once: an inUse:0 record) and a kv entry.
fn state_source(tmp: &Path) -> PathBuf {
    let store = tmp.join("source");
    let a = write_file(tmp, "a.xss", &payload(1, 300_000));
    let b = write_file(tmp, "b.xss", &payload(2, 200_000));
    let c = write_file(tmp, "c.xss", &payload(3, 100_000));
    let hashes = import(&store, &[&a, &b, &c]);
    set_root(&store, "v1.lastSnapshot", &hashes[0]);
    let moved = format_root_value(&SnapshotHash::parse(&hashes[1]).expect("hash"), 40);
    snapgc(&store, &["kv", "set", "v1.lastSnapshot", &moved]).expect(0);
    set_root(&store, "v2.lastSnapshot", &hashes[2]);
    snapgc(&store, &["kv", "set", "v1.vs.x", "state"]).expect(0);
    store
}

#[test]
fn state_export_then_import_round_trips_with_the_contract_output() {
    let tmp = TempDir::new().expect("tempdir");
    let store = state_source(tmp.path());
    let dir = tmp.path().join("export");
    let text = snapgc(&store, &["state", "export", "--dir", dir.to_str().expect("utf-8")]).expect(0).text();
    let data = fs::read(dir.join("export-data.jsonl")).expect("export-data.jsonl");
    assert_eq!(
        text.lines().last(),
        Some(format!("export-data sha256:{}", sha256_hex(&data)).as_str()),
        "{text}"
    );
    let manifest: Value =
        serde_json::from_slice(&fs::read(dir.join("export-manifest.json")).expect("manifest"))
            .expect("manifest JSON");
    assert_eq!(manifest["artifactMode"], "operational");
    assert_eq!(manifest["data"], "export-data.jsonl");
    assert_eq!(manifest["blockHeight"].as_u64(), Some(epoch(&store)));
    assert_eq!(manifest["artifacts"].as_array().expect("artifacts").len(), 2);

    let json_dir = tmp.path().join("export-json");
    let doc = snapgc(&store, &["--json", "state", "export", "--dir", json_dir.to_str().expect("utf-8")])
        .expect(0)
        .json();
    exact_fields(
        &doc,
        &["block_height", "artifact_mode", "export_data_hash", "records", "artifacts", "artifact_bytes"],
    );
    assert_eq!(doc["export_data_hash"], format!("sha256:{}", sha256_hex(&data)), "the same committed state");
    assert_eq!((doc["records"].as_u64(), doc["artifacts"].as_u64()), (Some(6), Some(2)));
    assert_eq!(doc["artifact_bytes"].as_u64(), Some(300_000));

    let target = tmp.path().join("imported");
    let expect = format!("sha256:{}", sha256_hex(&data));
    let doc = snapgc(
        &target,
        &["--json", "state", "import", "--dir", dir.to_str().expect("utf-8"), "--expect-data-hash", &expect],
    )
    .expect(0)
    .json();
    exact_fields(&doc, &["epoch", "roots", "kv_entries", "historical_records", "artifacts", "skipped"]);
    assert_eq!(
        (doc["roots"].as_u64(), doc["kv_entries"].as_u64(), doc["historical_records"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    let (a, b) = (
        snapgc(&store, &["--json", "stats"]).expect(0).json(),
        snapgc(&target, &["--json", "stats"]).expect(0).json(),
    );
    assert!(a["live_digest"].as_str().expect("live_digest").starts_with("sha256:"));
    assert_eq!(a["live_digest"], b["live_digest"]);
    assert!(
        snapgc(&target, &["stats"]).expect(0).text().contains(a["live_digest"].as_str().expect("digest"))
    );
    assert_eq!(snapgc(&target, &["kv", "get", "v1.vs.x"]).expect(0).text(), "state\n");
    snapgc(&target, &["verify", "--deep"]).expect(0);
}

#[test]
fn state_export_refuses_a_non_empty_directory() {
    let tmp = TempDir::new().expect("tempdir");
    let store = state_source(tmp.path());
    let dir = tmp.path().join("busy");
    fs::create_dir(&dir).expect("mkdir");
    write_file(&dir, "mine.txt", b"keep");
    let run = snapgc(&store, &["state", "export", "--dir", dir.to_str().expect("utf-8")]).expect(2);
    assert!(run.stderr.contains("not empty"), "{}", run.stderr);
    assert_eq!(listing(&dir).len(), 1, "nothing written");
}

#[test]
fn state_import_refusal_exits_2_names_the_artifact_and_leaves_no_root() {
    let tmp = TempDir::new().expect("tempdir");
    let store = state_source(tmp.path());
    let dir = tmp.path().join("export");
    snapgc(&store, &["state", "export", "--dir", dir.to_str().expect("utf-8")]).expect(0);
    let artifact = dir.join("snapshot.v2.1");
    let mut bytes = fs::read(&artifact).expect("artifact");
    bytes[7] ^= 0x40;
    fs::write(&artifact, bytes).expect("tamper");
    let target = tmp.path().join("imported");
    let run = snapgc(&target, &["state", "import", "--dir", dir.to_str().expect("utf-8")]).expect(2);
    assert!(run.stderr.contains("snapshot.v2.1"), "names the artifact: {}", run.stderr);
    let stats = snapgc(&target, &["--json", "stats"]).expect(0).json();
    assert_eq!((stats["roots"].as_u64(), stats["blobs"].as_u64()), (Some(0), Some(0)), "{stats}");
    // The same directory takes a good import afterwards.
    fs::copy(tmp.path().join("c.xss"), &artifact).expect("restore");
    snapgc(&target, &["state", "import", "--dir", dir.to_str().expect("utf-8")]).expect(0);
}

#[test]
fn state_import_checks_the_expected_data_hash_and_the_target() {
    let tmp = TempDir::new().expect("tempdir");
    let store = state_source(tmp.path());
    let dir = tmp.path().join("export");
    snapgc(&store, &["state", "export", "--dir", dir.to_str().expect("utf-8")]).expect(0);
    let d = dir.to_str().expect("utf-8");
    let target = tmp.path().join("t");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let run = snapgc(&target, &["state", "import", "--dir", d, "--expect-data-hash", &wrong]).expect(2);
    assert!(run.stderr.contains("export-data.jsonl"), "{}", run.stderr);
    assert_eq!(snapgc(&target, &["--json", "stats"]).expect(0).json()["roots"].as_u64(), Some(0));
    // A malformed hash is refused before the store is touched.
    let fresh = tmp.path().join("fresh");
    snapgc(&fresh, &["state", "import", "--dir", d, "--expect-data-hash", "sha256:xyz"]).expect(2);
    assert!(!fresh.exists());
    // A store that is in use for real is refused and left alone.
    let run = snapgc(&store, &["state", "import", "--dir", d]).expect(2);
    assert!(run.stderr.contains("already holds a store"), "{}", run.stderr);
    assert_eq!(snapgc(&store, &["--json", "stats"]).expect(0).json()["roots"].as_u64(), Some(2));
}
