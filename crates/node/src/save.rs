//! `SnapgcSave`: a save fed chunk by chunk from JS.
//!
//! A worker thread runs `SwingStore::save` on a reader that takes chunks from a bounded queue
//! (depth [`QUEUE_DEPTH`]). `write(chunk)` copies the chunk on libuv's pool and resolves once it
//! is queued, so a producer faster than the compressor waits (backpressure) and at most
//! `QUEUE_DEPTH + 2` chunks are held. `finish()` ends the stream and resolves with what the
//! save did; `abort()` (or dropping the object) ends it with an error, and the library removes
//! its temp file.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use napi::Env;
use napi::bindgen_prelude::{AsyncTask, Buffer, BufferSlice};
use napi_derive::napi;
use swingstore::SwingStore;

use crate::error::{Failure, Outcome, to_js};
use crate::job::Job;
use crate::store::SaveInfo;

/// Chunks queued between JS and the save thread.
pub const QUEUE_DEPTH: usize = 2;

enum Msg {
    Data(Vec<u8>),
    End,
}

/// The save thread's end of the queue: a `Read` over the chunks. A queue closed without
/// `End` (abort, or the object dropped) is an error, so nothing partial is ever published.
struct ChunkReader {
    rx: Receiver<Msg>,
    pool: Pool,
    current: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.current.len() {
                let n = buf.len().min(self.current.len() - self.pos);
                buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.ended || buf.is_empty() {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Msg::Data(chunk)) => {
                    let used = std::mem::replace(&mut self.current, chunk);
                    give_back(&self.pool, used);
                    self.pos = 0;
                }
                Ok(Msg::End) => self.ended = true,
                Err(_) => return Err(io::Error::other("the save was aborted before finish()")),
            }
        }
    }
}

type Slot = Arc<Mutex<Option<Outcome<SaveInfo>>>>;

/// Chunk buffers the save thread is done with, reused by the next writes (no allocation and
/// no page faults per chunk, and no memory spread over the pool threads' malloc arenas).
type Pool = Arc<Mutex<Vec<Vec<u8>>>>;
const POOL_MAX: usize = QUEUE_DEPTH + 2;

fn give_back(pool: &Pool, mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 {
        return;
    }
    let mut pool = lock(pool);
    if pool.len() < POOL_MAX {
        buffer.clear();
        pool.push(buffer);
    }
}

struct Shared {
    tx: Mutex<Option<SyncSender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The save's result, set by the save thread before it drops its end of the queue.
    result: Slot,
    pool: Pool,
    /// A write or finish is in flight.
    busy: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Why the save thread stopped taking chunks (it ended before `finish`).
    fn ended_early(&self) -> Failure {
        match lock(&self.result).as_ref() {
            Some(Err(e)) => e.clone(),
            Some(Ok(_)) => Failure::internal("the save ended before finish()"),
            None => Failure::internal("the save thread stopped without a result"),
        }
    }
}

/// A save in progress. Write chunks one at a time (await each `write`), then `finish()`.
#[napi]
pub struct SnapgcSave {
    shared: Arc<Shared>,
}

impl SnapgcSave {
    pub fn start(store: SwingStore) -> Outcome<Self> {
        let (tx, rx) = sync_channel(QUEUE_DEPTH);
        let result: Slot = Arc::default();
        let slot = Arc::clone(&result);
        let pool: Pool = Arc::default();
        let reader_pool = Arc::clone(&pool);
        let thread = std::thread::Builder::new()
            .name("snapgc-save".into())
            .spawn(move || {
                let mut reader =
                    ChunkReader { rx, pool: reader_pool, current: Vec::new(), pos: 0, ended: false };
                let outcome = store.save(&mut reader).map(SaveInfo::from).map_err(Failure::from);
                *lock(&slot) = Some(outcome);
                // Only now may a writer see the queue closed (it then reads the result).
                drop(reader);
            })
            .map_err(|e| Failure::new("SNAPGC_IO", format!("could not start the save thread: {e}")))?;
        Ok(Self {
            shared: Arc::new(Shared {
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                result,
                pool,
                busy: AtomicBool::new(false),
            }),
        })
    }

    /// The queue's sender, marking the save busy; or why not.
    fn claim(&self) -> Outcome<SyncSender<Msg>> {
        let tx = lock(&self.shared.tx).clone().ok_or_else(|| Failure::closed("this save"))?;
        if self.shared.busy.swap(true, Ordering::SeqCst) {
            return Err(Failure::invalid(
                "a write() or finish() of this save is still pending: await it first",
            ));
        }
        Ok(tx)
    }

    /// Ends the claim of [`claim`](Self::claim), on the JS thread once the promise settled.
    fn release_claim(&self) -> impl FnOnce(&Env) + Send + 'static {
        let shared = Arc::clone(&self.shared);
        move |_: &Env| shared.busy.store(false, Ordering::SeqCst)
    }
}

#[napi]
impl SnapgcSave {
    /// Queues a copy of `chunk`; resolves once it is queued (waits while the queue is full).
    /// The chunk may be reused once the promise resolves.
    #[napi(ts_args_type = "chunk: Uint8Array")]
    pub fn write(&self, chunk: Buffer) -> AsyncTask<Job<()>> {
        let tx = match self.claim() {
            Ok(tx) => tx,
            Err(e) => return AsyncTask::new(Job::fail(e)),
        };
        let shared = Arc::clone(&self.shared);
        AsyncTask::new(
            Job::new(move || {
                let sent = if chunk.is_empty() {
                    Ok(())
                } else {
                    let mut copy = lock(&shared.pool).pop().unwrap_or_default();
                    copy.extend_from_slice(&chunk);
                    tx.send(Msg::Data(copy))
                };
                drop(tx);
                drop(chunk);
                sent.map_err(|_| shared.ended_early())
            })
            .on_settled(self.release_claim()),
        )
    }

    /// `write()` without waiting: queues a copy of `chunk` and returns true if the queue has
    /// room, else returns false and takes nothing (then call `write()`). native.js's `write()`
    /// tries this first, so a chunk the queue can take costs no trip through libuv's pool.
    #[napi(ts_args_type = "chunk: Uint8Array")]
    pub fn try_write(&self, env: Env, chunk: BufferSlice) -> napi::Result<bool> {
        let outcome = self.claim().and_then(|tx| {
            let queued = if chunk.is_empty() {
                Ok(true)
            } else {
                let mut copy = lock(&self.shared.pool).pop().unwrap_or_default();
                copy.extend_from_slice(&chunk);
                match tx.try_send(Msg::Data(copy)) {
                    Ok(()) => Ok(true),
                    Err(TrySendError::Full(Msg::Data(copy))) => {
                        give_back(&self.shared.pool, copy);
                        Ok(false)
                    }
                    Err(TrySendError::Full(Msg::End)) => Ok(false),
                    Err(TrySendError::Disconnected(_)) => Err(self.shared.ended_early()),
                }
            };
            self.shared.busy.store(false, Ordering::SeqCst);
            queued
        });
        to_js(&env, outcome)
    }

    /// Ends the stream; resolves once the snapshot is published under its hash (durable with
    /// the next commit).
    #[napi]
    pub fn finish(&self) -> AsyncTask<Job<SaveInfo>> {
        let tx = match self.claim() {
            Ok(tx) => tx,
            Err(e) => return AsyncTask::new(Job::fail(e)),
        };
        // No write after this one.
        lock(&self.shared.tx).take();
        let shared = Arc::clone(&self.shared);
        AsyncTask::new(
            Job::new(move || {
                let sent = tx.send(Msg::End);
                drop(tx);
                if let Some(thread) = lock(&shared.thread).take()
                    && thread.join().is_err()
                {
                    return Err(Failure::internal("the save thread panicked"));
                }
                drop(sent);
                lock(&shared.result)
                    .take()
                    .unwrap_or_else(|| Err(Failure::internal("the save thread stopped without a result")))
            })
            .on_settled(self.release_claim()),
        )
    }

    /// Abandons the save: nothing is published and its temp file is removed. Idempotent.
    #[napi]
    pub fn abort(&self) {
        let taken = lock(&self.shared.tx).take();
        drop(taken);
    }
}
