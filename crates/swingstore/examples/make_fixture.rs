//! Writes `fixtures/<hash>.lz4`: a real XS heap saved as a blob by today's code. The
//! format-compatibility test checks that later code still reads it.
//!
//! `cargo run -p swingstore --example make_fixture -- ../shared/corpus/xsnap/base-lockdown.xss fixtures/`

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let input = PathBuf::from(args.next().ok_or("usage: make_fixture HEAP.xss OUT_DIR")?);
    let out_dir = PathBuf::from(args.next().ok_or("usage: make_fixture HEAP.xss OUT_DIR")?);
    let scratch = tempfile::tempdir()?;
    let store = swingstore::SwingStore::create(scratch.path())?;
    let saved = store.save(&mut std::fs::File::open(&input)?)?;
    let name = format!("{}.lz4", saved.hash);
    std::fs::copy(scratch.path().join("snapshots").join(&name), out_dir.join(&name))?;
    println!("{name} raw={} stored={}", saved.raw_bytes, saved.stored_bytes);
    Ok(())
}
