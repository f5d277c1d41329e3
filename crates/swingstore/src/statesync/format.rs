//! The state-sync formats (docs/STATE-SYNC.md): export-data keys and values, byte-identical to
//! @agoric/swing-store 0.10.0's; the `export-data.jsonl` lines; the manifest; artifact names
//! and the file names an export directory gives them.

use std::io::{self, BufRead, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::hash::SnapshotHash;

/// The manifest of an export directory (cosmic-swingset's `--export-dir` layout).
pub const MANIFEST_FILE: &str = "export-manifest.json";
/// The export data of an export directory: one JSON array `[key, value]` per line.
pub const DATA_FILE: &str = "export-data.jsonl";
/// A vat's root key is `<vatID>` followed by this.
const VAT_ROOT_SUFFIX: &str = ".lastSnapshot";
/// Longest export-data line the importer reads (a kv value of Agoric's is a few KB at most).
pub(crate) const MAX_LINE_BYTES: usize = 64 << 20;

/// `export-manifest.json`: `{"blockHeight":N,"artifactMode":"operational",
/// "data":"export-data.jsonl","artifacts":[[name,file],…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The block (our committed epoch) the export is of.
    #[serde(rename = "blockHeight")]
    pub block_height: u64,
    /// The artifact mode the exporter used (informational).
    #[serde(rename = "artifactMode", default, skip_serializing_if = "Option::is_none")]
    pub artifact_mode: Option<String>,
    /// The export-data file, relative to the directory (absent when the export data travels
    /// elsewhere, as cosmic-swingset allows; our importer then refuses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// `[artifact name, file name]` pairs.
    pub artifacts: Vec<(String, String)>,
}

/// What an export-data key or an artifact name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Name<'a> {
    /// `kv.<key>`: a kvStore entry (as a record); the snapshot its root value names (as an
    /// artifact, for roots of patterns other than `<vatID>.lastSnapshot`).
    Kv(&'a str),
    /// `snapshot.<vatID>.<snapPos>`.
    Snapshot { vat: &'a str, pos: u64 },
    /// `snapshot.<vatID>.current`.
    Current { vat: &'a str },
    /// `transcript.…`: a transcript span (Agoric's; this store keeps none).
    Transcript,
    /// `bundle.…`: a code bundle (Agoric's; this store keeps none).
    Bundle,
}

/// Classifies a record key or artifact name; `Err` says why it is not one we know.
pub(crate) fn classify(name: &str) -> Result<Name<'_>, String> {
    let Some((tag, rest)) = name.split_once('.') else {
        return Err("unknown record type (no `<type>.` prefix)".into());
    };
    match tag {
        "kv" => Ok(Name::Kv(rest)),
        "transcript" => Ok(Name::Transcript),
        "bundle" => Ok(Name::Bundle),
        "snapshot" => {
            let mut parts = rest.split('.');
            let (Some(vat), Some(pos), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err("malformed snapshot name: expected snapshot.<vatID>.<snapPos>".into());
            };
            if vat.is_empty() {
                return Err("malformed snapshot name: empty vatID".into());
            }
            if pos == "current" {
                return Ok(Name::Current { vat });
            }
            parse_pos(pos)
                .map(|pos| Name::Snapshot { vat, pos })
                .ok_or_else(|| format!("malformed snapshot name: position {pos:?} is not a decimal number"))
        }
        other => Err(format!("unknown record type {:?}", crate::error::shorten(other))),
    }
}

/// A position as Agoric writes it (`${snapPos}` of a number): decimal, no sign, no leading zero.
fn parse_pos(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}

/// The vat a root key belongs to when it is a vat's root, `<vatID>.lastSnapshot` (a vatID has
/// no `.`: Agoric's names split on it).
pub(crate) fn vat_of_root_key(key: &str) -> Option<&str> {
    key.strip_suffix(VAT_ROOT_SUFFIX).filter(|vat| !vat.is_empty() && !vat.contains('.'))
}

/// `<vatID>.lastSnapshot`.
pub(crate) fn vat_root_key(vat: &str) -> String {
    format!("{vat}{VAT_ROOT_SUFFIX}")
}

/// `snapshot.<vatID>.<snapPos>`: a snapshot record's key and its artifact's name.
pub(crate) fn snapshot_name(vat: &str, pos: u64) -> String {
    format!("snapshot.{vat}.{pos}")
}

/// `snapshot.<vatID>.current`.
pub(crate) fn current_key(vat: &str) -> String {
    format!("snapshot.{vat}.current")
}

/// `kv.<key>`.
pub(crate) fn kv_name(key: &str) -> String {
    format!("kv.{key}")
}

/// A snapshot record's value exactly as Agoric's `JSON.stringify({vatID, snapPos, hash,
/// inUse})` writes it: that field order, no whitespace.
pub(crate) fn snapshot_value(vat: &str, pos: u64, hash: &SnapshotHash, in_use: bool) -> String {
    format!(
        r#"{{"vatID":{},"snapPos":{pos},"hash":"{hash}","inUse":{}}}"#,
        json_string(vat),
        u8::from(in_use)
    )
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}

/// A snapshot record, parsed and checked against its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SnapshotRecord {
    pub hash: SnapshotHash,
    pub in_use: bool,
}

#[derive(Deserialize)]
struct RawSnapshotRecord {
    #[serde(rename = "vatID")]
    vat_id: String,
    #[serde(rename = "snapPos")]
    snap_pos: u64,
    hash: String,
    #[serde(rename = "inUse")]
    in_use: u8,
}

/// Parses the value of record `snapshot.<vat>.<pos>`.
pub(crate) fn parse_snapshot_value(vat: &str, pos: u64, value: &str) -> Result<SnapshotRecord, String> {
    let raw: RawSnapshotRecord =
        serde_json::from_str(value).map_err(|e| format!("not a snapshot record ({e})"))?;
    if raw.vat_id != vat || raw.snap_pos != pos {
        return Err(format!(
            "the record says vatID {:?} snapPos {}, its key says {vat:?} {pos}",
            crate::error::shorten(&raw.vat_id),
            raw.snap_pos
        ));
    }
    let hash = SnapshotHash::parse(&raw.hash).map_err(|e| e.to_string())?;
    let in_use = match raw.in_use {
        0 => false,
        1 => true,
        n => return Err(format!("inUse is {n}, expected 0 or 1")),
    };
    Ok(SnapshotRecord { hash, in_use })
}

/// The position a `snapshot.<vat>.current` value names (`snapshot.<vat>.<pos>`).
pub(crate) fn parse_current_value(vat: &str, value: &str) -> Result<u64, String> {
    match classify(value) {
        Ok(Name::Snapshot { vat: v, pos }) if v == vat => Ok(pos),
        _ => Err(format!("expected snapshot.{vat}.<snapPos>, found {:?}", crate::error::shorten(value))),
    }
}

/// Writes one export-data line, `["key","value"]\n`, as `JSON.stringify([key, value])` does.
pub(crate) fn write_line(out: &mut dyn Write, key: &str, value: &str) -> io::Result<()> {
    out.write_all(b"[")?;
    serde_json::to_writer(&mut *out, key).map_err(io::Error::other)?;
    out.write_all(b",")?;
    serde_json::to_writer(&mut *out, value).map_err(io::Error::other)?;
    out.write_all(b"]\n")
}

/// The length of the line [`write_line`] writes for `key` and `value`.
pub(crate) fn line_len(key: &str, value: &str) -> io::Result<usize> {
    let mut counter = CountingSink(0);
    write_line(&mut counter, key, value)?;
    Ok(counter.0)
}

struct CountingSink(usize);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads export-data lines one at a time (bounded memory: the longest line).
pub(crate) struct LineReader<R> {
    input: R,
    line: Vec<u8>,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(input: R) -> Self {
        Self { input, line: Vec::new(), number: 0 }
    }

    /// The number (from 1) of the line the last record came from.
    pub fn line_number(&self) -> u64 {
        self.number
    }

    /// The next `(key, value)` (`None` value: a deletion), or why the line is not one;
    /// `Ok(None)` at the end.
    #[allow(clippy::type_complexity)]
    pub fn next_record(&mut self) -> io::Result<Option<Result<(String, Option<String>), String>>> {
        loop {
            self.line.clear();
            let limit = MAX_LINE_BYTES as u64 + 1;
            let n = (&mut self.input).take(limit).read_until(b'\n', &mut self.line)?;
            if n == 0 {
                return Ok(None);
            }
            self.number += 1;
            if self.line.len() > MAX_LINE_BYTES {
                return Ok(Some(Err(format!("line {} is over {MAX_LINE_BYTES} bytes", self.number))));
            }
            let text = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(
                serde_json::from_slice::<(String, Option<String>)>(text)
                    .map_err(|e| format!("line {} is not a [key, value] JSON array ({e})", self.number)),
            ));
        }
    }
}

/// A reader that hashes everything read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self { inner, hasher: Sha256::new(), bytes: 0 }
    }

    pub fn finish(self) -> ([u8; 32], u64) {
        (self.hasher.finalize().into(), self.bytes)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// A writer that hashes everything written through it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self { inner, hasher: Sha256::new(), bytes: 0 }
    }

    pub fn finish(mut self) -> io::Result<([u8; 32], u64)> {
        self.inner.flush()?;
        Ok((self.hasher.finalize().into(), self.bytes))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The file an export directory gives an artifact: its name when that is a plain, short file
/// name (`snapshot.v1.400`), else `artifact-<sha256 of the name>` (a `kv.<key>` artifact's key
/// may hold any character). No artifact name starts with `artifact-`, so the two never meet.
pub(crate) fn artifact_file_name(name: &str) -> String {
    let plain = name.len() <= 200
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name != MANIFEST_FILE
        && name != DATA_FILE;
    if plain { name.to_owned() } else { format!("artifact-{}", hex::encode(Sha256::digest(name.as_bytes()))) }
}

/// A manifest's file entry, if it is a plain file name inside the directory (no `/`, no `..`,
/// not absolute); `Err` says why not.
pub(crate) fn checked_file_name(file: &str) -> Result<&str, String> {
    use std::path::{Component, Path};
    let mut components = Path::new(file).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(c)), None) if c == file => Ok(file),
        _ if file.is_empty() => Err("the manifest names an empty file name".into()),
        _ => Err(format!(
            "the manifest names file {:?}, outside the export directory (only plain file names \
             inside it are accepted: no `/`, `..` or absolute path)",
            crate::error::shorten(file)
        )),
    }
}

/// The sha256 of an export's `export-data.jsonl`: the value a new node checks (as Agoric's
/// genesis does with `swingStoreExportDataHash`). Shown and parsed as `sha256:<64 hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExportDataHash(pub [u8; 32]);

impl ExportDataHash {
    /// Parses `sha256:<64 lowercase hex>` (or the bare hex).
    pub fn parse(text: &str) -> Result<Self, crate::Error> {
        let hex_part = text.strip_prefix("sha256:").unwrap_or(text);
        SnapshotHash::parse(hex_part).map(|h| Self(*h.as_bytes())).map_err(|_| {
            crate::Error::InvalidArgument(format!(
                "invalid export-data hash {:?}: expected sha256:<64 lowercase hex characters>",
                crate::error::shorten(text)
            ))
        })
    }

    /// The 64 hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for ExportDataHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl std::fmt::Debug for ExportDataHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExportDataHash({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_classify_as_agoric_writes_them() {
        assert_eq!(classify("kv.v1.vs.x"), Ok(Name::Kv("v1.vs.x")));
        assert_eq!(classify("snapshot.v1.400"), Ok(Name::Snapshot { vat: "v1", pos: 400 }));
        assert_eq!(classify("snapshot.v1.current"), Ok(Name::Current { vat: "v1" }));
        assert_eq!(classify("transcript.v1.0.5"), Ok(Name::Transcript));
        assert_eq!(classify("bundle.b1-abc"), Ok(Name::Bundle));
        for bad in [
            "snapshot.v1",
            "snapshot.v1.04",
            "snapshot.v1.4.5",
            "snapshot..4",
            "x.y",
            "nodot",
            "snapshot.v1.-1",
        ] {
            assert!(classify(bad).is_err(), "{bad}");
        }
        assert_eq!(vat_of_root_key("v12.lastSnapshot"), Some("v12"));
        assert_eq!(vat_of_root_key("zygote.z.lastSnapshot"), None);
        assert_eq!(vat_of_root_key(".lastSnapshot"), None);
    }

    #[test]
    fn snapshot_values_are_byte_identical_to_agoric() -> Result<(), String> {
        let h = SnapshotHash::of(b"x");
        let v = snapshot_value("v1", 400, &h, true);
        assert_eq!(v, format!(r#"{{"vatID":"v1","snapPos":400,"hash":"{h}","inUse":1}}"#));
        assert_eq!(parse_snapshot_value("v1", 400, &v)?, SnapshotRecord { hash: h, in_use: true });
        assert!(parse_snapshot_value("v2", 400, &v).is_err());
        assert!(parse_snapshot_value("v1", 401, &v).is_err());
        let mut line = Vec::new();
        write_line(&mut line, "kv.a\"b", "c\nd\u{1}").map_err(|e| e.to_string())?;
        assert_eq!(line, b"[\"kv.a\\\"b\",\"c\\nd\\u0001\"]\n");
        Ok(())
    }

    #[test]
    fn manifest_files_must_stay_inside_the_directory() {
        assert_eq!(checked_file_name("snapshot.v1.4"), Ok("snapshot.v1.4"));
        for bad in ["../x", "/etc/passwd", "a/b", "..", ".", "", "a/../b", "./a"] {
            assert!(checked_file_name(bad).is_err(), "{bad}");
        }
        assert_eq!(artifact_file_name("snapshot.v1.4"), "snapshot.v1.4");
        assert!(artifact_file_name("kv.a/b").starts_with("artifact-"));
        assert!(artifact_file_name(DATA_FILE).starts_with("artifact-"));
    }
}
