//! The collector configuration kept in the store (`s/config`), so every pass, the kernel's or
//! the CLI's, uses the same root patterns and default grace; and what a change of it did.

use serde::{Deserialize, Serialize};

/// Collector configuration, persisted in the store so every pass (kernel or CLI) uses the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcConfig {
    /// Key patterns whose values name live snapshots. `*` matches one or more characters
    /// other than `.`; everything else matches itself.
    pub root_patterns: Vec<String>,
    /// Default grace, in committed epochs.
    pub grace: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self { root_patterns: vec![DEFAULT_ROOT_PATTERN.to_owned()], grace: DEFAULT_GRACE }
    }
}

/// Most root patterns a configuration may hold (every committed key is matched against all).
pub const MAX_ROOT_PATTERNS: usize = 64;
/// Longest root pattern, in bytes.
pub const MAX_ROOT_PATTERN_BYTES: usize = 256;

impl GcConfig {
    /// Checks the patterns (syntax, count, length) and that the record fits what an open will
    /// decode, so a configuration that is accepted can always be read back.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::Error;
        if self.root_patterns.len() > MAX_ROOT_PATTERNS {
            return Err(Error::Config(format!(
                "{} root patterns given; at most {MAX_ROOT_PATTERNS} are allowed",
                self.root_patterns.len()
            )));
        }
        if let Some(long) = self.root_patterns.iter().find(|p| p.len() > MAX_ROOT_PATTERN_BYTES) {
            return Err(Error::Config(format!(
                "root pattern {} is longer than {MAX_ROOT_PATTERN_BYTES} bytes",
                crate::error::shorten(long)
            )));
        }
        crate::roots::RootPatterns::new(&self.root_patterns)?;
        let encoded = crate::codec::encode(self)?;
        crate::codec::check_fits(&encoded, "gc config")
    }
}

/// Agoric's root key: `vN.lastSnapshot`.
pub const DEFAULT_ROOT_PATTERN: &str = "v*.lastSnapshot";
/// Default grace in epochs.
pub const DEFAULT_GRACE: u64 = 2;

/// What a configuration change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    /// The configuration before.
    pub old: GcConfig,
    /// The configuration now in force.
    pub new: GcConfig,
    /// Committed keys that were roots and no longer are (non-empty only when forced).
    pub unrooted: Vec<String>,
    /// Committed keys that were not roots and now are.
    pub rooted: Vec<String>,
}
