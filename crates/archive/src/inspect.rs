//! What an archive holds: `ls`, `stats`, `verify [--deep]`, and the hook a state-sync export
//! uses to carry archived snapshots (`for_each_snapshot`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use serde::Serialize;
use swingstore::SnapshotHash;

use crate::error::Result;
use crate::manifest::{Manifest, SnapshotEntry};
use crate::store::{Archive, MANIFEST_DIR, PACK_DIR, pack_name, pack_path};

/// `archive stats` (the JSON fields are a contract: `snapshots`, `raw_bytes`, `chunks`,
/// `stored_bytes`; the rest are extra).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveStats {
    /// Archived snapshots (manifests).
    pub snapshots: u64,
    /// Their raw bytes, added up.
    pub raw_bytes: u64,
    /// Distinct chunks the manifests name.
    pub chunks: u64,
    /// Bytes of the chunk (pack) and manifest objects in the archive.
    pub stored_bytes: u64,
    /// Pack objects.
    pub packs: u64,
    /// Bytes of the packs.
    pub pack_bytes: u64,
    /// Bytes of the manifests.
    pub manifest_bytes: u64,
    /// Raw bytes of the distinct chunks.
    pub unique_raw_bytes: u64,
    /// Pack bytes no manifest names (unfinished steps, dropped snapshots awaiting the
    /// archive's gc, dead chunks of packs kept for their other chunks).
    pub unnamed_bytes: u64,
    /// Manifests that do not read (not counted above; `archive verify` names them).
    pub unreadable_manifests: u64,
}

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The object or snapshot concerned.
    pub item: String,
    /// What is wrong.
    pub problem: String,
}

/// What `archive verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveVerify {
    /// No problem.
    pub ok: bool,
    /// Whether every snapshot was reassembled and every chunk re-hashed.
    pub deep: bool,
    /// Manifests checked.
    pub snapshots: u64,
    /// Packs found.
    pub packs: u64,
    /// Bytes reassembled and verified (deep).
    pub verified_bytes: u64,
    /// Every problem.
    pub problems: Vec<Problem>,
}

impl Archive {
    /// Every archived snapshot, in hash order (a manifest that does not read is left out,
    /// with a warning: [`listing`](Self::listing) returns them).
    pub fn list(&self) -> Result<Vec<SnapshotEntry>> {
        let (all, unreadable) = self.listing()?;
        for p in unreadable {
            tracing::warn!("archive manifest {} does not read: {}", p.item, p.problem);
        }
        Ok(all)
    }

    /// Every archived snapshot whose manifest reads, in hash order, and the manifests that do
    /// not (one damaged manifest does not hide the others).
    pub fn listing(&self) -> Result<(Vec<SnapshotEntry>, Vec<Problem>)> {
        let scan = self.read_manifests()?;
        let mut all: Vec<SnapshotEntry> = scan.manifests.iter().map(Manifest::entry).collect();
        all.sort_by(|a, b| a.hash.cmp(&b.hash));
        Ok((all, scan.unreadable))
    }

    /// Totals.
    pub fn stats(&self) -> Result<ArchiveStats> {
        let scan = self.read_manifests()?;
        let manifests = scan.manifests;
        let mut s = ArchiveStats {
            snapshots: manifests.len() as u64,
            unreadable_manifests: scan.unreadable.len() as u64,
            ..ArchiveStats::default()
        };
        let mut chunks = BTreeMap::new();
        let mut frames = BTreeSet::new();
        let mut named_stored = 0u64;
        for m in &manifests {
            s.raw_bytes += m.raw_bytes;
            for c in &m.chunks {
                chunks.entry(c.hash).or_insert(c.raw_len);
                if frames.insert((c.pack, c.offset)) {
                    named_stored += u64::from(c.stored_len);
                }
            }
        }
        s.chunks = chunks.len() as u64;
        s.unique_raw_bytes = chunks.values().map(|&n| u64::from(n)).sum();
        for meta in self.list_objects(MANIFEST_DIR)? {
            s.manifest_bytes += meta.size;
        }
        for meta in self.list_objects(PACK_DIR)? {
            if pack_name(&meta.location).is_some() {
                s.packs += 1;
                s.pack_bytes += meta.size;
            }
        }
        s.stored_bytes = s.pack_bytes + s.manifest_bytes;
        s.unnamed_bytes = s.pack_bytes.saturating_sub(named_stored);
        Ok(s)
    }

    /// Checks the archive: every manifest parses, every pack it names exists and is long enough;
    /// `deep` also reassembles every snapshot and re-hashes it and each of its chunks.
    pub fn verify(&self, deep: bool) -> Result<ArchiveVerify> {
        let mut v = ArchiveVerify { deep, ..ArchiveVerify::default() };
        let mut manifests = Vec::new();
        for meta in self.list_objects(MANIFEST_DIR)? {
            let Some(hash) = crate::store::manifest_name(&meta.location) else {
                v.problems
                    .push(Problem { item: meta.location.to_string(), problem: "not a manifest name".into() });
                continue;
            };
            v.snapshots += 1;
            match self.manifest(&hash) {
                Ok(m) => manifests.push(m),
                Err(e) => {
                    v.problems.push(Problem { item: meta.location.to_string(), problem: e.to_string() })
                }
            }
        }
        let mut sizes = BTreeMap::new();
        for meta in self.list_objects(PACK_DIR)? {
            if let Some(id) = pack_name(&meta.location) {
                sizes.insert(id, meta.size);
            }
        }
        v.packs = sizes.len() as u64;
        for m in &manifests {
            for c in &m.chunks {
                match sizes.get(&c.pack) {
                    None => {
                        v.problems.push(Problem {
                            item: m.hash.to_hex(),
                            problem: format!("its pack {} is missing", pack_path(&c.pack)),
                        });
                        break;
                    }
                    Some(&size) if c.offset + u64::from(c.stored_len) > size => {
                        v.problems.push(Problem {
                            item: m.hash.to_hex(),
                            problem: format!("pack {} is too short ({size} bytes)", pack_path(&c.pack)),
                        });
                        break;
                    }
                    Some(_) => {}
                }
            }
            if deep && !v.problems.iter().any(|p| p.item == m.hash.to_hex()) {
                match self.read_chunks(m, &mut std::io::sink(), true) {
                    Ok(n) => v.verified_bytes += n,
                    Err(e) => v.problems.push(Problem { item: m.hash.to_hex(), problem: e.to_string() }),
                }
            }
        }
        v.ok = v.problems.is_empty();
        Ok(v)
    }

    /// The state-sync hook: every archived snapshot, in hash order, with a reader of its
    /// verified bytes. The reader yields the bytes only once they verified (each snapshot is
    /// reassembled into memory, or with `spill` into a temporary file, before `f` sees it), so
    /// an export never carries unverified bytes. `f` returning `Err` stops the walk.
    pub fn for_each_snapshot(
        &self,
        mut f: impl FnMut(&SnapshotEntry, &mut dyn Read) -> std::io::Result<()>,
    ) -> Result<u64> {
        let mut n = 0;
        let scan = self.read_manifests()?;
        if let Some(p) = scan.unreadable.first() {
            // An export that claims the archived history must carry all of it.
            return Err(crate::error::Error::Corrupt { object: p.item.clone(), reason: p.problem.clone() });
        }
        let mut manifests = scan.manifests;
        manifests.sort_by_key(|m| m.hash);
        for m in manifests {
            let mut spill = tempfile_or_memory(m.raw_bytes)?;
            self.read_chunks(&m, &mut spill, false)?;
            let mut reader = spill.into_reader()?;
            f(&m.entry(), &mut reader).map_err(crate::error::Error::Output)?;
            n += 1;
        }
        Ok(n)
    }

    /// Whether `hash` is archived, and its entry.
    pub fn entry(&self, hash: &SnapshotHash) -> Result<Option<SnapshotEntry>> {
        match self.manifest(hash) {
            Ok(m) => Ok(Some(m.entry())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Where `for_each_snapshot` reassembles a snapshot: memory up to 64 MiB, a temp file above.
enum Spill {
    Memory(Vec<u8>),
    File(std::fs::File),
}

fn tempfile_or_memory(raw: u64) -> Result<Spill> {
    if raw <= 64 * 1024 * 1024 {
        return Ok(Spill::Memory(Vec::with_capacity(raw as usize)));
    }
    let file = tempfile_file().map_err(crate::error::Error::Output)?;
    Ok(Spill::File(file))
}

fn tempfile_file() -> std::io::Result<std::fs::File> {
    let path = std::env::temp_dir().join(format!("archive-spill-{}-{}", std::process::id(), next_id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

impl std::io::Write for Spill {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Spill::Memory(v) => v.write(buf),
            Spill::File(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Spill::Memory(_) => Ok(()),
            Spill::File(f) => f.flush(),
        }
    }
}

impl Spill {
    fn into_reader(self) -> Result<Box<dyn Read>> {
        use std::io::Seek;
        match self {
            Spill::Memory(v) => Ok(Box::new(std::io::Cursor::new(v))),
            Spill::File(mut f) => {
                f.seek(std::io::SeekFrom::Start(0)).map_err(crate::error::Error::Output)?;
                Ok(Box::new(std::io::BufReader::new(f)))
            }
        }
    }
}
