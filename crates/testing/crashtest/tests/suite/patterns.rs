//! Root key patterns are operator configuration matched against every key a commit writes
//! (keys that vat code partly chooses). Matching must agree with the specification (`*` is one
//! or more characters other than '.') and must not backtrack exponentially.

use anyhow::{Result, ensure};
use crashtest::Rng;
use swingstore::RootPatterns;

/// The specification, as a plain backtracking matcher (fine for the tiny inputs below).
fn reference(pattern: &str, key: &str) -> bool {
    fn rest(pieces: &[&str], tail: &str) -> bool {
        let Some((piece, more)) = pieces.split_first() else { return tail.is_empty() };
        let max = tail.find('.').unwrap_or(tail.len());
        (1..=max).any(|n| {
            tail.is_char_boundary(n) && tail[n..].strip_prefix(piece).is_some_and(|next| rest(more, next))
        })
    }
    let pieces: Vec<&str> = pattern.split('*').collect();
    key.strip_prefix(pieces[0]).is_some_and(|tail| rest(&pieces[1..], tail))
}

fn random_text(rng: &mut Rng, alphabet: &[&str], max: u64) -> String {
    (0..rng.below(max + 1)).map(|_| *rng.pick(alphabet)).collect()
}

#[test]
fn matching_agrees_with_the_specification() -> Result<()> {
    let mut rng = Rng::new(11);
    let mut compared = 0;
    for _ in 0..200_000 {
        let pattern = random_text(&mut rng, &["a", "b", ".", "*", "*", "é"], 7);
        let Ok(compiled) = RootPatterns::new(&[pattern.as_str()]) else { continue };
        let key = random_text(&mut rng, &["a", "b", ".", "é"], 9);
        ensure!(
            compiled.is_root(&key) == reference(&pattern, &key),
            "pattern {pattern:?} on key {key:?}: got {}, expected {}",
            compiled.is_root(&key),
            reference(&pattern, &key)
        );
        compared += 1;
    }
    ensure!(compared > 50_000, "only {compared} patterns compiled");
    Ok(())
}

#[test]
fn many_wildcards_on_a_long_key_do_not_backtrack() -> Result<()> {
    // With backtracking these took 15 s (300 chars) and hours (3000 chars) per key.
    let long = "a".repeat(3000);
    let p = RootPatterns::new(&["*a*a*a*b"])?;
    ensure!(!p.is_root(&long));
    ensure!(p.is_root(&format!("{long}b")));
    let p = RootPatterns::new(&["v*a*a*.lastSnapshot"])?;
    ensure!(p.is_root(&format!("v{long}.lastSnapshot")));
    ensure!(!p.is_root(&format!("v{long}.lastSnapshotX")));
    ensure!(!p.is_root(&format!("v{long}.x.lastSnapshot")));
    Ok(())
}
