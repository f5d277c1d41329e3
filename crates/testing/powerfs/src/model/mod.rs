//! The pure in-memory file system and its crash semantics (no FUSE here: unit-testable).
//!
//! Every inode has a *live* view (what a process sees) and a *durable* view (what a power cut
//! leaves):
//!
//! * a regular file has live and durable contents (the size is the length);
//!   [`Fs::fsync`] copies live → durable for that inode only;
//! * a directory has live and durable entries; [`Fs::fsyncdir`] copies that directory's live
//!   entries → durable (and nothing else: the children's contents are not made durable by it).
//!   Create, mkdir, symlink, rename, link, unlink and rmdir change live entries only;
//! * a new file's durable content is empty, a new directory's durable entries are empty; a
//!   symbolic link's target is fixed at creation (it is durable once a durable entry names it);
//! * [`Fs::crash`] replaces live with durable everywhere, then drops every inode that no durable
//!   entry reaches from the root. An inode reachable by several durable names (a rename whose
//!   source and destination directories were both synced, at different times) keeps them all;
//! * [`Fs::crash_torn`] first replaces each file's durable content by a random mix: the durable
//!   content overlaid with a random subset of the live content's differing 4 KiB pages, at either
//!   the durable or the live size (zero-filled where it grows) — a cut in the middle of the
//!   write-back of a file that was never fsynced.
//!
//! Timestamps, modes and owners are live only (they do not matter to the store).
//!
//! Here: the inodes and lookups; `names.rs`: the namespace operations; `data.rs`: file
//! contents and attributes; `crash.rs`: fsync, fsyncdir and the crash itself; `tests.rs`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::SystemTime;

use crashtest::Rng;

mod crash;
mod data;
mod names;
#[cfg(test)]
mod tests;

pub use crash::torn;

/// An inode number.
pub type Ino = u64;

/// The root directory's inode number (FUSE's `FUSE_ROOT_ID`).
pub const ROOT: Ino = 1;

/// The unit of a torn write-back.
pub const PAGE: usize = 4096;

/// What a file-system operation can fail with (each maps to one errno).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    #[error("no such file or directory")]
    NotFound,
    #[error("file exists")]
    Exists,
    #[error("not a directory")]
    NotDir,
    #[error("is a directory")]
    IsDir,
    #[error("directory not empty")]
    NotEmpty,
    #[error("invalid argument")]
    Invalid,
    #[error("operation not supported")]
    NotSupported,
    #[error("operation not permitted")]
    NotPermitted,
    #[error("function not implemented")]
    NoSys,
    #[error("input/output error (the file system is frozen at a cut)")]
    Frozen,
}

impl FsError {
    /// The Linux errno of this error.
    pub fn errno(self) -> i32 {
        match self {
            Self::NotPermitted => 1,
            Self::NotFound => 2,
            Self::Frozen => 5,
            Self::Exists => 17,
            Self::NotDir => 20,
            Self::IsDir => 21,
            Self::Invalid => 22,
            Self::NotEmpty => 39,
            Self::NoSys => 38,
            Self::NotSupported => 95,
        }
    }
}

/// Result of a model operation.
pub type FsResult<T> = Result<T, FsError>;

/// The three kinds of inode the model has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

/// The contents of an inode, live and durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    File { live: Vec<u8>, durable: Vec<u8> },
    Dir { live: BTreeMap<OsString, Ino>, durable: BTreeMap<OsString, Ino> },
    Symlink { target: OsString },
}

/// One inode.
#[derive(Debug, Clone)]
pub struct Node {
    pub body: Body,
    /// Permission bits (live only).
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    /// Live entries naming this inode (directories report 2).
    pub nlink: u32,
    /// A live (parent, name) of this inode, for paths in logs and `..` (directories have
    /// exactly one live parent).
    pub name: Option<(Ino, OsString)>,
}

impl Node {
    fn new(body: Body, perm: u16, uid: u32, gid: u32) -> Self {
        let now = SystemTime::now();
        Self { body, perm, uid, gid, atime: now, mtime: now, ctime: now, nlink: 0, name: None }
    }

    /// The kind of this inode.
    pub fn kind(&self) -> Kind {
        match self.body {
            Body::File { .. } => Kind::File,
            Body::Dir { .. } => Kind::Dir,
            Body::Symlink { .. } => Kind::Symlink,
        }
    }

    /// The live size in bytes.
    pub fn size(&self) -> u64 {
        match &self.body {
            Body::File { live, .. } => live.len() as u64,
            Body::Dir { live, .. } => live.len() as u64,
            Body::Symlink { target } => target.len() as u64,
        }
    }
}

/// Who creates an inode, and with which permission bits.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
}

impl Default for Owner {
    fn default() -> Self {
        Self { perm: 0o644, uid: 0, gid: 0 }
    }
}

/// The whole file system: inodes by number.
#[derive(Debug, Clone)]
pub struct Fs {
    nodes: BTreeMap<Ino, Node>,
    next_ino: Ino,
}

impl Default for Fs {
    fn default() -> Self {
        Self::new()
    }
}

/// A durable image: a file system right after a crash (live == durable everywhere). Mounting
/// one starts a new file system whose live and durable state are both this image.
#[derive(Debug, Clone, Default)]
pub struct Image(Fs);

impl Image {
    /// An empty file system (just the root directory).
    pub fn empty() -> Self {
        Self(Fs::new())
    }

    /// The image a crashed file system is (live == durable, as [`Fs::crash`] leaves it).
    pub(crate) fn from_crashed(fs: Fs) -> Self {
        Self(fs)
    }

    /// The file system this image starts.
    pub fn into_fs(self) -> Fs {
        self.0
    }

    /// The file system as it is in the image.
    pub fn fs(&self) -> &Fs {
        &self.0
    }
}
impl Fs {
    /// An empty file system: a root directory, durable.
    pub fn new() -> Self {
        let mut root = Node::new(Body::Dir { live: BTreeMap::new(), durable: BTreeMap::new() }, 0o755, 0, 0);
        root.nlink = 2;
        Self { nodes: BTreeMap::from([(ROOT, root)]), next_ino: ROOT + 1 }
    }

    /// The inode `ino`.
    pub fn node(&self, ino: Ino) -> FsResult<&Node> {
        self.nodes.get(&ino).ok_or(FsError::NotFound)
    }

    pub(super) fn node_mut(&mut self, ino: Ino) -> FsResult<&mut Node> {
        self.nodes.get_mut(&ino).ok_or(FsError::NotFound)
    }

    /// Number of inodes (including unlinked ones still known to the kernel).
    pub fn inode_count(&self) -> usize {
        self.nodes.len()
    }

    pub(super) fn dir_live(&self, ino: Ino) -> FsResult<&BTreeMap<OsString, Ino>> {
        match &self.node(ino)?.body {
            Body::Dir { live, .. } => Ok(live),
            _ => Err(FsError::NotDir),
        }
    }

    pub(super) fn dir_live_mut(&mut self, ino: Ino) -> FsResult<&mut BTreeMap<OsString, Ino>> {
        match &mut self.node_mut(ino)?.body {
            Body::Dir { live, .. } => Ok(live),
            _ => Err(FsError::NotDir),
        }
    }

    /// The inode `name` names in directory `parent`.
    pub fn lookup(&self, parent: Ino, name: &OsStr) -> FsResult<Ino> {
        self.dir_live(parent)?.get(name).copied().ok_or(FsError::NotFound)
    }

    /// A path of `ino` from the root (`/a/b`), for logs and cut patterns. Unlinked inodes
    /// show as `<unlinked:N>`.
    pub fn path(&self, ino: Ino) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut cur = ino;
        for _ in 0..64 {
            if cur == ROOT {
                parts.reverse();
                return format!("/{}", parts.join("/"));
            }
            match self.nodes.get(&cur).and_then(|n| n.name.as_ref()) {
                Some((parent, name)) => {
                    parts.push(name.to_string_lossy().into_owned());
                    cur = *parent;
                }
                None => break,
            }
        }
        format!("<unlinked:{ino}>")
    }

    /// The path of `name` in `parent`.
    pub fn child_path(&self, parent: Ino, name: &OsStr) -> String {
        let base = self.path(parent);
        let sep = if base.ends_with('/') { "" } else { "/" };
        format!("{base}{sep}{}", name.to_string_lossy())
    }

    /// The live entries of a directory, in name order.
    pub fn readdir(&self, ino: Ino) -> FsResult<Vec<(OsString, Ino, Kind)>> {
        let entries = self.dir_live(ino)?;
        Ok(entries
            .iter()
            .map(|(name, i)| (name.clone(), *i, self.nodes.get(i).map_or(Kind::File, Node::kind)))
            .collect())
    }

    /// The parent of a directory (the root is its own parent).
    pub fn parent_of(&self, ino: Ino) -> Ino {
        self.nodes.get(&ino).and_then(|n| n.name.as_ref()).map_or(ROOT, |(p, _)| *p)
    }

    /// Every path (live view) with its kind, for tests and debugging.
    pub fn tree(&self) -> Vec<(String, Kind)> {
        let mut out = Vec::new();
        let mut stack = vec![ROOT];
        let mut seen = BTreeSet::new();
        while let Some(dir) = stack.pop() {
            if !seen.insert(dir) {
                continue;
            }
            if let Ok(entries) = self.readdir(dir) {
                for (name, ino, kind) in entries {
                    out.push((self.child_path(dir, &name), kind));
                    if kind == Kind::Dir {
                        stack.push(ino);
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
