//! [`Archive`]: an open archive, its backend and the object names.
//!
//! ```text
//! manifests/<snapshot sha256>.json.zst one per archived snapshot (manifest.rs)
//! packs/<2 hex>/<pack sha256>.pack     zstd frames of chunks, written by one archive step
//! state/gc.json                        the archive collector's condemnations (gc.rs)
//! SNAPGC-ARCHIVE                       the marker: this is an archive, and the store owning it
//! ```
//!
//! The marker is written when the archive is created (a missing or empty directory, an empty
//! prefix), with the id of the store that opened it; a directory that holds anything else and
//! no marker is refused, and so is a store other than the owner (issue 23). An archive written
//! before markers existed (only `manifests/`, `packs/`, `state/`) is adopted.
//! Within one process every [`Archive`] on the same location shares one chunk index and one
//! writer's lock.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use swingstore::SnapshotHash;

use crate::error::{Error, Result};
use crate::index::Index;
use crate::location::Location;

/// A test hook: called at named points of an archive step; `true` injects a failure there.
pub(crate) type Fault = Arc<dyn Fn(&'static str) -> bool + Send + Sync>;

/// An open archive. One writer per archive: the store that owns it (its exclusive lock keeps
/// other processes out); within a process the archive steps and the collector of one
/// `Archive` are serialized.
pub struct Archive {
    pub(crate) backend: Arc<dyn ObjectStore>,
    rt: tokio::runtime::Runtime,
    location: Location,
    /// The directory, for a local archive.
    pub(crate) local_root: Option<PathBuf>,
    /// The chunk index (loaded on first use) and the writer's exclusion: shared by every
    /// `Archive` of this process on the same location.
    pub(crate) inner: Arc<Mutex<Inner>>,
    fault: Mutex<Option<Fault>>,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub index: Option<Index>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive").field("location", &self.location).finish_non_exhaustive()
    }
}

pub(crate) const MANIFEST_DIR: &str = "manifests";
pub(crate) const PACK_DIR: &str = "packs";
pub(crate) const STATE_OBJECT: &str = "state/gc.json";
pub(crate) const MANIFEST_SUFFIX: &str = ".json.zst";
/// The marker object at the archive's root.
pub const MARKER_OBJECT: &str = "SNAPGC-ARCHIVE";
/// The top-level names an archive holds (besides its marker).
pub(crate) const ARCHIVE_DIRS: [&str; 3] = [MANIFEST_DIR, PACK_DIR, "state"];

/// The marker's content.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Marker {
    format: u32,
    /// The id of the store that owns the archive (`None`: opened by a tool, not yet claimed).
    owner: Option<String>,
}

/// The index and lock of each location open in this process.
fn shared_inner(key: &str) -> Arc<Mutex<Inner>> {
    static OPEN: Mutex<Option<HashMap<String, Weak<Mutex<Inner>>>>> = Mutex::new(None);
    let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
    let map = open.get_or_insert_with(HashMap::new);
    map.retain(|_, w| w.strong_count() > 0);
    if let Some(inner) = map.get(key).and_then(Weak::upgrade) {
        return inner;
    }
    let inner = Arc::new(Mutex::new(Inner::default()));
    map.insert(key.to_owned(), Arc::downgrade(&inner));
    inner
}

pub(crate) fn manifest_path(hash: &SnapshotHash) -> ObjectPath {
    ObjectPath::from(format!("{MANIFEST_DIR}/{}{MANIFEST_SUFFIX}", hash.to_hex()))
}

pub(crate) fn pack_path(id: &[u8; 32]) -> ObjectPath {
    let hex = hex::encode(id);
    ObjectPath::from(format!("{PACK_DIR}/{}/{hex}.pack", &hex[..2]))
}

/// The snapshot a manifest object's name says, if it is one.
pub(crate) fn manifest_name(path: &ObjectPath) -> Option<SnapshotHash> {
    let name = path.filename()?.strip_suffix(MANIFEST_SUFFIX)?;
    SnapshotHash::parse(name).ok()
}

/// The pack id a pack object's name says, if it is one.
pub(crate) fn pack_name(path: &ObjectPath) -> Option<[u8; 32]> {
    let name = path.filename()?.strip_suffix(".pack")?;
    let mut id = [0u8; 32];
    hex::decode_to_slice(name, &mut id).ok()?;
    Some(id)
}

impl Archive {
    /// Opens (a local directory: creates) the archive at `location`, without claiming it for
    /// a store (tools and tests; a store opens its archive with [`open_owned`](Self::open_owned)).
    pub fn open(location: &str) -> Result<Self> {
        Self::open_with(location, &[])
    }

    /// Opens the archive at `location` for the store whose id is `owner`
    /// ([`SwingStore::store_id`](swingstore::SwingStore::store_id)): creates it (marker with
    /// this owner) in a missing or empty place, claims an unclaimed one, and refuses one
    /// another store owns or a non-empty place that is not an archive.
    pub fn open_owned(location: &str, owner: &str, s3_options: &[(&str, &str)]) -> Result<Self> {
        let archive = Self::open_unchecked(location, s3_options)?;
        archive.check_marker(Some(owner))?;
        Ok(archive)
    }

    /// Like [`open`](Self::open), with S3 settings given here rather than in the environment
    /// (object_store's config keys, e.g. `("aws_endpoint", "http://127.0.0.1:9000")`); they
    /// override the environment's. For tests and tools.
    pub fn open_with(location: &str, s3_options: &[(&str, &str)]) -> Result<Self> {
        let archive = Self::open_unchecked(location, s3_options)?;
        archive.check_marker(None)?;
        Ok(archive)
    }

    fn open_unchecked(location: &str, s3_options: &[(&str, &str)]) -> Result<Self> {
        let location = Location::parse(location)?;
        let (backend, local_root) = location.open_with(s3_options)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("starting the archive's I/O runtime: {e}")))?;
        let key = match &local_root {
            Some(root) => format!("dir:{}", root.display()),
            None => {
                let mut opts: Vec<String> = s3_options.iter().map(|(k, v)| format!("{k}={v}")).collect();
                opts.sort();
                format!("{location} {}", opts.join(" "))
            }
        };
        Ok(Self { backend, rt, location, local_root, inner: shared_inner(&key), fault: Mutex::new(None) })
    }

    /// The owner recorded in the marker, checked (see [`open_owned`](Self::open_owned)).
    fn check_marker(&self, owner: Option<&str>) -> Result<()> {
        let refuse = |reason: String| Error::Refused { location: self.location.to_string(), reason };
        let path = ObjectPath::from(MARKER_OBJECT);
        if let Some(bytes) = self.get_object(&path, 64 * 1024)? {
            let marker: Marker = serde_json::from_slice(&bytes)
                .map_err(|e| refuse(format!("its {MARKER_OBJECT} marker does not parse ({e})")))?;
            return match (owner, marker.owner.as_deref()) {
                (Some(me), Some(theirs)) if me != theirs => Err(refuse(format!(
                    "it belongs to another store (id {theirs}; this store is {me}): one archive \
                     per store, or one store's retention deletes the other's history"
                ))),
                (Some(me), None) => self.write_marker(Some(me)),
                _ => Ok(()),
            };
        }
        // No marker: only an empty place, or an archive from before markers, is taken.
        if let Some(stranger) = self.foreign_entry()? {
            return Err(refuse(format!(
                "the directory is not empty and holds no {MARKER_OBJECT} marker (found {}): \
                 refusing to use it as an archive",
                crate::short(&stranger)
            )));
        }
        self.write_marker(owner)
    }

    fn write_marker(&self, owner: Option<&str>) -> Result<()> {
        let marker = Marker { format: crate::params::FORMAT, owner: owner.map(str::to_owned) };
        let bytes =
            serde_json::to_vec(&marker).map_err(|e| Error::Other(format!("encoding the marker: {e}")))?;
        // Durable like every object (local: file and directory fsynced): the archive marker
        // step of docs/CRASH-SAFETY.md.
        self.put_object(&ObjectPath::from(MARKER_OBJECT), bytes)
    }

    /// An entry at the archive's root that no archive writes, if any.
    fn foreign_entry(&self) -> Result<Option<String>> {
        let ours = |name: &str| ARCHIVE_DIRS.contains(&name) || name == MARKER_OBJECT;
        if let Some(root) = &self.local_root {
            let entries = std::fs::read_dir(root).map_err(|e| Error::Location {
                location: root.display().to_string(),
                reason: e.to_string(),
            })?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::Location {
                    location: root.display().to_string(),
                    reason: e.to_string(),
                })?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
                // The marker's own staging file (a cut before its rename) is ours too.
                let staged_marker = name
                    .strip_prefix(MARKER_OBJECT)
                    .and_then(|rest| rest.strip_prefix('#'))
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
                // A dedicated file system mounted there has its own `lost+found`.
                let mount_point = name == "lost+found" && is_dir;
                if !(staged_marker || mount_point || ours(&name) && (is_dir || name == MARKER_OBJECT)) {
                    return Ok(Some(name));
                }
            }
            return Ok(None);
        }
        for meta in self.list_objects("")? {
            let name = meta.location.to_string();
            let top = name.split('/').next().unwrap_or("");
            if !ours(top) {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    /// Test hook: the names of every object, sorted. Not part of the API.
    #[doc(hidden)]
    pub fn debug_objects(&self) -> Result<Vec<String>> {
        Ok(self.list_objects("")?.into_iter().map(|m| m.location.to_string()).collect())
    }

    /// Test hook: an object's bytes. Not part of the API.
    #[doc(hidden)]
    pub fn debug_get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_object(&ObjectPath::from(name), u64::MAX)?.map(|b| b.to_vec()))
    }

    /// Test hook: overwrites (or creates) an object. Not part of the API.
    #[doc(hidden)]
    pub fn debug_put(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        self.put_object(&ObjectPath::from(name), bytes)
    }

    /// Test hook: forgets the index (the next step reloads it from the manifests).
    #[doc(hidden)]
    pub fn debug_forget_index(&self) {
        self.lock().index = None;
    }

    /// Where it is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Test hook: `fault(point)` is asked at `after_pack` (a pack is durable, the manifest not
    /// yet written) and `after_manifest`; `true` fails the step there. Not part of the API.
    #[doc(hidden)]
    pub fn set_fault(&self, fault: Option<Arc<dyn Fn(&'static str) -> bool + Send + Sync>>) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    pub(crate) fn fault_at(&self, point: &'static str) -> Result<()> {
        let fault = self.fault.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match fault {
            Some(f) if f(point) => Err(Error::Fault(point)),
            _ => Ok(()),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The object's bytes, `None` if absent; refused above `limit` bytes.
    pub(crate) fn get_object(&self, path: &ObjectPath, limit: u64) -> Result<Option<Bytes>> {
        self.block_on(async {
            let got = match self.backend.get(path).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            if got.meta.size > limit {
                return Err(Error::Corrupt {
                    object: path.to_string(),
                    reason: format!("{} bytes, more than the {limit} expected at most", got.meta.size),
                });
            }
            Ok(Some(got.bytes().await?))
        })
    }

    /// Writes an object; durable when it returns (local: file and directory fsynced).
    pub(crate) fn put_object(&self, path: &ObjectPath, bytes: Vec<u8>) -> Result<()> {
        self.block_on(async {
            self.backend.put(path, PutPayload::from(bytes)).await?;
            Ok(())
        })
    }

    /// The object's size, `None` if absent.
    pub(crate) fn object_size(&self, path: &ObjectPath) -> Result<Option<u64>> {
        self.block_on(async {
            match self.backend.head(path).await {
                Ok(meta) => Ok(Some(meta.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Whether the object exists.
    pub(crate) fn exists(&self, path: &ObjectPath) -> Result<bool> {
        self.block_on(async {
            match self.backend.head(path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Deletes an object (absent is fine).
    pub(crate) fn delete_object(&self, path: &ObjectPath) -> Result<()> {
        self.block_on(async {
            match self.backend.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Every object under `prefix`, sorted by name.
    pub(crate) fn list_objects(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let prefix = ObjectPath::from(prefix);
        let mut all: Vec<ObjectMeta> =
            self.block_on(async { self.backend.list(Some(&prefix)).try_collect::<Vec<_>>().await })?;
        all.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(all)
    }

    /// Byte ranges of one object (coalesced by the backend).
    pub(crate) fn get_ranges(
        &self,
        path: &ObjectPath,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Vec<Bytes>> {
        self.block_on(async {
            match self.backend.get_ranges(path, ranges).await {
                Ok(parts) => Ok(parts),
                Err(object_store::Error::NotFound { .. }) => {
                    Err(Error::Corrupt { object: path.to_string(), reason: "missing".into() })
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Reads many objects at once (up to 16 requests in flight), in the order given.
    pub(crate) fn get_many(&self, paths: &[ObjectPath], limit: u64) -> Vec<Result<Option<Bytes>>> {
        self.block_on(async {
            futures::stream::iter(paths.iter().map(|path| async move {
                let got = match self.backend.get(path).await {
                    Ok(got) => got,
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(Error::from(e)),
                };
                if got.meta.size > limit {
                    return Err(Error::Corrupt {
                        object: path.to_string(),
                        reason: format!("{} bytes, more than {limit}", got.meta.size),
                    });
                }
                Ok(Some(got.bytes().await?))
            }))
            .buffered(16)
            .collect::<Vec<_>>()
            .await
        })
    }
}
