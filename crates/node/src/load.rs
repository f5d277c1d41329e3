//! `SnapgcLoad`: a verified load handed to JS chunk by chunk.
//!
//! A worker thread runs `SwingStore::load_into` (LZ4 decode ∥ sha256 on two threads) into a
//! writer that cuts the raw bytes into chunks and queues them (depth [`QUEUE_DEPTH`]). It always
//! holds the latest full chunk back: the chunks that end the stream are queued only once
//! `load_into` returned, i.e. once the length and sha256 verified. A corrupt blob therefore
//! ends in a SNAPGC_CORRUPT rejection, never in a short stream that looks complete.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};

use napi::Env;
use napi::bindgen_prelude::{AsyncTask, Buffer, BufferSlice, Either3, Null, ObjectFinalize, Undefined};
use napi_derive::napi;
use swingstore::SwingStore;

use crate::error::{Failure, Outcome, to_js};
use crate::job::Job;
use crate::store::parse_hash;

/// Chunks queued between the load thread and JS.
pub const QUEUE_DEPTH: usize = 4;
/// Default chunk size.
pub const DEFAULT_CHUNK: usize = 1 << 20;
const MIN_CHUNK: usize = 4 << 10;
const MAX_CHUNK: usize = 64 << 20;

/// Options of `openLoad`.
#[napi(object)]
#[derive(Default)]
pub struct LoadOptions {
    /// Bytes per chunk handed to JS (default 1 MiB; 4 KiB to 64 MiB). The last chunk may be
    /// shorter.
    pub chunk_bytes: Option<f64>,
}

enum Piece {
    Data(Vec<u8>),
    End,
    Failed(Failure),
}

/// The load thread's writer: fixed-size chunks, the latest full one held back.
struct ChunkWriter {
    tx: SyncSender<Piece>,
    size: usize,
    current: Vec<u8>,
    held: Option<Vec<u8>>,
}

impl ChunkWriter {
    fn send(&self, piece: Piece) -> io::Result<()> {
        self.tx.send(piece).map_err(|_| io::Error::other("the load was closed"))
    }

    /// After verification: what was held back, then the end.
    fn finish(mut self) -> io::Result<()> {
        if let Some(held) = self.held.take() {
            self.send(Piece::Data(held))?;
        }
        if !self.current.is_empty() {
            let last = std::mem::take(&mut self.current);
            self.send(Piece::Data(last))?;
        }
        self.send(Piece::End)
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let total = buf.len();
        while !buf.is_empty() {
            if self.current.capacity() == 0 {
                self.current = crate::pool::take(self.size);
            }
            let n = (self.size - self.current.len()).min(buf.len());
            self.current.extend_from_slice(&buf[..n]);
            buf = &buf[n..];
            if self.current.len() == self.size {
                let full = std::mem::take(&mut self.current);
                if let Some(previous) = self.held.replace(full) {
                    self.send(Piece::Data(previous))?;
                }
            }
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How many times again each chunk `read()` hands out is reported to V8 (see `settled`).
const GC_HINT_FACTOR: i64 = 4;
/// Bytes of a load `read()` hands out before it starts reporting them (see `settled`).
const HINT_AFTER: usize = 16 << 20;

/// What the queue held.
enum Next {
    Chunk(Vec<u8>),
    End,
    NotYet,
}

/// A chunk partly copied out by `readInto`.
#[derive(Default)]
struct Partial {
    chunk: Vec<u8>,
    pos: usize,
}

struct Shared {
    rx: Mutex<Option<Receiver<Piece>>>,
    partial: Mutex<Partial>,
    /// The end was delivered: later reads resolve `null`.
    ended: AtomicBool,
    /// The failure delivered: later reads reject the same way.
    failed: Mutex<Option<Failure>>,
    closed: AtomicBool,
    busy: AtomicBool,
    /// Bytes `read()` handed out since the last settle, not yet reported to V8.
    unreported: AtomicUsize,
    /// Bytes `read()` handed out in all.
    handed: AtomicUsize,
    /// Extra external memory reported to V8 for this load (withdrawn at its end).
    hinted: AtomicI64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// The next chunk for `read()`: the rest of a chunk `readInto` left, or a queued one
    /// (waiting for it, or with `wait` false `Ok(None)` when none is queued yet).
    fn next(&self, wait: bool) -> Outcome<Option<Option<Buffer>>> {
        {
            let mut partial = lock(&self.partial);
            if partial.pos < partial.chunk.len() {
                let taken = std::mem::take(&mut *partial);
                let rest = taken.chunk[taken.pos..].to_vec();
                crate::pool::give(taken.chunk);
                return Ok(Some(Some(Buffer::from(rest))));
            }
        }
        Ok(match self.next_chunk(wait)? {
            Next::Chunk(chunk) => {
                self.unreported.fetch_add(chunk.len(), Ordering::SeqCst);
                Some(Some(Buffer::from(chunk)))
            }
            Next::End => Some(None),
            Next::NotYet => None,
        })
    }

    /// On the JS thread, once a read settled: ends the claim, and tells V8 about the chunks
    /// `read()` handed out.
    ///
    /// V8 collects garbage `ArrayBuffer`s once their bytes since the last full collection pass
    /// a limit (64 MB), so a consumer that drops each chunk still holds up to ~64 MB of them
    /// between collections. Reporting each chunk's size again ([`GC_HINT_FACTOR`] times) as
    /// external memory makes V8 collect that much sooner; the report is withdrawn when the load
    /// ends or is closed. Only bytes past the first [`HINT_AFTER`] of a load are reported: a
    /// small heap's load makes no collection come sooner.
    fn settled(&self, env: &Env) {
        self.busy.store(false, Ordering::SeqCst);
        let fresh = self.unreported.swap(0, Ordering::SeqCst);
        let before = self.handed.fetch_add(fresh, Ordering::SeqCst);
        let beyond = (before + fresh).saturating_sub(HINT_AFTER) - before.saturating_sub(HINT_AFTER);
        let fresh = beyond as i64 * GC_HINT_FACTOR;
        if fresh > 0 && env.adjust_external_memory(fresh).is_ok() {
            self.hinted.fetch_add(fresh, Ordering::SeqCst);
        }
        let over = self.ended.load(Ordering::SeqCst)
            || self.closed.load(Ordering::SeqCst)
            || lock(&self.failed).is_some();
        if over {
            self.withdraw_hint(env);
        }
    }

    fn withdraw_hint(&self, env: &Env) {
        let hinted = self.hinted.swap(0, Ordering::SeqCst);
        if hinted > 0 {
            let _ = env.adjust_external_memory(-hinted);
        }
    }

    /// Copies what is ready into `target`: at least one byte (waiting for it if `wait`), as
    /// many as are queued and fit, without waiting for more. `Ok(None)`: nothing ready and
    /// `wait` false; `Ok(Some(0))`: the end.
    fn fill(&self, target: &mut [u8], wait: bool) -> Outcome<Option<usize>> {
        let mut partial = lock(&self.partial);
        let mut filled = 0;
        while filled < target.len() {
            if partial.pos == partial.chunk.len() {
                match self.next_chunk(wait && filled == 0)? {
                    Next::Chunk(chunk) => {
                        crate::pool::give(std::mem::replace(&mut partial.chunk, chunk));
                        partial.pos = 0;
                    }
                    Next::End => break,
                    Next::NotYet if filled == 0 => return Ok(None),
                    Next::NotYet => break,
                }
            }
            let n = (target.len() - filled).min(partial.chunk.len() - partial.pos);
            target[filled..filled + n].copy_from_slice(&partial.chunk[partial.pos..partial.pos + n]);
            filled += n;
            partial.pos += n;
        }
        Ok(Some(filled))
    }

    /// The next queued chunk, waiting for it (or with `wait` false, `NotYet` if none is).
    fn next_chunk(&self, wait: bool) -> Outcome<Next> {
        if let Some(failure) = lock(&self.failed).clone() {
            return Err(failure);
        }
        if self.ended.load(Ordering::SeqCst) {
            return Ok(Next::End);
        }
        let mut rx = lock(&self.rx);
        let piece = match rx.as_ref() {
            None => return Err(Failure::closed("this load")),
            Some(rx) if wait => rx.recv().map_err(|_| ()),
            Some(rx) => match rx.try_recv() {
                Ok(piece) => Ok(piece),
                Err(TryRecvError::Empty) => return Ok(Next::NotYet),
                Err(TryRecvError::Disconnected) => Err(()),
            },
        };
        if self.closed.load(Ordering::SeqCst) {
            rx.take();
            return Err(Failure::closed("this load"));
        }
        match piece {
            Ok(Piece::Data(chunk)) => Ok(Next::Chunk(chunk)),
            Ok(Piece::End) => {
                self.ended.store(true, Ordering::SeqCst);
                rx.take();
                Ok(Next::End)
            }
            Ok(Piece::Failed(failure)) => {
                *lock(&self.failed) = Some(failure.clone());
                rx.take();
                Err(failure)
            }
            Err(_) => {
                let failure = Failure::internal("the load thread stopped without a result");
                *lock(&self.failed) = Some(failure.clone());
                Err(failure)
            }
        }
    }
}

/// A `readInto` target: 1 byte to 4 GiB.
fn check_target(len: usize) -> Outcome<()> {
    if len == 0 || len > u32::MAX as usize {
        return Err(Failure::invalid(format!("readInto: a target of {len} bytes (1 byte to 4 GiB)")));
    }
    Ok(())
}

/// A load in progress: `read()` until it resolves `null`.
#[napi(custom_finalize)]
pub struct SnapgcLoad {
    hash: String,
    shared: Arc<Shared>,
}

/// Collected without `close()` or an end: what was reported to V8 is withdrawn, and dropping
/// the queue ends the load thread.
impl ObjectFinalize for SnapgcLoad {
    fn finalize(self, env: Env) -> napi::Result<()> {
        self.shared.withdraw_hint(&env);
        Ok(())
    }
}

impl SnapgcLoad {
    pub fn start(store: SwingStore, hash: &str, options: LoadOptions) -> Outcome<Self> {
        let parsed = parse_hash(hash)?;
        let size = match options.chunk_bytes {
            None => DEFAULT_CHUNK,
            Some(n) if n.fract() == 0.0 && n >= MIN_CHUNK as f64 && n <= MAX_CHUNK as f64 => n as usize,
            Some(n) => {
                return Err(Failure::invalid(format!(
                    "chunkBytes {n}: expected a whole number from {MIN_CHUNK} to {MAX_CHUNK}"
                )));
            }
        };
        // Leased for the life of the load thread, taken before the blob is looked at.
        let lease = store.lease(parsed);
        if !store.contains(&parsed) {
            return Err(swingstore::Error::NotFound { hash: hash.to_owned() }.into());
        }
        let (tx, rx) = sync_channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("snapgc-load".into())
            .spawn(move || {
                let mut writer = ChunkWriter { tx: tx.clone(), size, current: Vec::new(), held: None };
                let loaded = store.load_into(&parsed, &mut writer);
                let _ = match loaded {
                    Ok(_) => writer.finish(),
                    Err(e) => {
                        drop(writer);
                        tx.send(Piece::Failed(e.into())).map_err(|_| io::Error::other("closed"))
                    }
                };
                drop(lease);
            })
            .map_err(|e| Failure::new("SNAPGC_IO", format!("could not start the load thread: {e}")))?;
        Ok(Self {
            hash: hash.to_owned(),
            shared: Arc::new(Shared {
                rx: Mutex::new(Some(rx)),
                partial: Mutex::default(),
                ended: AtomicBool::new(false),
                failed: Mutex::new(None),
                closed: AtomicBool::new(false),
                busy: AtomicBool::new(false),
                unreported: AtomicUsize::new(0),
                handed: AtomicUsize::new(0),
                hinted: AtomicI64::new(0),
            }),
        })
    }
}

#[napi]
impl SnapgcLoad {
    /// The snapshot being loaded.
    #[napi(getter)]
    pub fn hash(&self) -> String {
        self.hash.clone()
    }

    /// The next chunk; `null` at the end. The chunks that end the stream arrive only after
    /// the length and sha256 verified; a corrupt blob rejects with SNAPGC_CORRUPT instead.
    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub fn read(&self) -> AsyncTask<Job<Option<Buffer>>> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return AsyncTask::new(Job::fail(Failure::closed("this load")));
        }
        if self.shared.busy.swap(true, Ordering::SeqCst) {
            return AsyncTask::new(Job::fail(Failure::invalid(
                "a read() of this load is still pending: await it first",
            )));
        }
        let shared = Arc::clone(&self.shared);
        let release = Arc::clone(&self.shared);
        AsyncTask::new(
            Job::new(move || shared.next(true).map(Option::flatten))
                .on_settled(move |env| release.settled(env)),
        )
    }

    /// `read()` without waiting: the next chunk if one is queued, `null` at the end, or
    /// `undefined` when none is ready yet (then call `read()`). native.js's `read()` tries
    /// this first, so a queued chunk costs no trip through libuv's pool.
    #[napi(ts_return_type = "Buffer | null | undefined")]
    pub fn try_read(&self, env: Env) -> napi::Result<Either3<Buffer, Null, Undefined>> {
        let shared = &self.shared;
        let outcome = if shared.closed.load(Ordering::SeqCst) {
            Err(Failure::closed("this load"))
        } else if shared.busy.swap(true, Ordering::SeqCst) {
            Err(Failure::invalid("a read of this load is still pending: await it first"))
        } else {
            let next = shared.next(false);
            shared.settled(&env);
            next
        };
        to_js(&env, outcome).map(|next| match next {
            Some(Some(chunk)) => Either3::A(chunk),
            Some(None) => Either3::B(Null),
            None => Either3::C(()),
        })
    }

    /// `readInto` without waiting, on the JS thread: the count copied, 0 at the end, or -1 when
    /// nothing is ready yet (then call `readInto`).
    #[napi(ts_args_type = "target: Uint8Array")]
    pub fn try_read_into(&self, env: Env, mut target: BufferSlice) -> napi::Result<i64> {
        let shared = &self.shared;
        let outcome = match check_target(target.len()) {
            Err(e) => Err(e),
            Ok(()) if shared.closed.load(Ordering::SeqCst) => Err(Failure::closed("this load")),
            Ok(()) if shared.busy.swap(true, Ordering::SeqCst) => {
                Err(Failure::invalid("a read of this load is still pending: await it first"))
            }
            Ok(()) => {
                let filled = shared.fill(&mut target, false);
                shared.settled(&env);
                filled
            }
        };
        to_js(&env, outcome).map(|n| n.map_or(-1, |n| n as i64))
    }

    /// Copies the next bytes of the stream into `target`: at least one (waiting for them), as
    /// many as are ready and fit; resolves with their count, 0 at the end (like `fs.read`).
    /// No garbage per chunk: for consumers that reuse one buffer. Leave `target` alone until
    /// the promise settles. The final bytes arrive only after the length and sha256 verified,
    /// as with `read()`.
    #[napi(ts_args_type = "target: Uint8Array")]
    pub fn read_into(&self, mut target: Buffer) -> AsyncTask<Job<u32>> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return AsyncTask::new(Job::fail(Failure::closed("this load")));
        }
        if let Err(e) = check_target(target.len()) {
            return AsyncTask::new(Job::fail(e));
        }
        if self.shared.busy.swap(true, Ordering::SeqCst) {
            return AsyncTask::new(Job::fail(Failure::invalid(
                "a read of this load is still pending: await it first",
            )));
        }
        let shared = Arc::clone(&self.shared);
        let release = Arc::clone(&self.shared);
        AsyncTask::new(
            Job::new(move || {
                let n = shared.fill(target.as_mut(), true);
                drop(target);
                n.map(|n| n.unwrap_or(0) as u32)
            })
            .on_settled(move |env| release.settled(env)),
        )
    }

    /// Stops the load (its thread ends, the lease goes). Idempotent.
    #[napi]
    pub fn close(&self, env: Env) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.withdraw_hint(&env);
        // A pending read holds the queue; it drops it when it returns.
        if let Ok(mut rx) = self.shared.rx.try_lock() {
            rx.take();
        }
    }
}
