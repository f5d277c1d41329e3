//! Buffers reused across saves and loads: a chunk buffer that a save thread has drained, or
//! that `readInto` has emptied, serves the next one. Fresh memory costs a page fault per 4 KiB
//! the first time it is written (about as much CPU as the copy itself); a process that saves
//! and loads heaps one after another keeps reusing the same few megabytes instead.

use std::sync::{Mutex, MutexGuard};

/// Most buffers kept.
const MAX_BUFFERS: usize = 32;
/// Most bytes (capacity) kept.
const MAX_BYTES: usize = 12 << 20;

struct Kept {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

static KEPT: Mutex<Kept> = Mutex::new(Kept { buffers: Vec::new(), bytes: 0 });

fn kept() -> MutexGuard<'static, Kept> {
    KEPT.lock().unwrap_or_else(|p| p.into_inner())
}

/// An empty buffer with room for at least `capacity` bytes.
pub fn take(capacity: usize) -> Vec<u8> {
    let mut kept = kept();
    if let Some(i) =
        kept.buffers.iter().position(|b| b.capacity() >= capacity && b.capacity() <= capacity * 2)
    {
        let buffer = kept.buffers.swap_remove(i);
        kept.bytes -= buffer.capacity();
        return buffer;
    }
    drop(kept);
    Vec::with_capacity(capacity)
}

/// Keeps `buffer` for reuse (if there is room).
pub fn give(mut buffer: Vec<u8>) {
    let capacity = buffer.capacity();
    if capacity == 0 {
        return;
    }
    let mut kept = kept();
    if kept.buffers.len() < MAX_BUFFERS && kept.bytes + capacity <= MAX_BYTES {
        buffer.clear();
        kept.bytes += capacity;
        kept.buffers.push(buffer);
    }
}
