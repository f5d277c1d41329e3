//! One function per subcommand. Each returns the exit status it wants (0, 1 or 2 when it has
//! printed its own result) or an error (which `main` turns into one stderr line and 2 or 3).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use swingstore::Progress;
use swingstore::{GcConfig, GcOptions, GcReport, OpenOptions, SnapshotHash, SwingStore};

use crate::cli::{Cli, Command, ConfigCommand, GcArgs, KvCommand, exit};
use crate::human;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<u8> {
    let json = cli.json;
    let store_dir = cli.store;
    let open = |create: bool| open_store(store_dir.as_deref(), create);
    match cli.command {
        Command::Import { files } => import(&open(true)?, &files, json),
        Command::Export { hash, output } => {
            // Validate before touching the store: a bad name never reaches a path.
            let hash = SnapshotHash::parse(&hash)?;
            export(&open(false)?, &hash, output.as_deref(), json)
        }
        Command::Kv { action } => match action {
            KvCommand::Get { key } => kv_get(&open(false)?, &key, json),
            KvCommand::Set { key, value } => kv_set(&open(true)?, &key, &value, json),
            KvCommand::Delete { key } => kv_delete(&open(false)?, &key, json),
            KvCommand::List { prefix } => kv_list(&open(false)?, prefix.as_deref().unwrap_or(""), json),
        },
        Command::Gc(args) => gc(&open(false)?, &args, json),
        Command::Stats => stats(&open(false)?, json),
        Command::Verify { deep } => verify(&open(false)?, deep, json),
        Command::Ls => ls(&open(false)?, json),
        Command::Config { action } => match action {
            None => config_show(&open(false)?, json),
            Some(ConfigCommand::Set { grace, root_patterns, force }) => {
                config_set(&open(false)?, grace, root_patterns, force, json)
            }
        },
    }
}

fn open_store(dir: Option<&Path>, create: bool) -> Result<SwingStore> {
    let Some(dir) = dir else {
        bail!("no store given: pass --store DIR (or set SNAPGC_STORE)");
    };
    Ok(SwingStore::open(dir, OpenOptions { create })?)
}

/// Prints one JSON document on stdout.
fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).context("writing JSON to stdout")?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Prints text on stdout.
fn print_text(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// A progress bar on stderr, only when stderr is a terminal.
fn progress_bar(label: &'static str) -> Option<ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} blobs, {elapsed} (eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label);
    Some(bar)
}

fn progress_callback(bar: &Option<ProgressBar>) -> Option<Progress> {
    let bar = bar.clone()?;
    Some(Arc::new(move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    }))
}

/// Runs `work` with a progress callback driving a bar (when `show`), then clears the bar.
fn with_progress<T>(label: &'static str, show: bool, work: impl FnOnce(Option<Progress>) -> T) -> T {
    let bar = if show { progress_bar(label) } else { None };
    let result = work(progress_callback(&bar));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    result
}

// ---------------------------------------------------------------------------------------------
// import / export

#[derive(Serialize)]
struct Imported {
    hash: String,
    file: String,
    raw_bytes: u64,
    stored_bytes: u64,
    /// The blob was already stored (its protection was renewed, nothing was written).
    deduplicated: bool,
}

fn import(store: &SwingStore, files: &[PathBuf], json: bool) -> Result<u8> {
    let mut rows = Vec::with_capacity(files.len());
    for path in files {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let meta = file.metadata().with_context(|| format!("cannot stat {}", path.display()))?;
        if meta.is_dir() {
            bail!("{} is a directory, not a snapshot file", path.display());
        }
        // Streams: the store hashes and compresses as it reads, with bounded memory.
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let info = store.save(&mut reader).with_context(|| format!("importing {}", path.display()))?;
        tracing::info!(file = %path.display(), hash = %info.hash, "saved");
        rows.push(Imported {
            hash: info.hash.to_hex(),
            file: path.display().to_string(),
            raw_bytes: info.raw_bytes,
            stored_bytes: info.stored_bytes,
            deduplicated: info.deduplicated,
        });
    }
    let epoch = store.commit().context("committing the import block")?;
    tracing::info!(epoch, "import committed");
    if json {
        print_json(&rows)?;
    } else {
        let text: String = rows.iter().map(|r| format!("{}  {}\n", r.hash, r.file)).collect();
        print_text(&text)?;
    }
    Ok(exit::OK)
}

#[derive(Serialize)]
struct Exported {
    hash: String,
    file: String,
    raw_bytes: u64,
}

fn export(store: &SwingStore, hash: &SnapshotHash, output: Option<&Path>, json: bool) -> Result<u8> {
    let Some(output) = output else {
        if json {
            bail!("export --json needs -o FILE (stdout would carry the snapshot bytes)");
        }
        if io::stdout().is_terminal() {
            bail!("refusing to write snapshot {hash} (binary) to a terminal: use -o FILE or redirect stdout");
        }
        let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
        store.load_into(hash, &mut out).with_context(|| {
            format!("exporting {hash} (the bytes already written to stdout are unverified: discard them)")
        })?;
        out.flush()?;
        return Ok(exit::OK);
    };
    // Write next to the destination and rename only once the bytes verified, so a corrupt blob
    // never leaves a partial FILE (the temp file is removed when dropped on error).
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".snapgc-export-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    let temp_path = temp.path().to_owned();
    let raw_bytes = {
        let mut writer = BufWriter::with_capacity(1 << 20, temp.as_file_mut());
        let n = store.load_into(hash, &mut writer)?;
        writer.flush().with_context(|| format!("writing {}", temp_path.display()))?;
        n
    };
    temp.as_file().sync_all().with_context(|| format!("syncing {}", temp_path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile creates 0600; an exported snapshot is an ordinary file.
        let _ = temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    temp.persist(output)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", output.display()))?;
    if json {
        print_json(&Exported { hash: hash.to_hex(), file: output.display().to_string(), raw_bytes })?;
    }
    Ok(exit::OK)
}

// ---------------------------------------------------------------------------------------------
// kv

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

fn kv_get(store: &SwingStore, key: &str, json: bool) -> Result<u8> {
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

fn kv_set(store: &SwingStore, key: &str, value: &str, json: bool) -> Result<u8> {
    // A debugging tool: stored as given, never validated (the collector must cope).
    store.kv().set(key, value);
    let epoch = store.commit().with_context(|| format!("committing kv set {key}"))?;
    if json {
        print_json(&KvWritten { key, value: Some(value), epoch })?;
    }
    Ok(exit::OK)
}

fn kv_delete(store: &SwingStore, key: &str, json: bool) -> Result<u8> {
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

fn kv_list(store: &SwingStore, prefix: &str, json: bool) -> Result<u8> {
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

// ---------------------------------------------------------------------------------------------
// gc

fn gc(store: &SwingStore, args: &GcArgs, json: bool) -> Result<u8> {
    let report = with_progress("sweeping", true, |progress| {
        store.gc_with(&GcOptions {
            grace: args.grace,
            budget: args.budget,
            dry_run: args.dry_run,
            now: args.now,
            // The library lists the blob area itself after an unclean shutdown; `--scan` forces it.
            scan: args.scan,
            progress,
        })
    })?;
    if json {
        print_json(&report)?;
    } else {
        print_text(&gc_table(&report, args))?;
    }
    for e in &report.errors {
        eprintln!("snapgc: gc could not handle {}: {}", e.item, e.error);
    }
    Ok(if report.errors.is_empty() { exit::OK } else { exit::ERROR })
}

fn gc_table(r: &GcReport, args: &GcArgs) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let mode = match (r.dry_run, args.now) {
        (true, true) => " (dry run of an offline --now pass: nothing changed)",
        (true, false) => " (dry run: nothing changed)",
        (false, true) => " (offline --now pass)",
        (false, false) => "",
    };
    let swept = if r.dry_run { "would sweep" } else { "swept" };
    let _ = writeln!(s, "gc at epoch {}, grace {}{mode}", r.epoch, r.grace);
    let _ = writeln!(s, "  {:<16} {}", "roots", r.roots);
    let _ = writeln!(s, "  {:<16} {}", "live", r.live);
    let _ = writeln!(s, "  {:<16} {}, {}", swept, human::blobs(r.swept), human::bytes(r.swept_bytes));
    let _ = writeln!(s, "  {:<16} {}", "kept (grace)", r.kept_grace);
    let _ = writeln!(s, "  {:<16} {}", "kept (young)", r.kept_young);
    let _ = writeln!(s, "  {:<16} {}", "kept (leased)", r.kept_leased);
    if r.pending > 0 {
        let _ = writeln!(s, "  {:<16} {} (budget reached; the next pass continues)", "pending", r.pending);
    }
    if r.orphans_adopted > 0 {
        let _ = writeln!(s, "  {:<16} {}", "orphans adopted", r.orphans_adopted);
    }
    if r.temp_removed > 0 {
        let _ = writeln!(s, "  {:<16} {}", "temp removed", r.temp_removed);
    }
    if !r.strays.is_empty() {
        let _ = writeln!(s, "  {:<16} {}", "strays", r.strays.join(", "));
    }
    if !r.errors.is_empty() {
        let _ = writeln!(s, "  {:<16} {}", "errors", r.errors.len());
    }
    let _ = writeln!(
        s,
        "  {:<16} mark {}, sweep {}",
        "time",
        human::micros(r.mark_us),
        human::micros(r.sweep_us)
    );
    if r.dry_run {
        for c in &r.candidates {
            let _ =
                writeln!(s, "would sweep  {}  {:>10}  {}", c.hash, human::bytes(c.stored_bytes), c.reason);
        }
        for k in &r.kept {
            let _ = writeln!(s, "keep         {}  {:>10}  {}", k.hash, "", k.reason);
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// stats / verify / ls / config

fn stats(store: &SwingStore, json: bool) -> Result<u8> {
    let st = store.stats()?;
    if json {
        print_json(&st)?;
        return Ok(exit::OK);
    }
    let row = |label: &str, value: String| format!("{label:<14} {value}\n");
    let text = [
        row("epoch", st.epoch.to_string()),
        row("roots", st.roots.to_string()),
        row("live", st.live.to_string()),
        row("blobs", st.blobs.to_string()),
        row("raw size", human::bytes(st.raw_bytes)),
        row("stored size", human::bytes(st.stored_bytes)),
        row("garbage", format!("{}, {}", human::blobs(st.garbage), human::bytes(st.garbage_bytes))),
    ]
    .concat();
    print_text(&text)?;
    Ok(exit::OK)
}

fn verify(store: &SwingStore, deep: bool, json: bool) -> Result<u8> {
    let report = with_progress("verifying", deep, |progress| store.verify(deep, progress))?;
    if json {
        print_json(&report)?;
    } else {
        use std::fmt::Write as _;
        let mut s = String::new();
        let depth = if deep { "deep" } else { "shallow (sizes only; --deep re-hashes)" };
        let verdict = if report.ok { "ok" } else { "PROBLEMS FOUND" };
        let _ = writeln!(s, "verify: {verdict}, {} checked, {depth}", human::blobs(report.checked));
        for (label, list) in [
            ("missing", &report.missing),
            ("corrupt", &report.corrupt),
            ("orphan", &report.orphans),
            ("bad root", &report.bad_roots),
        ] {
            for item in list {
                let _ = writeln!(s, "  {label:<9} {item}");
            }
        }
        print_text(&s)?;
    }
    if report.ok {
        return Ok(exit::OK);
    }
    let mut parts = Vec::new();
    for (label, n) in [
        ("missing", report.missing.len()),
        ("corrupt", report.corrupt.len()),
        ("orphans", report.orphans.len()),
        ("bad roots", report.bad_roots.len()),
    ] {
        if n > 0 {
            parts.push(format!("{n} {label}"));
        }
    }
    let first = report
        .missing
        .first()
        .map(|h| format!("missing {h}"))
        .or_else(|| report.corrupt.first().map(|h| format!("corrupt {h}")))
        .or_else(|| report.orphans.first().map(|f| format!("orphan {f}")))
        .or_else(|| report.bad_roots.first().map(|k| format!("bad root {k}")))
        .unwrap_or_default();
    eprintln!(
        "snapgc: verify found problems in {}: {} (first: {first})",
        store.path().display(),
        parts.join(", ")
    );
    Ok(exit::PROBLEMS)
}

fn ls(store: &SwingStore, json: bool) -> Result<u8> {
    let blobs = store.list_blobs()?;
    if json {
        print_json(&blobs)?;
        return Ok(exit::OK);
    }
    let mut out = BufWriter::new(io::stdout().lock());
    writeln!(
        out,
        "{:<64}  {:<12}  {:>10}  {:>10}  {:>6}  {:>9}  roots",
        "hash", "state", "raw", "stored", "saved", "condemned"
    )?;
    for b in &blobs {
        let condemned = b.condemned_epoch.map(|e| e.to_string()).unwrap_or_else(|| "-".into());
        let roots = if b.roots.is_empty() { "-".to_owned() } else { b.roots.join(",") };
        writeln!(
            out,
            "{:<64}  {:<12}  {:>10}  {:>10}  {:>6}  {:>9}  {roots}",
            b.hash,
            b.state,
            human::bytes(b.raw_bytes),
            human::bytes(b.stored_bytes),
            b.saved_epoch,
            condemned
        )?;
    }
    out.flush()?;
    Ok(exit::OK)
}

fn print_config(config: &GcConfig, json: bool) -> Result<()> {
    if json {
        print_json(config)
    } else {
        let patterns: String = config.root_patterns.iter().map(|p| format!("root_pattern  {p}\n")).collect();
        print_text(&format!("{patterns}grace         {}\n", config.grace))
    }
}

fn config_show(store: &SwingStore, json: bool) -> Result<u8> {
    print_config(&store.config(), json)?;
    Ok(exit::OK)
}

fn config_set(
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
