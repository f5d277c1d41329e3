//! The save pipeline: a reader thread fills 256 KiB blocks from the input and hashes them;
//! two compressor threads LZ4-compress blocks (the block API, independent blocks) as they
//! come; the calling thread writes them in order as the frame's data blocks. No fsync here: the
//! block's commit makes every blob it saved durable at once.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};

use sha2::{Digest, Sha256};

use super::frame::{HEADER, SLOTS, read_full};
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
const WRITEBACK_EVERY: u64 = 2 << 20;

/// A temp file that starts the writeback of each 2 MiB as soon as it is written, so that a large
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
pub(super) fn compress_stream(
    input: &mut (dyn Read + Send),
    out: &mut dyn Write,
    path: &Path,
) -> Result<([u8; 32], u64, u64)> {
    let (empty_tx, empty_rx) = mpsc::channel::<Slot>();
    let (work_tx, work_rx) = mpsc::channel::<Slot>();
    let (done_tx, done_rx) = mpsc::channel::<Slot>();
    let work_rx = Mutex::new(work_rx);
    for slot in take_slots() {
        let _ = empty_tx.send(slot);
    }

    let mut spare = Vec::with_capacity(SLOTS);
    let result = std::thread::scope(|scope| -> Result<([u8; 32], u64, u64)> {
        let reader = scope.spawn(move || {
            let read = read_and_hash(input, &empty_rx, &work_tx);
            // Hand the idle slots back for the pool.
            (read, empty_rx)
        });
        for _ in 0..2 {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            scope.spawn(move || {
                loop {
                    let next = lock(work_rx).recv();
                    let Ok(mut slot) = next else { break };
                    slot.compress();
                    if done_tx.send(slot).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);

        // The calling thread writes the blocks in order.
        let mut write_result = out.write_all(&HEADER);
        let mut written = HEADER.len() as u64;
        let mut next = 0u64;
        let mut pending: BTreeMap<u64, Slot> = BTreeMap::new();
        let mut empty_tx = Some(empty_tx);
        for slot in &done_rx {
            pending.insert(slot.seq, slot);
            while let Some(slot) = pending.remove(&next) {
                next += 1;
                if write_result.is_ok() {
                    write_result = out.write_all(&slot.output[..slot.out_len]);
                    written += slot.out_len as u64;
                }
                match (&write_result, &empty_tx) {
                    // Stop the reader on a write error; keep draining so every thread ends.
                    (Err(_), _) => {
                        empty_tx = None;
                        spare.push(slot);
                    }
                    (Ok(()), Some(tx)) => {
                        if let Err(mpsc::SendError(slot)) = tx.send(slot) {
                            spare.push(slot);
                        }
                    }
                    (Ok(()), None) => spare.push(slot),
                }
            }
        }
        drop(empty_tx);
        let (read_result, empty_rx) =
            reader.join().map_err(|_| Error::io(path, io::Error::other("reader thread panicked")))?;
        spare.extend(empty_rx.try_iter());
        write_result.at(path)?;
        let (digest, total) = read_result.map_err(|e| Error::stream("the snapshot input", e))?;
        if !pending.is_empty() {
            return Err(Error::io(path, io::Error::other("a compressor thread stopped")));
        }
        out.write_all(&0u32.to_le_bytes()).at(path)?;
        written += 4;
        Ok((digest, total, written))
    });
    // Slots still in the channels were dropped with them; the rest go back to the pool.
    return_slots(spare);
    result
}

/// The reader stage: fills slots from `input`, hashes them, numbers them and passes them on.
fn read_and_hash(
    input: &mut (dyn Read + Send),
    empty: &mpsc::Receiver<Slot>,
    work: &mpsc::Sender<Slot>,
) -> io::Result<([u8; 32], u64)> {
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut seq = 0u64;
    while let Ok(mut slot) = empty.recv() {
        let filled = read_full(input, &mut slot.input)?;
        let done = filled < slot.input.len();
        if filled > 0 {
            hasher.update(&slot.input[..filled]);
            total += filled as u64;
            slot.seq = seq;
            slot.filled = filled;
            seq += 1;
            if work.send(slot).is_err() {
                break;
            }
        }
        if done {
            break;
        }
    }
    Ok((hasher.finalize().into(), total))
}
