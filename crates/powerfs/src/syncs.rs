//! The store's durability steps, by name: what `--list-syncs` prints and `--skip-sync NAME`
//! switches off (through `SWINGSTORE_SKIP_SYNC` in the child's environment).

/// One durability step of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncStep {
    /// The name `SWINGSTORE_SKIP_SYNC` takes.
    pub name: &'static str,
    /// What it makes durable.
    pub what: &'static str,
}

/// Every durability step, in the order an operation reaches them.
///
/// A stand-in until the library exports `swingstore::failpoint::SYNC_STEPS`.
pub const SYNC_STEPS: &[SyncStep] = &[
    SyncStep { name: "store-create", what: "the store directory's entries when it is created" },
    SyncStep { name: "kv-create", what: "sled's files when the kv database is created" },
    SyncStep { name: "open-marker", what: "the unclean-close marker written at open" },
    SyncStep { name: "blob-file", what: "a saved blob's temp file before its rename" },
    SyncStep { name: "blob-dir", what: "the blob directory before a commit writes its roots" },
    SyncStep { name: "kv-log", what: "sled's log at commit" },
    SyncStep { name: "kv-dir", what: "the kv directory after sled creates or renames a file" },
    SyncStep { name: "close-blob-dir", what: "the blob directory at a clean close" },
];

/// The step named `name`.
pub fn step(name: &str) -> Option<&'static SyncStep> {
    SYNC_STEPS.iter().find(|s| s.name == name)
}
