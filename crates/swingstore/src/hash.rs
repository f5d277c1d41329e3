//! Snapshot names: the sha256 of a snapshot's uncompressed bytes, as 64 lowercase hex chars.
//!
//! Every hash that comes from outside (a root value, a CLI argument, a file name) goes through
//! [`SnapshotHash::parse`] before it can touch a path, so `../../etc/passwd` never reaches the
//! file system.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::Error;

/// A validated sha256 snapshot name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnapshotHash([u8; 32]);

impl SnapshotHash {
    /// Parses exactly 64 lowercase hex characters; anything else is rejected.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bytes = text.as_bytes();
        let well_formed =
            bytes.len() == 64 && bytes.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
        if !well_formed {
            return Err(Error::InvalidHash { text: text.chars().take(100).collect() });
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(|_| Error::InvalidHash { text: text.to_owned() })?;
        Ok(Self(out))
    }

    /// Wraps raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The sha256 of `data` (convenience for tests and small inputs).
    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    /// Lowercase hex form, the blob's name.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for SnapshotHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        // Cannot fail: the buffer is exactly twice the digest length.
        if hex::encode_to_slice(self.0, &mut buf).is_err() {
            return Err(fmt::Error);
        }
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for SnapshotHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnapshotHash({self})")
    }
}

impl FromStr for SnapshotHash {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abc_matches_the_standard_test_vector() {
        assert_eq!(
            SnapshotHash::of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn rejects_hostile_and_malformed_names() {
        let bad = [
            "../../etc/passwd",
            "",
            "ABC",
            &"A".repeat(64),
            &"a".repeat(63),
            &"a".repeat(65),
            &format!("{}/", "a".repeat(63)),
            &format!("..{}", "a".repeat(62)),
            &"g".repeat(64),
        ];
        for text in bad {
            assert!(
                matches!(SnapshotHash::parse(text), Err(Error::InvalidHash { .. })),
                "{text:?} was accepted"
            );
        }
    }

    #[test]
    fn round_trips_through_text() {
        let h = SnapshotHash::of(b"hello");
        assert_eq!(SnapshotHash::parse(&h.to_string()).ok(), Some(h));
        assert_eq!(h.to_hex(), h.to_string());
    }
}
