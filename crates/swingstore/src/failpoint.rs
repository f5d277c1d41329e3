//! Test hooks at the dangerous points of a save, a commit, a sync and a sweep.
//!
//! With the `failpoints` feature a test (or a crash-test child process) can register an action
//! for a named point: pause (run a closure, e.g. take a lease from another thread), crash (abort
//! the process), or fail (return an injected I/O error); for every store of the process
//! ([`set`]) or for one store directory ([`set_for`], so that tests in one binary run in
//! parallel). Without the feature every hook compiles to nothing. Callers reach this module as
//! `swingstore::failpoint` (hidden from the docs), which also names the store's durability
//! steps ([`SyncStep`], [`SYNC_STEPS`]).

/// The points, by name (documented in docs/CRASH-SAFETY.md).
pub mod points {
    /// A save's temp file is written (not fsynced); its metadata is not yet recorded.
    pub const SAVE_AFTER_WRITE: &str = "save.after_write";
    /// Metadata is recorded; the temp file is not yet renamed into place.
    pub const SAVE_AFTER_META: &str = "save.after_meta";
    /// The blob is renamed into place; neither it nor the directory is fsynced yet (the next
    /// commit does both).
    pub const SAVE_BEFORE_DIR_SYNC: &str = "save.before_dir_sync";
    /// A commit's batch is applied in sled but not yet flushed and synced (an injected
    /// failure here poisons the handle, like a failed sync).
    pub const COMMIT_BEFORE_SYNC: &str = "commit.before_sync";
    /// The sweep decided to delete a blob (it is condemned and due); not yet unlinked.
    pub const SWEEP_BEFORE_UNLINK: &str = "sweep.before_unlink";
    /// The archive step returned (its record is durable); the blob is not yet unlinked (only
    /// reached with an archive configured and a blob a root once named).
    pub const SWEEP_AFTER_ARCHIVE: &str = "sweep.after_archive";
    /// The blob file is unlinked; its metadata is not yet removed.
    pub const SWEEP_AFTER_UNLINK: &str = "sweep.after_unlink";
    /// Every blob is decided; the new condemnations are not yet recorded.
    pub const GC_BEFORE_CONDEMN: &str = "gc.before_condemn";
    /// A scanning pass verified an orphan (or found it corrupt) and has decided nothing yet.
    pub const GC_AFTER_ORPHAN_VERIFY: &str = "gc.after_orphan_verify";
    /// Condemnations are recorded (not yet flushed) before the sweep starts.
    pub const GC_AFTER_CONDEMN: &str = "gc.after_condemn";
    /// A state-sync import saved and verified one artifact (hit once per artifact).
    pub const IMPORT_AFTER_ARTIFACT: &str = "import.after_artifact";
    /// A state-sync import has every blob and kv entry; its one commit has not run.
    pub const IMPORT_BEFORE_COMMIT: &str = "import.before_commit";
    /// A state-sync import's commit is durable; the import marker is not yet removed.
    pub const IMPORT_AFTER_COMMIT: &str = "import.after_commit";
}

#[cfg(feature = "failpoints")]
mod imp {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    /// Fast path: no point has ever been set in this process.
    static ANY_SET: AtomicBool = AtomicBool::new(false);

    /// What a point does when reached.
    #[derive(Clone)]
    pub enum Action {
        /// Run a closure (pause, take a lease, count hits …).
        Call(Arc<dyn Fn() + Send + Sync>),
        /// Abort the process on the spot, like a kill at that instruction.
        Crash,
        /// Return an injected I/O error from the operation.
        Fail,
    }

    /// (store directory or every store, point, action).
    type Entry = (Option<PathBuf>, &'static str, Action);

    static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

    fn registry() -> std::sync::MutexGuard<'static, Vec<Entry>> {
        REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn scope_of(store: &Path) -> PathBuf {
        std::fs::canonicalize(store).unwrap_or_else(|_| store.to_owned())
    }

    fn insert(scope: Option<PathBuf>, point: &'static str, action: Action) {
        ANY_SET.store(true, Ordering::SeqCst);
        let mut reg = registry();
        reg.retain(|(s, p, _)| !(*s == scope && *p == point));
        reg.push((scope, point, action));
    }

    /// Sets the action of `point` for every store of the process (replacing an earlier one).
    pub fn set(point: &'static str, action: Action) {
        insert(None, point, action);
    }

    /// Sets the action of `point` for the store at `store` only (an existing directory).
    pub fn set_for(store: &Path, point: &'static str, action: Action) {
        insert(Some(scope_of(store)), point, action);
    }

    /// Removes the process-wide action of one point.
    pub fn clear(point: &'static str) {
        registry().retain(|(s, p, _)| !(s.is_none() && *p == point));
    }

    /// Removes every action set for the store at `store`.
    pub fn clear_for(store: &Path) {
        let scope = Some(scope_of(store));
        registry().retain(|(s, _, _)| *s != scope);
    }

    /// Removes every action.
    pub fn clear_all() {
        registry().clear();
    }

    /// Runs the action of `point` for the store whose canonical directory is `store`, if any
    /// (a store-scoped one first).
    pub(crate) fn hit(store: &Path, point: &'static str) -> std::io::Result<()> {
        if !ANY_SET.load(Ordering::Relaxed) {
            return Ok(());
        }
        let action = {
            let reg = registry();
            let scoped = reg.iter().find(|(s, p, _)| *p == point && s.as_deref() == Some(store));
            let global = || reg.iter().find(|(s, p, _)| *p == point && s.is_none());
            scoped.or_else(global).map(|(_, _, a)| a.clone())
        };
        match action {
            None => Ok(()),
            Some(Action::Call(f)) => {
                f();
                Ok(())
            }
            Some(Action::Crash) => std::process::abort(),
            Some(Action::Fail) => Err(std::io::Error::other(format!("injected failure at {point}"))),
        }
    }
}

#[cfg(feature = "failpoints")]
pub use imp::{Action, clear, clear_all, clear_for, set, set_for};

#[cfg(feature = "failpoints")]
pub(crate) use imp::hit;

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_store: &std::path::Path, _point: &'static str) -> std::io::Result<()> {
    Ok(())
}

#[cfg(feature = "failpoints")]
pub use crate::durability::SyncStep;

/// Every durability step, in the order a store meets them.
#[cfg(feature = "failpoints")]
pub const SYNC_STEPS: [SyncStep; SyncStep::ALL.len()] = SyncStep::ALL;
