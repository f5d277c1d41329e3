//! The real `powerloss` binary, as CI and `just powerloss` run it.
//!
//! `POWERLOSS_CUTS=N` (default 100) sets the cuts of the zero-violation suite,
//! `POWERLOSS_SEED` its seed. Where FUSE cannot be mounted the binary prints its skip line,
//! which these tests echo (visibly) and accept.

use std::process::{Command, Output};

const SKIP: &str = "powerloss: skipped (no FUSE: ";

fn powerloss(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_powerloss")).args(args).output().expect("running powerloss")
}

fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_owned()
}

/// The `V` of a final line `powerloss: N cuts, V violations`, checking `N`.
fn violations(line: &str, cuts: u64) -> u64 {
    let rest = line
        .strip_prefix(&format!("powerloss: {cuts} cuts, "))
        .and_then(|r| r.strip_suffix(" violations"))
        .unwrap_or_else(|| panic!("unexpected last line {line:?}"));
    rest.parse().unwrap_or_else(|_| panic!("unexpected last line {line:?}"))
}

#[test]
fn list_syncs_prints_one_step_name_per_line() {
    let out = powerloss(&["--list-syncs"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text.lines().collect();
    for expected in ["blob-file", "blob-dir", "kv-log", "store-create"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    assert!(names.iter().all(|n| !n.is_empty() && !n.contains(' ')), "{names:?}");
}

#[test]
fn an_unknown_step_is_refused() {
    let out = powerloss(&["--cuts", "1", "--skip-sync", "no-such-step"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown durability step"));
}

#[test]
fn a_short_run_ends_with_the_summary_line_and_an_exit_code_that_matches_it() {
    let out = powerloss(&["--cuts", "12", "--seed", "3", "--torn"]);
    let line = last_line(&out);
    if line.starts_with(SKIP) {
        say(&line);
        assert!(out.status.success());
        return;
    }
    eprintln!("{line}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("powerloss: seed 3 "), "{stdout}");
    let v = violations(&line, 12);
    assert_eq!(out.status.success(), v == 0, "{stdout}");
    let lines = stdout.lines().filter(|l| l.starts_with("violation: cut ")).count() as u64;
    assert_eq!(lines, v, "one line per violation:\n{stdout}");
}

/// Shown even in a passing run: libtest captures `eprintln!`, not a direct write to stderr.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The suite: N cuts (plain, then torn) with no violation. Before the durability fixes every
/// cut found the store gone or its last commit lost (docs/CRASH-SAFETY.md).
#[test]
fn power_cuts_lose_nothing_and_leak_nothing() {
    let cuts: u64 = std::env::var("POWERLOSS_CUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let seed = std::env::var("POWERLOSS_SEED").unwrap_or_else(|_| "20261201".to_owned());
    for torn in [false, true] {
        let cuts_arg = cuts.to_string();
        let mut args = vec!["--cuts", &cuts_arg, "--seed", &seed];
        if torn {
            args.push("--torn");
        }
        let out = powerloss(&args);
        let line = last_line(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if line.starts_with(SKIP) {
            say(&line);
            assert!(out.status.success());
            return;
        }
        say(&format!("{line} (torn {torn}, seed {seed})"));
        assert_eq!(line, format!("powerloss: {cuts} cuts, 0 violations"), "torn {torn}:\n{stdout}");
        assert!(out.status.success());
    }
}
