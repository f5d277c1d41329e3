//! Runs the real `snapgc` binary on temporary stores: the interface in issue 5 is a contract
//! (subcommands, flags, JSON field names, exit codes). One module per command family,
//! helpers in `util` (ripgrep's layout: one test binary).

mod archive;
mod config;
mod contract;
mod gc;
mod import_export;
mod kv;
mod state;
mod status;
mod util;
mod verify;
