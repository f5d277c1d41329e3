//! [`BlobReader`]: a streaming reader of a blob's raw bytes that verifies at the end.

use std::fs::File;
use std::io::{self, BufReader, Read};

use lz4_flex::frame::FrameDecoder;
use sha2::{Digest, Sha256};

use super::frame::{UNRECORDED_LENGTH_CAP, corrupt};
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;

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
    /// Set once the end-of-stream checks failed: every later read fails the same way.
    failed: Option<String>,
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
            failed: None,
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
        // Like `load_into` and `verify`: bytes after the frame make the blob corrupt.
        let mut probe = [0u8; 1];
        match self.decoder.get_mut().read(&mut probe) {
            Ok(0) => {}
            Ok(_) => return Err(corrupt(&self.hash, "one LZ4 frame", "bytes after the end of the frame")),
            Err(e) => return Err(Error::stream(format!("snapshot {}", self.hash), e)),
        }
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
        Error::stream(format!("snapshot {hash}"), e)
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(reason) = &self.failed {
            return Err(as_io(corrupt(&self.hash, "a sound blob", reason.clone())));
        }
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
            if let Err(e) = self.finish() {
                self.failed = Some(e.to_string());
                return Err(as_io(e));
            }
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
