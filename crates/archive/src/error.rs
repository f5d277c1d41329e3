//! The crate's error type.

/// Errors of the archive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The location is neither a directory nor `s3://bucket[/prefix]`.
    #[error("invalid archive location {location:?}: {reason}")]
    Location {
        /// The location given.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The object store failed (network, permissions, disk).
    #[error("archive object store: {0}")]
    Store(#[from] object_store::Error),
    /// The snapshot is not in the archive.
    #[error("snapshot {hash} is not in the archive")]
    NotFound {
        /// The snapshot.
        hash: String,
    },
    /// An object whose content is not what its name or its manifest says.
    #[error("archive object {object} is corrupt: {reason}")]
    Corrupt {
        /// The object (a manifest, a pack, the state).
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// The manifest of a snapshot would not read back (the snapshot is kept in the hot store).
    #[error("the manifest of snapshot {hash} would not read back ({reason}): not archived")]
    Unwritable {
        /// The snapshot.
        hash: String,
        /// Why.
        reason: String,
    },
    /// Another store owns the archive, or the directory is not an archive.
    #[error("archive {location}: {reason}")]
    Refused {
        /// The location.
        location: String,
        /// Why it is refused.
        reason: String,
    },
    /// Reading the snapshot to archive failed (the store's verification, or I/O).
    #[error("reading the snapshot to archive: {0}")]
    Source(std::io::Error),
    /// Writing the verified bytes out failed.
    #[error("writing the snapshot out: {0}")]
    Output(std::io::Error),
    /// A store error (opening the archive of a store).
    #[error(transparent)]
    SwingStore(#[from] swingstore::Error),
    /// An injected fault (tests).
    #[error("injected fault at {0}")]
    Fault(&'static str),
    /// Something else (a worker thread died, the runtime could not start).
    #[error("{0}")]
    Other(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the snapshot is simply not archived.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}
