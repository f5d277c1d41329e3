//! Test hooks at the dangerous points of a save, a commit and a sweep.
//!
//! With the `failpoints` feature a test (or a crash-test child process) can register an action
//! for a named point: pause (run a closure, e.g. take a lease from another thread), crash (abort
//! the process), or fail (return an injected I/O error). Without the feature every hook compiles
//! to nothing.

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
    /// The blob file is unlinked; its metadata is not yet removed.
    pub const SWEEP_AFTER_UNLINK: &str = "sweep.after_unlink";
    /// Every blob is decided; the new condemnations are not yet recorded.
    pub const GC_BEFORE_CONDEMN: &str = "gc.before_condemn";
    /// Condemnations are recorded (not yet flushed) before the sweep starts.
    pub const GC_AFTER_CONDEMN: &str = "gc.after_condemn";
}

#[cfg(feature = "failpoints")]
mod imp {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, OnceLock};

    /// Fast path: no point has ever been set in this process.
    static ANY_SET: AtomicBool = AtomicBool::new(false);

    /// What a point does when reached.
    #[derive(Clone)]
    pub enum Action {
        /// Run a closure (pause, take a lease, count hits …).
        Call(Arc<dyn Fn() + Send + Sync>),
        /// Abort the process on the spot, like a power cut for everything not yet fsynced.
        Crash,
        /// Return an injected I/O error from the operation.
        Fail,
    }

    fn registry() -> &'static Mutex<HashMap<&'static str, Action>> {
        static REG: OnceLock<Mutex<HashMap<&'static str, Action>>> = OnceLock::new();
        REG.get_or_init(Default::default)
    }

    /// Sets the action for `point` (replacing any earlier one).
    pub fn set(point: &'static str, action: Action) {
        ANY_SET.store(true, Ordering::SeqCst);
        if let Ok(mut reg) = registry().lock() {
            reg.insert(point, action);
        }
    }

    /// Removes the action of one point.
    pub fn clear(point: &'static str) {
        if let Ok(mut reg) = registry().lock() {
            reg.remove(point);
        }
    }

    /// Removes every action.
    pub fn clear_all() {
        if let Ok(mut reg) = registry().lock() {
            reg.clear();
        }
    }

    pub(crate) fn hit(point: &'static str) -> std::io::Result<()> {
        if !ANY_SET.load(Ordering::Relaxed) {
            return Ok(());
        }
        let action = registry().lock().ok().and_then(|reg| reg.get(point).cloned());
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
pub use imp::{Action, clear, clear_all, set};

/// The store's durability steps (`--skip-sync NAME`; see docs/CRASH-SAFETY.md).
pub use crate::durability::SyncStep;

/// Every durability step, in the order a store meets them.
pub const SYNC_STEPS: [SyncStep; 11] = SyncStep::ALL;

#[cfg(feature = "failpoints")]
pub(crate) use imp::hit;

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_point: &'static str) -> std::io::Result<()> {
    Ok(())
}
