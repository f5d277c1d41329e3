//! Workloads: what happens in each block (vat creations, deliveries, terminations), decided by
//! a seeded generator so one seed always gives one history.
//!
//! - `testnet`: 36 vats of three kinds, as on a real chain: a few busy ones whose heaps grow
//!   (zoe, bank, an AMM), moderately active contract vats, and quiet ones; now and then a quiet
//!   vat is terminated and a new one started.
//! - `zygote`: 1000 clones of one zygote snapshot, made at about N/250 per block. Every clone
//!   does the same first 20 deliveries (so their first snapshots are one blob), all in the block
//!   it is made (queued behind its page-in); about half terminate within those 20 deliveries,
//!   the rest diverge and keep working in bursts.
//! - `vattp`: one busy vat with small state that does not grow, 40 deliveries per block
//!   (12,000 deliveries in 300 blocks, a snapshot every 5 blocks at interval 200).
//! - `mixed`: all three at once.

use std::collections::BTreeMap;

use crate::heap::Profile;
use crate::vat::Vat;
use testkit::Rng;

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    Testnet,
    Zygote,
    Vattp,
    Mixed,
}

impl WorkloadKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Testnet => "testnet",
            Self::Zygote => "zygote",
            Self::Vattp => "vattp",
            Self::Mixed => "mixed",
        }
    }

    /// Blocks run when `--blocks` is not given.
    pub fn default_blocks(self) -> u64 {
        match self {
            Self::Testnet => 600,
            Self::Zygote | Self::Vattp | Self::Mixed => 300,
        }
    }

    /// Kernel restarts (every worker goes offline) when `--restart-every` is not given: the
    /// testnet node is restarted every 250 blocks, as validators are for upgrades.
    pub fn default_restart_every(self) -> u64 {
        match self {
            Self::Testnet | Self::Mixed => 250,
            Self::Zygote | Self::Vattp => 0,
        }
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a new vat starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewOrigin {
    Fresh { code_bytes: u64 },
    Clone { zygote: String },
}

/// A vat to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVat {
    pub id: u64,
    pub profile: Profile,
    pub origin: NewOrigin,
    pub terminate_after: Option<u64>,
}

/// One thing that happens in a block, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Save a zygote snapshot and root it under `zygote.<name>.snapshot`.
    CreateZygote {
        name: String,
    },
    /// Delete the zygote's own root (no more clones will be made from it).
    DropZygote {
        name: String,
    },
    CreateVat(NewVat),
    Deliver {
        vat: u64,
        count: u64,
    },
    Terminate {
        vat: u64,
    },
}

const BUSY: Profile = Profile { growth: 300, read_only: 20, shared: 0 };
const MODERATE: Profile = Profile { growth: 100, read_only: 100, shared: 0 };
const QUIET: Profile = Profile { growth: 0, read_only: 300, shared: 0 };
const VATTP: Profile = Profile { growth: 0, read_only: 20, shared: 0 };
/// Deliveries every clone of a zygote makes identically.
pub const CLONE_SHARED: u64 = 20;
const CLONE: Profile = Profile { growth: 150, read_only: 50, shared: CLONE_SHARED };
/// Blocks over which the zygote workload makes its clones.
pub const CLONE_BLOCKS: u64 = 250;

/// Hands out vat ids in creation order.
#[derive(Debug, Default)]
pub struct Ids(u64);

impl Ids {
    pub fn allocate(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

#[derive(Debug)]
enum Part {
    Testnet { n: u64, busy: Vec<u64>, moderate: Vec<u64>, quiet: Vec<u64> },
    Zygote { n: u64, made: u64, young: BTreeMap<u64, u64>, diverged: Vec<u64>, dropped: bool },
    Vattp { n: u64, vats: Vec<u64> },
}

/// A workload: one or more parts, with their generator.
#[derive(Debug)]
pub struct Workload {
    parts: Vec<Part>,
    rng: Rng,
}

fn fresh(id: u64, profile: Profile, code_bytes: u64) -> Event {
    Event::CreateVat(NewVat { id, profile, origin: NewOrigin::Fresh { code_bytes }, terminate_after: None })
}

impl Workload {
    /// `vats` overrides each part's vat count.
    pub fn new(kind: WorkloadKind, vats: Option<u64>, seed: u64) -> Self {
        let testnet = Part::Testnet { n: vats.unwrap_or(36), busy: vec![], moderate: vec![], quiet: vec![] };
        let zygote = Part::Zygote {
            n: vats.unwrap_or(1000),
            made: 0,
            young: BTreeMap::new(),
            diverged: vec![],
            dropped: false,
        };
        let vattp = Part::Vattp { n: vats.unwrap_or(1), vats: vec![] };
        let parts = match kind {
            WorkloadKind::Testnet => vec![testnet],
            WorkloadKind::Zygote => vec![zygote],
            WorkloadKind::Vattp => vec![vattp],
            WorkloadKind::Mixed => vec![testnet, vattp, zygote],
        };
        Self { parts, rng: Rng::derive(&[seed, 0x776f_726b]) }
    }

    /// The events of `block` (1-based). `alive` is the kernel's vat table (dead vats are gone
    /// from it).
    pub fn plan(&mut self, block: u64, ids: &mut Ids, alive: &BTreeMap<u64, Vat>) -> Vec<Event> {
        let mut events = Vec::new();
        let rng = &mut self.rng;
        for part in &mut self.parts {
            match part {
                Part::Testnet { n, busy, moderate, quiet } => {
                    for list in [&mut *busy, &mut *moderate, &mut *quiet] {
                        list.retain(|id| alive.contains_key(id));
                    }
                    if block == 1 {
                        for i in 0..*n {
                            let id = ids.allocate();
                            let (list, event) = match i % 6 {
                                0 => (&mut *busy, fresh(id, BUSY, 200_000)),
                                1 | 4 => (&mut *moderate, fresh(id, MODERATE, 100_000)),
                                _ => (&mut *quiet, fresh(id, QUIET, 40_000)),
                            };
                            list.push(id);
                            events.push(event);
                        }
                    }
                    for &vat in busy.iter() {
                        events.push(Event::Deliver { vat, count: rng.range(6, 14) });
                    }
                    for &vat in moderate.iter() {
                        if rng.chance(500, 1000) {
                            events.push(Event::Deliver { vat, count: rng.range(1, 6) });
                        }
                    }
                    for &vat in quiet.iter() {
                        if rng.chance(50, 1000) {
                            events.push(Event::Deliver { vat, count: rng.range(1, 2) });
                        }
                    }
                    // Churn: a contract instance ends and another starts.
                    if block > 1 && rng.chance(15, 1000) && !quiet.is_empty() {
                        let old = quiet.remove(rng.index(quiet.len()));
                        events.push(Event::Terminate { vat: old });
                        let id = ids.allocate();
                        quiet.push(id);
                        events.push(fresh(id, QUIET, 40_000));
                        events.push(Event::Deliver { vat: id, count: 3 });
                    }
                }
                Part::Zygote { n, made, young, diverged, dropped } => {
                    young.retain(|id, _| alive.contains_key(id));
                    diverged.retain(|id| alive.contains_key(id));
                    if block == 1 {
                        events.push(Event::CreateZygote { name: "z1".into() });
                    }
                    let target = (block * *n).div_ceil(CLONE_BLOCKS).min(*n);
                    while *made < target {
                        *made += 1;
                        let id = ids.allocate();
                        let terminate_after = rng.chance(500, 1000).then(|| rng.range(4, CLONE_SHARED));
                        events.push(Event::CreateVat(NewVat {
                            id,
                            profile: CLONE,
                            origin: NewOrigin::Clone { zygote: "z1".into() },
                            terminate_after,
                        }));
                        young.insert(id, 0);
                    }
                    if *made == *n && !*dropped && block > 1 {
                        *dropped = true;
                        events.push(Event::DropZygote { name: "z1".into() });
                    }
                    for &vat in diverged.iter() {
                        if rng.chance(50, 1000) {
                            events.push(Event::Deliver { vat, count: rng.range(20, 60) });
                        }
                    }
                    let mut grown = Vec::new();
                    for (&vat, planned) in young.iter_mut() {
                        let count = CLONE_SHARED - *planned;
                        events.push(Event::Deliver { vat, count });
                        *planned += count;
                        if *planned >= CLONE_SHARED {
                            grown.push(vat);
                        }
                    }
                    for vat in grown {
                        young.remove(&vat);
                        diverged.push(vat);
                    }
                }
                Part::Vattp { n, vats } => {
                    if block == 1 {
                        for _ in 0..*n {
                            let id = ids.allocate();
                            vats.push(id);
                            events.push(fresh(id, VATTP, 40_000));
                        }
                    }
                    for &vat in vats.iter() {
                        events.push(Event::Deliver { vat, count: 40 });
                    }
                }
            }
        }
        events
    }
}
