//! Writes that reach sled: the commit of a block (atomic, durable, then the epoch and the root
//! index move), a configuration change (guarded, with its root index rebuilt), and the import's
//! unstaged writes.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::{KvStore, Staged, chunks, lock};
use crate::codec;
use crate::config::{ConfigChange, GcConfig};
use crate::durability::SyncStep;
use crate::error::{Error, Result};
use crate::failpoint::{self, points};
use crate::roots::history::RootUse;
use crate::roots::pattern::RootPatterns;
use crate::schema::{CONFIG_KEY, EPOCH_KEY, GC_STATE_KEY, ROOT_GEN_KEY};

impl KvStore {
    /// State-sync import only, into a store marked as not yet imported (which refuses to
    /// open): writes plain kv pairs (`None` deletes) straight to sled in one batch, outside
    /// any block, so that an import of a million keys never holds them all in memory. Root
    /// keys are refused: they go through the import's one commit (root index, history). Not
    /// synced here: that commit's sync makes these writes durable with it.
    pub(crate) fn write_unstaged(&self, writes: &BTreeMap<String, Option<String>>) -> Result<()> {
        self.durability.check()?;
        let _commit = self.commit_guard();
        if let Some(key) = writes.keys().find(|k| self.is_root(k)) {
            return Err(Error::InvalidArgument(format!(
                "internal: root key {} in an unstaged write",
                crate::error::shorten(key)
            )));
        }
        let mut batch = sled::Batch::default();
        let mut chunked = lock(&self.chunked);
        for (key, value) in writes {
            let now_chunked =
                chunks::stage_write(&mut batch, &self.db, key, value.as_deref(), chunked.contains(key))?;
            if now_chunked {
                chunked.insert(key.clone());
            } else {
                chunked.remove(key);
            }
        }
        self.db.apply_batch(batch).map_err(|e| self.durability.poison(e.into()))
    }

    /// Stages root-history records for the next commit's batch, written before the block's
    /// own writes (so a root of the block that names the same key and position wins).
    pub(crate) fn stage_history(&self, uses: Vec<RootUse>) {
        lock(&self.pending_history).extend(uses);
    }

    /// Applies the open block atomically and durably, advancing the epoch. Returns the new epoch.
    /// Only through [`SwingStore::commit`](crate::SwingStore::commit), whose `before_apply`
    /// checks the staged roots and makes the block's blobs durable with the block closed to
    /// new writes. An error before the batch leaves the block staged; a failure of the batch
    /// or of its sync poisons the handle, and neither the epoch nor the root index moves.
    pub(crate) fn commit(&self, before_apply: impl FnOnce(&Staged) -> Result<()>) -> Result<u64> {
        self.durability.check()?;
        let _commit = self.commit_guard();
        let mut staged = lock(&self.staged);
        before_apply(&staged)?;
        let mut batch = sled::Batch::default();
        let pending_history = std::mem::take(&mut *lock(&self.pending_history));
        for u in &pending_history {
            crate::roots::history::stage_use(&mut batch, &u.key, u.position, &u.hash);
        }
        let mut roots_touched = false;
        let mut chunked_now = Vec::new();
        {
            let roots = self.roots.read().unwrap_or_else(|p| p.into_inner());
            let was_chunked = lock(&self.chunked);
            for (key, value) in staged.iter() {
                let chunked = chunks::stage_write(
                    &mut batch,
                    &self.db,
                    key,
                    value.as_deref(),
                    was_chunked.contains(key),
                )?;
                chunked_now.push((key, chunked));
                roots_touched |=
                    roots.stage(&mut batch, key, value.as_deref(), self.committed_epoch() + 1)?;
            }
        }
        let epoch = self.committed_epoch() + 1;
        let root_generation = self.root_generation() + u64::from(roots_touched);
        batch.insert(EPOCH_KEY, &epoch.to_be_bytes());
        batch.insert(ROOT_GEN_KEY, &root_generation.to_be_bytes());
        self.db.apply_batch(batch).map_err(|e| self.durability.poison(e.into()))?;
        failpoint::hit(self.durability.scope(), points::COMMIT_BEFORE_SYNC)
            .map_err(|e| self.durability.poison(Error::io(self.durability.scope(), e)))?;
        self.sync_log(SyncStep::KvLog)?;
        // Durable: only now does the rest of the store see the new epoch and roots.
        if roots_touched {
            self.roots.write().unwrap_or_else(|p| p.into_inner()).apply(staged.iter());
        }
        {
            let mut chunked = lock(&self.chunked);
            for (key, is_chunked) in chunked_now {
                if is_chunked {
                    chunked.insert(key.clone());
                } else {
                    chunked.remove(key);
                }
            }
        }
        staged.clear();
        self.epoch.store(epoch, Ordering::SeqCst);
        self.root_generation.store(root_generation, Ordering::SeqCst);
        Ok(epoch)
    }

    /// Replaces the collector configuration and rebuilds the root index from the committed
    /// keys, in one durable batch. The open block must be empty. Without `force`, refuses a
    /// change that would stop a committed root key from being a root.
    pub(crate) fn set_config(&self, config: GcConfig, force: bool) -> Result<ConfigChange> {
        config.validate()?;
        let patterns = RootPatterns::new(&config.root_patterns)?;
        self.durability.check()?;
        let _commit = self.commit_guard();
        if !lock(&self.staged).is_empty() {
            return Err(Error::BlockOpen {
                what: "changing the configuration".into(),
                reason: "commit or abort the open block first".into(),
            });
        }
        let mut batch = sled::Batch::default();
        let (new_index, unrooted, rooted) = {
            let roots = self.roots.read().unwrap_or_else(|p| p.into_inner());
            let unrooted = roots.unrooted_by(&patterns);
            if !unrooted.is_empty() && !force {
                let keys = unrooted.iter().take(5).map(|k| crate::error::shorten(k)).collect();
                return Err(Error::WouldUnroot { count: unrooted.len(), keys });
            }
            let (new_index, rooted) = roots.rebuild(&self.db, patterns, &mut batch)?;
            // A key that becomes a root must name a snapshot: one whose value does not parse
            // would make every pass fail closed (e.g. `--root-pattern '*'` over plain keys).
            let bad: Vec<(&String, &String)> = new_index
                .iter()
                .filter_map(|(k, e)| e.as_ref().err().map(|reason| (k, reason)))
                .filter(|(k, _)| rooted.contains(k))
                .collect();
            if let Some((key, reason)) = bad.first()
                && !force
            {
                return Err(Error::Config(format!(
                    "these root patterns would make {} committed key(s) roots whose values do not name \
                     a snapshot, and collection would stop: {} ({reason}){} (--force proceeds)",
                    bad.len(),
                    crate::error::shorten(key),
                    if bad.len() > 1 { format!(" and {} more", bad.len() - 1) } else { String::new() }
                )));
            }
            (new_index, unrooted, rooted)
        };
        let root_generation = self.root_generation() + 1;
        batch.insert(ROOT_GEN_KEY, &root_generation.to_be_bytes());
        batch.insert(CONFIG_KEY, codec::encode(&config)?);
        batch.remove(GC_STATE_KEY);
        self.db.apply_batch(batch).map_err(|e| self.durability.poison(e.into()))?;
        self.sync_log(SyncStep::Config)?;
        let old = self.config();
        *self.roots.write().unwrap_or_else(|p| p.into_inner()) = new_index;
        self.root_generation.store(root_generation, Ordering::SeqCst);
        match self.config.write() {
            Ok(mut c) => *c = config.clone(),
            Err(poisoned) => *poisoned.into_inner() = config.clone(),
        }
        Ok(ConfigChange { old, new: config, unrooted, rooted })
    }
}
