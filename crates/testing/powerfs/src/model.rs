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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::SystemTime;

use crashtest::Rng;

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

    fn node_mut(&mut self, ino: Ino) -> FsResult<&mut Node> {
        self.nodes.get_mut(&ino).ok_or(FsError::NotFound)
    }

    /// Number of inodes (including unlinked ones still known to the kernel).
    pub fn inode_count(&self) -> usize {
        self.nodes.len()
    }

    fn dir_live(&self, ino: Ino) -> FsResult<&BTreeMap<OsString, Ino>> {
        match &self.node(ino)?.body {
            Body::Dir { live, .. } => Ok(live),
            _ => Err(FsError::NotDir),
        }
    }

    fn dir_live_mut(&mut self, ino: Ino) -> FsResult<&mut BTreeMap<OsString, Ino>> {
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

    fn check_name(name: &OsStr) -> FsResult<()> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
            return Err(FsError::Invalid);
        }
        Ok(())
    }

    fn insert(&mut self, parent: Ino, name: &OsStr, body: Body, owner: Owner) -> FsResult<Ino> {
        Self::check_name(name)?;
        if self.dir_live(parent)?.contains_key(name) {
            return Err(FsError::Exists);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let mut node = Node::new(body, owner.perm, owner.uid, owner.gid);
        node.nlink = if node.kind() == Kind::Dir { 2 } else { 1 };
        node.name = Some((parent, name.to_owned()));
        self.nodes.insert(ino, node);
        self.dir_live_mut(parent)?.insert(name.to_owned(), ino);
        self.touch(parent);
        Ok(ino)
    }

    fn touch(&mut self, ino: Ino) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            let now = SystemTime::now();
            n.mtime = now;
            n.ctime = now;
        }
    }

    /// Creates an empty regular file (live entry only; its durable content is empty).
    pub fn create(&mut self, parent: Ino, name: &OsStr, owner: Owner) -> FsResult<Ino> {
        self.insert(parent, name, Body::File { live: Vec::new(), durable: Vec::new() }, owner)
    }

    /// Creates a directory (live entry only; its durable entries are empty).
    pub fn mkdir(&mut self, parent: Ino, name: &OsStr, owner: Owner) -> FsResult<Ino> {
        self.insert(parent, name, Body::Dir { live: BTreeMap::new(), durable: BTreeMap::new() }, owner)
    }

    /// Creates a symbolic link.
    pub fn symlink(&mut self, parent: Ino, name: &OsStr, target: &OsStr, owner: Owner) -> FsResult<Ino> {
        self.insert(parent, name, Body::Symlink { target: target.to_owned() }, owner)
    }

    /// The target of a symbolic link.
    pub fn readlink(&self, ino: Ino) -> FsResult<OsString> {
        match &self.node(ino)?.body {
            Body::Symlink { target } => Ok(target.clone()),
            _ => Err(FsError::Invalid),
        }
    }

    /// A new name for an existing non-directory inode.
    pub fn link(&mut self, ino: Ino, parent: Ino, name: &OsStr) -> FsResult<()> {
        Self::check_name(name)?;
        if self.node(ino)?.kind() == Kind::Dir {
            return Err(FsError::NotPermitted);
        }
        if self.dir_live(parent)?.contains_key(name) {
            return Err(FsError::Exists);
        }
        self.dir_live_mut(parent)?.insert(name.to_owned(), ino);
        let node = self.node_mut(ino)?;
        node.nlink += 1;
        node.ctime = SystemTime::now();
        if node.name.is_none() {
            node.name = Some((parent, name.to_owned()));
        }
        self.touch(parent);
        Ok(())
    }

    /// Drops one live link of `ino`, which was named `name` in `parent`.
    fn drop_link(&mut self, ino: Ino, parent: Ino, name: &OsStr) -> FsResult<()> {
        let node = self.node_mut(ino)?;
        if node.kind() == Kind::Dir {
            node.nlink = 0;
        } else {
            node.nlink = node.nlink.saturating_sub(1);
        }
        node.ctime = SystemTime::now();
        if node.name.as_ref().is_some_and(|(p, n)| *p == parent && n == name) {
            node.name = None;
            // Another live name, if any, for paths in logs.
            if node.nlink > 0 {
                let other = self.find_name(ino);
                self.node_mut(ino)?.name = other;
            }
        }
        Ok(())
    }

    fn find_name(&self, ino: Ino) -> Option<(Ino, OsString)> {
        self.nodes.iter().find_map(|(dir, n)| match &n.body {
            Body::Dir { live, .. } => {
                live.iter().find(|(_, i)| **i == ino).map(|(name, _)| (*dir, name.clone()))
            }
            _ => None,
        })
    }

    /// Removes a non-directory entry (live only; the inode's contents stay readable through
    /// open descriptors).
    pub fn unlink(&mut self, parent: Ino, name: &OsStr) -> FsResult<()> {
        let ino = self.lookup(parent, name)?;
        if self.node(ino)?.kind() == Kind::Dir {
            return Err(FsError::IsDir);
        }
        self.dir_live_mut(parent)?.remove(name);
        self.drop_link(ino, parent, name)?;
        self.touch(parent);
        Ok(())
    }

    /// Removes an empty directory (live only).
    pub fn rmdir(&mut self, parent: Ino, name: &OsStr) -> FsResult<()> {
        let ino = self.lookup(parent, name)?;
        if !self.dir_live(ino).map_err(|_| FsError::NotDir)?.is_empty() {
            return Err(FsError::NotEmpty);
        }
        self.dir_live_mut(parent)?.remove(name);
        self.drop_link(ino, parent, name)?;
        self.touch(parent);
        Ok(())
    }

    /// Whether `ino` is `ancestor` or lies (live) below it.
    fn is_within(&self, mut ino: Ino, ancestor: Ino) -> bool {
        for _ in 0..4096 {
            if ino == ancestor {
                return true;
            }
            if ino == ROOT {
                return false;
            }
            match self.nodes.get(&ino).and_then(|n| n.name.as_ref()) {
                Some((parent, _)) => ino = *parent,
                None => return false,
            }
        }
        false
    }

    /// `rename(2)` / `renameat2(2)` on live entries: replaces a file target, an empty directory
    /// target (when the source is a directory); `noreplace` fails with `Exists` when the
    /// target exists; `exchange` swaps two existing entries.
    pub fn rename(
        &mut self,
        parent: Ino,
        name: &OsStr,
        new_parent: Ino,
        new_name: &OsStr,
        noreplace: bool,
        exchange: bool,
    ) -> FsResult<()> {
        Self::check_name(new_name)?;
        if noreplace && exchange {
            return Err(FsError::Invalid);
        }
        let src = self.lookup(parent, name)?;
        self.dir_live(new_parent)?;
        let src_kind = self.node(src)?.kind();
        if src_kind == Kind::Dir && self.is_within(new_parent, src) {
            return Err(FsError::Invalid);
        }
        let dst = self.dir_live(new_parent)?.get(new_name).copied();
        if exchange {
            let dst = dst.ok_or(FsError::NotFound)?;
            if self.node(dst)?.kind() == Kind::Dir && self.is_within(parent, dst) {
                return Err(FsError::Invalid);
            }
            self.dir_live_mut(parent)?.insert(name.to_owned(), dst);
            self.dir_live_mut(new_parent)?.insert(new_name.to_owned(), src);
            self.rename_hint(src, parent, name, new_parent, new_name);
            self.rename_hint(dst, new_parent, new_name, parent, name);
            self.touch(parent);
            self.touch(new_parent);
            return Ok(());
        }
        if let Some(dst) = dst {
            if noreplace {
                return Err(FsError::Exists);
            }
            if dst == src {
                // Two names of one inode: POSIX says do nothing.
                return Ok(());
            }
            let dst_kind = self.node(dst)?.kind();
            match (src_kind, dst_kind) {
                (Kind::Dir, Kind::Dir) if !self.dir_live(dst)?.is_empty() => return Err(FsError::NotEmpty),
                (Kind::Dir, Kind::Dir) => {}
                (Kind::Dir, _) => return Err(FsError::NotDir),
                (_, Kind::Dir) => return Err(FsError::IsDir),
                _ => {}
            }
            self.dir_live_mut(new_parent)?.remove(new_name);
            self.drop_link(dst, new_parent, new_name)?;
        }
        self.dir_live_mut(parent)?.remove(name);
        self.dir_live_mut(new_parent)?.insert(new_name.to_owned(), src);
        self.rename_hint(src, parent, name, new_parent, new_name);
        self.touch(parent);
        self.touch(new_parent);
        Ok(())
    }

    fn rename_hint(&mut self, ino: Ino, parent: Ino, name: &OsStr, new_parent: Ino, new_name: &OsStr) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            let was = node.name.as_ref().is_none_or(|(p, n)| *p == parent && n == name);
            if was || node.kind() == Kind::Dir {
                node.name = Some((new_parent, new_name.to_owned()));
            }
            node.ctime = SystemTime::now();
        }
    }

    fn live_file_mut(&mut self, ino: Ino) -> FsResult<&mut Vec<u8>> {
        match &mut self.node_mut(ino)?.body {
            Body::File { live, .. } => Ok(live),
            Body::Dir { .. } => Err(FsError::IsDir),
            Body::Symlink { .. } => Err(FsError::Invalid),
        }
    }

    /// Live bytes `offset..offset+size` (short at the end of the file).
    pub fn read(&self, ino: Ino, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        match &self.node(ino)?.body {
            Body::File { live, .. } => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(live.len());
                let end = start.saturating_add(size as usize).min(live.len());
                Ok(live[start..end].to_vec())
            }
            Body::Dir { .. } => Err(FsError::IsDir),
            Body::Symlink { .. } => Err(FsError::Invalid),
        }
    }

    /// Writes live bytes at `offset` (zero-filling a gap); returns the count written.
    pub fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> FsResult<usize> {
        let start = usize::try_from(offset).map_err(|_| FsError::Invalid)?;
        let end = start.checked_add(data.len()).ok_or(FsError::Invalid)?;
        let live = self.live_file_mut(ino)?;
        if live.len() < end {
            live.resize(end, 0);
        }
        live[start..end].copy_from_slice(data);
        self.touch(ino);
        Ok(data.len())
    }

    /// Sets the live size (truncate or zero-extend).
    pub fn truncate(&mut self, ino: Ino, size: u64) -> FsResult<()> {
        let size = usize::try_from(size).map_err(|_| FsError::Invalid)?;
        self.live_file_mut(ino)?.resize(size, 0);
        self.touch(ino);
        Ok(())
    }

    /// `fallocate(2)`: mode 0 extends the live size to `offset + length` if that is larger;
    /// `FALLOC_FL_KEEP_SIZE` (1) changes nothing visible; other modes are not supported.
    pub fn fallocate(&mut self, ino: Ino, offset: u64, length: u64, mode: i32) -> FsResult<()> {
        const KEEP_SIZE: i32 = 1;
        let end = offset.checked_add(length).ok_or(FsError::Invalid)?;
        match mode {
            0 => {
                let live = self.live_file_mut(ino)?;
                let end = usize::try_from(end).map_err(|_| FsError::Invalid)?;
                if live.len() < end {
                    live.resize(end, 0);
                }
                Ok(())
            }
            KEEP_SIZE => self.live_file_mut(ino).map(|_| ()),
            _ => Err(FsError::NotSupported),
        }
    }

    /// `fsync`/`fdatasync` of a file: its live contents and size become durable. (On a
    /// directory it is [`fsyncdir`](Self::fsyncdir).)
    pub fn fsync(&mut self, ino: Ino) -> FsResult<()> {
        match &mut self.node_mut(ino)?.body {
            Body::File { live, durable } => {
                durable.clone_from(live);
                Ok(())
            }
            Body::Dir { .. } => self.fsyncdir(ino),
            Body::Symlink { .. } => Ok(()),
        }
    }

    /// `fsync` of a directory: its live entries become its durable entries.
    pub fn fsyncdir(&mut self, ino: Ino) -> FsResult<()> {
        match &mut self.node_mut(ino)?.body {
            Body::Dir { live, durable } => {
                durable.clone_from(live);
                Ok(())
            }
            _ => Err(FsError::NotDir),
        }
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

    /// Sets live attributes (mode bits, owner, times).
    pub fn set_attrs(
        &mut self,
        ino: Ino,
        perm: Option<u16>,
        uid: Option<u32>,
        gid: Option<u32>,
        atime: Option<SystemTime>,
        mtime: Option<SystemTime>,
    ) -> FsResult<()> {
        let node = self.node_mut(ino)?;
        if let Some(p) = perm {
            node.perm = p;
        }
        if let Some(u) = uid {
            node.uid = u;
        }
        if let Some(g) = gid {
            node.gid = g;
        }
        if let Some(t) = atime {
            node.atime = t;
        }
        if let Some(t) = mtime {
            node.mtime = t;
        }
        node.ctime = SystemTime::now();
        Ok(())
    }

    /// The durable contents of a file (what a crash now would leave, before tearing).
    pub fn durable_contents(&self, ino: Ino) -> FsResult<&[u8]> {
        match &self.node(ino)?.body {
            Body::File { durable, .. } => Ok(durable),
            _ => Err(FsError::Invalid),
        }
    }

    /// A power cut: live := durable everywhere; inodes that no durable entry reaches from the
    /// root are dropped; link counts and names are recomputed from the entries.
    pub fn crash(&mut self) {
        for node in self.nodes.values_mut() {
            match &mut node.body {
                Body::File { live, durable } => live.clone_from(durable),
                Body::Dir { live, durable } => live.clone_from(durable),
                Body::Symlink { .. } => {}
            }
        }
        // Reachability from the root through (now live == durable) entries.
        let mut names: BTreeMap<Ino, (Ino, OsString)> = BTreeMap::new();
        let mut links: BTreeMap<Ino, u32> = BTreeMap::new();
        let mut seen: BTreeSet<Ino> = BTreeSet::from([ROOT]);
        let mut queue = VecDeque::from([ROOT]);
        while let Some(dir) = queue.pop_front() {
            let Some(Body::Dir { live, .. }) = self.nodes.get(&dir).map(|n| &n.body) else { continue };
            for (name, ino) in live {
                *links.entry(*ino).or_default() += 1;
                names.entry(*ino).or_insert_with(|| (dir, name.clone()));
                if seen.insert(*ino) {
                    queue.push_back(*ino);
                }
            }
        }
        self.nodes.retain(|ino, _| seen.contains(ino));
        // A dangling durable entry (its inode was never known) cannot exist: inodes are never
        // dropped while mounted. Drop any anyway, to keep the image consistent.
        let present: BTreeSet<Ino> = self.nodes.keys().copied().collect();
        for (ino, node) in &mut self.nodes {
            if let Body::Dir { live, durable } = &mut node.body {
                live.retain(|_, i| present.contains(i));
                durable.clone_from(live);
            }
            node.name = if *ino == ROOT { None } else { names.get(ino).cloned() };
            node.nlink = match node.body {
                Body::Dir { .. } => 2,
                _ => links.get(ino).copied().unwrap_or(0),
            };
        }
    }

    /// A power cut in the middle of write-back: every file whose live contents differ from its
    /// durable ones keeps a random subset of its differing live pages, at the durable or the
    /// live size; then [`crash`](Self::crash).
    pub fn crash_torn(&mut self, rng: &mut Rng) {
        for node in self.nodes.values_mut() {
            if let Body::File { live, durable } = &mut node.body
                && live != durable
            {
                *durable = torn(live, durable, rng);
            }
        }
        self.crash();
    }

    /// The durable image (what [`crash`](Self::crash) leaves), without changing `self`.
    pub fn image(&self) -> Image {
        let mut fs = self.clone();
        fs.crash();
        Image(fs)
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

/// The durable content after a torn write-back of `live` over `durable`.
pub fn torn(live: &[u8], durable: &[u8], rng: &mut Rng) -> Vec<u8> {
    let new_len = if rng.chance(50, 100) { durable.len() } else { live.len() };
    let mut out = durable.to_vec();
    out.resize(new_len, 0);
    let span = live.len().max(durable.len());
    for start in (0..span).step_by(PAGE) {
        let end = (start + PAGE).min(span);
        let clip = |v: &[u8]| v[start.min(v.len())..end.min(v.len())].to_vec();
        if clip(live) != clip(durable) && rng.chance(50, 100) {
            // This page reached the disk in its live version (zero past the live end).
            for (i, byte) in out.iter_mut().enumerate().take(end).skip(start) {
                *byte = live.get(i).copied().unwrap_or(0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    fn file(fs: &mut Fs, parent: Ino, n: &str, data: &[u8]) -> FsResult<Ino> {
        let ino = fs.create(parent, name(n), Owner::default())?;
        fs.write(ino, 0, data)?;
        Ok(ino)
    }

    fn contents(fs: &Fs, parent: Ino, n: &str) -> FsResult<Vec<u8>> {
        fs.read(fs.lookup(parent, name(n))?, 0, u32::MAX)
    }

    #[test]
    fn an_unsynced_write_is_lost_and_a_synced_one_kept() -> FsResult<()> {
        let mut fs = Fs::new();
        let f = file(&mut fs, ROOT, "f", b"first")?;
        fs.fsync(f)?;
        fs.fsyncdir(ROOT)?;
        fs.write(f, 5, b" second")?;
        fs.truncate(f, 3)?;
        assert_eq!(contents(&fs, ROOT, "f")?, b"fir", "the live view has every write");
        fs.crash();
        assert_eq!(contents(&fs, ROOT, "f")?, b"first");
        Ok(())
    }

    #[test]
    fn fsync_keeps_data_but_a_new_name_needs_fsyncdir() -> FsResult<()> {
        let mut fs = Fs::new();
        let d = fs.mkdir(ROOT, name("d"), Owner::default())?;
        fs.fsyncdir(ROOT)?;
        let f = file(&mut fs, d, "f", b"data")?;
        fs.fsync(f)?;
        let mut without = fs.clone();
        without.crash();
        assert_eq!(without.lookup(d, name("f")), Err(FsError::NotFound), "the name was never synced");
        assert_eq!(without.inode_count(), 2, "the unreachable inode is dropped");
        fs.fsyncdir(d)?;
        fs.crash();
        assert_eq!(contents(&fs, d, "f")?, b"data");
        Ok(())
    }

    #[test]
    fn fsyncdir_makes_entries_durable_not_the_childrens_contents() -> FsResult<()> {
        let mut fs = Fs::new();
        file(&mut fs, ROOT, "f", b"never synced")?;
        let d = fs.mkdir(ROOT, name("d"), Owner::default())?;
        file(&mut fs, d, "inner", b"x")?;
        fs.fsyncdir(ROOT)?;
        fs.crash();
        assert_eq!(contents(&fs, ROOT, "f")?, b"", "a new file's durable content is empty");
        assert_eq!(fs.readdir(d)?, Vec::new(), "a new directory's durable entries are empty");
        Ok(())
    }

    #[test]
    fn a_rename_is_durable_only_after_fsyncdir_of_both_sides() -> FsResult<()> {
        let mut fs = Fs::new();
        let a = fs.mkdir(ROOT, name("a"), Owner::default())?;
        let b = fs.mkdir(ROOT, name("b"), Owner::default())?;
        fs.fsyncdir(ROOT)?;
        let f = file(&mut fs, a, "f", b"blob")?;
        fs.fsync(f)?;
        fs.fsyncdir(a)?;
        fs.rename(a, name("f"), b, name("g"), false, false)?;
        let mut before = fs.clone();
        before.crash();
        assert_eq!(contents(&before, a, "f")?, b"blob");
        assert_eq!(before.lookup(b, name("g")), Err(FsError::NotFound));
        // Only the destination synced: both names survive, one inode with two links.
        fs.fsyncdir(b)?;
        let mut both = fs.clone();
        both.crash();
        let (old, new) = (both.lookup(a, name("f"))?, both.lookup(b, name("g"))?);
        assert_eq!(old, new);
        assert_eq!(both.node(old)?.nlink, 2);
        fs.fsyncdir(a)?;
        fs.crash();
        assert_eq!(fs.lookup(a, name("f")), Err(FsError::NotFound));
        assert_eq!(contents(&fs, b, "g")?, b"blob");
        assert_eq!(fs.node(fs.lookup(b, name("g"))?)?.nlink, 1);
        Ok(())
    }

    #[test]
    fn an_unlink_comes_back_without_fsyncdir() -> FsResult<()> {
        let mut fs = Fs::new();
        let f = file(&mut fs, ROOT, "f", b"still here")?;
        fs.fsync(f)?;
        fs.fsyncdir(ROOT)?;
        fs.unlink(ROOT, name("f"))?;
        assert_eq!(fs.lookup(ROOT, name("f")), Err(FsError::NotFound));
        assert_eq!(fs.read(f, 0, 100)?, b"still here", "an open descriptor still reads it");
        let mut back = fs.clone();
        back.crash();
        assert_eq!(contents(&back, ROOT, "f")?, b"still here");
        fs.fsyncdir(ROOT)?;
        fs.crash();
        assert_eq!(fs.lookup(ROOT, name("f")), Err(FsError::NotFound));
        Ok(())
    }

    #[test]
    fn rename_flags_and_targets_behave_like_linux() -> FsResult<()> {
        let mut fs = Fs::new();
        file(&mut fs, ROOT, "a", b"A")?;
        file(&mut fs, ROOT, "b", b"B")?;
        let d = fs.mkdir(ROOT, name("d"), Owner::default())?;
        file(&mut fs, d, "x", b"X")?;
        fs.mkdir(ROOT, name("e"), Owner::default())?;
        assert_eq!(fs.rename(ROOT, name("a"), ROOT, name("b"), true, false), Err(FsError::Exists));
        fs.rename(ROOT, name("a"), ROOT, name("b"), false, true)?;
        assert_eq!((contents(&fs, ROOT, "a")?, contents(&fs, ROOT, "b")?), (b"B".to_vec(), b"A".to_vec()));
        assert_eq!(fs.rename(ROOT, name("a"), ROOT, name("nope"), false, true), Err(FsError::NotFound));
        assert_eq!(fs.rename(ROOT, name("e"), ROOT, name("d"), false, false), Err(FsError::NotEmpty));
        assert_eq!(fs.rename(ROOT, name("a"), ROOT, name("d"), false, false), Err(FsError::IsDir));
        assert_eq!(fs.rename(ROOT, name("d"), ROOT, name("a"), false, false), Err(FsError::NotDir));
        assert_eq!(fs.rename(ROOT, name("d"), d, name("inside"), false, false), Err(FsError::Invalid));
        fs.rename(ROOT, name("a"), ROOT, name("b"), false, false)?;
        assert_eq!(contents(&fs, ROOT, "b")?, b"B");
        assert_eq!(fs.lookup(ROOT, name("a")), Err(FsError::NotFound));
        fs.rename(ROOT, name("d"), ROOT, name("e"), false, false)?;
        assert_eq!(fs.path(fs.lookup(fs.lookup(ROOT, name("e"))?, name("x"))?), "/e/x");
        Ok(())
    }

    /// Every byte of a torn result is the live or the durable byte at that offset (or zero
    /// where the file grew); and whole pages come from one side.
    fn check_torn(live: &[u8], durable: &[u8], out: &[u8]) {
        assert!(out.len() == live.len() || out.len() == durable.len(), "size {} is neither", out.len());
        for (p, page) in out.chunks(PAGE).enumerate() {
            let at = |v: &[u8], i: usize| v.get(p * PAGE + i).copied().unwrap_or(0);
            let from_live = page.iter().enumerate().all(|(i, b)| *b == at(live, i));
            let from_durable = page.iter().enumerate().all(|(i, b)| *b == at(durable, i));
            assert!(from_live || from_durable, "page {p} mixes live and durable bytes or invents some");
        }
    }

    #[test]
    fn a_torn_crash_keeps_a_subset_of_pages_and_invents_nothing() -> FsResult<()> {
        let durable: Vec<u8> = (0..5 * PAGE).map(|i| (i % 251) as u8).collect();
        let mut live = durable.clone();
        for page in [0, 2, 4] {
            live[page * PAGE + 7] ^= 0xff;
        }
        live.extend(std::iter::repeat_n(9u8, 2 * PAGE + 100));
        let (mut sizes, mut kept) = (BTreeSet::new(), BTreeSet::new());
        for seed in 0..200 {
            let mut fs = Fs::new();
            let f = file(&mut fs, ROOT, "f", &durable)?;
            fs.fsync(f)?;
            fs.fsyncdir(ROOT)?;
            fs.write(f, 0, &live)?;
            fs.crash_torn(&mut Rng::new(seed));
            let out = contents(&fs, ROOT, "f")?;
            check_torn(&live, &durable, &out);
            sizes.insert(out.len());
            let pages_from_live = out.chunks(PAGE).enumerate().filter(|(p, c)| {
                live.get(p * PAGE..(p * PAGE + c.len()).min(live.len())) == Some(*c)
                    && durable.get(p * PAGE..p * PAGE + c.len()) != Some(*c)
            });
            kept.insert(pages_from_live.count());
        }
        assert_eq!(sizes, BTreeSet::from([durable.len(), live.len()]), "both sizes happen");
        assert!(kept.len() >= 4, "the subset varies: {kept:?}");
        // A synced file is never torn.
        let mut fs = Fs::new();
        let f = file(&mut fs, ROOT, "f", &live)?;
        fs.fsync(f)?;
        fs.fsyncdir(ROOT)?;
        fs.crash_torn(&mut Rng::new(1));
        assert_eq!(contents(&fs, ROOT, "f")?, live);
        Ok(())
    }

    #[test]
    fn torn_truncation_zero_fills_past_the_live_end() {
        let durable = vec![1u8; 3 * PAGE];
        let live = vec![2u8; PAGE + 10];
        for seed in 0..100 {
            let out = torn(&live, &durable, &mut Rng::new(seed));
            check_torn(&live, &durable, &out);
        }
    }

    #[test]
    fn a_crash_is_idempotent() -> FsResult<()> {
        let mut fs = Fs::new();
        let d = fs.mkdir(ROOT, name("d"), Owner::default())?;
        fs.fsyncdir(ROOT)?;
        let f = file(&mut fs, d, "f", b"abc")?;
        fs.fsync(f)?;
        fs.fsyncdir(d)?;
        file(&mut fs, d, "g", b"unsynced")?;
        fs.symlink(ROOT, name("l"), name("d/f"), Owner::default())?;
        fs.fsyncdir(ROOT)?;
        fs.crash_torn(&mut Rng::new(7));
        let once = (fs.tree(), contents(&fs, d, "f")?, fs.inode_count());
        fs.crash();
        let image = fs.image();
        let twice = (fs.tree(), contents(&fs, d, "f")?, fs.inode_count());
        assert_eq!(once, twice);
        assert_eq!(image.fs().tree(), once.0);
        assert_eq!(fs.readlink(fs.lookup(ROOT, name("l"))?)?, "d/f");
        assert_eq!(
            once.0,
            vec![
                ("/d".to_owned(), Kind::Dir),
                ("/d/f".to_owned(), Kind::File),
                ("/l".to_owned(), Kind::Symlink)
            ]
        );
        Ok(())
    }
}
