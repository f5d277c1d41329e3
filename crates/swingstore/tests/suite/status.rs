//! Status and metrics: what a store writes for its operator, and the backlog flag.

use std::time::{Duration, Instant};

use swingstore::{GcOptions, METRICS_FILE, STATUS_FILE, StoreStatus, SwingStore};

use crate::common::*;

/// Waits (at most 5 s) until `status.json` says `epoch`.
fn status_file_at(dir: &std::path::Path, epoch: u64) -> StoreStatus {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(bytes) = std::fs::read(dir.join(STATUS_FILE))
            && let Ok(status) = serde_json::from_slice::<StoreStatus>(&bytes)
            && status.epoch >= epoch
        {
            return status;
        }
        assert!(Instant::now() < deadline, "status.json never reached epoch {epoch}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn collections_write_the_status_and_metrics_an_operator_reads() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let a = store.save_bytes(&content(1))?;
    let b = store.save_bytes(&content(2))?;
    set_root(&store, 1, &a.hash);
    store.commit()?;
    store.gc()?;
    let status = store.status()?;
    assert_eq!((status.roots, status.live, status.blobs, status.garbage_blobs), (1, 1, 2, 1));
    assert_eq!(status.live_bytes, a.stored_bytes);
    assert_eq!(status.garbage_bytes, b.stored_bytes);
    assert!(!status.needs_attention());
    let written = status_file_at(dir.path(), 1);
    assert_eq!(written.blobs, 2);
    assert_eq!(written.pid, std::process::id());
    assert!(written.updated_unix_ms > 0);

    // The metrics parse (Prometheus text format 0.0.4) and carry the same figures.
    // (The writer renames status.json first, then the metrics file.)
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        if let Ok(text) = std::fs::read_to_string(dir.path().join(METRICS_FILE)) {
            break text;
        }
        assert!(Instant::now() < deadline, "metrics never written");
        std::thread::sleep(Duration::from_millis(50));
    };
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let value = |name: &str| {
        scrape.samples.iter().find(|s| s.metric == name).map(|s| match s.value {
            prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
    };
    assert_eq!(value("snapgc_garbage_bytes"), Some(b.stored_bytes as f64));
    assert_eq!(value("snapgc_live_snapshots"), Some(1.0));
    assert!(value("snapgc_swept_blobs_total").is_some());
    for name in ["snapgc_stored_bytes", "snapgc_gc_duration_seconds", "snapgc_backlog_falling_behind"] {
        assert!(
            text.contains(&format!("# HELP {name} ")) && text.contains(&format!("# TYPE {name} ")),
            "{name}"
        );
    }
    // A metrics file elsewhere (node_exporter's textfile directory), persisted.
    let elsewhere = temp_dir();
    let path = elsewhere.path().join("snapgc.prom");
    store.set_metrics_file(Some(&path))?;
    store.commit()?;
    store.gc()?;
    drop(store);
    assert!(path.exists(), "the final status is written at close");
    let store = SwingStore::open(dir.path(), swingstore::OpenOptions::default())?;
    assert_eq!(store.metrics_file()?, Some(path));
    Ok(())
}

#[test]
fn a_missing_live_blob_or_a_failed_close_needs_attention() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let a = store.save_bytes(&content(1))?;
    set_root(&store, 1, &a.hash);
    store.commit()?;
    std::fs::remove_file(dir.path().join("snapshots").join(format!("{}.lz4", a.hash))).expect("rm");
    store.gc()?;
    let status = store.status()?;
    assert_eq!(status.missing_live, 1);
    assert!(status.needs_attention());
    store.kv().set("v2.lastSnapshot", "not json");
    store.commit()?;
    assert!(store.gc().is_err());
    let status = store.status()?;
    assert!(status.failed_closed.as_deref().is_some_and(|w| w.contains("v2.lastSnapshot")), "{status:?}");
    Ok(())
}

#[test]
fn a_starving_budget_raises_the_backlog_flag_and_lifting_it_clears_it() -> swingstore::Result<()> {
    let dir = temp_dir();
    let store = SwingStore::create(dir.path())?;
    let mut n = 0u64;
    let mut block =
        |store: &SwingStore, saves: u64, budget: Option<u64>| -> swingstore::Result<swingstore::Backlog> {
            for _ in 0..saves {
                n += 1;
                // A vat replaces its snapshot: the old one becomes garbage.
                let info = store.save_bytes(&content(1000 + n))?;
                set_root(store, n % 4, &info.hash);
            }
            store.commit()?;
            store.gc_with(&GcOptions { grace: Some(0), budget, ..GcOptions::default() })?;
            Ok(store.status()?.backlog)
        };
    let mut last = swingstore::Backlog::default();
    for _ in 0..20 {
        last = block(&store, 3, Some(1))?;
    }
    assert!(last.falling_behind, "three new garbage blobs a block, one swept: {last:?}");
    assert!(last.pending > 0 && last.growth_blobs > 0);
    // Lift the budget: the next passes drain everything and the flag clears.
    for _ in 0..40 {
        last = block(&store, 3, None)?;
    }
    assert!(!last.falling_behind, "{last:?}");
    assert_eq!(last.pending, 0);
    Ok(())
}
