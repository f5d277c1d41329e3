//! Root key patterns (an operator-supplied configuration, matched against every key a commit
//! writes): compiling any pattern and matching any key must be quick and must not panic.
//! Input: `<pattern>\n<key>`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swingstore::RootPatterns;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some((pattern, key)) = text.split_once('\n') else { return };
    if let Ok(patterns) = RootPatterns::new(&[pattern]) {
        let matched = patterns.is_root(key);
        // A pattern without '*' matches exactly itself.
        if !pattern.contains('*') {
            assert_eq!(matched, key == pattern);
        }
    }
});
