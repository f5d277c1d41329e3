//! The collector's rule for one blob, as a pure function of committed state (so the collector,
//! its dry run, `ls` and the property-test model all agree).
//!
//! With `C` the committed epoch, `G` the grace and `s` the blob's saved epoch, an unreferenced
//! blob is *protected* while `s > C` (saved in the open block) or `C - s < G`. Outside that
//! window the first collection condemns it at `C`; the first collection at `C >= condemned + G`
//! deletes it, provided it is still unreferenced and not leased.

use crate::blob::BlobMeta;

/// What to do with one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A committed root names it.
    Live,
    /// Would go, but a lease holds it. `condemned` is recorded as for [`Decision::Grace`].
    Leased { condemned: u64 },
    /// Unreferenced, inside its protection window until the collection at `until`.
    Young { until: u64 },
    /// Condemned (now or earlier) at `condemned`; deleted by the first collection at `until`.
    Grace { condemned: u64, until: u64 },
    /// Delete now. `condemned` is the epoch it was condemned at.
    Sweep { condemned: u64 },
}

/// Decides for one blob. `now` (offline pass) ignores protection and grace, not leases.
pub fn decide(meta: &BlobMeta, live: bool, leased: bool, epoch: u64, grace: u64, now: bool) -> Decision {
    if live {
        return Decision::Live;
    }
    let protected_until = meta.saved_epoch.saturating_add(grace);
    let protected = meta.saved_epoch > epoch || epoch < protected_until;
    let condemned = match meta.condemned_epoch {
        Some(c) if !protected => c,
        _ => epoch,
    };
    let due = condemned.saturating_add(grace);
    let wants_sweep = now || (!protected && epoch >= due);
    if wants_sweep {
        return if leased { Decision::Leased { condemned } } else { Decision::Sweep { condemned } };
    }
    if protected {
        Decision::Young { until: protected_until.max(epoch.saturating_add(1)) }
    } else {
        Decision::Grace { condemned, until: due }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(saved: u64, condemned: Option<u64>) -> BlobMeta {
        BlobMeta { raw_bytes: 1, stored_bytes: 1, saved_epoch: saved, condemned_epoch: condemned }
    }

    #[test]
    fn grace_zero_still_protects_the_open_block() {
        // Saved in the open block (committed epoch 4, saved 5).
        assert_eq!(decide(&meta(5, None), false, false, 4, 0, false), Decision::Young { until: 5 });
        // Once that block commits, G = 0 condemns and sweeps in one pass.
        assert_eq!(decide(&meta(5, None), false, false, 5, 0, false), Decision::Sweep { condemned: 5 });
    }

    #[test]
    fn condemn_then_sweep_after_grace() {
        let g = 2;
        assert_eq!(decide(&meta(3, None), false, false, 4, g, false), Decision::Young { until: 5 });
        assert_eq!(
            decide(&meta(3, None), false, false, 5, g, false),
            Decision::Grace { condemned: 5, until: 7 }
        );
        assert_eq!(
            decide(&meta(3, Some(5)), false, false, 6, g, false),
            Decision::Grace { condemned: 5, until: 7 }
        );
        assert_eq!(decide(&meta(3, Some(5)), false, false, 7, g, false), Decision::Sweep { condemned: 5 });
        assert_eq!(decide(&meta(3, Some(5)), false, true, 7, g, false), Decision::Leased { condemned: 5 });
        assert_eq!(decide(&meta(3, Some(5)), true, false, 7, g, false), Decision::Live);
    }

    #[test]
    fn now_ignores_protection_but_not_leases() {
        assert_eq!(decide(&meta(9, None), false, false, 8, 5, true), Decision::Sweep { condemned: 8 });
        assert_eq!(decide(&meta(9, None), false, true, 8, 5, true), Decision::Leased { condemned: 8 });
    }
}
