//! `SnapgcStore`: an open store as JS sees it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use napi::Env;
use napi::bindgen_prelude::{AsyncTask, Buffer, Either, Undefined};
use napi_derive::napi;
use serde_json::Value;
use swingstore::{ArchiveConfig, GcReport, Lease, OpenOptions, SnapshotHash, SwingStore};

use crate::error::{Failure, Outcome, to_js};
use crate::job::Job;
use crate::load::{LoadOptions, SnapgcLoad};
use crate::save::SnapgcSave;

/// What a finished save did (the library's `SaveInfo`).
#[napi(object)]
pub struct SaveInfo {
    /// sha256 of the raw bytes, 64 lowercase hex characters: the snapshot's name.
    pub hash: String,
    /// Raw (uncompressed) length.
    pub raw_bytes: f64,
    /// Length of the blob file.
    pub compressed_bytes: f64,
    /// The blob was already stored (its protection was renewed).
    pub deduplicated: bool,
    /// The epoch of the block the save belongs to (committed epoch + 1).
    pub saved_epoch: f64,
}

impl From<swingstore::SaveInfo> for SaveInfo {
    fn from(s: swingstore::SaveInfo) -> Self {
        Self {
            hash: s.hash.to_hex(),
            raw_bytes: s.raw_bytes as f64,
            compressed_bytes: s.stored_bytes as f64,
            deduplicated: s.deduplicated,
            saved_epoch: s.saved_epoch as f64,
        }
    }
}

/// A per-item problem of a collection (the pass went on).
#[napi(object)]
pub struct GcError {
    /// The blob hash, or the file name for strays and temp files.
    pub item: String,
    /// What went wrong with it.
    pub error: String,
}

/// The outcome of one collection (the library's `GcReport`, camelCase).
#[napi(object)]
pub struct GcReportJs {
    pub epoch: f64,
    pub roots: f64,
    pub live: f64,
    pub swept: f64,
    pub swept_bytes: f64,
    pub kept_grace: f64,
    pub kept_young: f64,
    pub kept_leased: f64,
    pub pending: f64,
    pub grace: f64,
    pub skipped: bool,
    pub orphans_adopted: f64,
    pub temp_removed: f64,
    pub strays: Vec<String>,
    pub errors: Vec<GcError>,
    pub mark_us: f64,
    pub sweep_us: f64,
    /// Mark and sweep, in milliseconds.
    pub duration_ms: f64,
}

impl From<GcReport> for GcReportJs {
    fn from(r: GcReport) -> Self {
        Self {
            epoch: r.epoch as f64,
            roots: r.roots as f64,
            live: r.live as f64,
            swept: r.swept as f64,
            swept_bytes: r.swept_bytes as f64,
            kept_grace: r.kept_grace as f64,
            kept_young: r.kept_young as f64,
            kept_leased: r.kept_leased as f64,
            pending: r.pending as f64,
            grace: r.grace as f64,
            skipped: r.skipped,
            orphans_adopted: r.orphans_adopted as f64,
            temp_removed: r.temp_removed as f64,
            strays: r.strays,
            errors: r.errors.into_iter().map(|e| GcError { item: e.item, error: e.error }).collect(),
            mark_us: r.mark_us as f64,
            sweep_us: r.sweep_us as f64,
            duration_ms: (r.mark_us + r.sweep_us) as f64 / 1000.0,
        }
    }
}

/// A blob's metadata (`blobInfo`).
#[napi(object)]
pub struct BlobInfoJs {
    pub hash: String,
    pub raw_bytes: f64,
    pub compressed_bytes: f64,
    pub saved_epoch: f64,
    /// The epoch at which the collector condemned it, if it did.
    pub condemned_epoch: Option<f64>,
}

fn absent_undefined(value: Option<String>) -> Either<String, Undefined> {
    match value {
        Some(v) => Either::A(v),
        None => Either::B(()),
    }
}

/// Parses a snapshot name (64 lowercase hex characters).
pub fn parse_hash(text: &str) -> Outcome<SnapshotHash> {
    SnapshotHash::parse(text).map_err(Failure::from)
}

/// Open options, from a plain JS object. Missing and `undefined` leave a setting as the store
/// has it; `null` (for `archive`, `metricsFile`) removes it.
#[derive(Default)]
struct Options {
    create: bool,
    root_patterns: Option<Vec<String>>,
    grace: Option<u64>,
    archive: Option<Option<String>>,
    metrics_file: Option<Option<String>>,
}

fn parse_options(value: Option<Value>) -> Outcome<Options> {
    let mut options = Options { create: true, ..Options::default() };
    let map = match value {
        None | Some(Value::Null) => return Ok(options),
        Some(Value::Object(map)) => map,
        Some(other) => return Err(Failure::invalid(format!("open options must be an object, not {other}"))),
    };
    for (key, value) in map {
        match (key.as_str(), value) {
            (_, Value::Null) if key == "create" || key == "rootPatterns" || key == "grace" => {}
            ("create", Value::Bool(b)) => options.create = b,
            ("rootPatterns", Value::Array(items)) => {
                let patterns = items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s),
                        other => Err(Failure::invalid(format!("rootPatterns: {other} is not a string"))),
                    })
                    .collect::<Outcome<Vec<_>>>()?;
                options.root_patterns = Some(patterns);
            }
            ("grace", Value::Number(n)) => match n.as_u64() {
                Some(g) => options.grace = Some(g),
                None => return Err(Failure::invalid(format!("grace: {n} is not a whole number of epochs"))),
            },
            ("archive", Value::Null) => options.archive = Some(None),
            ("archive", Value::String(s)) => options.archive = Some(Some(s)),
            ("metricsFile", Value::Null) => options.metrics_file = Some(None),
            ("metricsFile", Value::String(s)) => options.metrics_file = Some(Some(s)),
            (key, value) => {
                return Err(Failure::invalid(format!(
                    "open option {key}: unknown, or {value} is not of its type (create: boolean, \
                     rootPatterns: string[], grace: number, archive: string | null, metricsFile: string | null)"
                )));
            }
        }
    }
    Ok(options)
}

fn open_store(dir: &str, options: Options) -> Outcome<SwingStore> {
    let store = SwingStore::open(dir, OpenOptions { create: options.create })?;
    let mut config = store.config();
    if let Some(patterns) = options.root_patterns {
        config.root_patterns = patterns;
    }
    if let Some(grace) = options.grace {
        config.grace = grace;
    }
    if config != store.config() {
        store.set_config(config)?;
    }
    match options.archive {
        None => {}
        Some(None) if store.archive_config().is_some() => store.set_archive_config(None)?,
        Some(None) => {}
        Some(Some(location)) => {
            let keep_last = store.archive_config().map_or(0, |c| c.keep_last);
            let wanted = ArchiveConfig { location, keep_last };
            if store.archive_config().as_ref() != Some(&wanted) {
                store.set_archive_config(Some(wanted))?;
            }
        }
    }
    // An archive configured (now or by the CLI earlier) is attached, so the collector can hand
    // history to it (unattached, it keeps history instead: fail closed).
    archive::attach(&store)?;
    if let Some(metrics) = options.metrics_file {
        store.set_metrics_file(metrics.as_ref().map(PathBuf::from).as_deref())?;
    }
    Ok(store)
}

/// An open store. `SnapgcStore.open(dir, options)` opens or creates it; `close()` closes it.
#[napi]
pub struct SnapgcStore {
    handle: Arc<Mutex<Option<SwingStore>>>,
    path: String,
}

impl SnapgcStore {
    fn guard(&self) -> MutexGuard<'_, Option<SwingStore>> {
        self.handle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A handle for work elsewhere (cheap: an `Arc`).
    fn store(&self) -> Outcome<SwingStore> {
        self.guard().clone().ok_or_else(|| Failure::closed("the store"))
    }

    /// Runs `f` on the open store, on the JS thread.
    fn with<T>(&self, env: &Env, f: impl FnOnce(&SwingStore) -> Outcome<T>) -> napi::Result<T> {
        let guard = self.guard();
        let outcome = match guard.as_ref() {
            Some(store) => f(store),
            None => Err(Failure::closed("the store")),
        };
        drop(guard);
        to_js(env, outcome)
    }

    /// A promise of `f` run on the pool with the open store.
    fn job<T: Send + 'static>(&self, f: impl FnOnce(SwingStore) -> Outcome<T> + Send + 'static) -> Job<T> {
        match self.store() {
            Ok(store) => Job::new(move || f(store)),
            Err(e) => Job::fail(e),
        }
    }
}

#[napi]
impl SnapgcStore {
    /// Opens (by default creating) the store at `dir`, synchronously.
    #[napi(factory)]
    pub fn open(env: Env, dir: String, options: Option<Value>) -> napi::Result<Self> {
        let outcome = parse_options(options).and_then(|o| open_store(&dir, o));
        let store = to_js(&env, outcome)?;
        Ok(Self { handle: Arc::new(Mutex::new(Some(store))), path: dir })
    }

    /// The store directory, as given to `open`.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.path.clone()
    }

    /// The committed epoch.
    #[napi]
    pub fn epoch(&self, env: Env) -> napi::Result<f64> {
        self.with(&env, |s| Ok(s.epoch() as f64))
    }

    /// The value of `key`, seeing the open block's writes (`undefined` if absent).
    #[napi(ts_return_type = "string | undefined")]
    pub fn get(&self, env: Env, key: String) -> napi::Result<Either<String, Undefined>> {
        self.with(&env, |s| Ok(absent_undefined(s.kv().get(&key)?)))
    }

    /// The committed value of `key` (`undefined` if absent).
    #[napi(ts_return_type = "string | undefined")]
    pub fn get_committed(&self, env: Env, key: String) -> napi::Result<Either<String, Undefined>> {
        self.with(&env, |s| Ok(absent_undefined(s.kv().get_committed(&key)?)))
    }

    /// Stages `key = value` in the open block.
    #[napi]
    pub fn set(&self, env: Env, key: String, value: String) -> napi::Result<()> {
        self.with(&env, |s| {
            s.kv().set(&key, &value);
            Ok(())
        })
    }

    /// Stages the deletion of `key` in the open block.
    #[napi]
    pub fn delete(&self, env: Env, key: String) -> napi::Result<()> {
        self.with(&env, |s| {
            s.kv().delete(&key);
            Ok(())
        })
    }

    /// Every `[key, value]` whose key starts with `prefix`, in key order, over the open block.
    #[napi(ts_return_type = "Array<[string, string]>")]
    pub fn scan_prefix(&self, env: Env, prefix: String) -> napi::Result<Vec<Vec<String>>> {
        self.with(&env, |s| Ok(s.kv().scan_prefix(&prefix)?.into_iter().map(|(k, v)| vec![k, v]).collect()))
    }

    /// Drops the open block's kv writes.
    #[napi]
    pub fn abort(&self, env: Env) -> napi::Result<()> {
        self.with(&env, |s| {
            s.abort();
            Ok(())
        })
    }

    /// Commits the open block (durable when the promise resolves); the new epoch.
    #[napi]
    pub fn commit(&self) -> AsyncTask<Job<f64>> {
        AsyncTask::new(self.job(|s| Ok(s.commit()? as f64)))
    }

    /// One collection with the store's configuration.
    #[napi]
    pub fn gc(&self) -> AsyncTask<Job<GcReportJs>> {
        AsyncTask::new(self.job(|s| Ok(GcReportJs::from(s.gc()?))))
    }

    /// The library's `StoreStatus` as its JSON text (`status()` in native.js parses it).
    #[napi]
    pub fn status_json(&self) -> AsyncTask<Job<String>> {
        AsyncTask::new(self.job(|s| Ok(s.status()?.to_json())))
    }

    /// Whether the blob file of `hash` is present.
    #[napi]
    pub fn has(&self, env: Env, hash: String) -> napi::Result<bool> {
        self.with(&env, |s| Ok(s.contains(&parse_hash(&hash)?)))
    }

    /// The metadata the store keeps of a blob (`null` if none).
    #[napi]
    pub fn blob_info(&self, env: Env, hash: String) -> napi::Result<Option<BlobInfoJs>> {
        self.with(&env, |s| {
            let parsed = parse_hash(&hash)?;
            Ok(s.blob_meta(&parsed)?.map(|m| BlobInfoJs {
                hash,
                raw_bytes: m.raw_bytes as f64,
                compressed_bytes: m.stored_bytes as f64,
                saved_epoch: m.saved_epoch as f64,
                condemned_epoch: m.condemned_epoch.map(|e| e as f64),
            }))
        })
    }

    /// Protects `hash` from the sweep until `release()`.
    #[napi]
    pub fn lease(&self, env: Env, hash: String) -> napi::Result<SnapgcLease> {
        self.with(&env, |s| {
            let parsed = parse_hash(&hash)?;
            Ok(SnapgcLease { hash, lease: Mutex::new(Some(s.lease(parsed))) })
        })
    }

    /// Starts a save: bytes are written in with `write`, hashed and compressed off-thread.
    #[napi]
    pub fn begin_save(&self, env: Env) -> napi::Result<SnapgcSave> {
        self.with(&env, |s| SnapgcSave::start(s.clone()))
    }

    /// `openLoad` on the JS thread (it only takes the lease, checks the blob is there and
    /// starts the load thread): native.js's `openLoad` wraps it in a promise.
    #[napi(ts_args_type = "hash: string, options?: { chunkBytes?: number }")]
    pub fn open_load_now(
        &self,
        env: Env,
        hash: String,
        options: Option<LoadOptions>,
    ) -> napi::Result<SnapgcLoad> {
        self.with(&env, |s| SnapgcLoad::start(s.clone(), &hash, options.unwrap_or_default()))
    }

    /// Opens a verified load of `hash` (leased while the load is open).
    #[napi(ts_args_type = "hash: string, options?: { chunkBytes?: number }")]
    pub fn open_load(&self, hash: String, options: Option<LoadOptions>) -> AsyncTask<Job<SnapgcLoad>> {
        AsyncTask::new(self.job(move |s| SnapgcLoad::start(s, &hash, options.unwrap_or_default())))
    }

    /// The whole verified snapshot, read on the JS thread (blocking: debug tools and small
    /// snapshots only; use `openLoad` otherwise).
    #[napi]
    pub fn read_sync(&self, env: Env, hash: String) -> napi::Result<Buffer> {
        self.with(&env, |s| Ok(Buffer::from(s.load_bytes(&parse_hash(&hash)?)?)))
    }

    /// Decodes and verifies a blob (length and sha256); its raw length.
    #[napi]
    pub fn verify(&self, hash: String) -> AsyncTask<Job<f64>> {
        AsyncTask::new(self.job(move |s| Ok(s.verify_blob(&parse_hash(&hash)?)? as f64)))
    }

    /// Closes this handle (cleanly: the store's blobs made durable). Saves and loads still
    /// running keep the store open until they end. Later calls fail with SNAPGC_CLOSED.
    #[napi]
    pub fn close(&self) -> AsyncTask<Job<()>> {
        let taken = self.guard().take();
        AsyncTask::new(Job::new(move || {
            drop(taken);
            Ok(())
        }))
    }

    /// Whether `close()` was called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.guard().is_none()
    }
}

/// A lease: while held, the collector never deletes the blob.
#[napi]
pub struct SnapgcLease {
    hash: String,
    lease: Mutex<Option<Lease>>,
}

#[napi]
impl SnapgcLease {
    /// The leased snapshot.
    #[napi(getter)]
    pub fn hash(&self) -> String {
        self.hash.clone()
    }

    /// Ends the lease (idempotent).
    #[napi]
    pub fn release(&self) {
        let taken = self.lease.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(taken);
    }
}

/// Agoric's root value `{"snapshotID":"<hash>","startPos":{"itemCount":N}}` for a root key.
#[napi]
pub fn format_root_value(env: Env, hash: String, item_count: f64) -> napi::Result<String> {
    let outcome = parse_hash(&hash).and_then(|h| {
        if item_count < 0.0 || item_count.fract() != 0.0 || item_count > 9_007_199_254_740_991.0 {
            return Err(Failure::invalid(format!("itemCount {item_count} is not a whole number ≥ 0")));
        }
        Ok(swingstore::format_root_value(&h, item_count as u64))
    });
    to_js(&env, outcome)
}

/// V8's count of external memory (what `napi_adjust_external_memory` sees: the backing stores
/// of array buffers plus what addons reported), for tests of the binding's reports to V8.
#[napi]
pub fn external_memory(env: Env) -> napi::Result<f64> {
    env.adjust_external_memory(0).map(|n| n as f64)
}
