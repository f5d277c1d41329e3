//! Targets 1 and 2 of docs/PERFORMANCE.md, measured interleaved (robust on a busy machine):
//! builds the four stores (1k / 100k vats x 0 / 40 other keys per vat), then per round times a
//! skipped pass (after a commit that changed no root), a mark, a full pass (after a commit that
//! moved one root) and the dense floor scan, and prints medians as JSON.
//!
//! `cargo run --release -p swingstore --example gc_probe -- [ROUNDS] [MAX_VATS]`

#[path = "../benches/common/mod.rs"]
mod common;

use std::time::Instant;

use swingstore::format_root_value;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let m = xs.get(xs.len() / 2).copied().unwrap_or(0.0);
    (m * 100.0).round() / 100.0
}

fn us(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e6
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(15);
    let max_vats: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100_000);
    let mut out = serde_json::Map::new();
    for vats in [1_000usize, 100_000].into_iter().filter(|v| *v <= max_vats) {
        let stores = [common::build_gc_store(vats, 0), common::build_gc_store(vats, 40)];
        let mut m: [[Vec<f64>; 6]; 2] = Default::default();
        let mut n = 0u64;
        for _ in 0..rounds {
            for (i, built) in stores.iter().enumerate() {
                let store = &built.store;
                n += 1;
                // A commit that changed no root, then a pass: it must skip.
                store.kv().set("v1.vs.counter", &n.to_string());
                store.commit()?;
                let t = Instant::now();
                let report = store.gc()?;
                m[i][0].push(us(t));
                m[i][1].push(report.mark_us as f64);
                anyhow::ensure!(report.skipped, "expected a skipped pass");
                let t = Instant::now();
                swingstore::internals::mark(store)?;
                m[i][2].push(us(t));
                // A commit that moved one root, then a full pass.
                let hash = built.hashes[n as usize % built.hashes.len()];
                store.kv().set("v1.lastSnapshot", &format_root_value(&hash, n));
                store.commit()?;
                let t = Instant::now();
                let report = store.gc()?;
                m[i][3].push(us(t));
                m[i][4].push(report.mark_us as f64);
                anyhow::ensure!(!report.skipped, "expected a full pass");
                let t = Instant::now();
                let mut count = 0usize;
                for item in built.floor.scan_prefix(b"r/") {
                    let (k, v) = item?;
                    count += usize::from(!k.is_empty() && !v.is_empty());
                }
                m[i][5].push(us(t));
                anyhow::ensure!(count == vats);
            }
        }
        for (i, extra) in [0, 40].into_iter().enumerate() {
            let [skip, skip_mark, mark, full, full_mark, floor] = m[i].clone();
            out.insert(
                format!("{vats}vats_{extra}keys"),
                serde_json::json!({
                    "skip_us": median(skip), "skip_report_mark_us": median(skip_mark),
                    "mark_us": median(mark), "full_us": median(full), "full_report_mark_us": median(full_mark),
                    "floor_scan_us": median(floor),
                }),
            );
        }
        let get =
            |extra: &str, what: &str| out[&format!("{vats}vats_{extra}keys")][what].as_f64().unwrap_or(0.0);
        out.insert(
            format!("{vats}vats_ratios"),
            serde_json::json!({
                "mark_40_over_0": ((get("40", "mark_us") / get("0", "mark_us")) * 100.0).round() / 100.0,
                "full_40_over_0": ((get("40", "full_us") / get("0", "full_us")) * 100.0).round() / 100.0,
                "mark_over_floor_0": ((get("0", "mark_us") / get("0", "floor_scan_us")) * 100.0).round() / 100.0,
            }),
        );
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
