//! The content-addressed blob files: streaming save (hash and compress in one pass, on two
//! threads, with bounded memory) and verified streaming load.
//!
//! A blob file is one standard LZ4 frame (`lz4 -d` reads it) of the raw snapshot bytes, named
//! `<sha256 of the raw bytes>.lz4`. This module only writes temp files and reads blob files; the
//! publication protocol (metadata, rename, directory fsync, all under the sweep lock) lives in
//! [`crate::store`].

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::hash::SnapshotHash;
use crate::layout::TEMP_PREFIX;

/// Size of the chunks that flow through the save and load pipelines.
const CHUNK: usize = 1 << 20;
/// Chunks in flight per pipeline (bounds memory: about `CHUNKS_IN_FLIGHT` MiB).
const CHUNKS_IN_FLIGHT: usize = 4;
/// Largest snapshot we will ever decode when no length is recorded (orphans, damaged metadata).
pub const UNRECORDED_LENGTH_CAP: u64 = 64 << 30;

fn frame_info() -> FrameInfo {
    FrameInfo::new().block_size(BlockSize::Max4MB).block_mode(BlockMode::Independent)
}

/// A fully written, fsynced temp file waiting to be published under its hash.
#[derive(Debug)]
pub struct TempBlob {
    pub path: PathBuf,
    pub name: String,
    pub hash: SnapshotHash,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temp file name, unique in this process (the store is held by one process).
pub(crate) fn temp_name() -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{TEMP_PREFIX}{}-{n}.tmp", std::process::id())
}

/// Streams `input` into the temp file `dir/name`: one thread reads and hashes, the calling
/// thread compresses and writes; then fsyncs. The caller removes the file on error.
pub(crate) fn write_temp(dir: &Path, name: String, input: &mut (dyn Read + Send)) -> Result<TempBlob> {
    let path = dir.join(&name);
    let file = OpenOptions::new().write(true).create_new(true).open(&path).at(&path)?;
    let writer = BufWriter::with_capacity(CHUNK, file);
    let mut encoder = FrameEncoder::with_frame_info(frame_info(), writer);

    let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(CHUNKS_IN_FLIGHT);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..CHUNKS_IN_FLIGHT {
        let _ = empty_tx.send(vec![0u8; CHUNK]);
    }

    let (digest, raw_bytes) = std::thread::scope(|scope| -> Result<([u8; 32], u64)> {
        let reader = scope.spawn(move || -> io::Result<([u8; 32], u64)> {
            let mut hasher = Sha256::new();
            let mut total = 0u64;
            while let Ok(mut buf) = empty_rx.recv() {
                let filled = read_full(input, &mut buf)?;
                hasher.update(&buf[..filled]);
                total += filled as u64;
                let done = filled < buf.len();
                if full_tx.send((buf, filled)).is_err() || done {
                    break;
                }
            }
            Ok((hasher.finalize().into(), total))
        });
        let mut write_result = Ok(());
        for (buf, filled) in full_rx {
            if write_result.is_ok() {
                write_result = encoder.write_all(&buf[..filled]);
            }
            // A failed write keeps draining so the reader thread can finish.
            let _ = empty_tx.send(buf);
            if write_result.is_err() {
                break;
            }
        }
        drop(empty_tx);
        let read_result =
            reader.join().map_err(|_| Error::io(&path, io::Error::other("reader thread panicked")))?;
        write_result.at(&path)?;
        read_result.map_err(|e| Error::io("<snapshot input>", e))
    })?;

    let writer = encoder.finish().map_err(|e| Error::io(&path, io::Error::other(e)))?;
    let file = writer.into_inner().map_err(|e| Error::io(&path, e.into_error()))?;
    file.sync_all().at(&path)?;
    let stored_bytes = file.metadata().at(&path)?.len();
    Ok(TempBlob { path, name, hash: SnapshotHash::from_bytes(digest), raw_bytes, stored_bytes })
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full(input: &mut (dyn Read + Send), buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn corrupt(hash: &SnapshotHash, expected: impl Into<String>, actual: impl Into<String>) -> Error {
    Error::Corrupt { hash: hash.to_hex(), expected: expected.into(), actual: actual.into() }
}

/// Opens a blob file for reading; a missing file is `NotFound`, a non-file is `Corrupt`.
pub(crate) fn open_blob(path: &Path, hash: &SnapshotHash) -> Result<File> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::NotFound { hash: hash.to_hex() });
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let meta = file.metadata().at(path)?;
    if !meta.is_file() {
        return Err(corrupt(hash, "a regular file", "something else (a directory?)"));
    }
    Ok(file)
}

/// A streaming reader of a blob's raw bytes that verifies length and sha256 at the end.
///
/// Every error it returns is an `io::Error` whose inner error is an [`Error`] (see
/// [`into_store_error`]); a read that returns `Ok(0)` means the content verified.
pub struct BlobReader {
    decoder: FrameDecoder<BufReader<File>>,
    hasher: Sha256,
    hash: SnapshotHash,
    read: u64,
    expected_len: Option<u64>,
    verified: bool,
}

impl BlobReader {
    pub(crate) fn new(file: File, hash: SnapshotHash, expected_len: Option<u64>) -> Self {
        Self {
            decoder: FrameDecoder::new(BufReader::with_capacity(256 << 10, file)),
            hasher: Sha256::new(),
            hash,
            read: 0,
            expected_len,
            verified: false,
        }
    }

    /// The snapshot this reader yields.
    pub fn hash(&self) -> SnapshotHash {
        self.hash
    }

    fn cap(&self) -> u64 {
        self.expected_len.unwrap_or(UNRECORDED_LENGTH_CAP)
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(expected) = self.expected_len
            && self.read != expected
        {
            return Err(corrupt(&self.hash, format!("{expected} bytes"), format!("{} bytes", self.read)));
        }
        let actual = SnapshotHash::from_bytes(std::mem::take(&mut self.hasher).finalize().into());
        if actual != self.hash {
            return Err(corrupt(&self.hash, format!("sha256 {}", self.hash), format!("sha256 {actual}")));
        }
        self.verified = true;
        Ok(())
    }
}

fn as_io(e: Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Recovers the typed error from an `io::Error` produced by a [`BlobReader`].
pub fn into_store_error(e: io::Error, hash: &SnapshotHash) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(err)) => *err,
            Some(Err(other)) => corrupt(hash, "a valid LZ4 frame", other.to_string()),
            None => corrupt(hash, "a valid LZ4 frame", "unknown error"),
        }
    } else if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::UnexpectedEof {
        corrupt(hash, "a valid LZ4 frame", e.to_string())
    } else {
        Error::io(format!("snapshot {hash}"), e)
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.verified || buf.is_empty() {
            return Ok(0);
        }
        // Never produce more than the recorded length (+1 byte, to detect an overlong blob).
        let room = self.cap().saturating_add(1).saturating_sub(self.read);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX)).max(1);
        let n = match self.decoder.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) => return Err(as_io(into_store_error(e, &self.hash))),
        };
        if n == 0 {
            self.finish().map_err(as_io)?;
            return Ok(0);
        }
        self.read += n as u64;
        if self.read > self.cap() {
            return Err(as_io(corrupt(
                &self.hash,
                format!("at most {} bytes", self.cap()),
                "more (the frame decodes past the recorded length)",
            )));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Decodes `file` into `out`, verifying it: the calling thread decodes and writes, a second
/// thread hashes. Returns the raw length.
pub(crate) fn copy_verified(
    file: File,
    hash: SnapshotHash,
    expected_len: Option<u64>,
    out: &mut dyn Write,
) -> Result<u64> {
    let cap = expected_len.unwrap_or(UNRECORDED_LENGTH_CAP);
    let mut decoder = FrameDecoder::new(BufReader::with_capacity(256 << 10, file));
    let (full_tx, full_rx) = mpsc::sync_channel::<(Arc<Vec<u8>>, usize)>(CHUNKS_IN_FLIGHT);
    let (back_tx, back_rx) = mpsc::channel::<Arc<Vec<u8>>>();

    let (digest, total) = std::thread::scope(|scope| -> Result<([u8; 32], u64)> {
        let hasher = scope.spawn(move || {
            let mut hasher = Sha256::new();
            for (buf, len) in full_rx.iter() {
                hasher.update(&buf[..len]);
                let _ = back_tx.send(buf);
            }
            <[u8; 32]>::from(hasher.finalize())
        });
        let mut spare: Vec<Vec<u8>> = Vec::new();
        let mut total = 0u64;
        let result = (|| -> Result<()> {
            loop {
                while let Ok(returned) = back_rx.try_recv() {
                    if let Ok(v) = Arc::try_unwrap(returned) {
                        spare.push(v);
                    }
                }
                let mut buf = spare.pop().unwrap_or_else(|| vec![0u8; CHUNK]);
                let mut filled = 0;
                while filled < buf.len() {
                    match decoder.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(into_store_error(e, &hash)),
                    }
                }
                total += filled as u64;
                if total > cap {
                    return Err(corrupt(&hash, format!("at most {cap} bytes"), "more"));
                }
                if filled == 0 {
                    return Ok(());
                }
                out.write_all(&buf[..filled]).map_err(|e| Error::io("<output>", e))?;
                let buf = Arc::new(buf);
                if full_tx.send((buf, filled)).is_err() {
                    return Err(Error::io("<hasher>", io::Error::other("hash thread stopped")));
                }
            }
        })();
        drop(full_tx);
        let digest =
            hasher.join().map_err(|_| Error::io("<hasher>", io::Error::other("hash thread panicked")))?;
        result?;
        Ok((digest, total))
    })?;

    if let Some(expected) = expected_len
        && total != expected
    {
        return Err(corrupt(&hash, format!("{expected} bytes"), format!("{total} bytes")));
    }
    let actual = SnapshotHash::from_bytes(digest);
    if actual != hash {
        return Err(corrupt(&hash, format!("sha256 {hash}"), format!("sha256 {actual}")));
    }
    Ok(total)
}

/// fsyncs a directory, so that a rename or unlink in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}
