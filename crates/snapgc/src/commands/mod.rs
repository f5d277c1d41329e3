//! One function per subcommand, grouped by file; each returns the exit status it wants (0, 1 or
//! 2 when it has printed its own result) or an error (which `main` turns into one stderr line
//! and 2 or 3).
//!
//! - [`import_export`]: `import`, `export`;
//! - [`kv`]: `kv get | set | delete | list`;
//! - [`gc`]: `gc` and its table;
//! - [`inspect`]: `stats`, `verify`, `ls`;
//! - [`config`]: `config`, `config set`;
//! - [`status`]: `status` (also of a running store, without its lock);
//! - [`state`]: `state export`, `state import`;
//! - [`output`]: JSON and text on stdout, progress bars on stderr.

mod archive_cmd;
mod config;
mod gc;
mod import_export;
mod inspect;
mod kv;
mod output;
mod state;
mod status;

use std::path::Path;

use anyhow::{Result, bail};
use swingstore::{OpenOptions, SnapshotHash, SwingStore};

use crate::cli::{ArchiveCommand, Cli, Command, ConfigCommand, KvCommand, StateCommand};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<u8> {
    let json = cli.json;
    let store_dir = cli.store;
    let open = |create: bool| open_store(store_dir.as_deref(), create);
    match cli.command {
        Command::Import { files } => import_export::import(&open(true)?, &files, json),
        Command::Export { hash, output } => {
            // Validate before touching the store: a bad name never reaches a path.
            let hash = SnapshotHash::parse(&hash)?;
            import_export::export(&open(false)?, &hash, output.as_deref(), json)
        }
        Command::Kv { action } => match action {
            KvCommand::Get { key } => kv::get(&open(false)?, &key, json),
            KvCommand::Set { key, value } => kv::set(&open(true)?, &key, &value, json),
            KvCommand::Delete { key } => kv::delete(&open(false)?, &key, json),
            KvCommand::List { prefix } => kv::list(&open(false)?, prefix.as_deref().unwrap_or(""), json),
        },
        Command::Gc(args) => {
            let store = open(false)?;
            archive_cmd::attach_or_warn(&store);
            gc::run(&store, &args, json)
        }
        Command::Stats => inspect::stats(&open_to_read(store_dir.as_deref())?, json),
        Command::Verify { deep } => inspect::verify(&open_to_read(store_dir.as_deref())?, deep, json),
        Command::Ls => inspect::ls(&open_to_read(store_dir.as_deref())?, json),
        Command::Status => {
            let Some(dir) = store_dir.as_deref() else {
                bail!("no store given: pass --store DIR (or set SNAPGC_STORE)");
            };
            status::run(dir, json)
        }
        Command::Config { action } => match action {
            None => config::show(&open(false)?, json),
            Some(ConfigCommand::Set {
                grace,
                root_patterns,
                force,
                archive,
                no_archive,
                archive_keep_last,
                metrics_file,
                no_metrics_file,
            }) => {
                let store = open(false)?;
                let archive = config::ArchiveChange {
                    location: archive,
                    none: no_archive,
                    keep_last: archive_keep_last,
                };
                let only_metrics = grace.is_none() && root_patterns.is_empty() && archive.is_empty();
                if metrics_file.is_some() || no_metrics_file {
                    config::set_metrics_file(&store, metrics_file.as_deref(), only_metrics, json)?;
                    if only_metrics {
                        return Ok(crate::cli::exit::OK);
                    }
                }
                config::set(&store, grace, root_patterns, force, archive, json)
            }
        },
        Command::Archive { action } => match action {
            ArchiveCommand::Ls => archive_cmd::ls(&open(false)?, json),
            ArchiveCommand::Get { hash, output } => {
                let hash = SnapshotHash::parse(&hash)?;
                archive_cmd::get(&open(false)?, &hash, output.as_deref(), json)
            }
            ArchiveCommand::Stats => archive_cmd::stats(&open(false)?, json),
            ArchiveCommand::Verify { deep } => archive_cmd::verify(&open(false)?, deep, json),
            ArchiveCommand::Gc { dry_run, budget } => archive_cmd::gc(&open(false)?, dry_run, budget, json),
        },
        Command::State { action } => match action {
            StateCommand::Export { dir, mode } => state::export(&open(false)?, &dir, mode, json),
            StateCommand::Import { dir, mode, expect_data_hash, snapshots_only, root_patterns } => {
                let Some(store) = store_dir.as_deref() else {
                    bail!("no store given: pass --store DIR (or set SNAPGC_STORE)");
                };
                let args = state::ImportArgs { mode, expect_data_hash, snapshots_only, root_patterns };
                state::import(store, &dir, &args, json)
            }
        },
    }
}

/// The directories no output file may be written into: the store's, and a local archive's.
fn protected_dirs(store: &SwingStore) -> Vec<(&'static str, std::path::PathBuf)> {
    let mut dirs = vec![("store directory", store.path().to_owned())];
    if let Some(archive) = store.archive_config()
        && !archive.location.contains("://")
    {
        dirs.push(("archive directory", std::path::PathBuf::from(archive.location)));
    }
    dirs
}

/// Opens a store to read it (`stats`, `verify`, `ls`): read-only when it can (no recovery
/// work, nothing written by this crate, no fsync of ours: issue 25), else as [`open_store`]
/// does (a store that needs recovery gets it; a missing or foreign directory gets the writer's
/// error). A store in use is reported as such (exit 3), as a writer's open would.
fn open_to_read(dir: Option<&Path>) -> Result<SwingStore> {
    let Some(path) = dir else {
        bail!("no store given: pass --store DIR (or set SNAPGC_STORE)");
    };
    match SwingStore::open_read_only(path) {
        Ok(store) => Ok(store),
        Err(e @ swingstore::Error::InUse { .. }) => Err(e.into()),
        Err(_) => open_store(dir, false),
    }
}

fn open_store(dir: Option<&Path>, create: bool) -> Result<SwingStore> {
    let Some(dir) = dir else {
        bail!("no store given: pass --store DIR (or set SNAPGC_STORE)");
    };
    Ok(SwingStore::open(dir, OpenOptions { create })?)
}
