//! Block buffers, pooled across saves and across loads (fresh pages cost ~3 µs each here), so
//! that memory stays at a few MiB whatever the snapshot size.

use std::sync::Mutex;

use super::frame::{BLOCK, LOAD_SLOTS, SLOTS, UNCOMPRESSED};

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Test hook: compressing a block that starts with these bytes panics.
#[cfg(test)]
pub(super) const PANIC_BLOCK: &[u8; 24] = b"test: a compressor panic";

/// One block on its way through the save pipeline.
pub(super) struct Slot {
    pub seq: u64,
    pub input: Vec<u8>,
    pub filled: usize,
    /// 4-byte block size, then the block data.
    pub output: Vec<u8>,
    pub out_len: usize,
    /// Compressing this block panicked: `output` holds nothing to write (the save fails).
    pub failed: bool,
}

impl Slot {
    pub fn new() -> Self {
        Self {
            seq: 0,
            input: vec![0u8; BLOCK],
            filled: 0,
            output: vec![0u8; 4 + lz4_flex::block::get_maximum_output_size(BLOCK)],
            out_len: 0,
            failed: false,
        }
    }

    /// Compresses `input[..filled]` into `output` as one frame data block (size prefix
    /// included), stored raw when compression does not pay.
    pub fn compress(&mut self) {
        let input = &self.input[..self.filled];
        #[cfg(test)]
        if input.starts_with(PANIC_BLOCK) {
            panic!("test: compressing a block that starts with PANIC_BLOCK");
        }
        let compressed = lz4_flex::block::compress_into(input, &mut self.output[4..]).ok();
        let (size, len) = match compressed {
            Some(n) if n < input.len() => (n as u32, n),
            _ => {
                self.output[4..4 + input.len()].copy_from_slice(input);
                (input.len() as u32 | UNCOMPRESSED, input.len())
            }
        };
        self.output[..4].copy_from_slice(&size.to_le_bytes());
        self.out_len = 4 + len;
    }
}

/// Block buffers kept between saves, and between loads.
static SAVE_POOL: Mutex<Vec<Slot>> = Mutex::new(Vec::new());
static LOAD_POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

pub(super) fn take_slots() -> Vec<Slot> {
    let mut pool = lock(&SAVE_POOL);
    let keep = pool.len().saturating_sub(SLOTS);
    let mut slots = pool.split_off(keep);
    drop(pool);
    slots.resize_with(SLOTS, Slot::new);
    slots
}

/// How many save slots the pool keeps: two saves' worth, since `snapgc import` (and a kernel
/// saving two vats at once) runs two saves side by side, and a save that found the pool empty
/// paid ~4 MiB of fresh pages (page faults and zeroing: ~3 % of an import's CPU; issue 25).
const SAVE_POOL_KEEP: usize = 2 * SLOTS;

pub(super) fn return_slots(slots: Vec<Slot>) {
    let mut pool = lock(&SAVE_POOL);
    let room = SAVE_POOL_KEEP.saturating_sub(pool.len());
    pool.extend(slots.into_iter().take(room));
}

/// Pooled decode buffers of exactly `len` bytes (only small ones are kept between loads).
pub(super) fn take_buf(len: usize) -> Vec<u8> {
    let mut buf = lock(&LOAD_POOL).pop().unwrap_or_default();
    buf.resize(len, 0);
    buf
}

pub(super) fn return_bufs(bufs: impl IntoIterator<Item = Vec<u8>>) {
    let mut pool = lock(&LOAD_POOL);
    for buf in bufs {
        if buf.len() <= 1 << 20 && pool.len() < 2 * LOAD_SLOTS {
            pool.push(buf);
        }
    }
}
