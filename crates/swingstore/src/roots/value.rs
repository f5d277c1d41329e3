//! Root values: Agoric's JSON, `{"snapshotID":"<64 hex>","startPos":{"itemCount":N}}`.
//! Extra fields are accepted; a value that does not parse is an error that stops the collector.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::hash::SnapshotHash;

#[derive(Deserialize)]
struct RootValue {
    #[serde(rename = "snapshotID")]
    snapshot_id: String,
    #[serde(rename = "startPos")]
    start_pos: Option<StartPos>,
}

#[derive(Deserialize)]
struct StartPos {
    #[serde(rename = "itemCount")]
    item_count: Option<u64>,
}

/// Parses a root value and returns the snapshot it names. `key` is only used in the error.
///
/// Only a JSON object with a string `snapshotID` names a snapshot, as Agoric's
/// `JSON.parse(v).snapshotID` reads it: an array (which serde's struct form would accept as a
/// sequence) or any other JSON value is malformed, and so is a repeated `snapshotID`. Other
/// fields are skipped without being parsed into memory.
pub fn parse_root_value(key: &str, value: &[u8]) -> Result<SnapshotHash> {
    parse_root_reference(key, value).map(|(hash, _)| hash)
}

/// The snapshot a root value names and its position: `startPos.itemCount`, the transcript
/// position the snapshot was taken at (0 when the value has none).
pub fn parse_root_reference(key: &str, value: &[u8]) -> Result<(SnapshotHash, u64)> {
    let bad = |reason: String| Error::BadRoot { key: crate::error::shorten(key), reason };
    let first = value.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(bad("value is not a JSON object".into()));
    }
    let parsed: RootValue =
        serde_json::from_slice(value).map_err(|e| bad(format!("value is not snapshot JSON: {e}")))?;
    let hash = SnapshotHash::parse(&parsed.snapshot_id).map_err(|e| bad(e.to_string()))?;
    Ok((hash, parsed.start_pos.and_then(|p| p.item_count).unwrap_or(0)))
}

/// Formats a root value in Agoric's format.
pub fn format_root_value(hash: &SnapshotHash, item_count: u64) -> String {
    format!(r#"{{"snapshotID":"{hash}","startPos":{{"itemCount":{item_count}}}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

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
