//! The chunk index: every chunk the archive's manifests name, and where it is. Built from the
//! manifests on first use (one listing and one read per manifest), then kept up to date by the
//! archive steps and the collector of the same [`Archive`](crate::Archive).
//!
//! Only chunks named by a manifest are ever reused: a pack left by an unfinished step (or one
//! the collector condemned) is never referenced again, so its condemnation only ever ends
//! with its deletion.

use std::collections::{BTreeMap, HashMap};

use swingstore::SnapshotHash;

use crate::error::{Error, Result};
use crate::inspect::Problem;
use crate::manifest::{ChunkRef, Manifest};
use crate::store::{Archive, MANIFEST_DIR, manifest_name};

/// What a listing of the manifests read.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub manifests: Vec<Manifest>,
    /// Manifests that do not read, and why.
    pub unreadable: Vec<Problem>,
}

/// Chunks by hash, and the archived snapshots.
#[derive(Debug, Default, Clone)]
pub(crate) struct Index {
    pub chunks: HashMap<[u8; 32], ChunkRef>,
    pub manifests: BTreeMap<SnapshotHash, Manifest>,
}

impl Index {
    pub fn add(&mut self, manifest: Manifest) {
        for c in &manifest.chunks {
            self.chunks.entry(c.hash).or_insert(*c);
        }
        self.manifests.insert(manifest.hash, manifest);
    }

    pub fn from_manifests(manifests: impl IntoIterator<Item = Manifest>) -> Self {
        let mut index = Index::default();
        for m in manifests {
            index.add(m);
        }
        index
    }
}

impl Archive {
    /// Every manifest, read and checked. One that does not read or parse stops only its own
    /// snapshot: it is returned among the unreadable, with why (issue 23), and the callers
    /// that delete treat it as naming any pack.
    pub(crate) fn read_manifests(&self) -> Result<Scan> {
        let listed = self.list_objects(MANIFEST_DIR)?;
        let mut paths = Vec::new();
        let mut names = Vec::new();
        for meta in listed {
            match manifest_name(&meta.location) {
                Some(hash) => {
                    paths.push(meta.location.clone());
                    names.push(hash);
                }
                None => tracing::warn!("ignoring {} in the archive's manifests", meta.location),
            }
        }
        let got = self.get_many(&paths, u64::MAX);
        let mut scan = Scan::default();
        for ((path, name), bytes) in paths.iter().zip(&names).zip(got) {
            let decoded = match bytes {
                // Deleted between the listing and the read (retention in another handle).
                Ok(None) => continue,
                Ok(Some(bytes)) => Manifest::decode(&bytes, path.as_ref(), Some(name)),
                Err(e) => Err(e),
            };
            match decoded {
                Ok(m) => scan.manifests.push(m),
                // A backend failure is not a damaged manifest: the whole read fails.
                Err(Error::Store(e)) => return Err(Error::Store(e)),
                Err(e) => scan.unreadable.push(Problem { item: path.to_string(), problem: e.to_string() }),
            }
        }
        Ok(scan)
    }

    /// Runs `f` on the index, loading it first if needed.
    pub(crate) fn with_index<T>(&self, f: impl FnOnce(&mut Index) -> Result<T>) -> Result<T> {
        let mut inner = self.lock();
        if inner.index.is_none() {
            let scan = self.read_manifests()?;
            for p in &scan.unreadable {
                // Their chunks are not offered for reuse: a step writes its own copies.
                tracing::warn!("archive manifest {} does not read: {}", p.item, p.problem);
            }
            inner.index = Some(Index::from_manifests(scan.manifests));
        }
        match inner.index.as_mut() {
            Some(index) => f(index),
            None => Err(Error::Other("the archive index did not load".into())),
        }
    }
}
