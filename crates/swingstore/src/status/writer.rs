//! The thread that writes `status.json` and the metrics file: the collector only updates the
//! latest status in memory (a mutex and a few fields) and marks it dirty; this thread writes
//! it at most about once a second, each file by temp file + rename (atomic for readers; no
//! fsync: the figures are informational and rewritten soon anyway).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use super::{StoreStatus, render_metrics};

/// Least time between two writes.
const PERIOD: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct State {
    latest: StoreStatus,
    dirty: bool,
    stop: bool,
    metrics_path: Option<PathBuf>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The writer of one open store.
#[derive(Debug)]
pub(crate) struct StatusWriter {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl StatusWriter {
    /// Starts the writer for the store at `root`; metrics go to `metrics_path` (default
    /// `<root>/metrics.prom`).
    pub fn start(root: &Path, metrics_path: Option<PathBuf>) -> Self {
        let shared = Arc::new(Shared::default());
        shared.lock().metrics_path = metrics_path;
        let status_path = root.join(super::STATUS_FILE);
        let default_metrics = root.join(super::METRICS_FILE);
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("swingstore-status".into())
            .spawn(move || run(&worker, &status_path, &default_metrics))
            .map_err(|e| tracing::warn!("no status writer ({e}): status.json will not be written"))
            .ok();
        Self { shared, thread: Mutex::new(thread) }
    }

    /// Updates the latest status (`update` edits it in place) and marks it for writing.
    pub fn update(&self, update: impl FnOnce(&mut StoreStatus)) {
        let mut state = self.shared.lock();
        update(&mut state.latest);
        state.dirty = true;
    }

    /// The latest status in memory.
    pub fn latest(&self) -> StoreStatus {
        self.shared.lock().latest.clone()
    }

    /// Where metrics go from now on (`None`: `<store>/metrics.prom`).
    pub fn set_metrics_path(&self, path: Option<PathBuf>) {
        let mut state = self.shared.lock();
        state.metrics_path = path;
        state.dirty = true;
    }

    /// Writes what is pending and stops the thread.
    pub fn stop(&self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

fn run(shared: &Shared, status_path: &Path, default_metrics: &Path) {
    loop {
        let (status, metrics_path, stop) = {
            let mut state = shared.lock();
            if !state.stop {
                state = shared
                    .wake
                    .wait_timeout(state, PERIOD)
                    .map(|(s, _)| s)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            if !state.dirty {
                if state.stop {
                    return;
                }
                continue;
            }
            state.dirty = false;
            state.latest.pid = std::process::id();
            state.latest.updated_unix_ms = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            (state.latest.clone(), state.metrics_path.clone(), state.stop)
        };
        match serde_json::to_vec_pretty(&status) {
            Ok(json) => write_atomically(status_path, &json, |_| true),
            Err(e) => tracing::warn!("cannot encode the status: {e}"),
        }
        let metrics = metrics_path.as_deref().unwrap_or(default_metrics);
        write_atomically(metrics, render_metrics(&status).as_bytes(), looks_like_metrics);
        if stop {
            return;
        }
    }
}

/// The first bytes of every metrics file this crate writes.
const METRICS_HEAD: &[u8] = b"# HELP snapgc_";

/// Whether the file at `path` is one we wrote: it starts like our metrics, or is empty.
pub(crate) fn looks_like_metrics(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; METRICS_HEAD.len()];
    let Ok(file) = std::fs::File::open(path) else { return false };
    let mut n = 0;
    let mut reader = file.take(head.len() as u64);
    while let Ok(k) = reader.read(&mut head[n..]) {
        if k == 0 {
            break;
        }
        n += k;
    }
    n == 0 || head[..n] == METRICS_HEAD[..n] && n == METRICS_HEAD.len()
}

/// Writes `path` through a temp file in the same directory and a rename, the one way both
/// `status.json` and the metrics file are written:
///
/// * the temp file has an unpredictable name and is created with `O_CREAT|O_EXCL|O_NOFOLLOW`,
///   so a file or symlink planted under a guessed name is never written through;
/// * the rename replaces only a missing path or a regular file that `ours` accepts: a
///   symlink, device, FIFO, directory or someone else's file at `path` is left alone (and
///   warned about).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], ours: fn(&Path) -> bool) {
    let Some(name) = path.file_name() else { return };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Ok(meta) if meta.file_type().is_file() && ours(path) => {}
        Ok(_) => {
            tracing::warn!("not writing {}: it exists and is not a file snapgc wrote", path.display());
            return;
        }
        Err(e) => {
            tracing::warn!("cannot write {}: {e}", path.display());
            return;
        }
    }
    let (temp, file) = match create_temp(path, name) {
        Ok(created) => created,
        Err(e) => {
            tracing::warn!("cannot write {}: {e}", path.display());
            return;
        }
    };
    let written = (|| {
        use std::io::Write;
        let mut file = file;
        file.write_all(bytes)?;
        drop(file);
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        tracing::warn!("cannot write {}: {e}", path.display());
        let _ = std::fs::remove_file(&temp);
    }
}

/// A new temp file beside `path`: `.<name>.tmp.<pid>.<random>`, created exclusively, never
/// through a symlink.
fn create_temp(path: &Path, name: &std::ffi::OsStr) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut last = None;
    for _ in 0..16 {
        let nanos =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(
            ".tmp.{}.{:08x}{n:x}",
            std::process::id(),
            nanos ^ (n as u32).wrapping_mul(0x9E37_79B9)
        ));
        let temp = path.with_file_name(temp_name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .mode(0o644)
            .open(&temp)
        {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no temp name")))
}
