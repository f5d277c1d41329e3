//! The metadata decoder: any bytes give a value or a typed error (no panic, no huge
//! allocation); a decoded value re-encodes to something that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swingstore::internals::{decode, encode};
use swingstore::internals::GcState;
use swingstore::{BlobMeta, GcConfig};

fn check<T>(data: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = decode::<T>(data, "fuzz") {
        let again = encode(&value).expect("a decoded value encodes");
        assert_eq!(decode::<T>(&again, "fuzz").expect("re-encoded value decodes"), value);
    }
}

fuzz_target!(|data: &[u8]| {
    check::<BlobMeta>(data);
    check::<GcConfig>(data);
    check::<GcState>(data);
});
