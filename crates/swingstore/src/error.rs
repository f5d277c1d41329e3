//! The library's one error type. Every variant is something a caller can act on.

use std::path::PathBuf;

/// Errors of the swingStore and its collector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process (or another handle in this one) holds the store.
    #[error(
        "the store at {path} is in use by another process (a running kernel or another snapgc); stop it first"
    )]
    InUse { path: PathBuf },

    /// The directory is not a store, or a read-only command was pointed at a missing directory.
    #[error("no store at {path}: {reason}")]
    NoStore { path: PathBuf, reason: String },

    /// A snapshot name that is not 64 lowercase hex characters.
    #[error("invalid snapshot hash {text:?}: expected 64 lowercase hex characters")]
    InvalidHash { text: String },

    /// The snapshot is not in the store.
    #[error("snapshot {hash} is not in the store")]
    NotFound { hash: String },

    /// A blob's content does not match its name or its recorded length.
    #[error("snapshot {hash} is corrupt: expected {expected}, found {actual}")]
    Corrupt { hash: String, expected: String, actual: String },

    /// A root key whose value does not name a snapshot. The collector refuses to delete anything.
    #[error("root {key} is malformed ({reason}); refusing to collect")]
    BadRoot { key: String, reason: String },

    /// A metadata record (ours, in sled) that does not decode.
    #[error("metadata record {what} does not decode: {reason}")]
    Codec { what: String, reason: String },

    /// Invalid configuration (root patterns, grace).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A file-system error, with the path it concerns.
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    /// An error from sled (the kv database).
    #[error("kv database error: {0}")]
    Db(#[from] sled::Error),

    /// An earlier sync of this handle failed, so nothing it holds in memory can be trusted to
    /// be on disk: every write is refused until the store is reopened.
    #[error("the store refuses writes after a failed sync ({reason}); reopen it")]
    Poisoned { reason: String },

    /// `commit()` refused: a staged root names a snapshot that is not in the store (a
    /// committed root always names a present blob). The block stays staged.
    #[error("root {key} names snapshot {hash}, which is not in the store; nothing committed")]
    DanglingRoot { key: String, hash: String },

    /// `set_config` refused: the new root patterns would stop committed keys from being
    /// roots, and the collector would then delete the snapshots they name.
    #[error(
        "the new root patterns would un-root {count} committed root key(s) ({}): their snapshots would be collected; force it to proceed",
        keys.join(", ")
    )]
    WouldUnroot { count: usize, keys: Vec<String> },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
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
