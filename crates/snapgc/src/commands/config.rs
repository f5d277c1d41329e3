//! `config` (the root patterns and default grace kept in the store) and `config set` (change
//! them, refusing to un-root committed keys unless forced).

use anyhow::{Result, bail};
use serde::Serialize;
use swingstore::{GcConfig, SwingStore};

use super::output::{print_json, print_text};
use crate::cli::exit;

fn print_config(config: &GcConfig, json: bool) -> Result<()> {
    if json {
        print_json(config)
    } else {
        let patterns: String = config.root_patterns.iter().map(|p| format!("root_pattern  {p}\n")).collect();
        print_text(&format!("{patterns}grace         {}\n", config.grace))
    }
}

pub fn show(store: &SwingStore, json: bool) -> Result<u8> {
    let metrics = store.metrics_file()?;
    if json {
        #[derive(Serialize)]
        struct Shown<'a> {
            root_patterns: &'a [String],
            grace: u64,
            metrics_file: String,
        }
        let config = store.config();
        print_json(&Shown {
            root_patterns: &config.root_patterns,
            grace: config.grace,
            metrics_file: metrics_text(store, metrics.as_deref()),
        })?;
    } else {
        print_config(&store.config(), false)?;
        print_text(&format!("metrics_file  {}\n", metrics_text(store, metrics.as_deref())))?;
    }
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

pub fn set(
    store: &SwingStore,
    grace: Option<u64>,
    patterns: Vec<String>,
    force: bool,
    json: bool,
) -> Result<u8> {
    if grace.is_none() && patterns.is_empty() {
        bail!("config set: nothing to change (give --grace N and/or --root-pattern P...)");
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
            changed: ChangeSummary {
                grace_before: change.old.grace,
                patterns_added: added(&change.new.root_patterns, &change.old.root_patterns),
                patterns_removed: added(&change.old.root_patterns, &change.new.root_patterns),
                keys_rooted: &change.rooted,
                keys_unrooted: &change.unrooted,
            },
        })?;
    } else {
        print_config(&change.new, false)?;
        print_text(&describe_change(&change))?;
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
