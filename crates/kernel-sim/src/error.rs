//! The simulation's error type: every variant is fatal to a run.

use std::path::PathBuf;

/// Why a simulation stopped. Each message carries its whole cause (no `source()` chain), so
/// it prints as one line with each cause once.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The store refused an operation.
    #[error("store: {0}")]
    Store(swingstore::Error),

    /// A vat could not be paged in: the kernel lost a snapshot it still needed.
    #[error("page-in of vat v{vat} failed (snapshot {hash}): {reason}")]
    PageIn { vat: u64, hash: String, reason: String },

    /// The exporter could not read a snapshot named by a committed root when it started.
    #[error("export of block {block} could not read snapshot {hash}: {reason}")]
    Export { block: u64, hash: String, reason: String },

    /// No usable heap to start vats from.
    #[error("heaps: {0}")]
    Heaps(String),

    /// A file-system error outside the store.
    #[error("I/O error on {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },

    /// A bad simulation setting.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A worker thread panicked (a bug).
    #[error("a {0} thread panicked")]
    Thread(&'static str),
}

impl From<swingstore::Error> for SimError {
    fn from(e: swingstore::Error) -> Self {
        SimError::Store(e)
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = SimError> = std::result::Result<T, E>;
