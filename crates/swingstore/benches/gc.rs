//! Targets 1 and 2 of docs/PERFORMANCE.md: the collector at 1k and 100k vats, with 0 and 40
//! other keys per vat, against a dense sled scan of the roots alone (the physical floor).
//!
//! `cargo bench -p swingstore --bench gc` (builds its stores once per run, in a temp dir:
//! the 100k-vat store with 40 keys per vat has 4.1 M kv rows and takes a minute to build).
//! `SNAPGC_BENCH_VATS=1000` limits it to the small stores.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use swingstore::{format_root_value, parse_root_value};

fn benches(c: &mut Criterion) {
    let max_vats: usize =
        std::env::var("SNAPGC_BENCH_VATS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let sizes: Vec<usize> = [1_000, 100_000].into_iter().filter(|n| *n <= max_vats).collect();
    for vats in sizes {
        for extra in [0, 40] {
            let built = common::build_gc_store(vats, extra);
            let store = &built.store;
            let label = format!("{vats}vats_{extra}keys");
            let mut group = c.benchmark_group("gc");
            group.sample_size(10).warm_up_time(Duration::from_millis(500));
            group.measurement_time(Duration::from_secs(if vats > 10_000 { 4 } else { 1 }));

            // Target 1: a commit that changed no root (untimed), then passes that skip.
            let mut n = 0u64;
            group.bench_function(BenchmarkId::new("skip", &label), |b| {
                b.iter_custom(|iters| {
                    n += 1;
                    store.kv().set("v1.vs.counter", &n.to_string());
                    store.commit().expect("commit");
                    let started = Instant::now();
                    for _ in 0..iters {
                        let report = store.gc().expect("gc");
                        assert!(report.skipped, "an unchanged root set must skip");
                    }
                    started.elapsed()
                })
            });

            // Target 2: the live set alone (what a full pass marks).
            group.bench_function(BenchmarkId::new("mark", &label), |b| {
                b.iter(|| black_box(swingstore::internals::mark(store).expect("mark")))
            });

            // A full pass: one root moved and committed (untimed), then mark + sweep.
            group.bench_function(BenchmarkId::new("full", &label), |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        n += 1;
                        let hash = built.hashes[n as usize % built.hashes.len()];
                        store.kv().set("v1.lastSnapshot", &format_root_value(&hash, n));
                        store.commit().expect("commit");
                        let started = Instant::now();
                        let report = store.gc().expect("gc");
                        spent += started.elapsed();
                        assert!(!report.skipped && report.swept == 0);
                    }
                    spent
                })
            });

            // The physical floor: a dense sled scan of the same root entries, alone in a tree;
            // and the same scan plus the JSON parse each root needs.
            group.bench_function(BenchmarkId::new("floor_scan", &label), |b| {
                b.iter(|| {
                    let mut bytes = 0usize;
                    for item in built.floor.scan_prefix(b"r/") {
                        let (k, v) = item.expect("scan");
                        bytes += k.len() + v.len();
                    }
                    black_box(bytes)
                })
            });
            group.bench_function(BenchmarkId::new("floor_scan_parse", &label), |b| {
                b.iter(|| {
                    let mut live = std::collections::HashSet::new();
                    for item in built.floor.scan_prefix(b"r/") {
                        let (k, v) = item.expect("scan");
                        let key = std::str::from_utf8(&k[2..]).expect("utf8");
                        live.insert(parse_root_value(key, &v).expect("root"));
                    }
                    black_box(live.len())
                })
            });
            group.finish();
        }
    }
}

criterion_group!(gc, benches);
criterion_main!(gc);
