//! The command line, as clap derives it. This interface is a contract (issue 5): extend it,
//! never rename a subcommand, a flag or an exit code.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Exit statuses (documented in `--help`, docs/CLI.md and the README).
pub mod exit {
    /// Success; the store is healthy.
    pub const OK: u8 = 0;
    /// `verify` found problems, or `kv get` / `kv delete` found no key.
    pub const PROBLEMS: u8 = 1;
    /// The pass refused to delete (fail-closed), some deletions failed, or any other error.
    pub const ERROR: u8 = 2;
    /// The store is in use by another process.
    pub const IN_USE: u8 = 3;
}

/// The exit-status table, shared by every `--help`.
macro_rules! exit_status_help {
    () => {
        "\
Exit status:
  0  success; the store is healthy
  1  verify found problems, or kv get / kv delete found no such key (nothing is committed then)
  2  gc refused to delete (a malformed root: fail closed), some deletions failed (the pass went
     on and lists them), state import refused its input (the record or artifact is named; the
     store is left without any root), or any other error (bad hash, missing store, I/O, usage)
  3  the store is in use by another process (a running kernel or another snapgc)"
    };
}

const EXIT_STATUS: &str = exit_status_help!();

const AFTER_HELP: &str = concat!(
    exit_status_help!(),
    "\n
Every error is one line on stderr, `snapgc: <cause>`. With --json, stdout carries exactly one
JSON document. Read-only commands never create a store; import and kv set do.
Logging: RUST_LOG (default `warn`), to stderr."
);

/// Operator tool for a swingstore: collect garbage snapshots (with a dry run that says why),
/// check the store, see where the bytes go, move snapshots in and out, poke the kvStore.
#[derive(Debug, Parser)]
#[command(name = "snapgc", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// The store directory.
    #[arg(long, global = true, value_name = "DIR", env = "SNAPGC_STORE")]
    pub store: Option<PathBuf>,

    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Save each FILE as a snapshot blob, in one committed block; prints "<sha256>  <FILE>".
    #[command(after_help = EXIT_STATUS)]
    Import {
        /// Files holding raw (uncompressed) heap snapshots.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Write a snapshot's verified raw bytes to FILE (replaced only once verified) or stdout.
    #[command(after_help = EXIT_STATUS)]
    Export {
        /// The snapshot's sha256 (64 lowercase hex characters).
        hash: String,
        /// Output file (default: stdout).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Read and write the kvStore (a debugging tool: values are stored as given).
    #[command(after_help = EXIT_STATUS)]
    Kv {
        #[command(subcommand)]
        action: KvCommand,
    },
    /// Collect: mark the committed roots, sweep unreferenced blobs whose grace has run out.
    #[command(after_help = EXIT_STATUS)]
    Gc(GcArgs),
    /// Totals: epoch, roots, live snapshots, blobs, bytes, garbage.
    #[command(after_help = EXIT_STATUS)]
    Stats,
    /// Check roots, live blobs and the snapshot area (--deep: decompress and re-hash every blob).
    #[command(after_help = EXIT_STATUS)]
    Verify {
        /// Decompress and re-hash every blob (slow; a progress bar on a terminal).
        #[arg(long)]
        deep: bool,
    },
    /// List every blob the store knows, with its state and the roots naming it.
    #[command(after_help = EXIT_STATUS)]
    Ls,
    /// How the store is doing: sizes, garbage, the last pass, the backlog. Works while a kernel
    /// runs the store (reads the status it writes); exit 1 if a live snapshot is missing or the
    /// last pass failed closed.
    #[command(after_help = EXIT_STATUS)]
    Status,
    /// Show (or with `set`, change) the root patterns, default grace, archive and metrics file kept in the store.
    #[command(after_help = EXIT_STATUS)]
    Config {
        #[command(subcommand)]
        action: Option<ConfigCommand>,
    },
    /// The archive of replaced snapshots (configure it with `config set --archive LOCATION`).
    #[command(after_help = EXIT_STATUS)]
    Archive {
        #[command(subcommand)]
        action: ArchiveCommand,
    },
    /// State sync in Agoric's format: export the committed state to a directory, or build a
    /// new store from one (docs/STATE-SYNC.md).
    #[command(after_help = EXIT_STATUS)]
    State {
        #[command(subcommand)]
        action: StateCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// List every archived snapshot: hash, raw bytes, the root and position that last named it,
    /// the epoch it was archived at.
    Ls,
    /// Write an archived snapshot's verified raw bytes to FILE (replaced only once verified) or
    /// stdout.
    Get {
        /// The snapshot's sha256 (64 lowercase hex characters).
        hash: String,
        /// Output file (default: stdout).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Totals: snapshots, raw bytes, distinct chunks, stored bytes (packs and manifests).
    Stats,
    /// Check that every manifest reads and names packs that exist (--deep: reassemble and
    /// re-hash every snapshot and chunk). Exit 1 on problems.
    Verify {
        /// Reassemble every snapshot and re-hash it and each of its chunks.
        #[arg(long)]
        deep: bool,
    },
    /// Collect the archive: retention (config set --archive-keep-last N) drops manifests; packs
    /// no kept manifest names are condemned, and deleted once the store's grace has passed.
    Gc {
        /// Decide and report; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete at most N objects in this pass; the rest is left for the next.
        #[arg(long, value_name = "N")]
        budget: Option<u64>,
    },
}

/// Agoric's artifact modes that this store has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The snapshots the committed roots name.
    Operational,
    /// Also every earlier snapshot still available.
    Debug,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Export the committed state into DIR (created; refused if not empty): export-manifest.json,
    /// export-data.jsonl, one file per artifact. Ends with `export-data sha256:<hex>`.
    #[command(after_help = EXIT_STATUS)]
    Export {
        /// The export directory.
        #[arg(long, value_name = "D")]
        dir: PathBuf,
        /// operational: in-use snapshots only; debug: also every earlier snapshot still stored.
        #[arg(long, value_enum, default_value = "operational")]
        mode: Mode,
    },
    /// Build the store (missing or empty) from the export in DIR, verifying every artifact
    /// against the export data; all or nothing (exit 2 on any refusal, the store left without
    /// any root).
    #[command(after_help = EXIT_STATUS)]
    Import {
        /// The export directory.
        #[arg(long, value_name = "D")]
        dir: PathBuf,
        /// operational: import in-use snapshots (earlier ones offered are ignored, their
        /// records kept); debug: also verify and save earlier snapshots offered.
        #[arg(long, value_enum, default_value = "operational")]
        mode: Mode,
        /// Refuse unless export-data.jsonl has this sha256 (the trusted value).
        #[arg(long, value_name = "sha256:HEX")]
        expect_data_hash: Option<String>,
        /// Skip (and count) transcript.* and bundle.* records and artifacts instead of refusing.
        #[arg(long)]
        snapshots_only: bool,
        /// (extension) Root pattern of the new store (repeat for several; default
        /// `v*.lastSnapshot`): give the exporting store's, so `kv.` roots of other patterns
        /// (kernel-sim's `zygote.*.snapshot`) stay roots.
        #[arg(long = "root-pattern", value_name = "P", num_args = 1..)]
        root_patterns: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// Print the committed value of KEY (exit 1 if absent).
    Get { key: String },
    /// Set KEY to VALUE, in one committed block (creates the store if needed).
    Set {
        key: String,
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Delete KEY, in one committed block (exit 1, nothing committed, if absent).
    Delete { key: String },
    /// Print "key<TAB>value" lines for every key starting with PREFIX (default: all).
    List { prefix: Option<String> },
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Decide and report (what would go, why every other blob stays); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Grace in epochs for this pass only (default: the one persisted in the store).
    #[arg(long, value_name = "N")]
    pub grace: Option<u64>,
    /// Offline pass: sweep every unreferenced blob (young ones included), orphan, stray and
    /// temp file at once, ignoring grace.
    #[arg(long)]
    pub now: bool,
    /// Delete at most N blobs in this pass; the rest is left for the next.
    #[arg(long, value_name = "N")]
    pub budget: Option<u64>,
    /// Also list the blob area (remove temp leftovers, adopt orphans, report strays). Done
    /// anyway after an unclean shutdown and by `--now`; without it an unchanged store is
    /// decided in O(1).
    #[arg(long)]
    pub scan: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Change the persisted configuration (options not given keep their value).
    Set {
        /// Default grace in epochs.
        #[arg(long, value_name = "N")]
        grace: Option<u64>,
        /// Root key pattern (repeat for several; replaces the whole list). `*` matches one or
        /// more characters other than '.'. Refused (exit 2) if a committed root key would stop
        /// being a root, unless --force.
        #[arg(long = "root-pattern", value_name = "P", num_args = 1..)]
        root_patterns: Vec<String>,
        /// Apply a pattern change even though it un-roots committed keys (their snapshots then
        /// age out like any garbage).
        #[arg(long)]
        force: bool,
        /// Write the Prometheus metrics to PATH (e.g. node_exporter's textfile directory)
        /// instead of <store>/metrics.prom.
        #[arg(long, value_name = "PATH", conflicts_with = "no_metrics_file")]
        metrics_file: Option<std::path::PathBuf>,
        /// Write the metrics to <store>/metrics.prom again.
        #[arg(long)]
        no_metrics_file: bool,
        /// Archive every replaced snapshot before the collector deletes it, to LOCATION: a
        /// directory or s3://bucket[/prefix] (S3 settings from the AWS_* environment variables).
        #[arg(long, value_name = "LOCATION", conflicts_with = "no_archive")]
        archive: Option<String>,
        /// Stop archiving (replaced snapshots are then deleted as before).
        #[arg(long)]
        no_archive: bool,
        /// Archive retention: keep the last N snapshots of each root key (0 = keep all, the
        /// default).
        #[arg(long, value_name = "N", conflicts_with = "no_archive")]
        archive_keep_last: Option<u64>,
    },
}
