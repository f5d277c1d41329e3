//! Builds a store with VATS roots (and EXTRA other keys per vat) at DIR, for measuring the
//! `snapgc` CLI on it (docs/PERFORMANCE.md, target 1).
//!
//! `cargo run --release -p swingstore --example build_store -- --store DIR [VATS] [EXTRA]`

use anyhow::Context;
use swingstore::SwingStore;
use swingstore::format_root_value;

fn main() -> anyhow::Result<()> {
    const USAGE: &str = "usage: build_store --store DIR [VATS] [EXTRA]";
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let i = args.iter().position(|a| a == "--store").context(USAGE)?;
    anyhow::ensure!(i + 1 < args.len(), "{USAGE}");
    let dir = args.remove(i + 1);
    args.remove(i);
    anyhow::ensure!(args.len() <= 2, "{USAGE}");
    let mut args = args.into_iter();
    let vats: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5000);
    let extra: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(40);
    let store = SwingStore::create(&dir)?;
    let hashes = (0..64)
        .map(|i| Ok(store.save_bytes(format!("heap {i} ").repeat(100).as_bytes())?.hash))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for v in 1..=vats {
        store.kv().set(&format!("v{v}.lastSnapshot"), &format_root_value(&hashes[v % hashes.len()], 1));
        for k in 0..extra {
            store.kv().set(&format!("v{v}.vs.vom.o+d10/{k}"), r#"{"label":"entry"}"#);
        }
        if v % 5000 == 0 {
            store.commit()?;
        }
    }
    store.commit()?;
    let report = store.gc()?;
    println!("{} roots, {} live", report.roots, report.live);
    Ok(())
}
