//! kernel-sim: run a SwingSet-like kernel on a snapshot store, collecting after every commit.
//! See docs/KERNEL-SIM.md. A thin binary: `cli` (the flags), `run` (the stores and the runs),
//! `report` (the table, the JSON, the archive summary); the kernel itself is the library.

mod cli;
mod report;
mod run;

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = cli::Args::parse();
    if let Err(e) = run::real_main(&args) {
        eprintln!("kernel-sim: error: {e:#}");
        std::process::exit(1);
    }
}
