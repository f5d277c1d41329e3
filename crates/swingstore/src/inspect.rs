//! Read-only views for operators: `ls`, `stats`, `verify`.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::blob::BlobMeta;
use crate::error::{Error, Result};
use crate::gc::Progress;
use crate::gc::area::{known_blobs, list_blob_area};
use crate::gc::policy::{Decision, decide};
use crate::hash::SnapshotHash;
use crate::roots::live::scan_roots;
use crate::store::SwingStore;

/// Where a blob stands with the collector, as `ls` shows it (serialized kebab-case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobState {
    /// A committed root names it.
    Live,
    /// Unreferenced, still inside its protection window (saved recently).
    Young,
    /// Unreferenced, past its protection window, not yet condemned by a pass.
    Unreferenced,
    /// Condemned by a pass: deleted once its grace runs out.
    Condemned,
    /// Its metadata record does not decode (never deleted; `verify` reports it).
    DamagedMetadata,
}

impl BlobState {
    /// The name `ls` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            BlobState::Live => "live",
            BlobState::Young => "young",
            BlobState::Unreferenced => "unreferenced",
            BlobState::Condemned => "condemned",
            BlobState::DamagedMetadata => "damaged-metadata",
        }
    }
}

impl std::fmt::Display for BlobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One blob, as `ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobInfo {
    /// The snapshot's name.
    pub hash: String,
    /// Raw (uncompressed) length.
    pub raw_bytes: u64,
    /// Length of the blob file.
    pub stored_bytes: u64,
    /// Epoch of the block that last saved it.
    pub saved_epoch: u64,
    /// Its state under the persisted grace.
    pub state: BlobState,
    /// When a pass condemned it, if one did.
    pub condemned_epoch: Option<u64>,
    /// Root keys naming it.
    pub roots: Vec<String>,
}

/// Totals, as `stats` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// The last committed epoch.
    pub epoch: u64,
    /// Committed root keys.
    pub roots: u64,
    /// Distinct snapshots the roots name.
    pub live: u64,
    /// Blobs the store has records of.
    pub blobs: u64,
    /// Their raw bytes.
    pub raw_bytes: u64,
    /// Their bytes on disk.
    pub stored_bytes: u64,
    /// Blobs no root names.
    pub garbage: u64,
    /// Their bytes on disk.
    pub garbage_bytes: u64,
    /// `sha256:<hex>` over the committed roots in key order, each as its key's length (u32
    /// big-endian), the key, and the 32 bytes of the snapshot it names (32 zero bytes for a
    /// root that names none): equal on two stores with the same roots.
    pub live_digest: String,
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// No problem found.
    pub ok: bool,
    /// Blobs checked.
    pub checked: u64,
    /// Hashes named by a root but absent.
    pub missing: Vec<String>,
    /// Hashes whose blob fails its checks (size always; length and sha256 with `deep`).
    pub corrupt: Vec<String>,
    /// File names in the blob area the store does not know.
    pub orphans: Vec<String>,
    /// Root keys whose value does not parse.
    pub bad_roots: Vec<String>,
}

impl SwingStore {
    /// Every known blob with its state under the persisted grace, in hash order.
    /// Fails on a malformed root only if `strict`; otherwise bad roots are ignored.
    pub fn list_blobs(&self) -> Result<Vec<BlobInfo>> {
        let roots = scan_roots(self.kv())?;
        let epoch = self.epoch();
        let grace = self.config().grace;
        let locked = self.inner.sweep.lock();
        let mut out = Vec::new();
        for (hash, meta) in known_blobs(self)? {
            let keys = roots.live.get(&hash).cloned().unwrap_or_default();
            let Ok(meta) = meta else {
                out.push(BlobInfo {
                    hash: hash.to_hex(),
                    raw_bytes: 0,
                    stored_bytes: 0,
                    saved_epoch: 0,
                    state: if keys.is_empty() { BlobState::DamagedMetadata } else { BlobState::Live },
                    condemned_epoch: None,
                    roots: keys,
                });
                continue;
            };
            let state = match decide(&meta, !keys.is_empty(), locked.is_leased(&hash), epoch, grace, false) {
                Decision::Live => BlobState::Live,
                Decision::Young { .. } => BlobState::Young,
                _ if meta.condemned_epoch.is_some() => BlobState::Condemned,
                _ => BlobState::Unreferenced,
            };
            out.push(BlobInfo {
                hash: hash.to_hex(),
                raw_bytes: meta.raw_bytes,
                stored_bytes: meta.stored_bytes,
                saved_epoch: meta.saved_epoch,
                state,
                condemned_epoch: meta.condemned_epoch,
                roots: keys,
            });
        }
        Ok(out)
    }

    /// Totals over roots and blobs.
    pub fn stats(&self) -> Result<Stats> {
        let roots = scan_roots(self.kv())?;
        let mut stats = Stats {
            epoch: self.epoch(),
            roots: roots.roots,
            live: roots.live.len() as u64,
            live_digest: live_digest(self.kv())?,
            ..Stats::default()
        };
        for (hash, meta) in known_blobs(self)? {
            let meta = meta.unwrap_or_default_meta();
            stats.blobs += 1;
            stats.raw_bytes += meta.0;
            stats.stored_bytes += meta.1;
            if !roots.contains(&hash) {
                stats.garbage += 1;
                stats.garbage_bytes += meta.1;
            }
        }
        Ok(stats)
    }

    /// Checks that every root parses, every live blob is present, and every blob is sound
    /// (`deep`: decompress and re-hash every blob, on two threads). Changes nothing.
    pub fn verify(&self, deep: bool, progress: Option<Progress>) -> Result<VerifyReport> {
        let roots = scan_roots(self.kv())?;
        let known = known_blobs(self)?;
        let listing = list_blob_area(self)?;
        let mut report = VerifyReport {
            bad_roots: roots.bad_roots.iter().map(|(k, _)| k.clone()).collect(),
            ..VerifyReport::default()
        };
        let mut missing = BTreeSet::new();
        for hash in roots.live.keys() {
            match listing.blob_files.get(hash) {
                None => {
                    missing.insert(hash.to_hex());
                }
                Some(t) if !t.is_file() => {
                    report.corrupt.push(hash.to_hex());
                }
                Some(_) => {}
            }
        }
        report.missing = missing.into_iter().collect();
        report.orphans = listing.strays.clone();
        for hash in listing.blob_files.keys() {
            if !known.contains_key(hash) {
                report.orphans.push(crate::layout::blob_file_name(hash));
            }
        }
        report.orphans.sort();

        // Cheap checks on every known, present blob: a regular file of the recorded size.
        let mut to_check: Vec<(u64, SnapshotHash)> = Vec::new();
        for (hash, meta) in &known {
            let Some(file_type) = listing.blob_files.get(hash) else { continue };
            if !file_type.is_file() {
                if !report.corrupt.contains(&hash.to_hex()) {
                    report.corrupt.push(hash.to_hex());
                }
                continue;
            }
            let size = std::fs::metadata(self.layout().blob_path(hash)).map(|m| m.len()).ok();
            match meta {
                Ok(m) if Some(m.stored_bytes) == size => to_check.push((m.stored_bytes, *hash)),
                _ => report.corrupt.push(hash.to_hex()),
            }
        }
        report.checked = (to_check.len() + report.corrupt.len()) as u64;
        // Largest first: the workers then finish together, rather than one core decoding a
        // large heap alone at the end (issue 25; the limit tool schedules the same way).
        to_check.sort_unstable_by(|a, b| b.cmp(a));
        let to_check: Vec<SnapshotHash> = to_check.into_iter().map(|(_, hash)| hash).collect();
        if deep {
            let corrupt = Mutex::new(Vec::new());
            let next = AtomicU64::new(0);
            let done = AtomicU64::new(0);
            let total = to_check.len() as u64;
            // One blob per core, each decoded and hashed on its own thread: no hand-offs.
            let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 8);
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                            let Some(hash) = to_check.get(i) else { break };
                            match self.verify_blob_inline(hash) {
                                Ok(_) => {}
                                Err(Error::NotFound { .. }) => {}
                                Err(_) => {
                                    corrupt.lock().unwrap_or_else(|p| p.into_inner()).push(hash.to_hex())
                                }
                            }
                            let d = done.fetch_add(1, Ordering::SeqCst) + 1;
                            if let Some(p) = &progress {
                                p(d, total);
                            }
                        }
                    });
                }
            });
            report.corrupt.extend(corrupt.into_inner().unwrap_or_else(|p| p.into_inner()));
        }
        report.corrupt.sort();
        report.corrupt.dedup();
        report.ok = report.missing.is_empty()
            && report.corrupt.is_empty()
            && report.orphans.is_empty()
            && report.bad_roots.is_empty();
        Ok(report)
    }
}

/// See [`Stats::live_digest`].
fn live_digest(kv: &crate::kv::KvStore) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    kv.for_each_root(|key, entry| {
        hasher.update((key.len() as u32).to_be_bytes());
        hasher.update(key.as_bytes());
        match entry {
            Ok(hash) => hasher.update(hash.as_bytes()),
            Err(_) => hasher.update([0u8; 32]),
        }
        Ok(())
    })?;
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

trait MetaSizes {
    fn unwrap_or_default_meta(self) -> (u64, u64);
}

impl MetaSizes for Result<BlobMeta, String> {
    fn unwrap_or_default_meta(self) -> (u64, u64) {
        self.map(|m| (m.raw_bytes, m.stored_bytes)).unwrap_or((0, 0))
    }
}
