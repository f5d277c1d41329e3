//! The kernel-like workload a child process runs until it is killed.
//!
//! Each block touches a few vats: a new heap (save + root change), the same heap again (an
//! identical re-save, Agoric #5901), an earlier heap (dedup onto a blob that may be condemned),
//! a termination (root delete), or an unrooted save (garbage); plus non-root kv noise. Some
//! blocks are aborted. Every commit is logged (`P` before, `C` after, fsynced). After most
//! commits it collects with a small random grace and budget, sometimes pages a heap in under a
//! lease, and now and then closes and reopens the store cleanly.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, ensure};
use swingstore::failpoint::{self, Action};
use swingstore::format_root_value;
use swingstore::{GcOptions, SnapshotHash, SwingStore};

use crate::journal::{Kind, LogWriter, Roots};
use crate::{Rng, big_value, committed_roots, heap, item_count, root_key, vat_of};

/// Vats the workload uses (`v1` … `vVATS`).
pub const VATS: u64 = 8;

pub struct Options {
    pub store: PathBuf,
    pub log: PathBuf,
    pub seed: u64,
    /// Abort the process at the `n`-th hit (1-based) of this failpoint.
    pub crash_at: Option<(&'static str, u64)>,
    /// Stop (exit 0) after this many blocks.
    pub max_blocks: u64,
}

/// Arms `point` so that its `nth` hit aborts the process (a crash at that exact spot).
pub fn arm_crash(point: &'static str, nth: u64) {
    let hits = Arc::new(AtomicU64::new(0));
    failpoint::set(
        point,
        Action::Call(Arc::new(move || {
            if hits.fetch_add(1, Ordering::SeqCst) + 1 >= nth {
                std::process::abort();
            }
        })),
    );
}

#[derive(Clone, Copy)]
struct VatRoot {
    version: u64,
    hash: SnapshotHash,
}

fn model_roots(model: &BTreeMap<u32, VatRoot>) -> Roots {
    model.iter().map(|(vat, r)| (root_key(*vat), r.hash.to_hex())).collect()
}

fn read_model(store: &SwingStore) -> Result<BTreeMap<u32, VatRoot>> {
    let mut model = BTreeMap::new();
    for (key, hex) in committed_roots(store)? {
        let value = store.kv().get_committed(&key)?.unwrap_or_default();
        let (Some(vat), Some(version)) = (vat_of(&key), item_count(&value)) else { continue };
        model.insert(vat, VatRoot { version, hash: SnapshotHash::parse(&hex)? });
    }
    Ok(model)
}

/// The vat and version of a heap blob (its first line says `vat <vat> version <n>`).
fn heap_header(store: &SwingStore, hash: &SnapshotHash) -> Option<(u32, u64)> {
    use std::io::Read;
    let mut head = [0u8; 48];
    let mut reader = store.load(hash).ok()?;
    let n = reader.read(&mut head).ok()?;
    let text = String::from_utf8_lossy(&head[..n]);
    let rest = text.strip_prefix("vat ")?;
    let (vat, rest) = rest.split_once(" version ")?;
    Some((vat.parse().ok()?, rest.split('\n').next()?.parse().ok()?))
}

/// A heap of `vat` already on disk, and its version (for a clone).
fn existing_heap_of(store: &SwingStore, vat: u32) -> Result<Option<(u64, SnapshotHash)>> {
    for blob in store.list_blobs()? {
        let hash = SnapshotHash::parse(&blob.hash)?;
        if !store.contains(&hash) {
            continue;
        }
        if let Some((of, version)) = heap_header(store, &hash)
            && of == vat
        {
            return Ok(Some((version, hash)));
        }
    }
    Ok(None)
}

/// Heaps of real vats in the blob directory that no committed root names: after a kill, the
/// ones the killed process saved and never committed (their metadata may be lost with it, so
/// the directory is read, not the store's listing; they may never have been synced either).
fn uncommitted_heaps(
    store: &SwingStore,
    dir: &std::path::Path,
    model: &BTreeMap<u32, VatRoot>,
) -> Result<Vec<(u32, u64, SnapshotHash)>> {
    let named: std::collections::HashSet<SnapshotHash> = model.values().map(|r| r.hash).collect();
    let mut out = Vec::new();
    let blobs = dir.join("snapshots");
    let Ok(entries) = std::fs::read_dir(&blobs) else { return Ok(out) };
    for entry in entries {
        let name = entry.with_context(|| format!("listing {}", blobs.display()))?.file_name();
        let hash =
            name.to_str().and_then(|n| n.strip_suffix(".lz4")).and_then(|h| SnapshotHash::parse(h).ok());
        let Some(hash) = hash else { continue };
        if named.contains(&hash) || !store.contains(&hash) {
            continue;
        }
        if let Some((vat, version)) = heap_header(store, &hash)
            && (1..=VATS).contains(&u64::from(vat))
        {
            out.push((vat, version, hash));
        }
    }
    Ok(out)
}

/// Called on the store after every open of [`run`] (e.g. to attach an archive).
pub type OpenHook = fn(&SwingStore) -> Result<()>;

static OPEN_HOOK: std::sync::OnceLock<OpenHook> = std::sync::OnceLock::new();

/// Sets the hook [`run`] calls after each open of the store (once per process).
pub fn set_open_hook(hook: OpenHook) {
    let _ = OPEN_HOOK.set(hook);
}

fn open_store(path: &std::path::Path) -> Result<SwingStore> {
    let store = SwingStore::create(path).context("opening the store")?;
    if let Some(hook) = OPEN_HOOK.get() {
        hook(&store)?;
    }
    Ok(store)
}

pub fn run(options: &Options) -> Result<()> {
    let mut rng = Rng::new(options.seed);
    let mut store = open_store(&options.store)?;
    if let Some((point, nth)) = options.crash_at {
        arm_crash(point, nth);
    }
    let mut log = LogWriter::append(&options.log)?;
    let mut model = read_model(&store)?;
    // Recently used versions per vat, to return to an earlier heap.
    let mut history: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for (vat, r) in &model {
        history.entry(*vat).or_default().push(r.version);
    }

    // Large values: on by default; the power-loss harness decides per child (see its notes).
    let big_values = std::env::var("CRASHTEST_BIG_VALUES").map_or(true, |v| v == "1");
    // What the last process saved and never committed, if it was killed.
    let mut leftovers = uncommitted_heaps(&store, &options.store, &model)?;
    for _ in 0..options.max_blocks {
        let before = model.clone();
        let mut ops = rng.range(1, 4);
        if !leftovers.is_empty() {
            // A block that only clones onto a heap the killed process saved but never
            // committed: no save of its own makes the commit sync the blob area, so only the
            // store's sync of it at an unclean open (`open-blobs`) makes that blob's bytes and
            // name durable before a root names it.
            let (vat, version, hash) = leftovers.swap_remove(rng.below(leftovers.len() as u64) as usize);
            store.kv().set(&root_key(vat), &format_root_value(&hash, version));
            model.insert(vat, VatRoot { version, hash });
            ops = 0;
        }
        leftovers.clear();
        for _ in 0..ops {
            let vat = rng.range(1, VATS) as u32;
            let current = model.get(&vat).map(|r| r.version);
            let roll = rng.below(100);
            let version = if roll < 50 {
                Some(rng.next_u64() % 1_000_000_000)
            } else if roll < 65 {
                // The delivery left the heap unchanged: the same bytes again.
                Some(current.unwrap_or_else(|| rng.next_u64() % 1_000_000_000))
            } else if roll < 80 {
                let past = history.get(&vat).cloned().unwrap_or_default();
                Some(if past.is_empty() { rng.next_u64() % 1_000_000_000 } else { *rng.pick(&past) })
            } else if roll < 84 {
                // A clone: the vat's root moves to a snapshot already on disk, without a save
                // (as a kernel points a new vat at a zygote). It may be one a killed process
                // saved but never committed: after an unclean open only the store's own sync
                // of the blob area makes it durable.
                if let Some((version, hash)) = existing_heap_of(&store, vat)? {
                    store.kv().set(&root_key(vat), &format_root_value(&hash, version));
                    model.insert(vat, VatRoot { version, hash });
                }
                None
            } else if roll < 90 {
                // Termination.
                if model.remove(&vat).is_some() {
                    store.kv().delete(&root_key(vat));
                }
                None
            } else {
                // A save whose root never lands (garbage written in this block).
                store.save_bytes(&heap(1000 + vat, rng.next_u64()))?;
                None
            };
            if let Some(version) = version {
                let info = store.save_bytes(&heap(vat, version))?;
                store.kv().set(&root_key(vat), &format_root_value(&info.hash, version));
                model.insert(vat, VatRoot { version, hash: info.hash });
                let past = history.entry(vat).or_default();
                past.push(version);
                if past.len() > 4 {
                    past.remove(0);
                }
            }
            store.kv().set(&format!("v{vat}.vs.c{}", rng.below(50)), &rng.next_u64().to_string());
            if big_values && rng.chance(4, 100) {
                // A large value (chunked by the kv store: sled would keep it in a file of its own).
                store.kv().set(&format!("v{vat}.vs.big"), &big_value(rng.range(150_000, 400_000) as usize));
            }
        }

        if rng.chance(6, 100) {
            store.abort();
            model = before;
        } else {
            let epoch = store.epoch() + 1;
            let roots = model_roots(&model);
            log.write(Kind::Pending, epoch, &roots)?;
            let committed = store.commit()?;
            ensure!(committed == epoch, "commit returned epoch {committed}, expected {epoch}");
            log.write(Kind::Committed, epoch, &roots)?;
        }

        if rng.chance(3, 100) && store.kv().staged_len() == 0 {
            // An offline pass, as `snapgc gc --now` on a stopped node (no block open, nothing
            // saved since the commit): it deletes orphans without metadata, whose unlinks a
            // crash can undo; only the open-session marker then makes the next open list them.
            let _ = store.gc_with(&GcOptions { now: true, ..GcOptions::default() });
        }
        if rng.chance(85, 100) {
            let options = GcOptions {
                grace: *rng.pick(&[None, Some(0), Some(1), Some(2)]),
                budget: *rng.pick(&[None, None, Some(1), Some(2)]),
                scan: rng.chance(5, 100),
                dry_run: rng.chance(3, 100),
                ..GcOptions::default()
            };
            store.gc_with(&options)?;
        }
        if rng.chance(10, 100)
            && let Some(r) = model.values().nth(rng.below(model.len().max(1) as u64) as usize)
        {
            // A page-in: lease, then load and verify.
            let _lease = store.lease(r.hash);
            store.verify_blob(&r.hash)?;
        }
        if rng.chance(2, 100) {
            // A clean close and reopen (the next open needs no scan).
            drop(store);
            store = open_store(&options.store).context("reopening the store")?;
        }
    }
    Ok(())
}
