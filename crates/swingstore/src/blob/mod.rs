//! The content-addressed blob files: a streaming save (hash and compress in one pass, on both
//! cores, with bounded memory) and verified streaming loads.
//!
//! A blob is named `<sha256 of the raw bytes>.lz4`. This module writes temp files and reads
//! blob files; publishing a temp file under its hash (metadata, rename, all under the sweep
//! lock) is `crate::store`'s job, and making it durable is the commit's.
//!
//! * `frame.rs`: the on-disk frame (see docs/format.md);
//! * `save.rs`: the save pipeline into a temp file;
//! * `load.rs`: the verified load pipelines; `reader.rs`: the streaming [`BlobReader`];
//! * `pool.rs`: block buffers shared across calls; `meta.rs`: the per-blob metadata record.

mod frame;
mod load;
mod meta;
mod pool;
mod reader;
mod save;
#[cfg(test)]
mod tests;

pub(crate) use load::{Hashing, copy_verified};
pub use meta::BlobMeta;
pub use reader::{BlobReader, into_store_error};
pub(crate) use save::{TempBlob, temp_name, write_temp};

/// The save pipeline into memory (benchmarks: the limit a save is measured against).
#[cfg(feature = "internals")]
pub(crate) fn compress_to_memory(input: &[u8]) -> crate::Result<(Vec<u8>, crate::SnapshotHash)> {
    let mut frame = Vec::with_capacity(input.len() / 2);
    let (digest, _, _) =
        save::compress_stream(&mut std::io::Cursor::new(input), &mut frame, std::path::Path::new("memory"))?;
    Ok((frame, crate::SnapshotHash::from_bytes(digest)))
}
