//! The library's one error type. Every variant is something a caller can act on.
//!
//! Each variant's message carries its whole cause, and no variant reports a `source()`: so an
//! error prints as one line with each cause once, whether shown with `{}`, `{:#}` or by walking
//! a chain (as anyhow does).

use std::path::PathBuf;

/// Errors of the swingStore and its collector.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process (or another handle in this one) holds the store.
    #[error(
        "the store at {path} is in use by another process (a running kernel or another snapgc); stop it first"
    )]
    InUse {
        /// The store directory.
        path: PathBuf,
    },

    /// The directory is not a store, or a read-only command was pointed at a missing directory.
    #[error("no store at {path}: {reason}")]
    NoStore {
        /// The directory.
        path: PathBuf,
        /// Why it is not (or cannot become) a store.
        reason: String,
    },

    /// The store's on-disk format (its `SNAPGC-STORE` marker) is not one this build reads: a
    /// store written by a newer release, or a damaged marker. Nothing was changed.
    #[error("the store at {path} has on-disk format {found}; this build reads format {supported}: {hint}")]
    UnsupportedFormat {
        /// The store directory.
        path: PathBuf,
        /// The format the marker names (or why none could be read).
        found: String,
        /// The format this build reads.
        supported: u32,
        /// What to do.
        hint: String,
    },

    /// A write through a handle opened read-only ([`SwingStore::open_read_only`]).
    ///
    /// [`SwingStore::open_read_only`]: crate::SwingStore::open_read_only
    #[error("the store at {path} is open read-only: {what} refused")]
    ReadOnly {
        /// The store directory.
        path: PathBuf,
        /// The write refused.
        what: String,
    },

    /// A snapshot name that is not 64 lowercase hex characters.
    #[error("invalid snapshot hash {text:?}: expected 64 lowercase hex characters")]
    InvalidHash {
        /// The text given (at most 100 characters of it).
        text: String,
    },

    /// The snapshot is not in the store.
    #[error("snapshot {hash} is not in the store")]
    NotFound {
        /// The snapshot.
        hash: String,
    },

    /// A blob's content does not match its name or its recorded length.
    #[error("snapshot {hash} is corrupt: expected {expected}, found {actual}")]
    Corrupt {
        /// The snapshot.
        hash: String,
        /// What a sound blob has.
        expected: String,
        /// What this one has.
        actual: String,
    },

    /// A root key whose value does not name a snapshot. The collector refuses to delete anything.
    #[error("root {key} is malformed ({reason}); refusing to collect")]
    BadRoot {
        /// The root key (shortened when long).
        key: String,
        /// Why its value names no snapshot.
        reason: String,
    },

    /// A metadata record (ours, in sled) that does not decode.
    #[error("metadata record {what} does not decode: {reason}")]
    Codec {
        /// Which record.
        what: String,
        /// Why it does not decode.
        reason: String,
    },

    /// Invalid configuration (root patterns, grace, archive, metrics file, the test-build
    /// `SWINGSTORE_SKIP_SYNC` switch): a setting that can never be right.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A request that needs no open block, made while one is open: writes are staged, or
    /// snapshots were saved since the last commit (an offline collection pass, a configuration
    /// change). Commit or abort the block, then retry. Nothing was changed.
    #[error("{what} needs no open block: {reason}")]
    BlockOpen {
        /// The request refused.
        what: String,
        /// What is open and what to do.
        reason: String,
    },

    /// An argument that is malformed (an export-data hash, an artifact mode) or that an
    /// internal caller must never pass. Nothing was changed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A file-system error, with the path it concerns.
    #[error("I/O error on {path}: {cause}")]
    Io {
        /// The file or directory concerned (always a real path).
        path: PathBuf,
        /// The operating system's error.
        cause: std::io::Error,
    },

    /// An I/O error on a stream no path names: the caller's input or output, a snapshot's
    /// decoded bytes (named by its hash), a worker thread of the store.
    #[error("I/O error on {what}: {cause}")]
    Stream {
        /// The stream, thread or step concerned.
        what: String,
        /// The operating system's error.
        cause: std::io::Error,
    },

    /// An error of the kv database (sled, behind this type so that it can be replaced).
    #[error("kv database error: {cause}")]
    Db {
        /// The database's error.
        cause: Box<dyn std::error::Error + Send + Sync>,
    },

    /// An earlier sync of this handle failed, so nothing it holds in memory can be trusted to
    /// be on disk: every write is refused until the store is reopened.
    #[error("the store refuses writes after a failed sync ({reason}); reopen it")]
    Poisoned {
        /// The failure that poisoned the handle.
        reason: String,
    },

    /// `commit()` refused: a staged root names a snapshot that is not in the store (a
    /// committed root always names a present blob). The block stays staged.
    #[error("root {key} names snapshot {hash}, which is not in the store; nothing committed")]
    DanglingRoot {
        /// The staged root key (shortened when long).
        key: String,
        /// The snapshot it names.
        hash: String,
    },

    /// `set_config` refused: the new root patterns would stop committed keys from being
    /// roots, and the collector would then delete the snapshots they name.
    #[error(
        "the new root patterns would un-root {count} committed root key(s) ({}): their snapshots would be collected; force it to proceed",
        keys.join(", ")
    )]
    WouldUnroot {
        /// How many committed root keys.
        count: usize,
        /// The first few of them.
        keys: Vec<String>,
    },

    /// A state-sync import refused its input (a record or artifact that does not verify, is
    /// unknown, or is missing). Nothing was committed: the target holds no root.
    #[error("state import refused: {item}: {reason}")]
    ImportRefused {
        /// The export-data record, artifact or file at fault (shortened when long).
        item: String,
        /// Why.
        reason: String,
    },

    /// A state-sync export could not be made (a bad root, an unreadable blob, a target
    /// directory that is not empty).
    #[error("state export failed: {item}: {reason}")]
    ExportFailed {
        /// The root, artifact or path at fault.
        item: String,
        /// Why.
        reason: String,
    },
}

/// Constructor of the state-sync importer's refusals.
impl Error {
    pub(crate) fn refused(item: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::ImportRefused { item: shorten(&item.into()), reason: reason.into() }
    }
}

#[doc(hidden)]
impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Db { cause: Box::new(e) }
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io { path: path.into(), cause }
    }

    pub(crate) fn stream(what: impl Into<String>, cause: std::io::Error) -> Self {
        Error::Stream { what: what.into(), cause }
    }

    /// True for errors that mean "the thing is simply not there".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

/// Longest key or name quoted whole in an error message.
const QUOTE_LIMIT: usize = 120;

/// `text`, or its first [`QUOTE_LIMIT`] characters and its length when it is longer (a 1 MB
/// key must not become a 1 MB error line).
pub(crate) fn shorten(text: &str) -> String {
    if text.len() <= QUOTE_LIMIT {
        return text.to_owned();
    }
    let cut = (0..=QUOTE_LIMIT).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    format!("{}… ({} bytes)", &text[..cut], text.len())
}
