//! Roots: kv keys whose committed values name live snapshots.
//!
//! A key is a root when it matches one of the configured patterns (default `v*.lastSnapshot`).
//! Its value is Agoric's JSON, `{"snapshotID":"<64 hex>","startPos":{"itemCount":N}}`; extra
//! fields are accepted. A value that does not parse is an error that stops the collector.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::hash::SnapshotHash;

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

#[derive(Deserialize)]
struct RootValue {
    #[serde(rename = "snapshotID")]
    snapshot_id: String,
}

/// Parses a root value and returns the snapshot it names. `key` is only used in the error.
///
/// Only a JSON object with a string `snapshotID` names a snapshot, as Agoric's
/// `JSON.parse(v).snapshotID` reads it: an array (which serde's struct form would accept as a
/// sequence) or any other JSON value is malformed, and so is a repeated `snapshotID`. Other
/// fields are skipped without being parsed into memory.
pub fn parse_root_value(key: &str, value: &[u8]) -> Result<SnapshotHash> {
    let bad = |reason: String| Error::BadRoot { key: crate::error::shorten(key), reason };
    let first = value.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(bad("value is not a JSON object".into()));
    }
    let parsed: RootValue =
        serde_json::from_slice(value).map_err(|e| bad(format!("value is not snapshot JSON: {e}")))?;
    SnapshotHash::parse(&parsed.snapshot_id).map_err(|e| bad(e.to_string()))
}

/// Formats a root value in Agoric's format.
pub fn format_root_value(hash: &SnapshotHash, item_count: u64) -> String {
    format!(r#"{{"snapshotID":"{hash}","startPos":{{"itemCount":{item_count}}}}}"#)
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

    #[test]
    fn root_values_parse_or_fail_closed() -> Result<()> {
        let h = SnapshotHash::of(b"x");
        assert_eq!(parse_root_value("k", format_root_value(&h, 7).as_bytes())?, h);
        let extra = format!(r#"{{"snapshotID":"{h}","startPos":{{"itemCount":1}},"x":[1]}}"#);
        assert_eq!(parse_root_value("k", extra.as_bytes())?, h);
        for bad in [
            "".to_owned(),
            "{".to_owned(),
            "null".to_owned(),
            r#"{"snapshotID":"../../etc/passwd"}"#.to_owned(),
            format!(r#"{{"snapshotID":"{}"}}"#, h.to_hex().to_uppercase()),
            format!(r#"{{"snapshotID":"{}"}}"#, &h.to_hex()[1..]),
            r#"{"startPos":{"itemCount":1}}"#.to_owned(),
            // serde's struct form accepts a sequence; Agoric's JSON.parse(v).snapshotID does not.
            format!(r#"["{h}"]"#),
            format!(r#"{{"snapshotID":["{h}"]}}"#),
            format!(r#""{h}""#),
        ] {
            match parse_root_value("v9.lastSnapshot", bad.as_bytes()) {
                Err(Error::BadRoot { key, .. }) => assert_eq!(key, "v9.lastSnapshot"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        Ok(())
    }
}
