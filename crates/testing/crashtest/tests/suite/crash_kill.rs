//! Random process kills: a child runs the kernel-like workload and is killed with SIGKILL at a
//! random time or aborts at a random failpoint hit; the store is reopened and checked.
//!
//! `CRASHTEST_KILLS=N` (default 100) sets the number of kills (`just crash-test N`),
//! `CRASHTEST_SEED` the seed, `CRASHTEST_VERBOSE=1` prints one line per kill, `CRASHTEST_DIR`
//! where stores go (default: /dev/shm), `CRASHTEST_CHILD` another `crash-child` binary.

use std::path::PathBuf;

use anyhow::Result;
use crashtest::driver;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn random_kills_lose_nothing_and_leave_nothing() -> Result<()> {
    let kills = env_u64("CRASHTEST_KILLS", 100);
    let seed = env_u64("CRASHTEST_SEED", 0x5eed_c0de);
    let dir = crashtest::scratch_dir()?;
    let options = driver::Options {
        kills,
        seed,
        child: std::env::var_os("CRASHTEST_CHILD")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_crash-child"))),
        dir: dir.path().to_owned(),
        kills_per_store: 5,
        verbose: std::env::var_os("CRASHTEST_VERBOSE").is_some(),
    };
    let summary = driver::run(&options)?;
    eprintln!("seed {seed:#x}\n{summary}");
    assert_eq!(summary.kills, kills);
    if kills >= 50 {
        // Both kinds of death, and real work between them, were exercised.
        assert!(summary.by_signal > 0, "{summary}");
        assert!(summary.by_failpoint.values().sum::<u64>() > 0, "{summary}");
        assert!(summary.commits_logged > kills, "{summary}");
    }
    Ok(())
}
