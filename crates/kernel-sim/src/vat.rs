//! Vats: what rebuilds a vat's heap ([`VatSpec`]: its origin and delivery model), and what the
//! kernel tracks per vat ([`Vat`]: counters, snapshot schedule, where its worker is).

use std::sync::Arc;

use swingstore::SnapshotHash;

use crate::heap::{self, HeapSource, Profile};
use crate::pager::Residency;

/// Where a vat starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A new vat: the source heap plus `code_bytes` of vat code.
    Fresh { code_bytes: u64 },
    /// A clone of a zygote snapshot (its first root names the zygote's blob).
    Clone { zygote: SnapshotHash },
}

/// Everything needed to rebuild a vat's heap from its last snapshot (or from scratch): a
/// page-in worker replays with a clone of it.
#[derive(Debug, Clone)]
pub struct VatSpec {
    pub id: u64,
    /// Key of the shared (lineage) deliveries.
    pub lineage: u64,
    pub source: Arc<Vec<u8>>,
    pub profile: Profile,
    pub origin: Origin,
    pub seed: u64,
    /// Cap on the base heap (a slice of the source), if any.
    pub heap_limit: Option<usize>,
}

impl VatSpec {
    /// Applies delivery `n` to `heap`.
    pub fn deliver(&self, heap: &mut Vec<u8>, n: u64) -> bool {
        let key = if n <= self.profile.shared { self.lineage } else { self.id };
        heap::deliver(heap, &self.source, self.seed, key, n, &self.profile)
    }

    /// The heap before any delivery (fresh vats only; clones start from their zygote's blob).
    pub fn base(&self) -> Option<Vec<u8>> {
        match self.origin {
            Origin::Fresh { code_bytes } => {
                Some(heap::base_heap(&self.source, self.seed, self.id, code_bytes, self.heap_limit))
            }
            Origin::Clone { .. } => None,
        }
    }

    /// Replays deliveries `from..=to` on `heap` (a transcript replay after a page-in).
    pub fn replay(&self, heap: &mut Vec<u8>, from: u64, to: u64) {
        for n in from..=to {
            self.deliver(heap, n);
        }
    }
}

/// One vat, as the kernel tracks it.
#[derive(Debug)]
pub struct Vat {
    pub spec: VatSpec,
    /// Deliveries made (the transcript's end position).
    pub deliveries: u64,
    /// Delivery count at the last snapshot (0: none, or the zygote's).
    pub snap_at: u64,
    /// The snapshot `vN.lastSnapshot` names, if any.
    pub last_snapshot: Option<SnapshotHash>,
    /// Snapshots this vat saved itself.
    pub own_snapshots: u64,
    /// Where its worker is (offline, loading, online).
    pub residency: Residency,
    /// Deliveries waiting for the page-in.
    pub queued: u64,
    /// Logical time of the last use (LRU).
    pub last_used: u64,
    /// The vat terminates itself after this many deliveries.
    pub terminate_after: Option<u64>,
}

impl Vat {
    pub fn new(spec: VatSpec, terminate_after: Option<u64>) -> Self {
        let last_snapshot = match &spec.origin {
            Origin::Clone { zygote } => Some(*zygote),
            Origin::Fresh { .. } => None,
        };
        Self {
            spec,
            deliveries: 0,
            snap_at: 0,
            last_snapshot,
            own_snapshots: 0,
            residency: Residency::Offline,
            queued: 0,
            last_used: 0,
            terminate_after,
        }
    }

    pub fn id(&self) -> u64 {
        self.spec.id
    }

    /// Whether the snapshot policy asks for a save now (Agoric's `snapshotInitial` then
    /// `snapshotInterval`, counted in deliveries since the last snapshot; an `initial` of 0
    /// means no early snapshot).
    pub fn snapshot_due(&self, initial: u64, interval: u64) -> bool {
        let since = self.deliveries - self.snap_at;
        let threshold = if self.own_snapshots == 0 && initial > 0 { initial } else { interval };
        threshold > 0 && since >= threshold
    }
}

/// A source heap for vat `index` when several are given.
pub fn pick_source(sources: &[HeapSource], index: u64) -> &HeapSource {
    &sources[(index as usize) % sources.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vat() -> Vat {
        let spec = VatSpec {
            id: 1,
            lineage: 1,
            source: Arc::new(vec![0; 4096]),
            profile: Profile { growth: 0, read_only: 0, shared: 0 },
            origin: Origin::Fresh { code_bytes: 0 },
            seed: 1,
            heap_limit: None,
        };
        Vat::new(spec, None)
    }

    #[test]
    fn snapshot_schedule_is_initial_then_interval() {
        let mut v = vat();
        v.deliveries = 2;
        assert!(!v.snapshot_due(3, 200));
        v.deliveries = 3;
        assert!(v.snapshot_due(3, 200));
        (v.snap_at, v.own_snapshots) = (3, 1);
        v.deliveries = 202;
        assert!(!v.snapshot_due(3, 200));
        v.deliveries = 203;
        assert!(v.snapshot_due(3, 200));
        // No initial snapshot: the first comes after a whole interval.
        let mut w = vat();
        w.deliveries = 3;
        assert!(!w.snapshot_due(0, 200));
        w.deliveries = 200;
        assert!(w.snapshot_due(0, 200));
    }
}
