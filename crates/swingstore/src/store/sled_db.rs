//! sled, opened the store's way: no background flusher, test builds' tiny segments, and the
//! wait for a previous handle's lock (used by `open.rs` and `create.rs`, so neither needs the
//! other's internals).

use std::path::Path;

use crate::error::{Error, Result};

/// The sled configuration: no background flusher (the store syncs sled itself, at the points
/// it names, and a flusher thread's failed fsync would only be logged). Test builds can give
/// sled tiny log segments (`SWINGSTORE_SLED_SEGMENT_SIZE`, a power of two), so that short
/// power-loss runs reach segment reuse and large-value files.
fn sled_config(dir: &Path) -> sled::Config {
    let config = sled::Config::new().path(dir).flush_every_ms(None);
    #[cfg(feature = "failpoints")]
    if let Some(size) = std::env::var("SWINGSTORE_SLED_SEGMENT_SIZE").ok().and_then(|v| v.parse().ok()) {
        return config.segment_size(size);
    }
    config
}

/// Opens sled. We hold the store's LOCK, so no other process has the database; if sled still
/// reports its own file lock taken, it is this process's previous handle whose background
/// threads are finishing their shutdown (sled 0.34 releases the lock asynchronously): retry
/// briefly.
pub(super) fn open_sled(dir: &Path, root: &Path) -> Result<sled::Db> {
    // Up to about 10 s in all: sled's I/O threads finish quickly, but a loaded machine can
    // delay them.
    let mut delay = std::time::Duration::from_millis(2);
    for _ in 0..48 {
        match sled_config(dir).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(std::time::Duration::from_millis(250));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(Error::InUse { path: root.to_owned() })
}
