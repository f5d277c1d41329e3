//! Reading the repository: files, markdown sections, tables, code blocks, source text.

use std::path::{Path, PathBuf};

/// The repository's root directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

/// A file of the repository, as text.
#[track_caller]
pub fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The docs: README.md and every docs/*.md, as (relative path, text).
pub fn docs() -> Vec<(String, String)> {
    let mut out = vec![("README.md".to_owned(), read("README.md"))];
    let mut names: Vec<String> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    for name in names {
        let rel = format!("docs/{name}");
        let text = read(&rel);
        out.push((rel, text));
    }
    out
}

/// The section of `doc` under the heading line `heading` (exact line, e.g. `## Records`), up to
/// the next heading of the same or a higher level.
#[track_caller]
pub fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let start = doc
        .find(&format!("\n{heading}\n"))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let body = &doc[start + heading.len() + 1..];
    let mut offset = 0;
    let mut in_code = false;
    for line in body.split_inclusive('\n') {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !in_code && hashes > 0 && hashes <= level && line[hashes..].starts_with(' ') {
            break;
        }
        offset += line.len();
    }
    &body[..offset]
}

/// The cells of every row of the markdown tables in `text` (header and separator rows left out).
pub fn table_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut header = true;
    for line in text.lines() {
        let Some(inner) = line.trim().strip_prefix('|') else {
            header = true;
            continue;
        };
        if header {
            header = false;
            continue;
        }
        if inner.starts_with("---") || inner.starts_with(":--") {
            continue;
        }
        rows.push(cells(inner.trim_end_matches('|')));
    }
    rows
}

/// The cells of one table row (without its outer pipes); `\|` is a pipe inside a cell.
fn cells(inner: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'|') {
            chars.next();
            cell.push('|');
        } else if c == '|' {
            out.push(std::mem::take(&mut cell).trim().to_owned());
        } else {
            cell.push(c);
        }
    }
    out.push(cell.trim().to_owned());
    out
}

/// The contents of every `` `code span` `` in `text`.
pub fn backticked(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(inside), Some(_)) = (parts.next(), parts.next()) {
            out.push(inside.to_owned());
        }
    }
    out
}

/// The lines of the first fenced code block in `text`.
#[track_caller]
pub fn first_code_block(text: &str) -> Vec<&str> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("```"));
    lines.next().expect("a code block");
    lines.take_while(|l| !l.starts_with("```")).collect()
}

/// Every `.rs` file under `rel` (recursively; `target/` left out), as (relative path, text).
pub fn rust_files(rel: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut todo = vec![root().join(rel)];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    todo.push(path);
                }
            } else if name.ends_with(".rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let rel = path.strip_prefix(root()).unwrap_or(&path).to_string_lossy().replace("/./", "/");
                out.push((rel, text));
            }
        }
    }
    out
}

/// Every file of the repository (`target/`, `node_modules/` and dot-directories left out), as
/// paths relative to the root.
pub fn all_files() -> Vec<String> {
    let mut out = Vec::new();
    let base = root().canonicalize().expect("the repository root");
    let mut todo = vec![base.clone()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            if path.is_dir() {
                out.push(format!("{}/", path.strip_prefix(&base).unwrap_or(&path).display()));
                todo.push(path);
            } else {
                out.push(path.strip_prefix(&base).unwrap_or(&path).display().to_string());
            }
        }
    }
    out
}

/// Fails with every problem at once.
#[track_caller]
pub fn report(what: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}
