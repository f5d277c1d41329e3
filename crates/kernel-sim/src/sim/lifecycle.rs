//! Vat lifecycle, as the [`Kernel`] runs it: zygotes saved and dropped, vats created (fresh or
//! cloned), delivered to (saving snapshots on schedule), paged in (on a worker, joined at the
//! next block's start) and out (LRU eviction, restarts), and terminated.

use std::sync::Arc;

use swingstore::format_root_value;

use super::Kernel;
use crate::error::{Result, SimError};
use crate::heap::{self, HeapSource};
use crate::keys::{
    end_pos_key, key_prefix, options_key, root_key, span_key, start_pos_key, vatstore_key, zygote_key,
};
use crate::pager::{PageIn, Residency};
use crate::vat::{Origin, Vat, VatSpec, pick_source};
use crate::workload::{NewOrigin, NewVat};

/// The delivery key shared by every clone of a zygote (ids of vats are small numbers; this is
/// far above them).
fn lineage_key(zygote: &str) -> u64 {
    zygote.bytes().fold(0x7a79_676f_7465_0000u64, |acc, b| acc.rotate_left(8) ^ u64::from(b)) | (1 << 63)
}

impl Kernel<'_> {
    /// Joins last block's page-ins (orphaned ones too) and runs the queued deliveries of every
    /// vat that came online, in vat order.
    pub(super) fn finish_page_ins(&mut self) -> Result<()> {
        for load in std::mem::take(&mut self.orphan_loads) {
            load.finish()?;
        }
        for id in std::mem::take(&mut self.loading) {
            let Some(vat) = self.vats.get_mut(&id) else { continue };
            let Residency::Loading(load) = std::mem::replace(&mut vat.residency, Residency::Offline) else {
                continue;
            };
            vat.residency = Residency::Online(load.finish()?);
            self.online.insert(id);
            let queued = std::mem::take(&mut vat.queued);
            self.run_deliveries(id, queued)?;
        }
        Ok(())
    }

    /// Every page-in still in flight (orphaned ones first), their vats set offline: for
    /// [`drain`](Kernel::drain) to join.
    pub(super) fn take_page_ins(&mut self) -> Vec<PageIn> {
        let mut loads = std::mem::take(&mut self.orphan_loads);
        for id in std::mem::take(&mut self.loading) {
            if let Some(vat) = self.vats.get_mut(&id)
                && let Residency::Loading(load) = std::mem::replace(&mut vat.residency, Residency::Offline)
            {
                loads.push(load);
            }
        }
        loads
    }

    /// A node restart: every worker goes offline (loads in flight still finish next block).
    pub(super) fn restart(&mut self) {
        self.summary.restarts += 1;
        for id in std::mem::take(&mut self.online) {
            if let Some(vat) = self.vats.get_mut(&id) {
                vat.residency = Residency::Offline;
            }
        }
    }

    fn spec(
        &self,
        id: u64,
        lineage: u64,
        profile: heap::Profile,
        origin: Origin,
        source: &HeapSource,
    ) -> VatSpec {
        VatSpec {
            id,
            lineage,
            source: Arc::clone(&source.bytes),
            profile,
            origin,
            seed: self.config.seed,
            heap_limit: self.config.heap_limit,
        }
    }

    /// Saves the (limited) first source heap as zygote `name` and roots it.
    pub(super) fn create_zygote(&mut self, name: &str) -> Result<()> {
        let source = &self.sources[0];
        let bytes = heap::limited(&source.bytes, self.config.heap_limit);
        let info = self.store.save_bytes(&bytes)?;
        self.record_save(&info);
        self.store.kv().set(&zygote_key(name), &format_root_value(&info.hash, 0));
        self.zygotes.insert(name.to_owned(), info.hash);
        Ok(())
    }

    /// Deletes the zygote's own root: its blob lives as long as a clone's root names it.
    pub(super) fn drop_zygote(&mut self, name: &str) {
        self.store.kv().delete(&zygote_key(name));
        self.zygotes.remove(name);
    }

    /// A fresh vat starts online from its base heap; a clone starts offline, its root naming
    /// the zygote's blob.
    pub(super) fn create_vat(&mut self, new: NewVat) -> Result<()> {
        let kv = self.store.kv();
        let (origin, lineage, source) = match &new.origin {
            NewOrigin::Fresh { code_bytes } => {
                (Origin::Fresh { code_bytes: *code_bytes }, new.id, pick_source(self.sources, new.id))
            }
            NewOrigin::Clone { zygote } => {
                let hash = self.zygotes.get(zygote).copied().ok_or_else(|| {
                    SimError::Config(format!("clone v{} of zygote {zygote}, which is gone", new.id))
                })?;
                kv.set(&root_key(new.id), &format_root_value(&hash, 0));
                (Origin::Clone { zygote: hash }, lineage_key(zygote), &self.sources[0])
            }
        };
        let spec = self.spec(new.id, lineage, new.profile, origin, source);
        let id = new.id;
        kv.set(&options_key(id), &format!(r#"{{"name":"vat{id}","workerOptions":{{"type":"xsnap"}}}}"#));
        kv.set(&end_pos_key(id), "0");
        for i in 0..self.config.vatstore_keys {
            kv.set(&vatstore_key(id, i), &format!(r##"{{"body":"#{{\"slot\":{i}}}","slots":["o+{i}"]}}"##));
        }
        let mut vat = Vat::new(spec, new.terminate_after);
        if let Some(base) = vat.spec.base() {
            self.make_room(1);
            self.tick += 1;
            vat.last_used = self.tick;
            vat.residency = Residency::Online(base);
            self.online.insert(id);
        }
        self.vats.insert(id, vat);
        self.summary.vats_created += 1;
        Ok(())
    }

    /// Evicts least recently used online vats until `incoming` more fit.
    fn make_room(&mut self, incoming: usize) {
        let mut resident = self.online.len() + self.loading.len();
        if resident + incoming <= self.config.max_vats_online {
            return;
        }
        let mut lru: Vec<(u64, u64)> =
            self.online.iter().filter_map(|id| self.vats.get(id)).map(|v| (v.last_used, v.id())).collect();
        lru.sort_unstable();
        let mut victims = lru.into_iter();
        while resident + incoming > self.config.max_vats_online {
            let Some((_, id)) = victims.next() else { break };
            if let Some(vat) = self.vats.get_mut(&id) {
                vat.residency = Residency::Offline;
            }
            self.online.remove(&id);
            resident -= 1;
        }
    }

    /// `count` deliveries to vat `id`: run now if online, queued if loading; an offline vat is
    /// paged in first (from its last snapshot on a worker, or rebuilt by replay if it has none).
    pub(super) fn deliver(&mut self, id: u64, count: u64) -> Result<()> {
        let Some(vat) = self.vats.get_mut(&id) else { return Ok(()) };
        match vat.residency {
            Residency::Online(_) => self.run_deliveries(id, count),
            Residency::Loading(_) => {
                vat.queued += count;
                Ok(())
            }
            Residency::Offline => match vat.last_snapshot {
                None => {
                    // Never snapshotted: the worker starts from scratch and replays.
                    let mut heap = vat.spec.base().ok_or_else(|| SimError::PageIn {
                        vat: id,
                        hash: "-".into(),
                        reason: "a clone without a snapshot".into(),
                    })?;
                    vat.spec.replay(&mut heap, 1, vat.deliveries);
                    self.make_room(1);
                    if let Some(vat) = self.vats.get_mut(&id) {
                        vat.residency = Residency::Online(heap);
                        self.online.insert(id);
                    }
                    self.run_deliveries(id, count)
                }
                Some(hash) => {
                    self.make_room(1);
                    let Some(vat) = self.vats.get_mut(&id) else { return Ok(()) };
                    let spec = vat.spec.clone();
                    let (from, to) = (vat.snap_at + 1, vat.deliveries);
                    let replay = move |heap: &mut Vec<u8>| spec.replay(heap, from, to);
                    let load = PageIn::start(self.store, id, hash, self.config.page_in_delay, replay)?;
                    vat.residency = Residency::Loading(load);
                    vat.queued = count;
                    self.loading.insert(id);
                    self.summary.page_ins += 1;
                    Ok(())
                }
            },
        }
    }

    /// Runs `count` deliveries on an online vat, saving snapshots on schedule.
    fn run_deliveries(&mut self, id: u64, count: u64) -> Result<()> {
        let kv = self.store.kv();
        for _ in 0..count {
            let Some(vat) = self.vats.get_mut(&id) else { return Ok(()) };
            let Residency::Online(heap) = &mut vat.residency else { return Ok(()) };
            vat.deliveries += 1;
            vat.spec.deliver(heap, vat.deliveries);
            self.tick += 1;
            vat.last_used = self.tick;
            self.summary.deliveries += 1;
            kv.set(&end_pos_key(id), &vat.deliveries.to_string());
            if vat.terminate_after.is_some_and(|n| vat.deliveries >= n) {
                return self.terminate(id);
            }
            let due = vat.snapshot_due(self.config.snapshot_initial, self.config.snapshot_interval);
            let Residency::Online(heap) = &vat.residency else { return Ok(()) };
            if due {
                let info = self.store.save_bytes(heap)?;
                let from = vat.snap_at;
                vat.snap_at = vat.deliveries;
                vat.own_snapshots += 1;
                vat.last_snapshot = Some(info.hash);
                kv.set(&root_key(id), &format_root_value(&info.hash, vat.deliveries));
                kv.set(&start_pos_key(id), &vat.deliveries.to_string());
                kv.set(
                    &span_key(id, vat.own_snapshots),
                    &format!(r#"{{"startPos":{from},"endPos":{},"incarnation":0}}"#, vat.deliveries),
                );
                self.record_save(&info);
            }
        }
        Ok(())
    }

    /// Counts a save, and a new blob on disk unless it deduplicated.
    fn record_save(&mut self, info: &swingstore::SaveInfo) {
        self.summary.snapshots_saved += 1;
        self.summary.saved_raw_bytes += info.raw_bytes;
        if info.deduplicated {
            self.summary.snapshots_deduplicated += 1;
        } else {
            self.blobs += 1;
            self.stored_bytes += info.stored_bytes;
        }
        self.sizes.insert(info.hash, info.stored_bytes);
    }

    /// Deletes every key of the vat (its root included): its blob becomes garbage.
    pub(super) fn terminate(&mut self, id: u64) -> Result<()> {
        let Some(vat) = self.vats.remove(&id) else { return Ok(()) };
        if let Residency::Loading(load) = vat.residency {
            self.orphan_loads.push(load);
        }
        self.loading.remove(&id);
        self.online.remove(&id);
        let kv = self.store.kv();
        for (key, _) in kv.scan_prefix(&key_prefix(id))? {
            kv.delete(&key);
        }
        self.summary.vats_terminated += 1;
        Ok(())
    }
}
