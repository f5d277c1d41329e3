//! Errors as JS sees them: every [`swingstore::Error`] variant maps to one stable `code`
//! (`SNAPGC_…`), with the library's message as the JS error's `message`.

use napi::{Env, JsError};

/// An error on its way to JS: a stable code and the library's message. `Send`, so it can come
/// back from a worker thread and be turned into a JS `Error` on the JS thread.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The JS error's `code`.
    pub code: &'static str,
    /// The JS error's `message`.
    pub message: String,
}

/// The store was closed (`close()`), or a save or load was used after it ended.
pub const CLOSED: &str = "SNAPGC_CLOSED";
/// An argument JS passed is wrong (a malformed hash, an option of the wrong type, a second
/// `write` while one is pending).
pub const INVALID_ARGUMENT: &str = "SNAPGC_INVALID_ARGUMENT";
/// Something that should not happen (a worker thread that panicked or vanished).
pub const INTERNAL: &str = "SNAPGC_INTERNAL";

impl Failure {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn closed(what: &str) -> Self {
        Self::new(CLOSED, format!("{what} is closed"))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(INVALID_ARGUMENT, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(INTERNAL, message)
    }

    /// The JS `Error` (with `code`), as the `napi::Error` that napi-rs throws or rejects with
    /// unchanged (it carries a reference to the JS object). Call on the JS thread.
    pub fn into_napi(self, env: &Env) -> napi::Error {
        let js = JsError::from(napi::Error::new(self.code, self.message)).into_unknown(*env);
        napi::Error::from(js)
    }
}

/// The stable code of each library error.
pub fn code_of(error: &swingstore::Error) -> &'static str {
    use swingstore::Error as E;
    match error {
        E::InUse { .. } => "SNAPGC_IN_USE",
        E::NoStore { .. } => "SNAPGC_NO_STORE",
        E::InvalidHash { .. } => INVALID_ARGUMENT,
        E::NotFound { .. } => "SNAPGC_NOT_FOUND",
        E::Corrupt { .. } => "SNAPGC_CORRUPT",
        E::BadRoot { .. } => "SNAPGC_BAD_ROOT",
        E::Codec { .. } => "SNAPGC_CODEC",
        E::UnsupportedFormat { .. } => "SNAPGC_UNSUPPORTED_FORMAT",
        E::ReadOnly { .. } => "SNAPGC_READ_ONLY",
        E::Config(_) => "SNAPGC_CONFIG",
        E::BlockOpen { .. } => "SNAPGC_BLOCK_OPEN",
        E::InvalidArgument(_) => INVALID_ARGUMENT,
        E::Io { .. } | E::Stream { .. } => "SNAPGC_IO",
        E::Db { .. } => "SNAPGC_DB",
        E::Poisoned { .. } => "SNAPGC_POISONED",
        E::DanglingRoot { .. } => "SNAPGC_DANGLING_ROOT",
        E::WouldUnroot { .. } => "SNAPGC_WOULD_UNROOT",
        E::ImportRefused { .. } => "SNAPGC_IMPORT_REFUSED",
        E::ExportFailed { .. } => "SNAPGC_EXPORT_FAILED",
        _ => INTERNAL,
    }
}

impl From<swingstore::Error> for Failure {
    fn from(error: swingstore::Error) -> Self {
        Self { code: code_of(&error), message: error.to_string() }
    }
}

impl From<archive::Error> for Failure {
    fn from(error: archive::Error) -> Self {
        Self::new("SNAPGC_ARCHIVE", error.to_string())
    }
}

/// Results of the binding's own code.
pub type Outcome<T> = std::result::Result<T, Failure>;

/// Converts an outcome on the JS thread.
pub fn to_js<T>(env: &Env, outcome: Outcome<T>) -> napi::Result<T> {
    outcome.map_err(|f| f.into_napi(env))
}
