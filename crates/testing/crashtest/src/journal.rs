//! The commit journal: the side file a child writes beside the store, one line per commit
//! intent (`P`, before `commit()`) and per commit outcome (`C`, after `commit()` returned), each
//! fsynced before the child goes on.
//!
//! ```text
//! C 12 v1.lastSnapshot=<hex>,v3.lastSnapshot=<hex>
//! P 13 v1.lastSnapshot=<hex>
//! ```
//!
//! After a kill, the store must be exactly at the last `C` state, or at the `P` state that
//! follows it (the commit was durable but the child died before logging it).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Root key to snapshot hash (hex).
pub type Roots = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `commit()` returned at this epoch.
    Committed,
    /// `commit()` of this epoch was about to be called.
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub epoch: u64,
    pub roots: Roots,
}

fn format_line(kind: Kind, epoch: u64, roots: &Roots) -> String {
    let tag = match kind {
        Kind::Committed => 'C',
        Kind::Pending => 'P',
    };
    let body = if roots.is_empty() {
        "-".to_owned()
    } else {
        roots.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    };
    format!("{tag} {epoch} {body}\n")
}

fn parse_line(line: &str) -> Option<Entry> {
    let mut parts = line.split(' ');
    let kind = match parts.next()? {
        "C" => Kind::Committed,
        "P" => Kind::Pending,
        _ => return None,
    };
    let epoch = parts.next()?.parse().ok()?;
    let body = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let mut roots = Roots::new();
    if body != "-" {
        for pair in body.split(',') {
            let (k, v) = pair.split_once('=')?;
            roots.insert(k.to_owned(), v.to_owned());
        }
    }
    Some(Entry { kind, epoch, roots })
}

/// Appends fsynced lines.
pub struct LogWriter {
    file: File,
}

impl LogWriter {
    /// Starts a new log whose first line is the state the store is known to be in.
    pub fn create(path: &Path, epoch: u64, roots: &Roots) -> Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut writer = Self { file };
        writer.write(Kind::Committed, epoch, roots)?;
        Ok(writer)
    }

    pub fn append(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Self { file })
    }

    /// Writes one line in one `write` and fsyncs it.
    pub fn write(&mut self, kind: Kind, epoch: u64, roots: &Roots) -> Result<()> {
        self.file.write_all(format_line(kind, epoch, roots).as_bytes()).context("writing the log")?;
        self.file.sync_data().context("fsyncing the log")?;
        Ok(())
    }
}

/// Every complete line of the log (a line torn by the kill is ignored).
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    let complete = match text.rfind('\n') {
        Some(i) => &text[..i],
        None => "",
    };
    for line in complete.lines() {
        match parse_line(line) {
            Some(e) => out.push(e),
            None => bail!("malformed log line {line:?}"),
        }
    }
    Ok(out)
}

/// What the store may be after the crash.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The last state `commit()` returned (or the parent's starting state).
    pub committed: Entry,
    /// The commit that was in flight when the child died, if any.
    pub pending: Option<Entry>,
    /// Number of commits the child logged as returned.
    pub commits_logged: u64,
}

pub fn expectations(entries: &[Entry]) -> Result<Expect> {
    let Some(last_c) = entries.iter().rposition(|e| e.kind == Kind::Committed) else {
        bail!("the log has no committed state");
    };
    let committed = entries[last_c].clone();
    let pending = entries[last_c + 1..].iter().rfind(|e| e.kind == Kind::Pending).cloned();
    if let Some(p) = &pending
        && p.epoch != committed.epoch + 1
    {
        bail!("log: pending epoch {} after committed epoch {}", p.epoch, committed.epoch);
    }
    let commits_logged = entries.iter().filter(|e| e.kind == Kind::Committed).count() as u64 - 1;
    Ok(Expect { committed, pending, commits_logged })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_torn_lines_are_ignored() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log");
        let mut roots = Roots::new();
        let mut w = LogWriter::create(&path, 3, &roots)?;
        roots.insert("v1.lastSnapshot".into(), "ab".into());
        w.write(Kind::Pending, 4, &roots)?;
        w.write(Kind::Committed, 4, &roots)?;
        roots.insert("v2.lastSnapshot".into(), "cd".into());
        w.write(Kind::Pending, 5, &roots)?;
        drop(w);
        std::fs::OpenOptions::new().append(true).open(&path)?.write_all(b"C 5 v1.lastSn")?;
        let entries = read(&path)?;
        assert_eq!(entries.len(), 4);
        let e = expectations(&entries)?;
        assert_eq!(e.committed.epoch, 4);
        assert_eq!(e.commits_logged, 1);
        assert_eq!(e.pending.as_ref().map(|p| p.roots.len()), Some(2));
        Ok(())
    }
}
