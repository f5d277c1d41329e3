//! A bare sled open of a store's database, for the fixed-cost figure of `bench/limit.sh`
//! (issue 25, target 4): what sled alone costs to open and drop `DIR` (a store's `kv/`), with
//! the store's sled configuration (no background flusher) and one read.
//!
//! ```text
//! cargo run --release -p swingstore --example sled_open -- STORE/kv
//! ```
//!
//! Only for a store no process has open (sled's open runs its recovery, which writes).

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: sled_open STORE/kv");
        return ExitCode::from(2);
    };
    match sled::Config::new().path(&dir).flush_every_ms(None).open().and_then(|db| db.get(b"s/epoch")) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sled_open: {e}");
            ExitCode::from(2)
        }
    }
}
