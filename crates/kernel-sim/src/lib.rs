//! kernel-sim: a SwingSet-like kernel on a [`swingstore::SwingStore`], collecting after every
//! commit. See docs/KERNEL-SIM.md.
//!
//! - [`sim`]: the kernel (the block loop; its configuration, results and vat lifecycle);
//! - [`workload`]: which events happen in which block; [`heap`]: real heap bytes and the
//!   delivery model; [`vat`]: what rebuilds a vat's heap and what the kernel tracks per vat;
//! - [`pager`]: page-ins on worker threads; [`exporter`]: state-sync exports; [`keys`]: the
//!   kvStore keys the kernel writes;
//! - [`stats`], [`svg`]: percentiles, units and the chart; [`error`]: why a run stops.
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
pub mod keys;
pub mod pager;
pub mod sim;
pub mod stats;
pub mod svg;
pub mod vat;
pub mod workload;

pub use error::{Result, SimError};
pub use sim::{BlockStat, Progress, SimConfig, SimResult, Summary, run};
pub use workload::WorkloadKind;
