//! What survives a power cut: fsync and fsyncdir copy live to durable; a crash keeps the
//! durable view only (a torn crash first mixes in unsynced pages); the image of a cut.

use super::*;

impl Fs {
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
