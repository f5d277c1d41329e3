//! The state a mounted powerfs shares with the harness: the model, the request log and the cut
//! control (trigger, counters, freeze).
//!
//! Requests are served one at a time (fuser's session loop runs on one thread and every
//! request holds the lock from its gate to its log line), so they are totally ordered and the
//! `n`-th request is well defined. Once frozen, the durable image is final: every later
//! request answers EIO before it touches the model, so no process ever sees an `fsync`
//! succeed after the cut.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::model::{Fs, FsError, FsResult};
use crate::reqlog::{Record, RequestLog};
use crate::trigger::Trigger;

/// The state behind a mount, shared with the harness.
pub type Shared = Arc<Mutex<State>>;

/// Locks the shared state (a panic in a request handler does not poison it for the harness).
pub fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why and where the file system froze.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    /// What caused it (the trigger, or the harness).
    pub why: String,
    /// Requests counted since the trigger was armed when it froze.
    pub at_request: u64,
}

/// The model plus everything around it.
#[derive(Debug)]
pub struct State {
    /// The file system.
    pub fs: Fs,
    /// Every request answered since the mount.
    pub log: RequestLog,
    seq: u64,
    trigger: Option<Trigger>,
    counted: u64,
    matched: u64,
    cut_after_this: bool,
    frozen: Option<Frozen>,
}

impl State {
    /// A fresh state around `fs` (not frozen, no trigger).
    pub fn new(fs: Fs) -> Self {
        Self {
            fs,
            log: RequestLog::default(),
            seq: 0,
            trigger: None,
            counted: 0,
            matched: 0,
            cut_after_this: false,
            frozen: None,
        }
    }

    /// Arms a trigger; counting starts from the next request.
    pub fn arm(&mut self, trigger: Trigger) {
        self.log.note(format!("armed: {trigger}"));
        self.trigger = Some(trigger);
        self.counted = 0;
        self.matched = 0;
        self.cut_after_this = false;
    }

    /// Removes the trigger (requests keep being logged).
    pub fn disarm(&mut self) {
        self.trigger = None;
    }

    /// Requests counted since the trigger was armed.
    pub fn counted(&self) -> u64 {
        self.counted
    }

    /// Freezes the file system now (idempotent: the first cause wins).
    pub fn freeze(&mut self, why: impl Into<String>) {
        if self.frozen.is_none() {
            let why = why.into();
            self.log.note(format!(
                "CUT ({why}) after {} requests: frozen, every later request is EIO",
                self.counted
            ));
            self.frozen = Some(Frozen { why, at_request: self.counted });
        }
    }

    /// Lifts a freeze without a crash (a process kill, not a power cut): live state goes on.
    pub fn thaw(&mut self) {
        if self.frozen.take().is_some() {
            self.log.note("thawed: no power cut, the live state goes on");
        }
    }

    /// Whether (and why) the file system is frozen.
    pub fn frozen(&self) -> Option<&Frozen> {
        self.frozen.as_ref()
    }

    /// The gate every request passes first: counts it, fires a before-trigger, and refuses
    /// everything once frozen.
    pub fn begin(&mut self, op: &'static str, path: &str) -> FsResult<()> {
        self.seq += 1;
        if self.frozen.is_some() {
            return Err(FsError::Frozen);
        }
        self.counted += 1;
        let fire = match &self.trigger {
            Some(Trigger::AtRequest(n)) => self.counted >= *n,
            Some(t @ Trigger::Before { nth, .. }) if t.matches(op, path) => {
                self.matched += 1;
                self.matched == *nth
            }
            Some(t @ Trigger::After { nth, .. }) if t.matches(op, path) => {
                self.matched += 1;
                self.cut_after_this = self.matched == *nth;
                false
            }
            _ => false,
        };
        if fire {
            let why = self.trigger.as_ref().map(ToString::to_string).unwrap_or_default();
            self.freeze(format!("{why}: {op} {path}"));
            return Err(FsError::Frozen);
        }
        Ok(())
    }

    /// Logs the request and fires an after-trigger. Returns true when the request, which took
    /// effect, must answer EIO all the same (an unacknowledged after-trigger).
    pub fn end(&mut self, op: &'static str, path: String, detail: String, result: String) -> bool {
        let fire = std::mem::take(&mut self.cut_after_this);
        let unacknowledged = fire && matches!(self.trigger, Some(Trigger::After { ack: false, .. }));
        let result = if unacknowledged { format!("{result}, answered EIO (unacknowledged)") } else { result };
        self.log.push(Record { seq: self.seq, op, path: path.clone(), detail, result });
        if fire {
            let why = self.trigger.as_ref().map(ToString::to_string).unwrap_or_default();
            self.freeze(format!("{why}: {op} {path}"));
        }
        unacknowledged
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;
    use crate::model::{Owner, ROOT};

    fn request(st: &mut State, op: &'static str, path: &str) -> FsResult<()> {
        let r = st.begin(op, path);
        let result = if r.is_ok() { "ok".to_owned() } else { "EIO".to_owned() };
        if st.end(op, path.to_owned(), String::new(), result) { Err(FsError::Frozen) } else { r }
    }

    impl State {
        fn records_contain(&self, text: &str) -> bool {
            self.log.records().any(|r| r.result.contains(text))
        }
    }

    #[test]
    fn before_the_nth_match_freezes_and_refuses_that_request_and_all_later_ones() {
        let mut st = State::new(Fs::new());
        st.arm(Trigger::Before { op: "fsync".into(), pattern: "*/db".into(), nth: 2 });
        assert_eq!(request(&mut st, "fsync", "/s/db"), Ok(()));
        assert_eq!(request(&mut st, "write", "/s/db"), Ok(()));
        assert_eq!(request(&mut st, "fsync", "/s/other"), Ok(()));
        assert_eq!(request(&mut st, "fsync", "/s/db"), Err(FsError::Frozen));
        assert_eq!(st.frozen().map(|f| f.at_request), Some(4));
        assert_eq!(request(&mut st, "lookup", "/s"), Err(FsError::Frozen));
    }

    #[test]
    fn after_the_nth_match_the_request_succeeds_and_the_next_one_is_refused() {
        let mut st = State::new(Fs::new());
        st.arm(Trigger::After { op: "rename".into(), pattern: "*/snapshots/*".into(), nth: 1, ack: true });
        assert_eq!(request(&mut st, "rename", "/s/snapshots/a.lz4"), Ok(()));
        assert!(st.frozen().is_some());
        assert_eq!(request(&mut st, "fsyncdir", "/s/snapshots"), Err(FsError::Frozen));
        // Unacknowledged: the request is done but its caller hears EIO.
        let mut st = State::new(Fs::new());
        st.arm(Trigger::After { op: "fsync".into(), pattern: "*".into(), nth: 2, ack: false });
        assert_eq!(request(&mut st, "fsync", "/f"), Ok(()));
        assert_eq!(request(&mut st, "fsync", "/f"), Err(FsError::Frozen));
        assert!(st.records_contain("answered EIO (unacknowledged)"));
    }

    #[test]
    fn at_request_counts_every_request_since_arming() -> FsResult<()> {
        let mut st = State::new(Fs::new());
        st.fs.create(ROOT, OsStr::new("f"), Owner::default())?;
        assert_eq!(request(&mut st, "getattr", "/"), Ok(()));
        st.arm(Trigger::AtRequest(3));
        assert_eq!(request(&mut st, "getattr", "/"), Ok(()));
        assert_eq!(request(&mut st, "getattr", "/"), Ok(()));
        assert_eq!(request(&mut st, "getattr", "/"), Err(FsError::Frozen));
        Ok(())
    }
}
