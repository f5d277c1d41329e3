//! `kv get | set | delete | list`: a debugging tool over the kvStore (values as given, one
//! committed block per write).

use std::io::{self, BufWriter, Write};

use anyhow::{Context, Result};
use serde::Serialize;
use swingstore::SwingStore;

use super::output::{print_json, print_text};
use crate::cli::exit;

#[derive(Serialize)]
struct KvEntry<'a> {
    key: &'a str,
    value: Option<&'a str>,
}

#[derive(Serialize)]
struct KvWritten<'a> {
    key: &'a str,
    /// The value set (`null` for a delete).
    value: Option<&'a str>,
    /// The epoch of the block that was committed.
    epoch: u64,
}

pub fn get(store: &SwingStore, key: &str, json: bool) -> Result<u8> {
    let value = store.kv().get_committed(key)?;
    if json {
        print_json(&KvEntry { key, value: value.as_deref() })?;
    } else if let Some(v) = &value {
        print_text(&format!("{v}\n"))?;
    }
    match value {
        Some(_) => Ok(exit::OK),
        None => {
            eprintln!("snapgc: no key {key:?} in the kv store");
            Ok(exit::PROBLEMS)
        }
    }
}

pub fn set(store: &SwingStore, key: &str, value: &str, json: bool) -> Result<u8> {
    // A debugging tool: stored as given, never validated (the collector must cope).
    store.kv().set(key, value);
    let epoch = store.commit().with_context(|| format!("committing kv set {key}"))?;
    if json {
        print_json(&KvWritten { key, value: Some(value), epoch })?;
    }
    Ok(exit::OK)
}

pub fn delete(store: &SwingStore, key: &str, json: bool) -> Result<u8> {
    if store.kv().get_committed(key)?.is_none() {
        if json {
            print_json(&KvWritten { key, value: None, epoch: store.epoch() })?;
        }
        eprintln!("snapgc: no key {key:?} in the kv store; nothing committed");
        return Ok(exit::PROBLEMS);
    }
    store.kv().delete(key);
    let epoch = store.commit().with_context(|| format!("committing kv delete {key}"))?;
    if json {
        print_json(&KvWritten { key, value: None, epoch })?;
    }
    Ok(exit::OK)
}

pub fn list(store: &SwingStore, prefix: &str, json: bool) -> Result<u8> {
    let pairs = store.kv().scan_prefix(prefix)?;
    if json {
        let entries: Vec<_> = pairs.iter().map(|(k, v)| KvEntry { key: k, value: Some(v) }).collect();
        print_json(&entries)?;
    } else {
        let mut out = BufWriter::new(io::stdout().lock());
        for (k, v) in &pairs {
            writeln!(out, "{k}\t{v}")?;
        }
        out.flush()?;
    }
    Ok(exit::OK)
}
