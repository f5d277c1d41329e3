//! A block of 1000 kv writes, committed durably, against a bare sled `apply_batch` + `flush`
//! of the same writes (not durable: sled's flush is `sync_file_range`) and against the same
//! plus an fsync of sled's log file (what durability costs at the least), in the same run.
//!
//! `cargo bench -p swingstore --bench commit`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use swingstore::SwingStore;

const WRITES: usize = 1000;
/// Keys already in both stores (a block lands in a populated tree).
const EXISTING: usize = 100_000;

fn key(i: usize) -> String {
    format!("v{}.vs.vom.o+d12/{}", i % 50, i)
}

fn benches(c: &mut Criterion) {
    // A real disk (fsync costs there what it costs a node), not tmpfs.
    let dir = tempfile::tempdir_in(
        std::env::var_os("SNAPGC_BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir),
    )
    .expect("tempdir");
    let store = SwingStore::create(dir.path().join("store")).expect("store");
    let bare = sled::Config::new().path(dir.path().join("bare")).open().expect("sled");
    let mut batch = sled::Batch::default();
    for i in 0..EXISTING {
        store.kv().set(&key(i), "{}");
        batch.insert(format!("k/{}", key(i)).as_bytes(), b"{}".as_slice());
    }
    store.commit().expect("commit");
    bare.apply_batch(batch).expect("batch");
    bare.flush().expect("flush");

    let mut group = c.benchmark_group("commit_1000");
    group.sample_size(40).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    let mut n = 0usize;
    // The bare block: the same 1000 writes as one sled batch, flushed.
    let bare_block = |n: usize| {
        let mut batch = sled::Batch::default();
        for i in 0..WRITES {
            let value = format!(r#"{{"block":{n},"i":{i}}}"#);
            batch.insert(format!("k/{}", key(i * 97 + n)).as_bytes(), value.as_bytes());
        }
        bare.apply_batch(batch).expect("batch");
        bare.flush().expect("flush")
    };
    group.bench_function("bare_sled_batch_flush", |b| {
        b.iter(|| {
            n += 1;
            black_box(bare_block(n))
        })
    });
    let bare_log = std::fs::File::open(dir.path().join("bare").join("db")).expect("sled's log");
    group.bench_function("bare_sled_batch_flush_fsync", |b| {
        b.iter(|| {
            n += 1;
            black_box(bare_block(n));
            bare_log.sync_all().expect("fsync");
        })
    });
    group.bench_function("store_set_commit", |b| {
        b.iter(|| {
            n += 1;
            for i in 0..WRITES {
                let value = format!(r#"{{"block":{n},"i":{i}}}"#);
                store.kv().set(&key(i * 97 + n), &value);
            }
            black_box(store.commit().expect("commit"))
        })
    });
    group.finish();
}

criterion_group!(commit, benches);
criterion_main!(commit);
