//! Verified loads: every path checks the blob's length and sha256 before it reports success.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use super::handle::SwingStore;
use crate::blob::BlobMeta;
use crate::blob::{self, BlobReader};
use crate::codec;
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;
use crate::schema::meta_key;

/// Opens a blob file for reading: a missing file is `NotFound`; anything but a regular file
/// (a directory, a symlink, a FIFO that would block the open forever) is `Corrupt`, checked
/// before the open and again on the opened file.
pub(crate) fn open_blob(path: &Path, hash: &SnapshotHash) -> Result<File> {
    let not_a_file = |what: &str| Error::Corrupt {
        hash: hash.to_hex(),
        expected: "a regular file".into(),
        actual: what.to_owned(),
    };
    let before = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NotFound { hash: hash.to_hex() }),
        Err(e) => return Err(Error::io(path, e)),
    };
    if !before.is_file() {
        return Err(not_a_file(describe(&before.file_type())));
    }
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NotFound { hash: hash.to_hex() }),
        Err(e) => return Err(Error::io(path, e)),
    };
    let after = file.metadata().map_err(|e| Error::io(path, e))?;
    if !after.is_file() {
        return Err(not_a_file(describe(&after.file_type())));
    }
    Ok(file)
}

fn describe(file_type: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

impl SwingStore {
    /// The metadata of a blob, if the store has a (decodable) record of it.
    pub fn blob_meta(&self, hash: &SnapshotHash) -> Result<Option<BlobMeta>> {
        match self.inner.kv.db().get(meta_key(hash))? {
            None => Ok(None),
            Some(bytes) => codec::decode(&bytes, &format!("blob metadata {hash}")).map(Some),
        }
    }

    /// Whether the blob file is present (as a regular file).
    pub fn contains(&self, hash: &SnapshotHash) -> bool {
        fs::symlink_metadata(self.inner.layout.blob_path(hash)).is_ok_and(|m| m.is_file())
    }

    fn open_for_read(&self, hash: &SnapshotHash) -> Result<(File, Option<u64>)> {
        let file = open_blob(&self.inner.layout.blob_path(hash), hash)?;
        // Damaged metadata only loses the length bound; the hash still verifies the content.
        let expected = self.blob_meta(hash).ok().flatten().map(|m| m.raw_bytes);
        Ok((file, expected))
    }

    /// Opens a snapshot as a streaming reader that verifies length and sha256 at the end.
    /// Take a [`lease`](Self::lease) first if the root that named it may move meanwhile.
    pub fn load(&self, hash: &SnapshotHash) -> Result<BlobReader> {
        let (file, expected) = self.open_for_read(hash)?;
        Ok(BlobReader::new(file, *hash, expected))
    }

    /// Writes the verified raw bytes of a snapshot to `out` (decode and hash on two threads).
    /// Returns the raw length. On a verification error `out` has received unverified bytes.
    pub fn load_into(&self, hash: &SnapshotHash, out: &mut dyn Write) -> Result<u64> {
        let (file, expected) = self.open_for_read(hash)?;
        blob::copy_verified(file, *hash, expected, out, blob::Hashing::SecondThread)
    }

    /// Reads a whole snapshot into memory, verified (small snapshots and tests only).
    pub fn load_bytes(&self, hash: &SnapshotHash) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.load_into(hash, &mut out)?;
        Ok(out)
    }

    /// Decodes and verifies a snapshot without keeping its bytes. Returns the raw length.
    pub fn verify_blob(&self, hash: &SnapshotHash) -> Result<u64> {
        self.load_into(hash, &mut io::sink())
    }

    /// Like [`verify_blob`](Self::verify_blob), hashing on the calling thread: for verifying
    /// many blobs at once, one per core.
    pub(crate) fn verify_blob_inline(&self, hash: &SnapshotHash) -> Result<u64> {
        let (file, expected) = self.open_for_read(hash)?;
        blob::copy_verified(file, *hash, expected, &mut io::sink(), blob::Hashing::Inline)
    }
}

impl SwingStore {
    /// Every snapshot a committed root ever named, with its root key and position, in key
    /// order (the records outlive the blobs: state-sync exports carry them as `inUse: 0`).
    pub fn root_history(&self) -> Result<Vec<crate::roots::RootUse>> {
        crate::roots::history::all(self.inner.kv.db())
    }

    /// The committed root that last named `hash` (key, position, epoch), if one ever did.
    pub fn named_by(&self, hash: &SnapshotHash) -> Result<Option<crate::roots::NamedBy>> {
        crate::roots::history::named_by(self.inner.kv.db(), hash)
    }
}
