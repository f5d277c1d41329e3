//! Target 5 of docs/PERFORMANCE.md: save and load of a large heap (600 MB by default),
//! synthesized as a stream from the corpus heaps (each pass over a file is mutated so no two
//! passes are alike), never held in memory; prints peak RSS (VmHWM) after each phase as JSON.
//! Then, once the peak RSS is recorded (target 4 of issue 13), the same heap held in memory:
//! `ROUNDS` rounds of a save from it and a `load_into`, each beside the same-run limits (the
//! two-core hash ∥ compress pipeline into memory, and the two-core decode ∥ sha256 of its frame).
//!
//! `cargo run --release -p swingstore --example rss -- [MB] [ROUNDS] [--store DIR]`
//! (`--store DIR`: create the store there, kept; default a temporary directory, removed at the end)

#[path = "../benches/common/mod.rs"]
mod common;

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Instant;

use swingstore::SwingStore;

/// A stream of `remaining` bytes cycling over `sources`, each pass XOR-ed with its round.
struct Synth {
    sources: Vec<PathBuf>,
    fixture: bool,
    current: Option<Box<dyn Read + Send>>,
    next: usize,
    round: u8,
    remaining: u64,
    pos: u64,
}

impl Synth {
    fn open_next(&mut self) -> io::Result<()> {
        let path = &self.sources[self.next % self.sources.len()];
        self.next += 1;
        if self.next.is_multiple_of(self.sources.len()) {
            self.round = self.round.wrapping_add(1);
        }
        let file = File::open(path)?;
        self.current = Some(if self.fixture {
            Box::new(lz4_flex::frame::FrameDecoder::new(file))
        } else {
            Box::new(file)
        });
        Ok(())
    }
}

impl Read for Synth {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        loop {
            if self.current.is_none() {
                self.open_next()?;
            }
            let n = self.current.as_mut().map_or(Ok(0), |r| r.read(&mut buf[..want]))?;
            if n == 0 {
                self.current = None;
                continue;
            }
            // Mutate one byte in 4 KiB of the stream (the same bytes whatever the reads' sizes),
            // differently on each round: realistic, never deduplicated.
            let first = (4096 - self.pos % 4096) % 4096;
            for b in buf[..n].iter_mut().skip(usize::try_from(first).unwrap_or(usize::MAX)).step_by(4096) {
                *b ^= self.round;
            }
            self.remaining -= n as u64;
            self.pos += n as u64;
            return Ok(n);
        }
    }
}

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let store_dir = common::take_flag(&mut args, "--store")?.map(PathBuf::from);
    anyhow::ensure!(args.len() <= 2, "usage: rss [MB] [ROUNDS] [--store DIR]");
    let mut args = args.into_iter();
    let mb: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(600);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    let tmp = tempfile::tempdir()?;
    let dir = store_dir.unwrap_or_else(|| tmp.path().join("store"));

    let mut sources = common::corpus_files();
    let fixture = sources.is_empty();
    if fixture {
        eprintln!("note: corpus absent; synthesizing from the fixture heap");
        let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        sources = std::fs::read_dir(&fixtures)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "lz4"))
            .collect();
        anyhow::ensure!(!sources.is_empty(), "no heaps in the corpus nor in {}", fixtures.display());
    }
    let store = SwingStore::create(&dir)?;
    let rss_open = common::vm_hwm_kb();

    let bytes = mb * 1_000_000;
    let synth = |sources: Vec<PathBuf>| Synth {
        sources,
        fixture,
        current: None,
        next: 0,
        round: 1,
        remaining: bytes,
        pos: 0,
    };
    let mut input = synth(sources.clone());
    let started = Instant::now();
    let saved = store.save(&mut input)?;
    let save_s = started.elapsed().as_secs_f64();
    let rss_save = common::vm_hwm_kb();

    let started = Instant::now();
    let loaded = store.load_into(&saved.hash, &mut io::sink())?;
    let load_s = started.elapsed().as_secs_f64();
    let rss_load = common::vm_hwm_kb();

    let started = Instant::now();
    let mut reader = store.load(&saved.hash)?;
    let streamed = io::copy(&mut reader, &mut io::sink())?;
    let read_s = started.elapsed().as_secs_f64();
    let rss_read = common::vm_hwm_kb();
    anyhow::ensure!(loaded == bytes && streamed == bytes, "length mismatch");
    drop(store);

    // Same-run limits: the heap in memory (after the peak RSS above was read).
    let mut heap = Vec::with_capacity(usize::try_from(bytes)?);
    io::copy(&mut synth(sources), &mut heap)?;
    let mut t = [(); 5].map(|_| Vec::new());
    for round in 0..rounds {
        let s = Instant::now();
        let (frame, hash) = swingstore::internals::compress_to_memory(&heap)?;
        t[0].push(s.elapsed().as_secs_f64());
        anyhow::ensure!(hash == saved.hash, "the in-memory pipeline named another hash");
        let again = SwingStore::create(tmp.path().join(format!("round{round}")))?;
        let s = Instant::now();
        again.save(&mut io::Cursor::new(&heap))?;
        let c = Instant::now();
        again.commit()?;
        t[4].push(c.elapsed().as_secs_f64());
        t[1].push(s.elapsed().as_secs_f64());
        let s = Instant::now();
        anyhow::ensure!(common::decode_and_hash(&frame) == *hash.as_bytes());
        t[2].push(s.elapsed().as_secs_f64());
        drop(frame);
        let s = Instant::now();
        again.load_into(&hash, &mut io::sink())?;
        t[3].push(s.elapsed().as_secs_f64());
    }
    let [save_limit, save_mem, load_limit, load_mem, commit] = t.map(|v| {
        let mut v = v;
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    });
    let rate = |s: f64| (bytes as f64 / 1e6 / s).round();

    println!(
        "{}",
        serde_json::json!({
            "raw_bytes": bytes,
            "stored_bytes": saved.stored_bytes,
            "save_MBps": (bytes as f64 / 1e6 / save_s).round(),
            "load_into_MBps": (bytes as f64 / 1e6 / load_s).round(),
            "blob_reader_MBps": (bytes as f64 / 1e6 / read_s).round(),
            "vm_hwm_kb": {
                "after_open": rss_open,
                "after_save": rss_save,
                "after_load_into": rss_load,
                "after_blob_reader": rss_read,
            },
            "limit_kb": 64 * 1024,
            "ok": rss_read <= 64 * 1024,
            "in_memory": {
                "rounds": rounds,
                "save_limit_MBps": rate(save_limit),
                "save_commit_MBps": rate(save_mem),
                "save_ratio": ((save_limit / save_mem) * 100.0).round() / 100.0,
                "of_which_commit_ms": (commit * 1e3).round(),
                "load_limit_MBps": rate(load_limit),
                "load_into_MBps": rate(load_mem),
                "load_ratio": ((load_limit / load_mem) * 100.0).round() / 100.0,
            },
        })
    );
    Ok(())
}
