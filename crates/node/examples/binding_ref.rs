//! The Rust library's own save and verified load of real heaps: the reference the binding's
//! benchmark (`js/swing-store/bench/binding.mjs`) compares itself with, run alternately with it.
//!
//! `cargo run --release -p snapgc-node --example binding_ref -- STORE_DIR ITERATIONS FILE...`
//!
//! Opens (creates) the store in STORE_DIR; for each file, ITERATIONS times: `save` from the
//! heap held in memory (a `Cursor`, as the binding's bench writes from a Buffer), then
//! `load_into` a reused `Vec` (the verified load: decode ∥ sha256, length and hash checked;
//! `loadMs`), and `load_into` a fresh `Vec` of the heap's size (`loadFreshMs`: new memory, as
//! a caller that keeps the bytes gets, and as the binding's `read()` hands out).
//! Prints one JSON line per file: the median milliseconds of each.

use std::io::Cursor;
use std::path::Path;
use std::time::Instant;

use swingstore::SwingStore;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: binding_ref STORE_DIR ITERATIONS FILE...";
    let dir = args.next().ok_or(usage)?;
    let iterations: usize = args.next().ok_or(usage)?.parse()?;
    let files: Vec<String> = args.collect();
    let store = SwingStore::create(&dir)?;
    let mut out = Vec::new();
    for file in &files {
        let heap = std::fs::read(file)?;
        let mut saves = Vec::new();
        let mut loads = Vec::new();
        let mut fresh_loads = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            let info = store.save(&mut Cursor::new(&heap[..]))?;
            saves.push(t.elapsed().as_secs_f64() * 1e3);
            out.clear();
            let t = Instant::now();
            let n = store.load_into(&info.hash, &mut out)?;
            loads.push(t.elapsed().as_secs_f64() * 1e3);
            if n as usize != heap.len() || out != heap {
                return Err(format!("{file}: the load returned other bytes").into());
            }
            let t = Instant::now();
            let mut fresh = Vec::with_capacity(heap.len());
            store.load_into(&info.hash, &mut fresh)?;
            fresh_loads.push(t.elapsed().as_secs_f64() * 1e3);
            drop(fresh);
        }
        let name = Path::new(file).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        println!(
            "{{\"heap\":{},\"rawBytes\":{},\"saveMs\":{:.4},\"loadMs\":{:.4},\"loadFreshMs\":{:.4}}}",
            serde_json::Value::String(name),
            heap.len(),
            median(saves),
            median(loads),
            median(fresh_loads)
        );
    }
    Ok(())
}
