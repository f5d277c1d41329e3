//! Root key patterns: which kv keys are roots. `*` matches one or more characters other than
//! `.`; everything else matches itself (default pattern `v*.lastSnapshot`).

use crate::error::{Error, Result};

/// Most `*` in one pattern (a sanity limit: every committed key is matched against them).
const MAX_WILDCARDS: usize = 4;

/// A compiled set of root key patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootPatterns {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Literal pieces between `*`s.
    pieces: Vec<String>,
}

impl Pattern {
    fn compile(text: &str) -> Result<Self> {
        if text.is_empty() {
            return Err(Error::Config("empty root pattern".into()));
        }
        if text.matches('*').count() > MAX_WILDCARDS {
            return Err(Error::Config(format!("root pattern {text:?} has more than {MAX_WILDCARDS} '*'")));
        }
        if text.contains("**") {
            return Err(Error::Config(format!("root pattern {text:?} has two adjacent '*'")));
        }
        Ok(Self { pieces: text.split('*').map(str::to_owned).collect() })
    }

    fn matches(&self, key: &str) -> bool {
        let Some((first, rest)) = self.pieces.split_first() else { return false };
        key.strip_prefix(first.as_str()).is_some_and(|tail| Self::match_rest(rest, tail))
    }

    /// `tail` must be: (one or more non-'.' chars, then `rest[0]`), repeated for each piece.
    ///
    /// No backtracking (which is exponential in the number of `*` on keys such as
    /// `v1.vs.aaaa…`): the set of offsets reachable after each piece is computed in one sweep,
    /// so a match costs O(pieces × key length × piece length).
    fn match_rest(rest: &[String], tail: &str) -> bool {
        let bytes = tail.as_bytes();
        let mut reachable = vec![false; bytes.len() + 1];
        reachable[0] = true;
        for piece in rest {
            let mut next = vec![false; bytes.len() + 1];
            // `open`: some reachable offset s < at has no '.' in tail[s..at] (the `*` can
            // cover tail[s..at]).
            let mut open = false;
            for at in 1..=bytes.len() {
                open = bytes[at - 1] != b'.' && (open || reachable[at - 1]);
                if open && tail.is_char_boundary(at) && tail[at..].starts_with(piece.as_str()) {
                    next[at + piece.len()] = true;
                }
            }
            reachable = next;
        }
        reachable[bytes.len()]
    }
}

impl RootPatterns {
    /// Compiles patterns; `*` matches one or more characters other than `.`.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self> {
        if patterns.is_empty() {
            return Err(Error::Config("at least one root pattern is required".into()));
        }
        let patterns = patterns.iter().map(|p| Pattern::compile(p.as_ref())).collect::<Result<_>>()?;
        Ok(Self { patterns })
    }

    /// Whether `key` is a root key.
    pub fn is_root(&self, key: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pattern_matches_vat_roots_only() -> Result<()> {
        let p = RootPatterns::new(&["v*.lastSnapshot"])?;
        assert!(p.is_root("v1.lastSnapshot"));
        assert!(p.is_root("v1234.lastSnapshot"));
        assert!(!p.is_root("v.lastSnapshot"));
        assert!(!p.is_root("v1.vs.lastSnapshot"));
        assert!(!p.is_root("v1.lastSnapshotX"));
        assert!(!p.is_root("xv1.lastSnapshot"));
        assert!(!p.is_root("v1.t.endPosition"));
        Ok(())
    }

    #[test]
    fn several_wildcards_and_patterns() -> Result<()> {
        let p = RootPatterns::new(&["v*.lastSnapshot", "zygote.*.snapshot", "a*b*c"])?;
        assert!(p.is_root("zygote.base.snapshot"));
        assert!(!p.is_root("zygote..snapshot"));
        assert!(p.is_root("axbyc"));
        assert!(p.is_root("abbbc"));
        assert!(!p.is_root("abc"));
        assert!(RootPatterns::new::<&str>(&[]).is_err());
        assert!(RootPatterns::new(&["a**b"]).is_err());
        assert!(RootPatterns::new(&["a*b*c*d*e*f"]).is_err());
        Ok(())
    }
}
