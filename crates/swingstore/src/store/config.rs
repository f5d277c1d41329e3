//! Changing the collector configuration, guarded: a change that would stop committed keys
//! from being roots (so that their snapshots would be collected) is refused unless forced.

use super::handle::SwingStore;
use crate::config::{ConfigChange, GcConfig};
use crate::error::Result;

impl SwingStore {
    /// Persists a new collector configuration (root patterns, default grace) and rebuilds the
    /// root index, durably. The open block must be empty.
    ///
    /// Refused with [`Error::WouldUnroot`](crate::Error::WouldUnroot), naming the keys, if
    /// some committed root key would no longer match any pattern: the collector would then
    /// delete the snapshot it names. Use [`set_config_unrooting`](Self::set_config_unrooting)
    /// to do it anyway.
    pub fn set_config(&self, config: GcConfig) -> Result<ConfigChange> {
        self.check_writable()?;
        self.inner.kv.set_config(config, false)
    }

    /// Like [`set_config`](Self::set_config), but un-roots committed keys if the new patterns
    /// say so (their snapshots then age out like any other garbage).
    pub fn set_config_unrooting(&self, config: GcConfig) -> Result<ConfigChange> {
        self.check_writable()?;
        self.inner.kv.set_config(config, true)
    }
}
