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
use crate::manifest::{ChunkRef, Manifest};
use crate::params::MANIFEST_LIMIT;
use crate::store::{Archive, MANIFEST_DIR, manifest_name};

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
    /// Every manifest, read and checked; any that does not read or parse is an error (the
    /// callers that delete fail closed on it).
    pub(crate) fn read_manifests(&self) -> Result<Vec<Manifest>> {
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
        let got = self.get_many(&paths, MANIFEST_LIMIT);
        let mut out = Vec::with_capacity(got.len());
        for ((path, name), bytes) in paths.iter().zip(&names).zip(got) {
            let Some(bytes) = bytes? else {
                // Deleted between the listing and the read (retention in another handle).
                continue;
            };
            out.push(Manifest::decode(&bytes, path.as_ref(), Some(name))?);
        }
        Ok(out)
    }

    /// Runs `f` on the index, loading it first if needed.
    pub(crate) fn with_index<T>(&self, f: impl FnOnce(&mut Index) -> Result<T>) -> Result<T> {
        let mut inner = self.lock();
        if inner.index.is_none() {
            let manifests = self.read_manifests()?;
            inner.index = Some(Index::from_manifests(manifests));
        }
        match inner.index.as_mut() {
            Some(index) => f(index),
            None => Err(Error::Other("the archive index did not load".into())),
        }
    }
}
