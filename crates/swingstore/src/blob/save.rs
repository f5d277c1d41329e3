//! The save pipeline: the calling thread fills 256 KiB blocks from the input and hashes them;
//! the process's compressor threads (started once, shared by every save) LZ4-compress them
//! (the block API, independent blocks) as they come; the calling thread writes them back in
//! order as the frame's data blocks. No fsync here: the block's commit makes every blob it saved
//! durable at once.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use sha2::{Digest, Sha256};

use super::frame::{HEADER, read_full};
use super::pool::{Slot, lock, return_slots, take_slots};
use crate::error::{Error, IoContext, Result};
use crate::hash::SnapshotHash;
use crate::layout::{TEMP_PREFIX, TEMP_SUFFIX};

/// A fully written temp file waiting to be published under its hash.
#[derive(Debug)]
pub struct TempBlob {
    pub path: PathBuf,
    pub hash: SnapshotHash,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temp file name, unique in this process (the store is held by one process).
pub(crate) fn temp_name() -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{TEMP_PREFIX}{}-{n}{TEMP_SUFFIX}", std::process::id())
}

/// Streams `input` into the temp file `dir/name` as an LZ4 frame, hashing it on the way. No
/// fsync: the commit of the block makes every blob it saved durable at once. The caller
/// removes the file on error.
pub(crate) fn write_temp(dir: &Path, name: String, input: &mut (dyn Read + Send)) -> Result<TempBlob> {
    let path = dir.join(&name);
    let file = OpenOptions::new().write(true).create_new(true).open(&path).at(&path)?;
    let mut out = WritebackAhead { file, started: 0, written: 0 };
    let (digest, raw_bytes, stored_bytes) = compress_stream(input, &mut out, &path)?;
    Ok(TempBlob { path, hash: SnapshotHash::from_bytes(digest), raw_bytes, stored_bytes })
}

/// How much of a temp file is written before the kernel is asked to start writing it back.
/// 512 KiB (issue 25; 2 MiB before): a 2-3 MB heap compresses to under 1 MiB, so with 2 MiB its
/// whole writeback waited for the commit's fsync (commit 1.8-2.1 ms, now 1.5-1.7 ms).
const WRITEBACK_EVERY: u64 = 512 << 10;

/// A temp file that starts the writeback of each 512 KiB as soon as it is written, so that a large
/// heap's bytes go to the disk while the rest compresses and the block's fsync of it finds little
/// left to do. `POSIX_FADV_DONTNEED` on Linux starts asynchronous writeback of the range
/// (`WB_SYNC_NONE`, like `sync_file_range(SYNC_FILE_RANGE_WRITE)`) and drops only the pages that
/// are already clean. It is a hint: it makes nothing durable (the commit's fsync does), and a
/// writeback error it causes is still reported by that fsync.
struct WritebackAhead {
    file: std::fs::File,
    started: u64,
    written: u64,
}

impl Write for WritebackAhead {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_EVERY {
            #[cfg(target_os = "linux")]
            {
                let len = std::num::NonZeroU64::new(self.written - self.started);
                let _ = rustix::fs::fadvise(&self.file, self.started, len, rustix::fs::Advice::DontNeed);
            }
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The save pipeline: returns (sha256 of the input, input length, frame length).
///
/// The calling thread reads each 256 KiB block, hashes it and hands it to the process's
/// compressor threads (`compressors()`), and writes the compressed blocks back in order as
/// they return; at most `SLOTS` (8) blocks are in flight per save. No thread is started per save
/// (issue 25: three spawns per save were a large part of a small heap's save).
pub(super) fn compress_stream(
    input: &mut (dyn Read + Send),
    out: &mut dyn Write,
    path: &Path,
) -> Result<([u8; 32], u64, u64)> {
    let mut free = take_slots();
    let mut run = Run::new(out);
    let (done_tx, done_rx) = mpsc::channel::<Slot>();
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut read_error = None;
    while run.write_error.is_none() {
        let mut slot = match free.pop() {
            Some(slot) => slot,
            None => {
                // Every slot is in flight or waits for an earlier block: take one back.
                match done_rx.recv() {
                    Ok(slot) => run.arrived(slot, &mut free),
                    // Not while `done_tx` lives (every job comes back, a panicking one marked
                    // failed); kept so that a lost channel ends the loop rather than spins.
                    Err(_) => break,
                }
                continue;
            }
        };
        let filled = match read_full(input, &mut slot.input) {
            Ok(filled) => filled,
            Err(e) => {
                read_error = Some(e);
                free.push(slot);
                break;
            }
        };
        let end = filled < slot.input.len();
        if filled > 0 {
            hasher.update(&slot.input[..filled]);
            total += filled as u64;
            slot.seq = run.sent;
            slot.filled = filled;
            run.sent += 1;
            if let Err(job) = compressors().send(Job { slot, done: done_tx.clone() }) {
                // No compressor thread (none could be started): compress here.
                let mut slot = job.0.slot;
                slot.compress();
                run.arrived(slot, &mut free);
            }
        } else {
            free.push(slot);
        }
        while let Ok(slot) = done_rx.try_recv() {
            run.arrived(slot, &mut free);
        }
        if end {
            break;
        }
    }
    // Every block handed out comes back (or its job was lost with a compressor thread).
    drop(done_tx);
    while run.returned_blocks < run.sent {
        match done_rx.recv() {
            Ok(slot) => run.arrived(slot, &mut free),
            Err(_) => break,
        }
    }
    let lost = run.returned_blocks < run.sent;
    let (write_error, written) = (run.write_error.take(), run.written);
    let waiting = std::mem::take(&mut run.waiting);
    free.extend(waiting.into_values());
    return_slots(free);
    if let Some(e) = write_error {
        return Err(Error::io(path, e));
    }
    if let Some(e) = read_error {
        return Err(Error::stream("the snapshot input", e));
    }
    if lost {
        return Err(Error::io(path, io::Error::other("a compressor thread stopped")));
    }
    out.write_all(&0u32.to_le_bytes()).at(path)?;
    Ok((hasher.finalize().into(), total, written + 4))
}

/// The writing side of one save: blocks come back from the compressors in any order and are
/// written in sequence.
struct Run<'a> {
    out: &'a mut dyn Write,
    /// Blocks handed to the compressors.
    sent: u64,
    /// Blocks that came back.
    returned_blocks: u64,
    /// Blocks written (the next one to write has this number).
    written_blocks: u64,
    /// Compressed blocks waiting for an earlier one.
    waiting: BTreeMap<u64, Slot>,
    /// Bytes of the frame written so far.
    written: u64,
    write_error: Option<io::Error>,
}

impl<'a> Run<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
        let mut run = Run {
            out,
            sent: 0,
            returned_blocks: 0,
            written_blocks: 0,
            waiting: BTreeMap::new(),
            written: 0,
            write_error: None,
        };
        match run.out.write_all(&HEADER) {
            Ok(()) => run.written = HEADER.len() as u64,
            Err(e) => run.write_error = Some(e),
        }
        run
    }

    /// A compressed block is back: writes it and every block it unblocks, and returns their
    /// slots to `free` (after a write error, the blocks are dropped unwritten).
    fn arrived(&mut self, slot: Slot, free: &mut Vec<Slot>) {
        self.returned_blocks += 1;
        self.waiting.insert(slot.seq, slot);
        while let Some(mut slot) = self.waiting.remove(&self.written_blocks) {
            self.written_blocks += 1;
            if std::mem::take(&mut slot.failed) && self.write_error.is_none() {
                self.write_error = Some(io::Error::other("compressing a block panicked"));
            }
            if self.write_error.is_none() {
                match self.out.write_all(&slot.output[..slot.out_len]) {
                    Ok(()) => self.written += slot.out_len as u64,
                    Err(e) => self.write_error = Some(e),
                }
            }
            free.push(slot);
        }
    }
}

/// One block to compress, and where to send it back.
struct Job {
    slot: Slot,
    done: mpsc::Sender<Slot>,
}

/// The process's compressor threads, shared by every save (started at the first save): one
/// per core, 2 to 4. If none can be started, `send` fails and every save compresses on its own
/// thread (correct, slower).
fn compressors() -> &'static mpsc::Sender<Job> {
    static QUEUE: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(2, 4);
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new().name(format!("swingstore-lz4-{i}")).spawn(move || {
                loop {
                    let next = lock(&rx).recv();
                    let Ok(Job { mut slot, done }) = next else { break };
                    // A panic must neither lose the block (its save would wait for it forever)
                    // nor the thread: the slot goes back marked, and its save fails.
                    slot.failed =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| slot.compress())).is_err();
                    // The save may have stopped waiting (it failed): the block is dropped.
                    let _ = done.send(slot);
                }
            });
            if let Err(e) = spawned {
                tracing::warn!("could not start a compressor thread: {e}");
            }
        }
        // With no thread started, `rx` is dropped here and every send fails.
        tx
    })
}
