//! Backlog: over the last full passes, garbage produced against garbage reclaimed. A budgeted
//! collector can fall behind a workload that makes garbage faster than the budget reclaims it
//! (NEAR refuses such configurations; Sui's pruner once fell 8 GB a day behind). The store
//! says so: a `falling_behind` flag in the status and metrics, and a warning when it rises.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Full passes the window holds.
const WINDOW: usize = 32;
/// Passes the window needs before it can judge.
const MIN_PASSES: usize = 8;

/// The backlog over the window of recent passes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Backlog {
    /// Full passes in the window, and the committed epochs they span.
    pub window_passes: u64,
    /// Committed epochs the window spans.
    pub window_epochs: u64,
    /// Garbage blobs that appeared in the window, and those swept in it.
    pub produced_blobs: u64,
    /// Garbage blobs swept in the window.
    pub reclaimed_blobs: u64,
    /// Bytes of garbage that appeared in the window.
    pub produced_bytes: u64,
    /// Bytes swept in the window.
    pub reclaimed_bytes: u64,
    /// Garbage blobs now minus at the start of the window.
    pub growth_blobs: i64,
    /// Passes of the window that left due blobs pending for the budget.
    pub budget_limited_passes: u64,
    /// Condemned blobs due but not yet deleted, now.
    pub pending: u64,
    /// With a budget: epochs to drain what is pending at the window's net rate (`None`: the
    /// net rate does not drain it, or nothing is pending).
    pub drain_epochs: Option<u64>,
    /// Garbage grew over a full window while most passes were budget-limited.
    pub falling_behind: bool,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    epoch: u64,
    garbage_blobs: u64,
    garbage_bytes: u64,
    swept: u64,
    swept_bytes: u64,
    pending: u64,
}

/// Keeps the window and decides the flag.
#[derive(Debug, Default)]
pub(crate) struct BacklogTracker {
    samples: VecDeque<Sample>,
    falling_behind: bool,
}

impl BacklogTracker {
    /// Takes in a full pass; returns the backlog after it.
    pub fn record(
        &mut self,
        epoch: u64,
        garbage_blobs: u64,
        garbage_bytes: u64,
        swept: u64,
        swept_bytes: u64,
        pending: u64,
    ) -> Backlog {
        self.samples.push_back(Sample { epoch, garbage_blobs, garbage_bytes, swept, swept_bytes, pending });
        while self.samples.len() > WINDOW {
            self.samples.pop_front();
        }
        let backlog = self.backlog();
        if backlog.falling_behind && !self.falling_behind {
            tracing::warn!(
                "gc is falling behind: {} garbage blobs more than {} epochs ago, {} of {} passes held back \
                 by the budget ({} pending); raise the budget or collect offline",
                backlog.growth_blobs,
                backlog.window_epochs,
                backlog.budget_limited_passes,
                backlog.window_passes,
                backlog.pending
            );
        } else if !backlog.falling_behind && self.falling_behind {
            tracing::info!("gc caught up: {} pending", backlog.pending);
        }
        self.falling_behind = backlog.falling_behind;
        backlog
    }

    /// The backlog over the current window.
    pub fn backlog(&self) -> Backlog {
        let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) else {
            return Backlog::default();
        };
        // The first sample is the baseline: what its pass swept happened before the window.
        let later = self.samples.iter().skip(1);
        let reclaimed_blobs: u64 = later.clone().map(|s| s.swept).sum();
        let reclaimed_bytes: u64 = later.clone().map(|s| s.swept_bytes).sum();
        let budget_limited = later.filter(|s| s.pending > 0).count() as u64;
        let growth_blobs = last.garbage_blobs as i64 - first.garbage_blobs as i64;
        let growth_bytes = last.garbage_bytes as i64 - first.garbage_bytes as i64;
        let produced_blobs = (growth_blobs + reclaimed_blobs as i64).max(0) as u64;
        let produced_bytes = (growth_bytes + reclaimed_bytes as i64).max(0) as u64;
        let window_epochs = last.epoch.saturating_sub(first.epoch);
        let passes = self.samples.len() as u64 - 1;
        let drain_epochs = if last.pending == 0 || window_epochs == 0 {
            None
        } else {
            // Net blobs removed per epoch over the window.
            let net = reclaimed_blobs as f64 - produced_blobs as f64;
            (net > 0.0).then(|| (last.pending as f64 * window_epochs as f64 / net).ceil() as u64)
        };
        let falling_behind = self.samples.len() >= MIN_PASSES
            && growth_blobs > 0
            && budget_limited * 2 > passes
            && last.pending > 0;
        Backlog {
            window_passes: passes,
            window_epochs,
            produced_blobs,
            reclaimed_blobs,
            produced_bytes,
            reclaimed_bytes,
            growth_blobs,
            budget_limited_passes: budget_limited,
            pending: last.pending,
            drain_epochs,
            falling_behind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_starved_budget_raises_the_flag_and_lifting_it_clears_it() {
        let mut t = BacklogTracker::default();
        // Two new garbage blobs per epoch, one swept per pass: pending grows.
        let mut garbage = 0u64;
        let mut last = Backlog::default();
        for epoch in 1..=20 {
            garbage += 2;
            garbage -= 1;
            last = t.record(epoch, garbage, garbage * 100, 1, 100, garbage / 2 + 1);
        }
        assert!(last.falling_behind, "{last:?}");
        assert_eq!(last.drain_epochs, None, "the net rate does not drain it");
        // An unlimited pass reclaims everything; a window of clean passes clears the flag.
        for epoch in 21..=60 {
            last = t.record(epoch, 1, 100, if epoch == 21 { garbage } else { 1 }, 100, 0);
        }
        assert!(!last.falling_behind, "{last:?}");
        assert_eq!(last.pending, 0);
    }

    #[test]
    fn a_keeping_up_budget_reports_a_drain_time() {
        let mut t = BacklogTracker::default();
        let mut pending = 80u64;
        let mut last = Backlog::default();
        for epoch in 1..=20 {
            // One new garbage blob per epoch, three swept per pass.
            pending = pending.saturating_sub(2);
            last = t.record(epoch, pending + 1, (pending + 1) * 10, 3, 30, pending);
        }
        assert!(!last.falling_behind, "{last:?}");
        assert!(last.drain_epochs.is_some_and(|e| e > 0), "{last:?}");
    }
}
