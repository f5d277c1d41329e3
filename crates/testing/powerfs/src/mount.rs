//! Mounting powerfs: mount an [`Image`], crash it, unmount, mount the durable image again; and
//! [`probe`] whether FUSE can be mounted here at all.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crashtest::Rng;
use fuser::{BackgroundSession, MountOption};

use crate::fuse::PowerFs;
use crate::model::{Fs, Image};
use crate::state::{Shared, State, lock};

/// Mounting or unmounting failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The kernel (or fuser) refused the mount.
    #[error("mounting powerfs at {path}: {source}")]
    Mount { path: PathBuf, source: std::io::Error },
    /// Neither `umount` nor `umount -l` detached the file system.
    #[error("unmounting {path}: {detail}")]
    Unmount { path: PathBuf, detail: String },
}

/// A mounted powerfs. Dropping it unmounts (lazily if need be).
pub struct Mounted {
    dir: PathBuf,
    session: Option<BackgroundSession>,
    shared: Shared,
}

/// Mounts a powerfs at `dir` whose live and durable state are both `image`. The mount is
/// usable when this returns (fuser has done the INIT handshake); requests are served one at
/// a time on one background thread.
pub fn mount(dir: &Path, image: Image) -> Result<Mounted, MountError> {
    let shared: Shared = Arc::new(Mutex::new(State::new(image.into_fs())));
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::FSName("powerfs".into()),
        MountOption::Subtype("powerfs".into()),
        MountOption::NoAtime,
    ];
    config.n_threads = Some(1);
    let session = fuser::spawn_mount(PowerFs::new(Arc::clone(&shared)), dir, &config)
        .map_err(|source| MountError::Mount { path: dir.to_owned(), source })?;
    lock(&shared).log.note(format!("mounted at {}", dir.display()));
    Ok(Mounted { dir: dir.to_owned(), session: Some(session), shared })
}

impl Mounted {
    /// The mount point.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state behind the mount (model, request log, cut control).
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The power cut: freezes the file system (if a trigger has not already) and returns its
    /// durable image, torn when `torn` gives a generator. The mounted file system stays
    /// frozen (every request EIO) until it is unmounted.
    pub fn crash(&self, torn: Option<&mut Rng>) -> Image {
        let mut st = lock(&self.shared);
        st.freeze("crash() by the harness");
        let mut fs = std::mem::take(&mut st.fs);
        match torn {
            Some(rng) => fs.crash_torn(rng),
            None => fs.crash(),
        }
        Image::from_crashed(fs)
    }

    /// Unmounts (`umount`, retried while busy, then `umount -l`) and waits for the session
    /// thread to end. Returns the file system as it was left.
    pub fn unmount(mut self) -> Result<Fs, MountError> {
        let result = self.detach();
        let fs = std::mem::take(&mut lock(&self.shared).fs);
        result.map(|()| fs)
    }

    fn detach(&mut self) -> Result<(), MountError> {
        let Some(session) = self.session.take() else { return Ok(()) };
        let mut detail = String::new();
        let mut unmounted = false;
        let mut delay = Duration::from_millis(1);
        for _ in 0..12 {
            match Command::new("umount").arg(&self.dir).output() {
                Ok(out) if out.status.success() => {
                    unmounted = true;
                    break;
                }
                Ok(out) => detail = String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                Err(e) => detail = format!("running umount: {e}"),
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(200));
        }
        if !unmounted {
            match Command::new("umount").arg("-l").arg(&self.dir).output() {
                Ok(out) if out.status.success() => unmounted = true,
                Ok(out) => {
                    detail = format!("{detail}; umount -l: {}", String::from_utf8_lossy(&out.stderr).trim())
                }
                Err(e) => detail = format!("{detail}; running umount -l: {e}"),
            }
        }
        if !unmounted {
            // Dropping the session makes fuser try once more itself.
            drop(session);
            return Err(MountError::Unmount { path: self.dir.clone(), detail });
        }
        // The session loop ends when the kernel closes the connection.
        let start = Instant::now();
        while !session.guard.is_finished() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if session.guard.is_finished() {
            let _ = session.join();
        }
        Ok(())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.session.is_some() {
            let _ = self.detach();
        }
    }
}

/// Whether a FUSE file system can be mounted here: mounts a throwaway powerfs, writes and
/// reads a file through it, unmounts. `Err` says why not (no /dev/fuse, not permitted, …).
pub fn probe() -> Result<(), String> {
    if !Path::new("/dev/fuse").exists() {
        return Err("/dev/fuse does not exist".into());
    }
    let dir = tempfile::tempdir().map_err(|e| format!("a temp dir for the probe: {e}"))?;
    let mounted = mount(dir.path(), Image::empty()).map_err(|e| e.to_string())?;
    let file = dir.path().join("probe");
    let io = std::fs::write(&file, b"powerfs").and_then(|()| std::fs::read(&file));
    let unmounted = mounted.unmount();
    match io {
        Ok(bytes) if bytes == b"powerfs" => {}
        Ok(bytes) => return Err(format!("the probe file read back {bytes:?}")),
        Err(e) => return Err(format!("I/O through the probe mount: {e}")),
    }
    unmounted.map(|_| ()).map_err(|e| e.to_string())
}
