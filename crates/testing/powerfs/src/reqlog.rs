//! The request log: every FUSE request the file system answered, in order (a bounded ring), so
//! a failing cut can be replayed by reading what the child did.

use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::path::Path;

/// Requests kept (the oldest are dropped first).
pub const CAPACITY: usize = 20_000;

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Sequence number since the mount (1-based; `forget` is not logged).
    pub seq: u64,
    pub op: &'static str,
    /// The path the request is about (the destination for a rename).
    pub path: String,
    /// Offsets, lengths, flags, a rename's source … whatever identifies the request.
    pub detail: String,
    /// `ok`, `ok <n>` or an error (`ENOENT`, `EIO (frozen)` …).
    pub result: String,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>7} {:<10} {}", self.seq, self.op, self.path)?;
        if !self.detail.is_empty() {
            write!(f, " {}", self.detail)?;
        }
        write!(f, " -> {}", self.result)
    }
}

/// A bounded, ordered log of requests plus notes (mount, arm, cut).
#[derive(Debug, Default, Clone)]
pub struct RequestLog {
    lines: VecDeque<Line>,
    dropped: u64,
}

#[derive(Debug, Clone)]
enum Line {
    Request(Record),
    Note(String),
}

impl RequestLog {
    /// Appends a request.
    pub fn push(&mut self, record: Record) {
        self.push_line(Line::Request(record));
    }

    /// Appends a note (`# …` in the dump).
    pub fn note(&mut self, text: impl Into<String>) {
        self.push_line(Line::Note(text.into()));
    }

    fn push_line(&mut self, line: Line) {
        if self.lines.len() >= CAPACITY {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
    }

    /// The requests kept, oldest first.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.lines.iter().filter_map(|l| match l {
            Line::Request(r) => Some(r),
            Line::Note(_) => None,
        })
    }

    /// Forgets everything (a new mount).
    pub fn clear(&mut self) {
        self.lines.clear();
        self.dropped = 0;
    }

    /// Writes the log as text, one line per request or note.
    pub fn write_to(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.dropped > 0 {
            writeln!(out, "# {} older lines dropped", self.dropped)?;
        }
        for line in &self.lines {
            match line {
                Line::Request(r) => writeln!(out, "{r}")?,
                Line::Note(n) => writeln!(out, "# {n}")?,
            }
        }
        Ok(())
    }

    /// Writes the log to a file.
    pub fn dump(&self, path: &Path) -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        self.write_to(&mut file)?;
        file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_lines_and_says_how_many_it_dropped() -> std::io::Result<()> {
        let mut log = RequestLog::default();
        for seq in 1..=(CAPACITY as u64 + 5) {
            log.push(Record {
                seq,
                op: "write",
                path: "/f".into(),
                detail: "off 0 len 1".into(),
                result: "ok 1".into(),
            });
        }
        log.note("cut");
        assert_eq!(log.records().count(), CAPACITY - 1);
        assert_eq!(log.records().next().map(|r| r.seq), Some(7));
        let mut text = Vec::new();
        log.write_to(&mut text)?;
        let text = String::from_utf8_lossy(&text);
        assert!(text.starts_with("# 6 older lines dropped\n"), "{}", &text[..80]);
        assert!(text.ends_with("# cut\n"));
        assert!(text.contains("  20005 write      /f off 0 len 1 -> ok 1\n"));
        Ok(())
    }
}
