//! Paths an operator types (a metrics file, an output file, an archive directory), resolved
//! the same way everywhere so that "inside the store" means one thing (issue 23).

use std::io;
use std::path::{Component, Path, PathBuf};

/// `path` made absolute and canonical as far as it exists: the longest existing prefix is
/// canonicalized (symlinks and `..` resolved), the missing rest appended. The last component
/// is not followed when it is a symlink (a rename over that name replaces the link itself), so
/// callers that care about a symlink's target look at it separately ([`resolve_target`]).
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let abs = if path.is_absolute() { path.to_owned() } else { std::env::current_dir()?.join(path) };
    let mut parts: Vec<Component<'_>> = abs.components().collect();
    let last = match parts.last() {
        Some(Component::Normal(name)) => Some(name.to_owned()),
        _ => None,
    };
    if last.is_some() {
        parts.pop();
    }
    let parent: PathBuf = parts.iter().collect();
    let mut out = canonical_prefix(&parent)?;
    if let Some(name) = last {
        out.push(name);
    }
    Ok(out)
}

/// Where `path` really points: its canonical form when it exists (symlinks followed), the
/// resolved target of a dangling symlink, else [`resolve`].
pub fn resolve_target(path: &Path) -> io::Result<PathBuf> {
    let mut current = resolve(path)?;
    for _ in 0..40 {
        if let Ok(p) = std::fs::canonicalize(&current) {
            return Ok(p);
        }
        match std::fs::read_link(&current) {
            Ok(target) => {
                let base = current.parent().map(Path::to_owned).unwrap_or_default();
                current = resolve(&base.join(target))?;
            }
            Err(_) => return Ok(current),
        }
    }
    Ok(current)
}

/// Canonicalizes the longest existing prefix of the absolute `dir` and appends the rest,
/// with `.` dropped and `..` applied lexically to the missing part.
fn canonical_prefix(dir: &Path) -> io::Result<PathBuf> {
    let mut existing = dir.to_owned();
    // The missing components, last first: `None` is `..`.
    let mut missing: Vec<Option<std::ffi::OsString>> = Vec::new();
    loop {
        match std::fs::canonicalize(&existing) {
            Ok(mut out) => {
                for name in missing.iter().rev() {
                    match name {
                        None => {
                            out.pop();
                        }
                        Some(n) => out.push(n),
                    }
                }
                return Ok(out);
            }
            Err(_) => {
                let Some(parent) = existing.parent().map(Path::to_owned) else {
                    return Ok(dir.to_owned());
                };
                match existing.components().next_back() {
                    Some(Component::ParentDir) => missing.push(None),
                    Some(Component::Normal(n)) => missing.push(Some(n.to_owned())),
                    _ => {}
                }
                existing = parent;
            }
        }
    }
}

/// Whether `path` (resolved, and its target when it is a symlink) is `dir` or inside it.
pub fn is_inside(path: &Path, dir: &Path) -> io::Result<bool> {
    let dir = resolve_target(dir)?;
    Ok(resolve(path)?.starts_with(&dir) || resolve_target(path)?.starts_with(&dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_through_symlinks_and_dot_dot() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = std::fs::canonicalize(dir.path())?;
        std::fs::create_dir(root.join("s"))?;
        std::os::unix::fs::symlink(root.join("s"), root.join("link"))?;
        assert_eq!(resolve(&root.join("link/x/../y"))?, root.join("s/y"));
        assert_eq!(resolve(&root.join("link/./f"))?, root.join("s/f"));
        assert!(is_inside(&root.join("link/kv/db"), &root.join("s"))?);
        assert!(!is_inside(&root.join("t/f"), &root.join("s"))?);
        std::os::unix::fs::symlink(root.join("s/kv"), root.join("out"))?;
        assert!(is_inside(&root.join("out"), &root.join("s"))?, "a symlink into the store");
        Ok(())
    }
}
