//! How commands print: one JSON document ([`print_json`]) or text ([`print_text`]) on stdout,
//! and a progress bar on stderr when it is a terminal ([`with_progress`]).

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use swingstore::Progress;

/// Prints one JSON document on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).context("writing JSON to stdout")?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Prints text on stdout.
pub fn print_text(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// A progress bar on stderr, only when stderr is a terminal.
fn progress_bar(label: &'static str) -> Option<ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} blobs, {elapsed} (eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label);
    Some(bar)
}

fn progress_callback(bar: &Option<ProgressBar>) -> Option<Progress> {
    let bar = bar.clone()?;
    Some(Arc::new(move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    }))
}

/// Runs `work` with a progress callback driving a bar (when `show`), then clears the bar.
pub fn with_progress<T>(label: &'static str, show: bool, work: impl FnOnce(Option<Progress>) -> T) -> T {
    let bar = if show { progress_bar(label) } else { None };
    let result = work(progress_callback(&bar));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    result
}
