//! Targets 3 and 4 of docs/PERFORMANCE.md: save and load of real XS heaps against the bare
//! lz4 compress loop and the bare sha256 loop over the same bytes, in the same run.
//!
//! `cargo bench -p swingstore --bench blob`; ratios: `python3 bench/summarize.py`.

mod common;

use std::hint::black_box;
use std::io::{self, Write};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use swingstore::SwingStore;

/// The block size the store writes (see blob.rs).
const BLOCK: usize = 256 << 10;

fn bare_lz4(data: &[u8], out: &mut [u8]) -> usize {
    let mut total = 0;
    for chunk in data.chunks(BLOCK) {
        total += lz4_flex::block::compress_into(chunk, out).unwrap_or(0);
    }
    total
}

fn benches(c: &mut Criterion) {
    let heaps = common::representative(common::heaps());
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SwingStore::create(dir.path().join("store")).expect("store");
    let mut out = vec![0u8; lz4_flex::block::get_maximum_output_size(BLOCK)];

    let mut save = c.benchmark_group("save");
    save.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    for heap in &heaps {
        save.throughput(Throughput::Bytes(heap.bytes.len() as u64));
        save.bench_with_input(BenchmarkId::new("bare_lz4", &heap.name), &heap.bytes, |b, data| {
            b.iter(|| black_box(bare_lz4(data, &mut out)))
        });
        save.bench_with_input(BenchmarkId::new("lz4_frame_encoder", &heap.name), &heap.bytes, |b, data| {
            // The previous pipeline's compressor: lz4_flex's FrameEncoder, 4 MiB blocks.
            let mut sink = Vec::with_capacity(data.len());
            b.iter(|| {
                sink.clear();
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max4MB)
                    .block_mode(lz4_flex::frame::BlockMode::Independent);
                let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, &mut sink);
                enc.write_all(data).expect("encode");
                enc.finish().expect("finish");
                black_box(sink.len())
            })
        });
        // Each iteration saves a new heap (first bytes changed), so nothing deduplicates:
        // hash, compress, temp file, fsync, metadata, rename, directory fsync.
        let mut varied = heap.bytes.clone();
        let mut n = 0u64;
        save.bench_function(BenchmarkId::new("store_save", &heap.name), |b| {
            b.iter(|| {
                n += 1;
                varied[..8].copy_from_slice(&n.to_le_bytes());
                black_box(store.save_bytes(&varied).expect("save"))
            })
        });
    }
    save.finish();

    let mut load = c.benchmark_group("load");
    load.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for heap in &heaps {
        let saved = store.save_bytes(&heap.bytes).expect("save");
        let mut packed = Vec::new();
        for chunk in heap.bytes.chunks(BLOCK) {
            packed.push(lz4_flex::block::compress(chunk));
        }
        load.throughput(Throughput::Bytes(heap.bytes.len() as u64));
        load.bench_with_input(BenchmarkId::new("bare_sha256", &heap.name), &heap.bytes, |b, data| {
            b.iter(|| black_box(Sha256::digest(data)))
        });
        load.bench_function(BenchmarkId::new("bare_lz4_decompress", &heap.name), |b| {
            let mut buf = vec![0u8; BLOCK];
            b.iter(|| {
                let mut total = 0;
                for block in &packed {
                    total += lz4_flex::block::decompress_into(block, &mut buf).unwrap_or(0);
                }
                black_box(total)
            })
        });
        load.bench_function(BenchmarkId::new("store_load_into", &heap.name), |b| {
            b.iter(|| black_box(store.load_into(&saved.hash, &mut io::sink()).expect("load")))
        });
        load.bench_function(BenchmarkId::new("store_blob_reader", &heap.name), |b| {
            b.iter(|| {
                let mut reader = store.load(&saved.hash).expect("open");
                black_box(io::copy(&mut reader, &mut io::sink()).expect("read"))
            })
        });
    }
    load.finish();
}

criterion_group!(blob, benches);
criterion_main!(blob);
