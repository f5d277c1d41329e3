//! Helpers: run the binary, build stores, read what it prints.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Stdio;
use swingstore::SnapshotHash;
use swingstore::format_root_value;
// `payload(seed, len)`: deterministic, incompressible bytes.
use testkit::bytes as payload;

pub(crate) const FIXTURE: &str = "36464bd86289b0e24cc96894a3dac23f0f4438d4afa5ed28fa63938c65e1c0c5";

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", self.text(), self.stderr))
    }

    #[track_caller]
    pub(crate) fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, code, "exit status; stdout: {}\nstderr: {}", self.text(), self.stderr);
        self
    }
}

/// `snapgc --store DIR ARGS...`
pub(crate) fn snapgc(store: &Path, args: &[&str]) -> Run {
    let mut full: Vec<&str> = vec!["--store", store.to_str().expect("a UTF-8 path")];
    full.extend_from_slice(args);
    snapgc_raw(&full)
}

pub(crate) fn snapgc_raw(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_snapgc"))
        .args(args)
        .env_remove("SNAPGC_STORE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run snapgc");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub(crate) fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).expect("fs::write");
    path
}

/// Imports files (one block) and returns their hashes.
pub(crate) fn import(store: &Path, files: &[&Path]) -> Vec<String> {
    let mut args = vec!["import", "--json"];
    args.extend(files.iter().map(|p| p.to_str().expect("a UTF-8 path")));
    let doc = snapgc(store, &args).expect(0).json();
    doc.as_array()
        .expect("a JSON array")
        .iter()
        .map(|row| row["hash"].as_str().expect("a JSON string").to_owned())
        .collect()
}

pub(crate) fn set_root(store: &Path, key: &str, hash: &str) {
    let value = format_root_value(&SnapshotHash::parse(hash).expect("a hash"), 1);
    snapgc(store, &["kv", "set", key, &value]).expect(0);
}

pub(crate) fn epoch(store: &Path) -> u64 {
    snapgc(store, &["stats", "--json"]).expect(0).json()["epoch"].as_u64().expect("a JSON number")
}

/// Name -> size of every file in a directory (sorted).
pub(crate) fn listing(dir: &Path) -> BTreeMap<String, u64> {
    match fs::read_dir(dir) {
        Err(_) => BTreeMap::new(),
        Ok(entries) => entries
            .map(|e| {
                let e = e.expect("a directory entry");
                (e.file_name().to_string_lossy().into_owned(), e.metadata().expect("metadata").len())
            })
            .collect(),
    }
}

pub(crate) fn blob_path(store: &Path, hash: &str) -> PathBuf {
    store.join("snapshots").join(format!("{hash}.lz4"))
}

pub(crate) fn fixture_heap() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(format!("{FIXTURE}.lz4"));
    let mut out = Vec::new();
    lz4_flex::frame::FrameDecoder::new(fs::File::open(path).expect("open the blob"))
        .read_to_end(&mut out)
        .expect("an LZ4 frame");
    out
}

pub(crate) fn has_keys(doc: &Value, keys: &[&str]) {
    for k in keys {
        assert!(doc.get(k).is_some(), "field {k} missing in {doc}");
    }
}

pub(crate) fn hashes_of(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|x| x["hash"].as_str().expect("a JSON string").to_owned())
        .collect();
    out.sort();
    out
}

pub(crate) fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|x| x.as_str().expect("a JSON string").to_owned())
        .collect()
}

/// A store with: A live (v1), B replaced (was v1), C unreferenced young, plus an orphan file,
/// a stray file and a leftover temp file. Returns (A, B, C, orphan hash).
pub(crate) fn messy_store(store: &Path, work: &Path) -> (String, String, String, String) {
    let (a, b, c) = three_blobs(store, work);
    let orphan = add_leftovers(store);
    (a, b, c, orphan)
}

/// A live (v1), B replaced (was v1), C never referenced. Epoch 5 after.
pub(crate) fn three_blobs(store: &Path, work: &Path) -> (String, String, String) {
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
pub(crate) fn add_leftovers(store: &Path) -> String {
    // An orphan: a well-named blob file the store has no metadata for (a copy of A's frame
    // would not verify under another name, so make a real frame for other bytes).
    let orphan_bytes = payload(99, 10_000);
    let orphan = SnapshotHash::of(&orphan_bytes).to_hex();
    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
    std::io::Write::write_all(&mut enc, &orphan_bytes).expect("lz4 encode");
    fs::write(blob_path(store, &orphan), enc.finish().expect("lz4 encode")).expect("fs::write");
    fs::write(store.join("snapshots").join("junk.txt"), b"not a blob").expect("fs::write");
    fs::write(store.join("tmp").join("save-1-1.tmp"), b"half a save").expect("fs::write");
    orphan
}

/// A healthy store with two rooted blobs; returns their hashes.
pub(crate) fn healthy_store(store: &Path, work: &Path) -> (String, String) {
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

pub(crate) fn walk(dir: &Path) -> Vec<PathBuf> {
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

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    SnapshotHash::of(bytes).to_hex()
}

#[track_caller]
pub(crate) fn exact_fields(doc: &Value, fields: &[&str]) {
    let mut got: Vec<&str> = doc.as_object().expect("a JSON object").keys().map(String::as_str).collect();
    got.sort_unstable();
    let mut want = fields.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "fields of {doc}");
}
