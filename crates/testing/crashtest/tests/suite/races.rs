//! A dedup save racing a collection: once `save` has returned, the blob must stay on disk at
//! least until the next commit, whatever the collection was doing meanwhile.

use std::time::Duration;

use anyhow::{Result, ensure};
use crashtest::{Rng, heap};
use swingstore::format_root_value;
use swingstore::{GcOptions, SwingStore};

#[test]
fn a_dedup_save_during_a_sweep_is_never_lost() -> Result<()> {
    let dir = crashtest::scratch_dir()?;
    let store = SwingStore::create(dir.path().join("store"))?;
    // Many live blobs make each pass's decision phase long enough for a save to land in it.
    for vat in 0..600u32 {
        let info = store.save_bytes(format!("filler {vat}").as_bytes())?;
        store.kv().set(&format!("v{vat}.lastSnapshot"), &format_root_value(&info.hash, 0));
    }
    store.commit()?;
    let mut rng = Rng::new(7);
    let mut lost = Vec::new();
    for i in 0..300u64 {
        let bytes = heap(3000, i);
        let x = store.save_bytes(&bytes)?.hash;
        store.commit()?; // x is now unreferenced and (grace 0) due
        let gc_store = store.clone();
        let gc = std::thread::spawn(move || {
            gc_store.gc_with(&GcOptions { grace: Some(0), ..GcOptions::default() })
        });
        std::thread::sleep(Duration::from_micros(rng.below(1500)));
        let again = store.save_bytes(&bytes)?;
        let report = gc.join().map_err(|_| anyhow::anyhow!("gc thread panicked"))??;
        ensure!(report.errors.is_empty(), "{report:?}");
        // No commit since the save returned: the blob is protected (saved in the open block).
        if !store.contains(&x) {
            lost.push((i, again.deduplicated));
        }
    }
    ensure!(lost.is_empty(), "blobs lost after a save returned (iteration, deduplicated): {lost:?}");
    Ok(())
}
