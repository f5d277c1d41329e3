//! The fuser 0.18 adapter: every FUSE request goes through the gate of [`State`](crate::state::State) (count,
//! trigger, freeze), runs on the model and is logged.
//!
//! No writeback cache is asked for (fuser's default init flags do not include it), so every
//! `write(2)` reaches the model synchronously; `flush`/`release` make nothing durable;
//! `sync_file_range(2)` and `syncfs(2)` never reach a FUSE file system at all. Locks (`flock`,
//! `fcntl`) are not implemented here, so the kernel handles them locally.
//!
//! One job, and over 450 lines on purpose: the `Filesystem` impl is one method per FUSE
//! request (each: the gate, one model call, the reply), and a trait impl does not split
//! across files; the shared parts are `PowerFs::call` and the attribute helpers.

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use crate::model::{Fs, FsError, FsResult, Ino, Kind, Node, Owner};
use crate::state::{Shared, lock};

/// How long the kernel may cache attributes and entries (a remount drops the caches anyway).
const TTL: Duration = Duration::from_secs(1);

/// `S_IFMT` and `S_IFREG`.
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
/// `O_EXCL`.
const O_EXCL: i32 = 0o200;

/// The FUSE file system over a shared [`State`](crate::state::State).
pub struct PowerFs {
    shared: Shared,
}

impl PowerFs {
    /// A file system serving `shared`.
    pub fn new(shared: Shared) -> Self {
        Self { shared }
    }

    /// Runs one request: gate, operation, log line. `path` names what it is about (computed
    /// before the operation, from the live tree), `show` renders a success for the log.
    fn call<T>(
        &self,
        op: &'static str,
        path: impl FnOnce(&Fs) -> String,
        detail: impl FnOnce(&Fs) -> String,
        run: impl FnOnce(&mut Fs) -> FsResult<T>,
        show: impl FnOnce(&T) -> String,
    ) -> Result<T, Errno> {
        let mut st = lock(&self.shared);
        let path = path(&st.fs);
        let detail = detail(&st.fs);
        let result = st.begin(op, &path).and_then(|()| run(&mut st.fs));
        let shown = match &result {
            Ok(v) => show(v),
            Err(e) => errno_name(*e).to_owned(),
        };
        if st.end(op, path, detail, shown) {
            return Err(Errno::EIO);
        }
        result.map_err(|e| Errno::from_i32(e.errno()))
    }
}

/// The errno name of a model error, for the request log.
pub fn errno_name(e: FsError) -> &'static str {
    match e {
        FsError::NotFound => "ENOENT",
        FsError::Exists => "EEXIST",
        FsError::NotDir => "ENOTDIR",
        FsError::IsDir => "EISDIR",
        FsError::NotEmpty => "ENOTEMPTY",
        FsError::Invalid => "EINVAL",
        FsError::NotSupported => "ENOTSUP",
        FsError::NotPermitted => "EPERM",
        FsError::NoSys => "ENOSYS",
        FsError::Frozen => "EIO (frozen)",
    }
}

fn attr(ino: Ino, node: &Node) -> FileAttr {
    let size = node.size();
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: node.atime,
        mtime: node.mtime,
        ctime: node.ctime,
        crtime: node.ctime,
        kind: file_type(node.kind()),
        perm: node.perm,
        nlink: node.nlink,
        uid: node.uid,
        gid: node.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
        Kind::Symlink => FileType::Symlink,
    }
}

fn attr_of(fs: &Fs, ino: Ino) -> FsResult<FileAttr> {
    fs.node(ino).map(|n| attr(ino, n))
}

fn owner(req: &Request, mode: u32, umask: u32) -> Owner {
    Owner { perm: (mode & !umask & 0o7777) as u16, uid: req.uid(), gid: req.gid() }
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

fn shown_attr(a: &FileAttr) -> String {
    format!("ok ino {} size {}", a.ino.0, a.size)
}

fn no_detail(_: &Fs) -> String {
    String::new()
}

fn ok<T>(_: &T) -> String {
    "ok".to_owned()
}

impl Filesystem for PowerFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let r = self.call(
            "lookup",
            |fs| fs.child_path(parent.0, name),
            no_detail,
            |fs| fs.lookup(parent.0, name).and_then(|ino| attr_of(fs, ino)),
            shown_attr,
        );
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.call("getattr", |fs| fs.path(ino.0), no_detail, |fs| attr_of(fs, ino.0), shown_attr) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let r = self.call(
            "setattr",
            |fs| fs.path(ino.0),
            |_| format!("size {size:?} mode {mode:?}"),
            |fs| {
                if let Some(size) = size {
                    fs.truncate(ino.0, size)?;
                }
                let perm = mode.map(|m| (m & 0o7777) as u16);
                fs.set_attrs(ino.0, perm, uid, gid, atime.map(time), mtime.map(time))?;
                attr_of(fs, ino.0)
            },
            shown_attr,
        );
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.call("readlink", |fs| fs.path(ino.0), no_detail, |fs| fs.readlink(ino.0), ok) {
            Ok(t) => reply.data(std::os::unix::ffi::OsStrExt::as_bytes(t.as_os_str())),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let r = self.call(
            "mknod",
            |fs| fs.child_path(parent.0, name),
            |_| format!("mode {mode:o}"),
            |fs| {
                if mode & S_IFMT != S_IFREG && mode & S_IFMT != 0 {
                    return Err(FsError::NotSupported);
                }
                let ino = fs.create(parent.0, name, owner(req, mode, umask))?;
                attr_of(fs, ino)
            },
            shown_attr,
        );
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(&self, req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        let r = self.call(
            "mkdir",
            |fs| fs.child_path(parent.0, name),
            no_detail,
            |fs| {
                let ino = fs.mkdir(parent.0, name, owner(req, mode, umask))?;
                attr_of(fs, ino)
            },
            shown_attr,
        );
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.call(
            "unlink",
            |fs| fs.child_path(parent.0, name),
            no_detail,
            |fs| fs.unlink(parent.0, name),
            ok,
        ) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.call(
            "rmdir",
            |fs| fs.child_path(parent.0, name),
            no_detail,
            |fs| fs.rmdir(parent.0, name),
            ok,
        ) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(&self, req: &Request, parent: INodeNo, link_name: &OsStr, target: &Path, reply: ReplyEntry) {
        let r = self.call(
            "symlink",
            |fs| fs.child_path(parent.0, link_name),
            |_| format!("-> {}", target.display()),
            |fs| {
                let ino = fs.symlink(parent.0, link_name, target.as_os_str(), owner(req, 0o777, 0))?;
                attr_of(fs, ino)
            },
            shown_attr,
        );
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let r = self.call(
            "rename",
            |fs| fs.child_path(newparent.0, newname),
            |fs| format!("from {} flags {flags}", fs.child_path(parent.0, name)),
            |fs| {
                if flags.contains(RenameFlags::RENAME_WHITEOUT) {
                    return Err(FsError::Invalid);
                }
                fs.rename(
                    parent.0,
                    name,
                    newparent.0,
                    newname,
                    flags.contains(RenameFlags::RENAME_NOREPLACE),
                    flags.contains(RenameFlags::RENAME_EXCHANGE),
                )
            },
            ok,
        );
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(&self, _req: &Request, ino: INodeNo, newparent: INodeNo, newname: &OsStr, reply: ReplyEntry) {
        let r = self.call(
            "link",
            |fs| fs.child_path(newparent.0, newname),
            |fs| format!("to {}", fs.path(ino.0)),
            |fs| {
                fs.link(ino.0, newparent.0, newname)?;
                attr_of(fs, ino.0)
            },
            shown_attr,
        );
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let r = self.call(
            "open",
            |fs| fs.path(ino.0),
            |_| format!("flags {:#o}", flags.0),
            |fs| match fs.node(ino.0)?.kind() {
                Kind::Dir => Err(FsError::IsDir),
                _ => Ok(()),
            },
            ok,
        );
        match r {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let r = self.call(
            "read",
            |fs| fs.path(ino.0),
            |_| format!("off {offset} len {size}"),
            |fs| fs.read(ino.0, offset, size),
            |d| format!("ok {}", d.len()),
        );
        match r {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let r = self.call(
            "write",
            |fs| fs.path(ino.0),
            |_| format!("off {offset} len {}", data.len()),
            |fs| fs.write(ino.0, offset, data),
            |n| format!("ok {n}"),
        );
        match r {
            Ok(n) => reply.written(u32::try_from(n).unwrap_or(u32::MAX)),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2): makes nothing durable.
        match self.call("flush", |fs| fs.path(ino.0), no_detail, |fs| fs.node(ino.0).map(|_| ()), ok) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        match self.call("release", |fs| fs.path(ino.0), no_detail, |_| Ok(()), ok) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, datasync: bool, reply: ReplyEmpty) {
        let r = self.call(
            "fsync",
            |fs| fs.path(ino.0),
            |_| if datasync { "datasync".to_owned() } else { String::new() },
            |fs| fs.fsync(ino.0),
            ok,
        );
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let r = self.call(
            "opendir",
            |fs| fs.path(ino.0),
            no_detail,
            |fs| match fs.node(ino.0)?.kind() {
                Kind::Dir => Ok(()),
                _ => Err(FsError::NotDir),
            },
            ok,
        );
        match r {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let r = self.call(
            "readdir",
            |fs| fs.path(ino.0),
            |_| format!("off {offset}"),
            |fs| {
                let mut entries = vec![
                    (OsStr::new(".").to_owned(), ino.0, Kind::Dir),
                    (OsStr::new("..").to_owned(), fs.parent_of(ino.0), Kind::Dir),
                ];
                entries.extend(fs.readdir(ino.0)?);
                Ok(entries)
            },
            |e| format!("ok {} entries", e.len()),
        );
        match r {
            Ok(entries) => {
                let skip = usize::try_from(offset).unwrap_or(usize::MAX);
                for (i, (name, child, kind)) in entries.iter().enumerate().skip(skip) {
                    if reply.add(INodeNo(*child), (i + 1) as u64, file_type(*kind), name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        match self.call("releasedir", |fs| fs.path(ino.0), no_detail, |_| Ok(()), ok) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        match self.call("fsyncdir", |fs| fs.path(ino.0), no_detail, |fs| fs.fsyncdir(ino.0), ok) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        match self.call("statfs", |fs| fs.path(ino.0), no_detail, |fs| Ok(fs.inode_count() as u64), ok) {
            // 16 GiB of 4 KiB blocks, a million inodes: never the store's limit.
            Ok(files) => reply.statfs(1 << 22, 1 << 22, 1 << 22, files, 1 << 20, 4096, 255, 4096),
            Err(e) => reply.error(e),
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        match self.call("setxattr", |fs| fs.path(ino.0), no_detail, |_| Err::<(), _>(FsError::NoSys), ok) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, _name: &OsStr, _size: u32, reply: ReplyXattr) {
        match self.call("getxattr", |fs| fs.path(ino.0), no_detail, |_| Err::<(), _>(FsError::NoSys), ok) {
            Ok(()) => reply.error(Errno::ENODATA),
            Err(e) => reply.error(e),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, _size: u32, reply: ReplyXattr) {
        match self.call("listxattr", |fs| fs.path(ino.0), no_detail, |_| Err::<(), _>(FsError::NoSys), ok) {
            Ok(()) => reply.size(0),
            Err(e) => reply.error(e),
        }
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        match self.call("removexattr", |fs| fs.path(ino.0), no_detail, |_| Err::<(), _>(FsError::NoSys), ok) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        match self.call("access", |fs| fs.path(ino.0), no_detail, |fs| fs.node(ino.0).map(|_| ()), ok) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let r = self.call(
            "create",
            |fs| fs.child_path(parent.0, name),
            |_| format!("flags {flags:#o}"),
            |fs| {
                let ino = match fs.lookup(parent.0, name) {
                    Ok(_) if flags & O_EXCL != 0 => return Err(FsError::Exists),
                    Ok(ino) if fs.node(ino)?.kind() == Kind::Dir => return Err(FsError::IsDir),
                    Ok(ino) => ino,
                    Err(_) => fs.create(parent.0, name, owner(req, mode, umask))?,
                };
                attr_of(fs, ino)
            },
            shown_attr,
        );
        match r {
            Ok(a) => reply.created(&TTL, &a, Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let r = self.call(
            "fallocate",
            |fs| fs.path(ino.0),
            |_| format!("off {offset} len {length} mode {mode}"),
            |fs| fs.fallocate(ino.0, offset, length, mode),
            ok,
        );
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
