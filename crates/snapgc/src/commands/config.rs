//! `config` (the root patterns and default grace kept in the store) and `config set` (change
//! them, refusing to un-root committed keys unless forced).

use anyhow::{Context, Result, bail};
use serde::Serialize;
use swingstore::{ArchiveConfig, GcConfig, SwingStore};

use super::output::{print_json, print_text};
use crate::cli::exit;

/// `config --json`: the collector's fields, and the archive's when one is configured.
#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    config: &'a GcConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    archive: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    archive_keep_last: Option<u64>,
    metrics_file: &'a str,
}

fn print_config(
    config: &GcConfig,
    archive: Option<&ArchiveConfig>,
    metrics_file: &str,
    json: bool,
) -> Result<()> {
    if json {
        print_json(&Shown {
            config,
            archive: archive.map(|a| a.location.as_str()),
            archive_keep_last: archive.map(|a| a.keep_last),
            metrics_file,
        })
    } else {
        let patterns: String = config.root_patterns.iter().map(|p| format!("root_pattern  {p}\n")).collect();
        let archive = match archive {
            None => "archive       none\n".to_owned(),
            Some(a) => format!(
                "archive       {}\narchive keep  {}\n",
                a.location,
                if a.keep_last == 0 { "all".to_owned() } else { format!("last {} per root", a.keep_last) }
            ),
        };
        print_text(&format!(
            "{patterns}grace         {}\n{archive}metrics_file  {metrics_file}\n",
            config.grace
        ))
    }
}

pub fn show(store: &SwingStore, json: bool) -> Result<u8> {
    let metrics = metrics_text(store, store.metrics_file()?.as_deref());
    print_config(&store.config(), store.archive_config().as_ref(), &metrics, json)?;
    Ok(exit::OK)
}

fn metrics_text(store: &SwingStore, path: Option<&std::path::Path>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => store.path().join(swingstore::METRICS_FILE).display().to_string(),
    }
}

/// `config set --metrics-file PATH` / `--no-metrics-file`; prints the result when it is the
/// only change asked for.
pub fn set_metrics_file(
    store: &SwingStore,
    path: Option<&std::path::Path>,
    only: bool,
    json: bool,
) -> Result<()> {
    store.set_metrics_file(path)?;
    if only {
        show(store, json)?;
    }
    Ok(())
}

/// What `config set` asks of the archive.
#[derive(Debug, Default)]
pub struct ArchiveChange {
    /// `--archive LOCATION`.
    pub location: Option<String>,
    /// `--no-archive`.
    pub none: bool,
    /// `--archive-keep-last N`.
    pub keep_last: Option<u64>,
}

impl ArchiveChange {
    pub fn is_empty(&self) -> bool {
        self.location.is_none() && !self.none && self.keep_last.is_none()
    }

    /// The new archive configuration, from the current one.
    fn apply(&self, current: Option<ArchiveConfig>) -> Result<Option<ArchiveConfig>> {
        if self.none {
            return Ok(None);
        }
        let location = match (&self.location, &current) {
            (Some(loc), _) => absolute(loc)?,
            (None, Some(c)) => c.location.clone(),
            (None, None) => {
                bail!("config set --archive-keep-last: no archive is configured (give --archive LOCATION)")
            }
        };
        let keep_last = self.keep_last.or(current.map(|c| c.keep_last)).unwrap_or(0);
        // Check the location now: a typo must not wait for the first sweep to surface.
        archive::Location::parse(&location)?;
        Ok(Some(ArchiveConfig { location, keep_last }))
    }
}

/// A directory location is kept absolute (the kernel and the CLI run from other directories).
fn absolute(location: &str) -> Result<String> {
    if location.starts_with("s3://") || location.contains("://") || location.is_empty() {
        return Ok(location.to_owned());
    }
    let path = std::path::Path::new(location);
    if path.is_absolute() {
        return Ok(location.to_owned());
    }
    Ok(std::env::current_dir()?.join(path).display().to_string())
}

pub fn set(
    store: &SwingStore,
    grace: Option<u64>,
    patterns: Vec<String>,
    force: bool,
    archive: ArchiveChange,
    json: bool,
) -> Result<u8> {
    if grace.is_none() && patterns.is_empty() && archive.is_empty() {
        bail!(
            "config set: nothing to change (give --grace N, --root-pattern P..., --archive LOCATION, \
             --no-archive or --archive-keep-last N)"
        );
    }
    let archive_before = store.archive_config();
    if !archive.is_empty() {
        let new = archive.apply(archive_before.clone())?;
        if new != archive_before {
            if let Some(config) = &new {
                // Refuse what can never work before anything is created: then open the
                // archive as this store's (a missing or empty directory becomes an archive
                // owned by it; another store's archive or a user's directory is refused).
                store.check_archive_config(config)?;
                if archive_before.as_ref().map(|a| &a.location) != Some(&config.location) {
                    archive::Archive::open_owned(&config.location, &store.store_id()?, &[])
                        .with_context(|| format!("config set --archive {}", config.location))?;
                }
            }
            store.set_archive_config(new)?;
        }
    }
    let archive_now = store.archive_config();
    let metrics = metrics_text(store, store.metrics_file()?.as_deref());
    if grace.is_none() && patterns.is_empty() {
        if json {
            print_json(&Shown {
                config: &store.config(),
                archive: archive_now.as_ref().map(|a| a.location.as_str()),
                archive_keep_last: archive_now.as_ref().map(|a| a.keep_last),
                metrics_file: &metrics,
            })?;
        } else {
            print_config(&store.config(), archive_now.as_ref(), &metrics, false)?;
            print_text(&describe_archive(archive_before.as_ref(), archive_now.as_ref()))?;
        }
        return Ok(exit::OK);
    }
    let mut config = store.config();
    if let Some(g) = grace {
        config.grace = g;
    }
    if !patterns.is_empty() {
        config.root_patterns = patterns;
    }
    let change = if force { store.set_config_unrooting(config)? } else { store.set_config(config)? };
    if json {
        #[derive(Serialize)]
        struct Changed<'a> {
            root_patterns: &'a [String],
            grace: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            archive: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            archive_keep_last: Option<u64>,
            changed: ChangeSummary<'a>,
        }
        #[derive(Serialize)]
        struct ChangeSummary<'a> {
            grace_before: u64,
            patterns_added: Vec<&'a String>,
            patterns_removed: Vec<&'a String>,
            keys_rooted: &'a [String],
            keys_unrooted: &'a [String],
        }
        print_json(&Changed {
            root_patterns: &change.new.root_patterns,
            grace: change.new.grace,
            archive: archive_now.as_ref().map(|a| a.location.as_str()),
            archive_keep_last: archive_now.as_ref().map(|a| a.keep_last),
            changed: ChangeSummary {
                grace_before: change.old.grace,
                patterns_added: added(&change.new.root_patterns, &change.old.root_patterns),
                patterns_removed: added(&change.old.root_patterns, &change.new.root_patterns),
                keys_rooted: &change.rooted,
                keys_unrooted: &change.unrooted,
            },
        })?;
    } else {
        print_config(&change.new, archive_now.as_ref(), &metrics, false)?;
        print_text(&describe_change(&change))?;
        if archive_before != archive_now {
            print_text(&describe_archive(archive_before.as_ref(), archive_now.as_ref()))?;
        }
    }
    Ok(exit::OK)
}

/// Items of `a` not in `b`.
fn added<'a>(a: &'a [String], b: &[String]) -> Vec<&'a String> {
    a.iter().filter(|p| !b.contains(p)).collect()
}

/// `changed: grace 2 -> 3; root patterns + "x.*"; 1 key became a root` (or `unchanged`).
fn describe_change(change: &swingstore::ConfigChange) -> String {
    let mut parts = Vec::new();
    if change.old.grace != change.new.grace {
        parts.push(format!("grace {} -> {}", change.old.grace, change.new.grace));
    }
    let plus = added(&change.new.root_patterns, &change.old.root_patterns);
    let minus = added(&change.old.root_patterns, &change.new.root_patterns);
    if !plus.is_empty() || !minus.is_empty() {
        let all: Vec<String> =
            plus.iter().map(|p| format!("+{p:?}")).chain(minus.iter().map(|p| format!("-{p:?}"))).collect();
        parts.push(format!("root patterns {}", all.join(" ")));
    }
    if !change.rooted.is_empty() {
        parts.push(format!("{} committed key(s) became roots", change.rooted.len()));
    }
    if !change.unrooted.is_empty() {
        parts.push(format!(
            "{} committed key(s) stopped being roots (forced): {}",
            change.unrooted.len(),
            change.unrooted.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if parts.is_empty() {
        "changed: nothing\n".to_owned()
    } else {
        format!("changed: {}\n", parts.join("; "))
    }
}

/// `changed: archive none -> /x (keep all)`.
fn describe_archive(before: Option<&ArchiveConfig>, now: Option<&ArchiveConfig>) -> String {
    let show = |a: Option<&ArchiveConfig>| match a {
        None => "none".to_owned(),
        Some(a) if a.keep_last == 0 => format!("{} (keep all)", a.location),
        Some(a) => format!("{} (keep the last {} per root)", a.location, a.keep_last),
    };
    if before == now {
        "changed: nothing\n".to_owned()
    } else {
        format!("changed: archive {} -> {}\n", show(before), show(now))
    }
}
