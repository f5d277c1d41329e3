//! Power-loss cuts under a running store (issue #11).
//!
//! ```text
//! powerloss --cuts N [--seed S] [--torn] [--skip-sync NAME] [-v]
//! powerloss --list-syncs
//! ```
//!
//! Prints the seed first, one line per violation, and ends with exactly
//! `powerloss: N cuts, V violations` (exit 0 only when V = 0). Where FUSE cannot be mounted it
//! prints `powerloss: skipped (no FUSE: <reason>)` and exits 0.
//!
//! `POWERLOSS_SEGMENTS=mixed|default|<bytes>` picks the sled log segment size of the stores
//! (default `mixed`: half sled's default, half 1–64 KiB); `POWERLOSS_DIR` the scratch space.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use powerfs::harness::{self, CHECK_SUBCOMMAND, CHILD_SUBCOMMAND, Options, Segments};
use powerfs::syncs;

struct Args {
    cuts: Option<u64>,
    seed: Option<u64>,
    torn: bool,
    skip_sync: Option<String>,
    list_syncs: bool,
    verbose: bool,
}

const USAGE: &str = "usage: powerloss --cuts N [--seed S] [--torn] [--skip-sync NAME] [-v] | --list-syncs";

fn parse_u64(text: &str) -> Result<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).with_context(|| format!("not a number: {text:?}")),
        None => text.parse().with_context(|| format!("not a number: {text:?}")),
    }
}

fn parse(args: &[String]) -> Result<Args> {
    let mut out =
        Args { cuts: None, seed: None, torn: false, skip_sync: None, list_syncs: false, verbose: false };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value =
            |name: &str| it.next().cloned().with_context(|| format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--cuts" => out.cuts = Some(parse_u64(&value("--cuts")?)?),
            "--seed" => out.seed = Some(parse_u64(&value("--seed")?)?),
            "--torn" => out.torn = true,
            "--skip-sync" => out.skip_sync = Some(value("--skip-sync")?),
            "--list-syncs" => out.list_syncs = true,
            "-v" | "--verbose" => out.verbose = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(out)
}

/// `powerloss __child <store> <log> <seed> <max_blocks> [config|import]`: the workload, until
/// cut (with `config`, a collector-configuration change first; with `import`, the fresh store
/// is made by a state-sync import first).
fn child(args: &[String]) -> Result<()> {
    let (store, log, seed, max_blocks, config) = match args {
        [store, log, seed, max_blocks] => (store, log, seed, max_blocks, false),
        [store, log, seed, max_blocks, flag] if flag == "config" || flag == "import" => {
            (store, log, seed, max_blocks, flag == "config")
        }
        _ => bail!("__child <store> <log> <seed> <max_blocks> [config|import]"),
    };
    let import = args.get(4).is_some_and(|f| f == "import");
    let (store, log, seed) = (PathBuf::from(store), PathBuf::from(log), parse_u64(seed)?);
    if config {
        powerfs::configlog::change(&store, &log, &mut crashtest::Rng::new(seed ^ 0xC0F1))?;
    }
    if import {
        // The fresh store is built by a state-sync import (`import-finish`), then used.
        powerfs::importlog::import(&store, &log, seed)?;
    }
    // Half the stores archive their history into a directory on the crash file system.
    harness::maybe_configure_archive(&store, seed)?;
    crashtest::workload::set_open_hook(harness::attach_archive);
    crashtest::workload::run(&crashtest::workload::Options {
        store,
        log,
        seed,
        crash_at: None,
        max_blocks: parse_u64(max_blocks)?,
    })
}

/// `powerloss __check <store> <log> <now|grace>`: the checks after a cut, in the store's
/// environment. Prints a `checked …` line; on a violation prints it and exits 1.
fn check(args: &[String]) -> ExitCode {
    let [store, log, mode] = args else {
        println!("__check <store> <log> <now|grace>");
        return ExitCode::from(2);
    };
    let Some(mode) = harness::settle_named(mode) else {
        println!("__check: unknown settle mode {mode:?}");
        return ExitCode::from(2);
    };
    match harness::check_store(std::path::Path::new(store), std::path::Path::new(log), mode) {
        Ok(checked) => {
            println!("{}", checked.to_line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn time_seed() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (now.as_secs() ^ u64::from(now.subsec_nanos())) % 1_000_000_000
}

fn main() -> Result<ExitCode> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some(CHILD_SUBCOMMAND) {
        child(&argv[1..])?;
        return Ok(ExitCode::SUCCESS);
    }
    if argv.first().map(String::as_str) == Some(CHECK_SUBCOMMAND) {
        return Ok(check(&argv[1..]));
    }
    let args = parse(&argv)?;
    if args.list_syncs {
        for name in syncs::names() {
            println!("{name}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(cuts) = args.cuts else { bail!("--cuts N is required\n{USAGE}") };
    if let Some(name) = &args.skip_sync
        && syncs::step(name).is_none()
    {
        bail!("unknown durability step {name:?} (known: {})", syncs::names().join(", "));
    }
    if let Err(reason) = powerfs::probe() {
        println!("powerloss: skipped (no FUSE: {reason})");
        return Ok(ExitCode::SUCCESS);
    }
    let segments = match std::env::var("POWERLOSS_SEGMENTS") {
        Ok(text) => Segments::parse(&text)
            .with_context(|| format!("POWERLOSS_SEGMENTS={text:?}: mixed, default or a power of two"))?,
        Err(_) => Segments::Mixed,
    };
    let seed = args.seed.unwrap_or_else(time_seed);
    println!(
        "powerloss: seed {seed} (replay with --seed {seed}), torn {}, skip-sync {}",
        args.torn,
        args.skip_sync.as_deref().unwrap_or("none")
    );
    let scratch = scratch_dir()?;
    let report_dir =
        std::env::temp_dir().join(format!("powerloss-{seed}{}", if args.torn { "-torn" } else { "" }));
    let options = Options {
        cuts,
        seed,
        torn: args.torn,
        skip_sync: args.skip_sync.clone(),
        verbose: args.verbose,
        child_exe: std::env::current_exe().context("the path of this executable")?,
        scratch: scratch.path().to_owned(),
        report_dir,
        cuts_per_store: 5,
        max_blocks: 30,
        segments,
    };
    let mut stdout = std::io::stdout();
    let report = harness::run(&options, &mut stdout)?;
    println!("{report}");
    println!("powerloss: {} cuts, {} violations", report.cuts, report.violations.len());
    Ok(if report.violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Scratch space for the mount point, the commit log and child output: on tmpfs when there
/// is one (the commit log is not on the crash file system, so tmpfs keeps it across a cut);
/// `POWERLOSS_DIR` overrides.
fn scratch_dir() -> Result<tempfile::TempDir> {
    if let Some(dir) = std::env::var_os("POWERLOSS_DIR") {
        std::fs::create_dir_all(&dir)?;
        return Ok(tempfile::tempdir_in(dir)?);
    }
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new().prefix("powerloss-").tempdir_in(shm)
    {
        return Ok(dir);
    }
    Ok(tempfile::Builder::new().prefix("powerloss-").tempdir()?)
}
