//! Helpers shared by the test modules.

use std::sync::OnceLock;

use kernel_sim::heap::{self, HeapSource};

/// The embedded lockdown heap, decoded once for the whole binary.
pub fn embedded() -> HeapSource {
    static HEAP: OnceLock<HeapSource> = OnceLock::new();
    HEAP.get_or_init(|| heap::embedded().expect("the embedded fixture decodes")).clone()
}

/// The default heap sources of a run: the embedded heap.
pub fn sources() -> Vec<HeapSource> {
    vec![embedded()]
}
