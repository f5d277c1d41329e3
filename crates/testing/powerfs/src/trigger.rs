//! When to cut: the trigger a cut is armed with, and the glob patterns it matches paths with.

use std::fmt;
use std::time::Duration;

/// Where a cut lands. Request counts start at 1 when the trigger is armed; `forget` (which the
/// kernel sends when it pleases) is not counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Just before the `n`-th request (it answers EIO).
    AtRequest(u64),
    /// At a moment after the child started (the harness freezes the file system).
    AtTime(Duration),
    /// Just before the `nth` request whose operation is `op` and whose path matches `pattern`.
    Before { op: String, pattern: String, nth: u64 },
    /// Just after the `nth` such request took effect. With `ack` its reply is the real one;
    /// without, it answers EIO all the same (the device did the work, the power went before
    /// the acknowledgement: a commit can be durable without its caller knowing).
    After { op: String, pattern: String, nth: u64, ack: bool },
    /// After the child exits on its own (a crash after a clean close).
    AfterExit,
}

impl Trigger {
    /// Whether the request `op` on `path` is one this trigger counts.
    pub fn matches(&self, op: &str, path: &str) -> bool {
        match self {
            Self::Before { op: o, pattern, .. } | Self::After { op: o, pattern, .. } => {
                (o == "*" || o == op) && glob(pattern, path)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AtRequest(n) => write!(f, "before request {n}"),
            Self::AtTime(d) => write!(f, "at {} ms", d.as_millis()),
            Self::Before { op, pattern, nth } => write!(f, "before {op} #{nth} of {pattern}"),
            Self::After { op, pattern, nth, ack: true } => write!(f, "after {op} #{nth} of {pattern}"),
            Self::After { op, pattern, nth, ack: false } => {
                write!(f, "after {op} #{nth} of {pattern} (unacknowledged)")
            }
            Self::AfterExit => write!(f, "after the child exited"),
        }
    }
}

/// Shell-style match where `*` matches any run of characters (including `/`) and `?` any one
/// character. Linear time (no backtracking blow-up: greedy with one resume point).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell_with_slashes_allowed() {
        assert!(glob("*/kv/db", "/mnt/store-0/kv/db"));
        assert!(!glob("*/kv/db", "/mnt/store-0/kv/db.tmp"));
        assert!(glob("*/snapshots/*", "/store/snapshots/ab.lz4"));
        assert!(!glob("*/snapshots/*", "/store/snapshots"));
        assert!(glob("*/snapshots", "/store/snapshots"));
        assert!(glob("*", ""));
        assert!(glob("/a?c", "/abc"));
        assert!(!glob("/a?c", "/ac"));
        assert!(glob("*a*a*a*b", &format!("{}b", "a".repeat(300))));
        assert!(!glob("*a*a*a*b", &"a".repeat(3000)));
    }

    #[test]
    fn triggers_count_only_their_op_and_paths() {
        let t = Trigger::Before { op: "fsync".into(), pattern: "*/kv/*".into(), nth: 2 };
        assert!(t.matches("fsync", "/s/kv/db"));
        assert!(!t.matches("write", "/s/kv/db"));
        assert!(!t.matches("fsync", "/s/tmp/x"));
        let any = Trigger::After { op: "*".into(), pattern: "*/kv/*".into(), nth: 1, ack: false };
        assert!(any.matches("rename", "/s/kv/snap.1"));
        assert!(!Trigger::AtRequest(3).matches("fsync", "/s/kv/db"));
        assert_eq!(t.to_string(), "before fsync #2 of */kv/*");
    }
}
