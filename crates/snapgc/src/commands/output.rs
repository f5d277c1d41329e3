//! How commands print: one JSON document ([`print_json`]) or text ([`print_text`]) on stdout,
//! and a progress bar on stderr when it is a terminal ([`with_progress`]).

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
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

/// Writes the raw bytes of snapshot `hash`, which `fill` streams and verifies, to `-o FILE` or to
/// stdout: `command` names the command in the refusals, `doing` says what failed (e.g.
/// "exporting <hash>"). To FILE, through a temp file beside it (`temp_prefix`), synced and renamed over FILE
/// only once every byte verified, so a damaged snapshot never leaves a partial FILE; returns the
/// length written. To stdout (refused with `json`, or when stdout is a terminal): returns `None`.
///
/// FILE is refused (before anything is read or written) when it is inside one of `forbidden`
/// (the store's directory, a local archive's: replacing their files would destroy a snapshot
/// or the store), or when it exists and is not a regular file (a device, FIFO, directory or
/// symlink: the rename would replace the node itself; redirect stdout to write into one).
pub fn write_snapshot(
    command: &str,
    hash: &swingstore::SnapshotHash,
    doing: &str,
    dest: &Dest<'_>,
    json: bool,
    mut fill: impl FnMut(&mut dyn Write) -> Result<u64>,
) -> Result<Option<u64>> {
    let (output, temp_prefix, forbidden) = (dest.file, dest.temp_prefix, dest.forbidden);
    if let Some(output) = output {
        check_output(command, output, forbidden)?;
    }
    let Some(output) = output else {
        if json {
            bail!("{command} --json needs -o FILE (stdout would carry the snapshot bytes)");
        }
        if io::stdout().is_terminal() {
            bail!("refusing to write snapshot {hash} (binary) to a terminal: use -o FILE or redirect stdout");
        }
        let mut out = Counting { inner: BufWriter::with_capacity(1 << 20, io::stdout().lock()), written: 0 };
        let filled = fill(&mut out);
        if let Err(e) = filled {
            // Warn about unverified bytes only when some were written (an unknown hash writes none).
            if out.written > 0 {
                let _ = out.inner.flush();
                return Err(e.context(format!(
                    "{doing} (the {} bytes already written to stdout are unverified: discard them)",
                    out.written
                )));
            }
            return Err(e.context(doing.to_owned()));
        }
        out.inner.flush()?;
        return Ok(None);
    };
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(temp_prefix)
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    let temp_path = temp.path().to_owned();
    let raw_bytes = {
        let mut writer = BufWriter::with_capacity(1 << 20, temp.as_file_mut());
        let n = fill(&mut writer)?;
        writer.flush().with_context(|| format!("writing {}", temp_path.display()))?;
        n
    };
    temp.as_file().sync_all().with_context(|| format!("syncing {}", temp_path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile creates 0600; a snapshot written out is an ordinary file.
        let _ = temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    temp.persist(output)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(Some(raw_bytes))
}

/// Where [`write_snapshot`] writes: `-o FILE` (or stdout), the prefix of its temp file, and
/// the directories FILE must not be inside (what, directory).
pub struct Dest<'a> {
    pub file: Option<&'a Path>,
    pub temp_prefix: &'a str,
    pub forbidden: &'a [(&'a str, std::path::PathBuf)],
}

/// A writer that counts what it was given.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Refuses an output file inside one of `forbidden` (what, directory) or an existing one that
/// is not a regular file (see [`write_snapshot`]).
pub fn check_output(command: &str, output: &Path, forbidden: &[(&str, std::path::PathBuf)]) -> Result<()> {
    for (what, dir) in forbidden {
        if swingstore::path_is_inside(output, dir)
            .with_context(|| format!("{command}: cannot resolve {}", output.display()))?
        {
            bail!(
                "{command}: refusing to write {}: it is inside the {what} {} (it would replace the {what}'s own files)",
                output.display(),
                dir.display()
            );
        }
    }
    match std::fs::symlink_metadata(output) {
        Ok(meta) if !meta.file_type().is_file() => bail!(
            "{command}: refusing to replace {}: it exists and is not a regular file (a device, FIFO, \
             directory or symlink); to write into it, send stdout there instead (> {})",
            output.display(),
            output.display()
        ),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("{command}: cannot look at {}", output.display())),
    }
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
