//! Shared helpers: stores with an archive on a local directory or on S3 (a moto server named by
//! `SNAPGC_S3_TEST_ENDPOINT`; without it the S3 variants print a visible skip line).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::Arc;

use archive::{Archive, StoreArchiver};
use swingstore::{ArchiveConfig, OpenOptions, SaveInfo, SnapshotHash, SwingStore, format_root_value};
use tempfile::TempDir;

/// The env variable naming the S3 test server (`http://127.0.0.1:PORT`).
pub const S3_ENDPOINT_ENV: &str = "SNAPGC_S3_TEST_ENDPOINT";
pub const S3_BUCKET: &str = "snapgc-test";

/// Where a test's archive lives.
#[derive(Debug, Clone)]
pub enum Backend {
    Local,
    S3,
}

/// A store with an archive configured and attached.
pub struct Env {
    pub dir: TempDir,
    pub store: SwingStore,
    pub archive: Arc<Archive>,
    pub location: String,
    pub s3_options: Vec<(String, String)>,
}

pub fn skip(what: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP: {what}: {why}");
}

/// The S3 options for the test server, or `None` (and a skip line) without one.
pub fn s3_options(test: &str) -> Option<Vec<(String, String)>> {
    let Ok(endpoint) = std::env::var(S3_ENDPOINT_ENV) else {
        skip(
            &format!("S3 variant of {test}"),
            &format!("{S3_ENDPOINT_ENV} is not set (.ci/run starts a moto server and sets it)"),
        );
        return None;
    };
    create_bucket(&endpoint, S3_BUCKET).expect("creating the test bucket on the S3 test server");
    Some(vec![
        ("aws_endpoint".into(), endpoint),
        ("aws_allow_http".into(), "true".into()),
        ("aws_access_key_id".into(), "testing".into()),
        ("aws_secret_access_key".into(), "testing".into()),
        ("aws_region".into(), "us-east-1".into()),
    ])
}

/// `PUT /bucket` (moto answers 200 for a new bucket and for one we already own).
pub fn create_bucket(endpoint: &str, bucket: &str) -> std::io::Result<()> {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host)?;
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.split(' ').nth(1).unwrap_or("");
    if status == "200" || status == "409" {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("PUT /{bucket}: {}", answer.lines().next().unwrap_or(""))))
    }
}

fn unique(test: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{test}-{}-{nanos}", std::process::id())
}

pub fn options_ref(opts: &[(String, String)]) -> Vec<(&str, &str)> {
    opts.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A fresh store with an archive (grace `grace`, retention `keep_last`), or `None` when the
/// backend is not available here (a skip line was printed).
pub fn env(test: &str, backend: Backend, grace: u64, keep_last: u64) -> Option<Env> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (location, s3_options) = match backend {
        Backend::Local => (dir.path().join("archive").display().to_string(), Vec::new()),
        Backend::S3 => (format!("s3://{S3_BUCKET}/{}", unique(test)), s3_options(test)?),
    };
    let store = SwingStore::open(dir.path().join("store"), OpenOptions { create: true }).expect("store");
    let mut config = store.config();
    config.grace = grace;
    store.set_config(config).expect("set_config");
    store
        .set_archive_config(Some(ArchiveConfig { location: location.clone(), keep_last }))
        .expect("set_archive_config");
    let archive = Arc::new(open_archive(&location, &s3_options));
    store.set_archiver(Arc::new(StoreArchiver::new(Arc::clone(&archive))));
    Some(Env { dir, store, archive, location, s3_options })
}

pub fn open_archive(location: &str, s3_options: &[(String, String)]) -> Archive {
    Archive::open_with(location, &options_ref(s3_options)).expect("opening the archive")
}

/// A real XS heap (the lockdown fixture), cut to `len` bytes.
pub fn base_heap(len: usize) -> Vec<u8> {
    let lz4 = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/36464bd86289b0e24cc96894a3dac23f0f4438d4afa5ed28fa63938c65e1c0c5.lz4"
    ))
    .expect("the fixture");
    let mut raw = lz4_flex::frame::FrameDecoder::new(&lz4[..]);
    let mut out = Vec::new();
    raw.read_to_end(&mut out).expect("the fixture decodes");
    out.truncate(len);
    out
}

/// Version `n` of a heap: `base` with a few regions rewritten and some bytes inserted.
pub fn heap_version(base: &[u8], vat: u64, n: u64) -> Vec<u8> {
    let mut heap = base.to_vec();
    let mut rng = testkit::Rng::derive(&[vat, n]);
    for _ in 0..n.min(40) {
        let at = rng.index(heap.len().saturating_sub(600).max(1));
        let patch = testkit::bytes(rng.next_u64(), 300);
        heap[at..at + 300].copy_from_slice(&patch);
    }
    let at = rng.index(heap.len());
    let insert = testkit::bytes(rng.next_u64(), 100 + n as usize);
    heap.splice(at..at, insert);
    heap
}

/// Saves `bytes` and sets `vN.lastSnapshot` to it at `position` (not committed).
pub fn save_root(store: &SwingStore, vat: u64, position: u64, bytes: &[u8]) -> SaveInfo {
    let info = store.save_bytes(bytes).expect("save");
    store.kv().set(&format!("v{vat}.lastSnapshot"), &format_root_value(&info.hash, position));
    info
}

/// Commits and collects `n` times; returns the errors the passes reported.
pub fn commit_gc(store: &SwingStore, n: u64) -> Vec<String> {
    let mut errors = Vec::new();
    for _ in 0..n {
        store.commit().expect("commit");
        let report = store.gc().expect("gc");
        errors.extend(report.errors.iter().map(|e| format!("{}: {}", e.item, e.error)));
    }
    errors
}

pub fn hash_of(bytes: &[u8]) -> SnapshotHash {
    SnapshotHash::of(bytes)
}
