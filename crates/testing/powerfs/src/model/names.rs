//! The namespace: create, mkdir, symlink, link, unlink, rmdir, rename. Each changes live
//! entries only; a name is durable once its directory is fsynced (`crash.rs`).

use super::*;

impl Fs {
    pub(super) fn check_name(name: &OsStr) -> FsResult<()> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
            return Err(FsError::Invalid);
        }
        Ok(())
    }

    pub(super) fn insert(&mut self, parent: Ino, name: &OsStr, body: Body, owner: Owner) -> FsResult<Ino> {
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

    pub(super) fn touch(&mut self, ino: Ino) {
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
    pub(super) fn drop_link(&mut self, ino: Ino, parent: Ino, name: &OsStr) -> FsResult<()> {
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

    pub(super) fn find_name(&self, ino: Ino) -> Option<(Ino, OsString)> {
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
    pub(super) fn is_within(&self, mut ino: Ino, ancestor: Ino) -> bool {
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

    pub(super) fn rename_hint(
        &mut self,
        ino: Ino,
        parent: Ino,
        name: &OsStr,
        new_parent: Ino,
        new_name: &OsStr,
    ) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            let was = node.name.as_ref().is_none_or(|(p, n)| *p == parent && n == name);
            if was || node.kind() == Kind::Dir {
                node.name = Some((new_parent, new_name.to_owned()));
            }
            node.ctime = SystemTime::now();
        }
    }
}
