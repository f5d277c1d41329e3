//! kernel-sim: a SwingSet-like kernel on a [`swingstore::SwingStore`], collecting after every
//! commit. See docs/KERNEL-SIM.md.
//!
//! ```no_run
//! # fn main() -> Result<(), kernel_sim::SimError> {
//! use kernel_sim::{SimConfig, heap, run};
//! let store = swingstore::SwingStore::create("/tmp/sim-store")?;
//! let result = run(&SimConfig::default(), &store, &[heap::embedded()?], &|_, _| {})?;
//! println!("{} blobs, {} live", result.summary.blobs, result.summary.live);
//! # Ok(()) }
//! ```

pub mod error;
pub mod exporter;
pub mod heap;
pub mod pager;
pub mod rng;
pub mod sim;
pub mod stats;
pub mod svg;
pub mod vat;
pub mod workload;

pub use error::{Result, SimError};
pub use sim::{BlockStat, SimConfig, SimResult, Summary, run};
pub use workload::WorkloadKind;
