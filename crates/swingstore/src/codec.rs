//! The one place where our own records are encoded: a version byte, then bincode 2 (standard
//! config) with a decode size limit, so a damaged or hostile record is a typed error, never a
//! panic or a huge allocation.

use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};

/// Format version of every record written by this codec.
pub const RECORD_VERSION: u8 = 1;

/// Largest record we ever decode (config with many root patterns is the biggest).
const DECODE_LIMIT: usize = 64 * 1024;

/// Encodes `value` as `[RECORD_VERSION] ++ bincode(value)`.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut out = vec![RECORD_VERSION];
    let body = bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|e| Error::Codec { what: std::any::type_name::<T>().into(), reason: e.to_string() })?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// `Ok` if a record encoded as `bytes` is small enough for [`decode`] to read it back.
pub fn check_fits(bytes: &[u8], what: &str) -> Result<()> {
    let body = bytes.len().saturating_sub(1);
    if body > DECODE_LIMIT {
        return Err(Error::Config(format!(
            "the {what} would be a record of {body} bytes; at most {DECODE_LIMIT} can be read back"
        )));
    }
    Ok(())
}

/// Decodes a record written by [`encode`]; `what` names the record in errors.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    let err = |reason: String| Error::Codec { what: what.to_owned(), reason };
    let (&version, body) = bytes.split_first().ok_or_else(|| err("empty record".into()))?;
    if version != RECORD_VERSION {
        return Err(err(format!("unknown record version {version}")));
    }
    if body.len() > DECODE_LIMIT {
        return Err(err(format!("record of {} bytes exceeds the {DECODE_LIMIT}-byte limit", body.len())));
    }
    let config = bincode::config::standard().with_limit::<DECODE_LIMIT>();
    let (value, used) = bincode::serde::decode_from_slice(body, config).map_err(|e| err(e.to_string()))?;
    if used != body.len() {
        return Err(err(format!("{} trailing bytes", body.len() - used)));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::BlobMeta;

    #[test]
    fn round_trip() -> Result<()> {
        let meta = BlobMeta { raw_bytes: 1, stored_bytes: 2, saved_epoch: 3, condemned_epoch: Some(4) };
        let bytes = encode(&meta)?;
        assert_eq!(bytes[0], RECORD_VERSION);
        assert_eq!(decode::<BlobMeta>(&bytes, "meta")?, meta);
        Ok(())
    }

    #[test]
    fn damaged_records_are_typed_errors() -> Result<()> {
        let meta = BlobMeta { raw_bytes: 1, stored_bytes: 2, saved_epoch: 3, condemned_epoch: None };
        let good = encode(&meta)?;
        let mut wrong_version = good.clone();
        wrong_version[0] = 9;
        let truncated = &good[..good.len() - 1];
        let mut trailing = good.clone();
        trailing.push(0);
        // A varint length prefix claiming a huge vector must not allocate it.
        let huge = [RECORD_VERSION, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        for bad in [&[][..], &wrong_version, truncated, &trailing, &huge] {
            assert!(matches!(decode::<BlobMeta>(bad, "meta"), Err(Error::Codec { .. })));
            assert!(matches!(decode::<Vec<String>>(bad, "list"), Err(Error::Codec { .. })));
        }
        Ok(())
    }
}
