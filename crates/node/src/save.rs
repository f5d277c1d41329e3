//! `SnapgcSave`: a save fed chunk by chunk from JS.
//!
//! A worker thread runs `SwingStore::save` on a reader that takes chunks, copied into 256 KiB
//! pieces, from a queue bounded in bytes ([`QUEUE_BYTES`]). `write(chunk)` copies the chunk
//! and resolves once it is queued: on the JS thread when the queue has room (`tryWrite`), else
//! on libuv's pool, a piece at a time as room comes (backpressure; a chunk of any size holds at
//! most the budget in copies). `finish()` ends the
//! stream and resolves with what the save did; `abort()` (or dropping the object) ends it with
//! an error, and the library removes its temp file: nothing partial is ever published.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use napi::Env;
use napi::bindgen_prelude::{AsyncTask, Buffer, BufferSlice};
use napi_derive::napi;
use swingstore::SwingStore;

use crate::error::{Failure, Outcome, to_js};
use crate::job::Job;
use crate::store::SaveInfo;

/// Bytes queued between JS and the save thread (a larger chunk is copied in a piece at a time).
pub const QUEUE_BYTES: usize = 4 << 20;
/// Chunks are gathered into pieces of this size (the library's block size) before they are
/// queued: a stream of small chunks costs one queue operation and one wake-up per piece.
const PIECE: usize = 256 << 10;

enum Msg {
    Data(Vec<u8>),
    End,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The queue's byte budget: writers take from it, the save thread gives back what it takes
/// off the queue.
#[derive(Default)]
struct Budget {
    state: Mutex<BudgetState>,
    freed: Condvar,
}

#[derive(Default)]
struct BudgetState {
    queued: usize,
    /// The save thread ended: nothing will be taken off the queue any more.
    reader_gone: bool,
}

impl Budget {
    fn fits(state: &BudgetState, n: usize) -> bool {
        state.queued == 0 || state.queued + n <= QUEUE_BYTES
    }

    /// Takes `n` bytes if they fit now.
    fn try_take(&self, n: usize) -> bool {
        let mut state = lock(&self.state);
        let fits = Self::fits(&state, n);
        if fits {
            state.queued += n;
        }
        fits
    }

    /// Takes `n` bytes, waiting for room; false if the save thread ended meanwhile.
    fn take_waiting(&self, n: usize) -> bool {
        let mut state = lock(&self.state);
        loop {
            if state.reader_gone {
                return false;
            }
            if Self::fits(&state, n) {
                state.queued += n;
                return true;
            }
            state = self.freed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn give(&self, n: usize) {
        let mut state = lock(&self.state);
        state.queued = state.queued.saturating_sub(n);
        drop(state);
        self.freed.notify_all();
    }

    fn reader_gone(&self) {
        lock(&self.state).reader_gone = true;
        self.freed.notify_all();
    }
}

/// The save thread's end of the queue: a `Read` over the chunks. A queue closed without
/// `End` (abort, or the object dropped) is an error.
struct ChunkReader {
    rx: Receiver<Msg>,
    budget: Arc<Budget>,
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
                    self.budget.give(chunk.len());
                    crate::pool::give(std::mem::replace(&mut self.current, chunk));
                    self.pos = 0;
                }
                Ok(Msg::End) => self.ended = true,
                Err(_) => return Err(io::Error::other("the save was aborted before finish()")),
            }
        }
    }
}

type Slot = Arc<Mutex<Option<Outcome<SaveInfo>>>>;

struct Shared {
    tx: Mutex<Option<Sender<Msg>>>,
    /// The piece being filled (its bytes already count in the budget).
    open: Mutex<Vec<u8>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The save's result, set by the save thread before it stops taking chunks.
    result: Slot,
    budget: Arc<Budget>,
    /// A write or finish is in flight.
    busy: AtomicBool,
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

    /// Copies `chunk` (its bytes already taken from the budget) into the open piece, queueing
    /// each piece that fills.
    fn queue(&self, tx: &Sender<Msg>, mut chunk: &[u8]) -> Outcome<()> {
        let mut open = lock(&self.open);
        while !chunk.is_empty() {
            if open.capacity() == 0 {
                *open = crate::pool::take(PIECE);
            }
            let n = (PIECE.max(open.capacity()) - open.len()).min(chunk.len());
            open.extend_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
            if open.len() >= PIECE {
                let full = std::mem::take(&mut *open);
                tx.send(Msg::Data(full)).map_err(|_| self.ended_early())?;
            }
        }
        Ok(())
    }

    /// Queues the open piece, however full.
    fn flush(&self, tx: &Sender<Msg>) -> Outcome<()> {
        let piece = std::mem::take(&mut *lock(&self.open));
        if piece.is_empty() {
            return Ok(());
        }
        tx.send(Msg::Data(piece)).map_err(|_| self.ended_early())
    }
}

/// A save in progress. Write chunks (await each `write`), then `finish()`.
#[napi]
pub struct SnapgcSave {
    shared: Arc<Shared>,
}

impl SnapgcSave {
    pub fn start(store: SwingStore) -> Outcome<Self> {
        let (tx, rx) = channel();
        let result: Slot = Arc::default();
        let budget = Arc::new(Budget::default());
        let mut reader =
            ChunkReader { rx, budget: Arc::clone(&budget), current: Vec::new(), pos: 0, ended: false };
        let slot = Arc::clone(&result);
        let thread = std::thread::Builder::new()
            .name("snapgc-save".into())
            .spawn(move || {
                let outcome = store.save(&mut reader).map(SaveInfo::from).map_err(Failure::from);
                *lock(&slot) = Some(outcome);
                // Only now may a writer see the save gone (it then reads the result).
                reader.budget.reader_gone();
                crate::pool::give(std::mem::take(&mut reader.current));
                drop(reader);
            })
            .map_err(|e| Failure::new("SNAPGC_IO", format!("could not start the save thread: {e}")))?;
        Ok(Self {
            shared: Arc::new(Shared {
                tx: Mutex::new(Some(tx)),
                open: Mutex::default(),
                thread: Mutex::new(Some(thread)),
                result,
                budget,
                busy: AtomicBool::new(false),
            }),
        })
    }

    /// The queue's sender, marking the save busy; or why not.
    fn claim(&self) -> Outcome<Sender<Msg>> {
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
    /// Queues a copy of `chunk` on libuv's pool, waiting for room in the queue; resolves once
    /// it is queued (the chunk may be reused then). native.js's `write()` calls `tryWrite`
    /// first and this only when the queue is full.
    #[napi(ts_args_type = "chunk: Uint8Array")]
    pub fn write(&self, chunk: Buffer) -> AsyncTask<Job<()>> {
        let tx = match self.claim() {
            Ok(tx) => tx,
            Err(e) => return AsyncTask::new(Job::fail(e)),
        };
        let shared = Arc::clone(&self.shared);
        AsyncTask::new(
            Job::new(move || {
                let queued = if chunk.is_empty() {
                    Ok(())
                } else {
                    // What waits in the open piece must reach the save thread, or the
                    // budget it holds never comes back.
                    // A piece at a time, each when it fits: a chunk of any size holds at most
                    // the queue's budget in copies.
                    shared.flush(&tx).and_then(|()| {
                        chunk.chunks(PIECE).try_for_each(|slice| {
                            if shared.budget.take_waiting(slice.len()) {
                                shared.queue(&tx, slice)
                            } else {
                                Err(shared.ended_early())
                            }
                        })
                    })
                };
                drop(chunk);
                queued
            })
            .on_settled(self.release_claim()),
        )
    }

    /// `write()` without waiting: queues a copy of `chunk` and returns true if the queue has
    /// room, else returns false and takes nothing (then call `write()`). A chunk larger than
    /// the queue's budget always goes to `write()`, which copies it a piece at a time.
    #[napi(ts_args_type = "chunk: Uint8Array")]
    pub fn try_write(&self, env: Env, chunk: BufferSlice) -> napi::Result<bool> {
        let outcome = self.claim().and_then(|tx| {
            let queued = if chunk.is_empty() {
                Ok(true)
            } else if chunk.len() <= QUEUE_BYTES && self.shared.budget.try_take(chunk.len()) {
                self.shared.queue(&tx, &chunk).map(|()| true)
            } else {
                // Full: the open piece goes to the save thread, so room comes back.
                self.shared.flush(&tx).map(|()| false)
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
                // Fails only if the save thread already ended (its result says why).
                let _ = shared.flush(&tx).and_then(|()| tx.send(Msg::End).map_err(|_| shared.ended_early()));
                drop(tx);
                if let Some(thread) = lock(&shared.thread).take()
                    && thread.join().is_err()
                {
                    return Err(Failure::internal("the save thread panicked"));
                }
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
