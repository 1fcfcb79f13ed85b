//! Making written files and folders durable: one `syncfs(2)` round where the filesystem makes
//! that as strong as an fsync of each item, else an fsync per file or folder.
//!
//! A round is one `syncfs(2)` on DEST's filesystem where that is as strong as an fsync of each
//! file: ext4, XFS and btrfs write back every dirty inode, commit their journal (or
//! transaction) and flush the device's cache, and since Linux 5.8 `syncfs` returns a writeback
//! error that hit any file of the filesystem since its descriptor was opened (it is opened with
//! DEST, before the run writes anything). Elsewhere (FUSE, network filesystems, tmpfs, older
//! kernels) each file and folder is fsynced.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::write_error::{SafeWriteError, sync_error};

/// `statfs` magic numbers of the filesystems whose `syncfs` is trusted (linux/magic.h).
const EXT4_MAGIC: u64 = 0xEF53;
const XFS_MAGIC: u64 = 0x5846_5342;
const BTRFS_MAGIC: u64 = 0x9123_683E;
/// The first kernel whose `syncfs` reports writeback errors (errseq on the superblock).
const SYNCFS_REPORTS_ERRORS: (u32, u32) = (5, 8);

/// Makes a batch's files, then its folders, durable: one `syncfs` each, or an fsync per item.
#[derive(Debug)]
pub(crate) struct Flusher {
    /// A folder of DEST's filesystem, open since the run started (the `syncfs` handle).
    dir: File,
    dir_path: PathBuf,
    syncfs: bool,
}

impl Flusher {
    /// Opens `dir` (a folder on DEST's filesystem) and decides how rounds are made.
    pub(crate) fn open(dir: &Path) -> Result<Flusher, SafeWriteError> {
        let dir_file = File::open(dir).map_err(|source| SafeWriteError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let syncfs = syncfs_is_enough(&dir_file);
        Ok(Flusher {
            dir: dir_file,
            dir_path: dir.to_path_buf(),
            syncfs,
        })
    }

    /// Test hook: rounds fsync each item whatever the filesystem.
    #[cfg(test)]
    pub(crate) fn fsync_each(&mut self) {
        self.syncfs = false;
    }

    /// Makes the data and metadata (size, mtime) of `files` durable.
    pub(crate) fn files(&self, files: &[&Path]) -> Result<(), SafeWriteError> {
        if self.syncfs {
            return self.sync_fs();
        }
        for path in files {
            // An fsync through any descriptor of the inode writes back all its dirty pages,
            // and reports a writeback error no one has seen yet.
            let f = File::open(path).map_err(|e| sync_error(path, e))?;
            f.sync_all().map_err(|e| sync_error(path, e))?;
        }
        Ok(())
    }

    /// Makes the entries of `dirs` (renames, new folders) durable.
    pub(crate) fn dirs<'a>(
        &self,
        dirs: impl IntoIterator<Item = &'a Path>,
    ) -> Result<(), SafeWriteError> {
        if self.syncfs {
            return self.sync_fs();
        }
        dirs.into_iter().try_for_each(sync_dir)
    }

    fn sync_fs(&self) -> Result<(), SafeWriteError> {
        rustix::fs::syncfs(&self.dir).map_err(|e| sync_error(&self.dir_path, e.into()))
    }
}

/// Files at least this large have their cached pages dropped once durable ([`drop_cached`]);
/// smaller ones are not worth the extra open.
pub(crate) const DROP_CACHED_MIN: u64 = 1024 * 1024;

/// Advises the kernel to drop the cached pages of a file whose data is durable (best effort).
/// Its hash was taken as it was written, so the import does not read it again; without this an
/// import of a whole library fills the page cache with it, evicting what the user had there.
/// On a virtual machine, writing into pages the guest had not touched yet also cost the copy
/// about four times more kernel CPU (docs/benchmarks.md).
pub(crate) fn drop_cached(path: &Path) {
    if let Ok(f) = File::open(path) {
        let _ = rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed);
    }
}

/// `syncfs` is enough on a trusted local filesystem of a kernel that reports its errors.
fn syncfs_is_enough(dir: &File) -> bool {
    let release = rustix::system::uname();
    let Some(version) = kernel_version(&release.release().to_string_lossy()) else {
        return false;
    };
    if version < SYNCFS_REPORTS_ERRORS {
        return false;
    }
    match rustix::fs::fstatfs(dir) {
        #[allow(clippy::unnecessary_cast)] // the field's type differs between targets
        Ok(st) => matches!(st.f_type as u64, EXT4_MAGIC | XFS_MAGIC | BTRFS_MAGIC),
        Err(_) => false,
    }
}

/// `(major, minor)` of a kernel release string such as `6.8.0-45-generic`.
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), SafeWriteError> {
    let sync_err = |e| sync_error(dir, e);
    let f = File::open(dir).map_err(sync_err)?;
    match f.sync_all() {
        // Some filesystems (FUSE, some network mounts) cannot fsync a directory.
        Err(e) if e.kind() == ErrorKind::InvalidInput || e.kind() == ErrorKind::Unsupported => {
            Ok(())
        }
        other => other.map_err(sync_err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_are_read_from_release_strings() {
        assert_eq!(kernel_version("6.8.0-45-generic"), Some((6, 8)));
        assert_eq!(kernel_version("5.7-rc1"), Some((5, 7)));
        assert_eq!(kernel_version("6.18.44-fc-v1252"), Some((6, 18)));
        assert_eq!(kernel_version("garbage"), None);
        assert!((5, 7) < SYNCFS_REPORTS_ERRORS && (5, 10) >= SYNCFS_REPORTS_ERRORS);
    }
}
