//! A running kernel-sim is watched from another process: the store's `status.json` and metrics
//! file move while it runs, parse, and carry the backlog; a starving budget shows.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use swingstore::{METRICS_FILE, STATUS_FILE, StoreStatus};

fn sim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kernel-sim"))
}

/// A kernel that is killed when the test ends, whether it passes or fails.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn status_and_metrics_move_while_the_kernel_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let child = sim()
        .args([
            "--workload",
            "testnet",
            // Far more blocks than the test waits for (it kills the kernel after two status
            // updates): a fast machine must not finish the run between two polls.
            "--blocks",
            "20000",
            "--heap-limit",
            "32768",
            "--page-in-delay-ms",
            "20",
        ])
        .arg("--store")
        .arg(&store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let child = &mut child.0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen: Vec<u64> = Vec::new();
    while seen.len() < 2 {
        assert!(child.try_wait().unwrap().is_none(), "the kernel ended before two status updates: {seen:?}");
        assert!(Instant::now() < deadline, "no status while the kernel ran: {seen:?}");
        if let Ok(bytes) = std::fs::read(store.join(STATUS_FILE))
            && let Ok(status) = serde_json::from_slice::<StoreStatus>(&bytes)
            && seen.last() != Some(&status.epoch)
        {
            assert_eq!(status.pid, child.id(), "written by the running kernel");
            assert!(status.roots > 0 && status.blobs >= status.live);
            seen.push(status.epoch);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(seen[1] > seen[0], "the epoch moves: {seen:?}");
    let text = std::fs::read_to_string(store.join(METRICS_FILE)).unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert!(scrape.samples.iter().any(|s| s.metric == "snapgc_stored_bytes"), "{text}");
    assert!(scrape.docs.contains_key("snapgc_backlog_falling_behind"));
}

#[test]
fn a_starving_budget_falls_behind_and_an_ample_one_keeps_up() {
    let run = |budget: &str| -> serde_json::Value {
        let out = sim()
            .args([
                "--workload",
                "testnet",
                "--blocks",
                "120",
                "--heap-limit",
                "32768",
                "--snapshot-interval",
                "20",
            ])
            .args(["--gc-budget", budget, "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let starved = run("1");
    assert_eq!(starved["backlog_falling_behind"], true, "{starved}");
    assert!(starved["backlog_pending"].as_u64().unwrap() > 0);
    let ample = run("1000");
    assert_eq!(ample["backlog_falling_behind"], false, "{ample}");
    assert_eq!(ample["backlog_behind_blocks"], 0);
}
