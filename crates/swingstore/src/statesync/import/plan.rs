//! Pass 2 of an import: the snapshot records checked against each other and the store's root
//! patterns, and the roots the one commit will set (each with the snapshot it needs).

use std::collections::BTreeMap;

use super::super::format::{self, kv_name, snapshot_name, vat_root_key};
use super::records::Records;
use crate::error::{Error, Result};
use crate::hash::SnapshotHash;
use crate::roots::parse_root_reference;
use crate::store::SwingStore;

/// A root the commit will set, and the snapshot it needs.
pub(super) struct RootPlan {
    pub key: String,
    pub value: String,
    pub hash: SnapshotHash,
    /// The record that vouches for it (named in a refusal).
    pub record: String,
}

/// Checks the snapshot records against each other and the store's patterns; plans the roots.
pub(super) fn plan_roots(store: &SwingStore, rec: &mut Records) -> Result<Vec<RootPlan>> {
    let kv = store.kv();
    let mut in_use: BTreeMap<&str, u64> = BTreeMap::new();
    for ((vat, pos), r) in &rec.snapshots {
        if !r.in_use {
            continue;
        }
        if let Some(other) = in_use.insert(vat, *pos) {
            return Err(Error::refused(
                format!("record {}", snapshot_name(vat, *pos)),
                format!("vat {vat} has two in-use snapshots ({} too)", snapshot_name(vat, other)),
            ));
        }
    }
    for (vat, pos) in &rec.currents {
        if in_use.get(vat.as_str()) != Some(pos) {
            return Err(Error::refused(
                format!("record {}", format::current_key(vat)),
                format!("it names {}, which is not an in-use snapshot record", snapshot_name(vat, *pos)),
            ));
        }
    }
    let mut plans = Vec::new();
    for (vat, pos) in in_use {
        let name = snapshot_name(vat, pos);
        if !rec.currents.contains_key(vat) {
            return Err(Error::refused(
                format!("record {}", format::current_key(vat)),
                format!("missing: {name} is in use"),
            ));
        }
        let hash = rec.snapshots[&(vat.to_owned(), pos)].hash;
        let key = vat_root_key(vat);
        if !kv.is_root(&key) {
            return Err(Error::refused(
                format!("record {name}"),
                format!("its root key {key} is not a root under the store's root patterns"),
            ));
        }
        let value = match rec.root_kv.remove(&key).flatten() {
            None => crate::roots::format_root_value(&hash, pos),
            Some(verbatim) => {
                match parse_root_reference(&key, verbatim.as_bytes()) {
                    Ok((h, p)) if h == hash && p == pos => {}
                    _ => {
                        return Err(Error::refused(
                            format!("record {}", kv_name(&key)),
                            format!("its value does not name the snapshot of {name}"),
                        ));
                    }
                }
                verbatim
            }
        };
        plans.push(RootPlan { key, value, hash, record: name });
    }
    for (key, value) in std::mem::take(&mut rec.root_kv) {
        let Some(value) = value else { continue };
        let record = kv_name(&key);
        let hash = match parse_root_reference(&key, value.as_bytes()) {
            Ok((hash, _)) if value.len() <= 4096 => hash,
            Ok(_) => {
                return Err(Error::refused(
                    format!("record {record}"),
                    "a root value over 4096 bytes names no snapshot",
                ));
            }
            Err(e) => {
                return Err(Error::refused(
                    format!("record {record}"),
                    format!("a root value that names no snapshot: {e}"),
                ));
            }
        };
        plans.push(RootPlan { key, value, hash, record });
    }
    Ok(plans)
}
