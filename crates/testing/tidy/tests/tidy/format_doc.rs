//! docs/format.md against the code: its sled key table is `schema.rs`'s keys (and so is
//! `schema.rs`'s own header table), its layout names everything a store directory holds, and
//! each record it says is pinned has golden bytes.

use std::collections::BTreeSet;

use swingstore::{OpenOptions, SwingStore, format_root_value};

use crate::util::{backticked, first_code_block, read, report, section, table_rows};

/// A key as the tables write it (`k/<key>`, `s/epoch`) reduced to what the code spells:
/// everything before the first `<`.
fn key_of(cell: &str) -> String {
    cell.split('<').next().unwrap_or(cell).to_owned()
}

/// The keys `schema.rs` defines: every `const NAME: &[u8] = b"...";`.
fn schema_keys(schema: &str) -> BTreeSet<String> {
    schema
        .lines()
        .filter(|l| l.contains("const ") && l.contains(": &[u8] = b\""))
        .filter_map(|l| l.split("b\"").nth(1)?.split('"').next().map(str::to_owned))
        .collect()
}

fn diff(what: &str, code: &BTreeSet<String>, doc: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> =
        code.difference(doc).map(|k| format!("`{k}` is in schema.rs but not in {what}")).collect();
    out.extend(doc.difference(code).map(|k| format!("`{k}` is in {what} but not in schema.rs")));
    out
}

#[test]
fn the_key_table_of_format_md_is_schema_rs() {
    let schema = read("crates/swingstore/src/schema.rs");
    let code = schema_keys(&schema);
    assert!(code.len() >= 10, "schema.rs keys not found: {code:?}");
    let format = read("docs/format.md");
    let doc: BTreeSet<String> = table_rows(section(
        &format,
        "## sled keys (one tree, so one `apply_batch` is atomic over all of them)",
    ))
    .iter()
    .flat_map(|row| backticked(&row[0]))
    .map(|k| key_of(&k))
    .collect();
    let header: String = schema.lines().filter_map(|l| l.strip_prefix("//!")).collect::<Vec<_>>().join("\n");
    let own: BTreeSet<String> =
        table_rows(&header).iter().flat_map(|row| backticked(&row[0])).map(|k| key_of(&k)).collect();
    let mut problems = diff("docs/format.md's key table", &code, &doc);
    problems.extend(diff("schema.rs's header table", &code, &own));
    report("sled keys", &problems);
}

/// Every name a real store directory holds after a save, a commit, a collection and a close
/// (and the import marker, which only an import in progress leaves) is in the layout block.
#[test]
fn the_layout_of_format_md_names_everything_a_store_holds() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("store");
    let store = SwingStore::open(&path, OpenOptions { create: true }).expect("create");
    let saved = store.save_bytes(b"a heap").expect("save");
    store.kv().set("v1.lastSnapshot", &format_root_value(&saved.hash, 1));
    store.commit().expect("commit");
    store.gc().expect("gc");
    drop(store);
    let format = read("docs/format.md");
    let layout = first_code_block(&format).join("\n");
    let mut problems = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&path)
        .expect("the store")
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() { format!("{name}/") } else { name }
        })
        .collect();
    names.push("IMPORT-INCOMPLETE".to_owned());
    names.push("snapshots/<hash>.lz4".to_owned());
    names.sort();
    for name in names {
        if !layout.contains(&format!("<store>/{name}")) {
            problems.push(format!("<store>/{name} is not in docs/format.md's layout block"));
        }
    }
    report("store layout", &problems);
}

/// The records block lists `struct X { … }` lines; a record without golden bytes in
/// `tests/suite/golden.rs` must say so on its line.
#[test]
fn each_record_format_md_pins_has_golden_bytes() {
    let format = read("docs/format.md");
    let golden = read("crates/swingstore/tests/suite/golden.rs");
    let records = section(&format, "## Records");
    let block = first_code_block(records);
    let mut problems = Vec::new();
    let mut seen = 0;
    for line in block {
        let Some(name) = line.strip_prefix("struct ").and_then(|r| r.split_whitespace().next()) else {
            continue;
        };
        seen += 1;
        let pinned = golden.contains(name);
        let says_not = line.contains("no golden bytes");
        if !pinned && !says_not {
            problems.push(format!("{name}: no golden bytes in golden.rs, and its line does not say so"));
        }
        if pinned && says_not {
            problems.push(format!("{name}: its line says no golden bytes, but golden.rs has them"));
        }
    }
    assert!(seen >= 4, "no records found in docs/format.md's Records block");
    report("records", &problems);
}
