//! File contents and attributes: read, write, truncate, fallocate, set_attrs (live only).

use super::*;

impl Fs {
    pub(super) fn live_file_mut(&mut self, ino: Ino) -> FsResult<&mut Vec<u8>> {
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
}
