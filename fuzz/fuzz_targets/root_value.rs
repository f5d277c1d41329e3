//! The root value parser: any bytes give a hash or `BadRoot` naming the key; a parsed hash is
//! well formed and survives a format/parse round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swingstore::Error;
use swingstore::{format_root_value, parse_root_value};

fuzz_target!(|data: &[u8]| {
    match parse_root_value("v1.lastSnapshot", data) {
        Ok(hash) => {
            let hex = hash.to_hex();
            assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            let again = format_root_value(&hash, 0);
            assert_eq!(parse_root_value("k", again.as_bytes()).expect("formatted value parses"), hash);
        }
        Err(Error::BadRoot { key, .. }) => assert_eq!(key, "v1.lastSnapshot"),
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
});
