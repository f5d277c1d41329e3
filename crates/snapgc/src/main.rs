//! `snapgc`: the operator CLI of a swingstore (see docs/CLI.md).
//!
//! Every command opens the store exclusively; errors become one `snapgc: <cause>` line on
//! stderr and an exit status (0 ok, 1 problems found / no such key, 2 refused or failed,
//! 3 store in use).

mod cli;
mod commands;
mod human;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, exit};

fn main() -> ExitCode {
    // sled's own warnings (e.g. about a lock it waits for) are not ours to show: they would
    // split an error into several lines. RUST_LOG still shows them.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,sled=error"));
    // Colour only on a terminal: a log file or a pipe gets plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .init();

    let cli = Cli::parse();
    let json = cli.json;
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                // `snapgc ls | head`: the reader left; that is not our failure.
                return ExitCode::from(exit::OK);
            }
            let code = exit_code(&err);
            let message = one_line(&format!("{err:#}"));
            if json {
                let doc = serde_json::json!({ "error": message, "exit_code": code });
                let mut stdout = io::stdout().lock();
                let _ = writeln!(stdout, "{doc}");
                let _ = stdout.flush();
            }
            eprintln!("snapgc: {message}");
            ExitCode::from(code)
        }
    }
}

/// 3 when the store is held by someone else, 2 for everything else.
fn exit_code(err: &anyhow::Error) -> u8 {
    let in_use = err.chain().any(|cause| {
        matches!(cause.downcast_ref::<swingstore::Error>(), Some(swingstore::Error::InUse { .. }))
    });
    if in_use { exit::IN_USE } else { exit::ERROR }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || matches!(
                cause.downcast_ref::<swingstore::Error>(),
                Some(swingstore::Error::Io { cause, .. } | swingstore::Error::Stream { cause, .. })
                    if cause.kind() == io::ErrorKind::BrokenPipe
            )
    })
}

/// Errors are one line: fold any embedded line breaks.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
}
