//! State sync in Agoric's format (docs/STATE-SYNC.md): an exporter that pins one committed
//! epoch and streams its export data and artifacts while the kernel goes on, and an
//! all-or-nothing importer that verifies every artifact against the export data.
//!
//! * `format.rs`: record keys and values (byte-identical to @agoric/swing-store 0.10.0's), the
//!   JSON-lines file, the manifest, artifact and file names;
//! * `export/`: [`SwingStore::export_state`] and [`export_to_dir`];
//! * `import/`: [`import_state`], [`import_from_dir`] and the [`ExportSource`] they read.
//!
//! The mapping: a root `<vatID>.lastSnapshot` = `{"snapshotID":H,"startPos":{"itemCount":P}}`
//! is exported as `snapshot.<vatID>.P` (`inUse: 1`, hash H) and `snapshot.<vatID>.current`;
//! every earlier snapshot in the root history as `snapshot.<vatID>.<pos>` (`inUse: 0`); every
//! other committed kv key as `kv.<key>` (roots of other patterns included, their snapshot
//! travelling as artifact `kv.<key>`).
//!
//! [`SwingStore::export_state`]: crate::SwingStore::export_state

mod export;
mod format;
mod import;

pub use export::{ExportArtifact, ExportSummary, StateExporter, export_to_dir};
pub use format::{DATA_FILE, ExportDataHash, MANIFEST_FILE, Manifest};
pub use import::{ExportDir, ExportSource, ImportOptions, ImportReport, import_from_dir, import_state};

/// Which artifacts an export ships (and an import uses), as Agoric's `artifactMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArtifactMode {
    /// The snapshots the committed roots name: what a node needs to run.
    #[default]
    Operational,
    /// Also every earlier snapshot of a vat whose blob is still in the store (export), or in
    /// the export (import).
    Debug,
}

impl ArtifactMode {
    /// `operational` or `debug`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactMode::Operational => "operational",
            ArtifactMode::Debug => "debug",
        }
    }
}

impl std::fmt::Display for ArtifactMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ArtifactMode {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "operational" => Ok(ArtifactMode::Operational),
            "debug" => Ok(ArtifactMode::Debug),
            other => Err(crate::Error::InvalidArgument(format!(
                "unknown artifact mode {:?}: expected operational or debug",
                crate::error::shorten(other)
            ))),
        }
    }
}
