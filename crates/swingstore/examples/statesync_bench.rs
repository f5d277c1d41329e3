//! State sync against its targets (docs/PERFORMANCE.md, "State sync"), side by side in one run:
//!
//! * `speed [ROUNDS] [COPIES]`: a store whose roots name COPIES mutated copies of every corpus
//!   heap (the fixture without ../shared); per round, alternating: `verify --deep` vs
//!   `export_to_dir` over the same blobs, and `snapgc import`'s path (streamed `save` of each
//!   raw heap file, one commit) vs `import_from_dir` of the same heaps. Medians, one JSON line.
//! * `rss [MB]`: peak RSS (VmHWM) of an export and of an import of one MB-sized artifact (600 by
//!   default), each in a fresh child process. The heap is synthesized as a stream.
//! * `kv [N]`: export and import of a store with N plain kv entries (1.2 M by default), each in
//!   a fresh child process: time and peak RSS (the export data streams both ways).
//!
//! `cargo run --release -p swingstore --example statesync_bench -- speed|rss|kv [ARGS]`

#[path = "../benches/common/mod.rs"]
mod common;

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use swingstore::{
    ArtifactMode, ImportOptions, OpenOptions, SwingStore, export_to_dir, format_root_value, import_from_dir,
};

/// CPU seconds (user + system) of this process so far, from /proc/self/stat (100 ticks a second).
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(") ")?.1.split_whitespace().collect::<Vec<_>>();
            Some((after.get(11)?.parse::<f64>().ok()? + after.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    match arg(0) {
        Some("speed") => speed(
            arg(1).map(str::parse).transpose()?.unwrap_or(3),
            arg(2).map(str::parse).transpose()?.unwrap_or(4),
        ),
        Some("rss") => rss(arg(1).map(str::parse).transpose()?.unwrap_or(600)),
        Some("kv") => kv(arg(1).map(str::parse).transpose()?.unwrap_or(1_200_000)),
        // The child processes of `rss` and `kv`.
        Some("child-build-heap") => {
            child_build_heap(Path::new(arg(1).context("dir")?), arg(2).context("MB")?.parse()?)
        }
        Some("child-build-kv") => {
            child_build_kv(Path::new(arg(1).context("dir")?), arg(2).context("N")?.parse()?)
        }
        Some("child-export") => {
            child_export(Path::new(arg(1).context("store")?), Path::new(arg(2).context("dir")?))
        }
        Some("child-import") => {
            child_import(Path::new(arg(1).context("dir")?), Path::new(arg(2).context("target")?))
        }
        _ => bail!("usage: statesync_bench speed [ROUNDS] [COPIES] | rss [MB] | kv [N]"),
    }
}

/// Each heap mutated (one byte in 4 KiB) per copy: distinct blobs, realistic content.
fn mutated(bytes: &[u8], copy: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for b in out.iter_mut().step_by(4096) {
        *b ^= copy;
    }
    out
}

fn speed(rounds: usize, copies: u8) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let heaps = common::heaps();
    let store = SwingStore::create(tmp.path().join("source"))?;
    let mut raw = 0u64;
    let mut vat = 0u64;
    for copy in 1..=copies {
        for heap in &heaps {
            vat += 1;
            let bytes = mutated(&heap.bytes, copy);
            raw += bytes.len() as u64;
            let hash = store.save_bytes(&bytes)?.hash;
            store.kv().set(&format!("v{vat}.lastSnapshot"), &format_root_value(&hash, vat * 10));
        }
    }
    store.commit()?;
    eprintln!("{vat} vats, {:.0} MB of raw heaps", raw as f64 / 1e6);
    let (mut verify, mut export, mut cli_import, mut import) = (vec![], vec![], vec![], vec![]);
    let (mut verify_cpu, mut export_cpu) = (vec![], vec![]);
    for round in 0..rounds {
        let (t, c) = (Instant::now(), cpu_s());
        ensure!(store.verify(true, None)?.ok, "verify");
        verify.push(t.elapsed().as_secs_f64());
        verify_cpu.push(cpu_s() - c);

        let dir = tmp.path().join(format!("export{round}"));
        let (t, c) = (Instant::now(), cpu_s());
        let summary = export_to_dir(&store, &dir, ArtifactMode::Operational)?;
        export.push(t.elapsed().as_secs_f64());
        export_cpu.push(cpu_s() - c);
        ensure!(summary.artifact_bytes == raw, "exported {} of {raw} bytes", summary.artifact_bytes);

        // `snapgc import FILE...` of the same raw heaps: streamed saves, one commit.
        let files: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("snapshot.")))
            .collect();
        let cli_store = SwingStore::create(tmp.path().join(format!("cli{round}")))?;
        let t = Instant::now();
        for path in &files {
            let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
            cli_store.save(&mut reader)?;
        }
        cli_store.commit()?;
        cli_import.push(t.elapsed().as_secs_f64());
        drop(cli_store);

        let target = tmp.path().join(format!("import{round}"));
        let t = Instant::now();
        let report = import_from_dir(&target, &dir, &ImportOptions::default())?;
        import.push(t.elapsed().as_secs_f64());
        ensure!(report.artifact_bytes == raw && report.roots == vat, "imported {report:?}");
        std::fs::remove_dir_all(&dir)?;
        std::fs::remove_dir_all(&target)?;
        std::fs::remove_dir_all(tmp.path().join(format!("cli{round}")))?;
    }
    let mbps = |s: f64| (raw as f64 / 1e6 / s).round();
    let (v, e, c, i) = (median(verify), median(export), median(cli_import), median(import));
    println!(
        "{}",
        serde_json::json!({
            "vats": vat,
            "raw_MB": (raw as f64 / 1e6).round(),
            "rounds": rounds,
            "verify_deep_MBps": mbps(v),
            "export_MBps": mbps(e),
            "export_vs_verify_deep": ((v / e) * 100.0).round() / 100.0,
            "verify_deep_cpu_s_per_GB": (median(verify_cpu) / (raw as f64 / 1e9) * 100.0).round() / 100.0,
            "export_cpu_s_per_GB": (median(export_cpu) / (raw as f64 / 1e9) * 100.0).round() / 100.0,
            "snapgc_import_MBps": mbps(c),
            "state_import_MBps": mbps(i),
            "import_vs_snapgc_import": ((c / i) * 100.0).round() / 100.0,
            "targets": { "export_vs_verify_deep": 0.8, "import_vs_snapgc_import": 0.8 },
        })
    );
    Ok(())
}

/// Runs this example as a child process; returns its JSON line.
fn child(args: &[&str]) -> Result<serde_json::Value> {
    let out = Command::new(std::env::current_exe()?).args(args).output()?;
    ensure!(out.status.success(), "child {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn rss(mb: u64) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (store, dir, target) =
        (tmp.path().join("store"), tmp.path().join("export"), tmp.path().join("import"));
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let build = child(&["child-build-heap", &s(&store), &mb.to_string()])?;
    let export = child(&["child-export", &s(&store), &s(&dir)])?;
    let import = child(&["child-import", &s(&dir), &s(&target)])?;
    let limit = 64 * 1024;
    println!(
        "{}",
        serde_json::json!({
            "artifact_MB": mb,
            "build": build,
            "export": export,
            "import": import,
            "limit_kb": limit,
            "ok": export["vm_hwm_kb"].as_u64().unwrap_or(u64::MAX) <= limit
                && import["vm_hwm_kb"].as_u64().unwrap_or(u64::MAX) <= limit,
        })
    );
    Ok(())
}

fn kv(n: u64) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (store, dir, target) =
        (tmp.path().join("store"), tmp.path().join("export"), tmp.path().join("import"));
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let build = child(&["child-build-kv", &s(&store), &n.to_string()])?;
    let export = child(&["child-export", &s(&store), &s(&dir)])?;
    let data_bytes = std::fs::metadata(dir.join(swingstore::DATA_FILE))?.len();
    let import = child(&["child-import", &s(&dir), &s(&target)])?;
    println!(
        "{}",
        serde_json::json!({ "entries": n, "export_data_MB": (data_bytes as f64 / 1e6).round(), "build": build, "export": export, "import": import })
    );
    Ok(())
}

/// A stream of `remaining` bytes cycling over the heaps, each pass XOR-ed with its round (as
/// examples/rss.rs does): never held in memory, never deduplicated.
struct Synth {
    heaps: Vec<Vec<u8>>,
    next: usize,
    offset: usize,
    round: u8,
    remaining: u64,
}

impl Read for Synth {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let heap = &self.heaps[self.next % self.heaps.len()];
        let n = buf
            .len()
            .min(heap.len() - self.offset)
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&heap[self.offset..self.offset + n]);
        for b in buf[..n].iter_mut().step_by(4096) {
            *b ^= self.round;
        }
        self.offset += n;
        if self.offset == heap.len() {
            self.offset = 0;
            self.next += 1;
            if self.next.is_multiple_of(self.heaps.len()) {
                self.round = self.round.wrapping_add(1);
            }
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn child_build_heap(dir: &Path, mb: u64) -> Result<()> {
    // Only two heaps in memory (a few MB), so the build's own peak stays small too.
    let heaps: Vec<Vec<u8>> =
        common::representative(common::heaps()).into_iter().take(2).map(|h| h.bytes).collect();
    let store = SwingStore::create(dir)?;
    let mut input = Synth { heaps, next: 0, offset: 0, round: 1, remaining: mb * 1_000_000 };
    let t = Instant::now();
    let saved = store.save(&mut input)?;
    store.kv().set("v1.lastSnapshot", &format_root_value(&saved.hash, 1));
    store.commit()?;
    println!(
        "{}",
        serde_json::json!({ "raw_bytes": saved.raw_bytes, "stored_bytes": saved.stored_bytes, "s": t.elapsed().as_secs_f64(), "vm_hwm_kb": common::vm_hwm_kb() })
    );
    Ok(())
}

fn child_build_kv(dir: &Path, n: u64) -> Result<()> {
    let store = SwingStore::create(dir)?;
    let hash = store.save_bytes(&common::fixture_heaps().first().context("fixture")?.bytes)?.hash;
    store.kv().set("v1.lastSnapshot", &format_root_value(&hash, 1));
    let t = Instant::now();
    for i in 0..n {
        // Agoric-like vatstore entries, ~100 bytes a line.
        store.kv().set(
            &format!("v{}.vs.vom.o+d10/{i}", 1 + i % 50),
            &format!(r#"{{"label":"entry {i}","n":{}}}"#, i * 7),
        );
        if (i + 1) % 100_000 == 0 {
            store.commit()?;
        }
    }
    store.commit()?;
    println!("{}", serde_json::json!({ "s": t.elapsed().as_secs_f64(), "vm_hwm_kb": common::vm_hwm_kb() }));
    Ok(())
}

fn child_export(store: &Path, dir: &Path) -> Result<()> {
    let store = SwingStore::open(store, OpenOptions { create: false })?;
    let before = common::vm_hwm_kb();
    let t = Instant::now();
    let summary = export_to_dir(&store, dir, ArtifactMode::Operational)?;
    println!(
        "{}",
        serde_json::json!({
            "s": t.elapsed().as_secs_f64(),
            "records": summary.records,
            "artifact_bytes": summary.artifact_bytes,
            "vm_hwm_kb_after_open": before,
            "vm_hwm_kb": common::vm_hwm_kb(),
        })
    );
    Ok(())
}

fn child_import(dir: &Path, target: &Path) -> Result<()> {
    let before = common::vm_hwm_kb();
    let t = Instant::now();
    let report = import_from_dir(target, dir, &ImportOptions::default())?;
    println!(
        "{}",
        serde_json::json!({
            "s": t.elapsed().as_secs_f64(),
            "kv_entries": report.kv_entries,
            "artifact_bytes": report.artifact_bytes,
            "vm_hwm_kb_before": before,
            "vm_hwm_kb": common::vm_hwm_kb(),
        })
    );
    Ok(())
}
