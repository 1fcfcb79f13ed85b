//! The atomic writer: bytes from the phone go into a temp file under `DEST/.iphone-import/tmp/`,
//! hashed with BLAKE3 on the way, fsynced, then renamed into place without ever replacing an
//! existing file, and the folder is fsynced. Only then does the caller commit the ledger row.
//! A final path therefore holds either nothing or a complete, durable file.
//!
//! Flow: [`Destination::begin`] → [`Partial::write_all`]… → [`Partial::finish`] → (read the
//! capture date from [`Staged::temp_path`], render the layout) → [`Staged::commit`]. `pull`
//! commits files in groups instead: [`Partial::complete`] → [`Staged::into_ready`] → the
//! rounds of [`super::batch_write`].
//!
//! Resume: the temp file's name is derived from (udid, device path, size, device mtime). If a
//! previous run was interrupted and the phone's file is unchanged, `begin` finds the temp file,
//! re-hashes its bytes and reports [`Partial::resume_offset`]; the caller reads the phone file
//! from there. A temp file for an older version of the same device file is deleted.
//!
//! Collisions: a different file already at the final path is never touched; the new file gets
//! the first free name `IMG_0001 (1).HEIC`, `IMG_0001 (2).HEIC`, … (the convention of desktop
//! file managers and immich-go, and unlike `_1` it cannot be mistaken for a camera name). If
//! the existing file has the same size and BLAKE3, it *is* this file: it is reused.
//!
//! All I/O here is blocking std I/O; async callers run it in `spawn_blocking` or accept short
//! blocking writes.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use std::sync::{Arc, Mutex, PoisonError};

use super::flush::{Flusher, sync_dir};
use super::layout::{RelPath, STATE_DIR};
use super::temp_index::TempIndex;
pub use super::write_error::SafeWriteError;
use super::write_error::{MAX_SUFFIX, sync_error, write_error};

/// Temp folder, relative to DEST.
pub const TMP_DIR: &str = "tmp";
/// Suffix of temp files.
const PART_EXT: &str = "part";

/// Identity of a device file version: a temp file is resumable only for the same key.
#[derive(Debug, Clone, Copy)]
pub struct SourceKey<'a> {
    pub udid: &'a str,
    pub device_path: &'a str,
    /// The ledger's copy key (empty for a plain layout): two album copies of one file being
    /// written at once must not share a temp file.
    pub copy: &'a str,
    pub size: u64,
    /// Device `st_mtime`, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

impl SourceKey<'_> {
    /// `<file id>.<version id>.part`: the file id names the device file, the version id its
    /// size and mtime, so a changed source is recognised and its stale temp removed.
    fn temp_names(&self, birth_ns: Option<u64>) -> (String, String) {
        let mut h = blake3::Hasher::new();
        h.update(self.udid.as_bytes());
        h.update(b"\0");
        // `/DCIM/x` and `DCIM/x` are the same device file.
        let path = self
            .device_path
            .strip_prefix('/')
            .unwrap_or(self.device_path);
        h.update(path.as_bytes());
        if !self.copy.is_empty() {
            // Hashed only when set, so plain copies keep the temp names of older versions.
            h.update(b"\0");
            h.update(self.copy.as_bytes());
        }
        let id = h.finalize().to_hex()[..32].to_string();
        let mut v = blake3::Hasher::new();
        v.update(&self.size.to_le_bytes());
        v.update(&self.mtime_ns.to_le_bytes());
        if let Some(birth) = birth_ns {
            // Hashed only when known, so callers without it keep their temp names.
            v.update(&birth.to_le_bytes());
        }
        let version = v.finalize().to_hex()[..16].to_string();
        (format!("{id}."), format!("{id}.{version}.{PART_EXT}"))
    }
}

/// DEST, prepared for atomic writes.
#[derive(Debug, Clone)]
pub struct Destination {
    root: PathBuf,
    tmp_dir: PathBuf,
    /// How a batch of files is made durable (see [`Flusher`]).
    flusher: Arc<Flusher>,
    /// The temp folder's names, listed once (see [`TempIndex`]).
    temps: Arc<Mutex<TempIndex>>,
}

impl Destination {
    /// Prepares DEST (creating it and `DEST/.iphone-import/tmp` if needed).
    pub fn open(root: &Path) -> Result<Destination, SafeWriteError> {
        let tmp_dir = root.join(STATE_DIR).join(TMP_DIR);
        fs::create_dir_all(&tmp_dir).map_err(|source| SafeWriteError::CreateDir {
            path: tmp_dir.clone(),
            source,
        })?;
        let flusher = Arc::new(Flusher::open(&tmp_dir)?);
        let temps = TempIndex::load(&tmp_dir).map_err(|source| SafeWriteError::Read {
            path: tmp_dir.clone(),
            source,
        })?;
        Ok(Destination {
            root: root.to_path_buf(),
            tmp_dir,
            flusher,
            temps: Arc::new(Mutex::new(temps)),
        })
    }

    /// How this DEST's batches are made durable.
    pub(crate) fn flusher(&self) -> &Flusher {
        &self.flusher
    }

    /// DEST itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `DEST/.iphone-import` (where the ledger and the lock live).
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    /// Starts (or resumes) writing one device file. Stale temp files of other versions of the
    /// same device file are removed; a temp file of this version is kept and re-hashed.
    pub fn begin(&self, key: &SourceKey<'_>) -> Result<Partial, SafeWriteError> {
        self.begin_version(key, None)
    }

    /// [`Self::begin`] for a file whose birth time on the phone is known: a file re-created
    /// with the same size and mtime is then another version too, and its temp file is not
    /// resumed.
    pub(crate) fn begin_version(
        &self,
        key: &SourceKey<'_>,
        birth_ns: Option<u64>,
    ) -> Result<Partial, SafeWriteError> {
        let (mut file, path) = self.open_temp(key, birth_ns, false)?;
        let temp_err = |source| SafeWriteError::TempFile {
            path: path.clone(),
            source,
        };
        let mut len = file.metadata().map_err(temp_err)?.len();
        if len > key.size {
            file.set_len(0).map_err(temp_err)?;
            len = 0;
        }
        // Re-hash what is already there so the final hash covers every byte of the file.
        let mut hasher = blake3::Hasher::new();
        file.seek(SeekFrom::Start(0)).map_err(temp_err)?;
        let copied = io::copy(&mut (&mut file).take(len), &mut hasher).map_err(temp_err)?;
        if copied != len {
            // Shrunk under us: start over rather than trust it.
            file.set_len(0).map_err(temp_err)?;
            hasher = blake3::Hasher::new();
            len = 0;
        }
        if len > 0 {
            // Kept bytes of an earlier run may never have reached the disk: make them durable
            // before anything is built on them (the caller then checks them against the phone).
            file.sync_all().map_err(|e| sync_error(&path, e))?;
        }
        file.seek(SeekFrom::Start(len)).map_err(temp_err)?;
        Ok(self.partial(file, path, hasher, len, key.size))
    }

    /// [`Self::begin_version`] for a file written whole in one go: bytes an earlier run kept
    /// are dropped unread (the file is opened truncated), so nothing is re-hashed or seeked.
    pub(crate) fn begin_anew(
        &self,
        key: &SourceKey<'_>,
        birth_ns: Option<u64>,
    ) -> Result<Partial, SafeWriteError> {
        let (file, path) = self.open_temp(key, birth_ns, true)?;
        Ok(self.partial(file, path, blake3::Hasher::new(), 0, key.size))
    }

    /// A temp file opened for writing, holding (and hashed up to) `kept` bytes of `expected`.
    fn partial(
        &self,
        file: File,
        path: PathBuf,
        hasher: blake3::Hasher,
        kept: u64,
        expected: u64,
    ) -> Partial {
        Partial {
            file,
            path,
            root: self.root.clone(),
            hasher,
            written: kept,
            resumed_from: kept,
            expected,
            fail_after: None,
            poisoned: false,
        }
    }

    /// Claims the temp name of this version of the device file (removing stale versions) and
    /// opens it, keeping what it holds unless `truncate`.
    fn open_temp(
        &self,
        key: &SourceKey<'_>,
        birth_ns: Option<u64>,
        truncate: bool,
    ) -> Result<(File, PathBuf), SafeWriteError> {
        let (prefix, name) = key.temp_names(birth_ns);
        let path = self.tmp_dir.join(&name);
        // Held until the file exists, so a relisting of the folder cannot miss it.
        let mut temps = self.temps.lock().unwrap_or_else(PoisonError::into_inner);
        temps
            .claim(&prefix, &name)
            .map_err(|source| SafeWriteError::Read {
                path: self.tmp_dir.clone(),
                source,
            })?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(truncate)
            .open(&path);
        drop(temps);
        match file {
            Ok(file) => Ok((file, path)),
            Err(source) => Err(SafeWriteError::TempFile { path, source }),
        }
    }

    /// Deletes every temp file (after a run that completed; partials are worthless then).
    pub fn remove_temps(&self) -> Result<usize, SafeWriteError> {
        let read_dir = |source| SafeWriteError::Read {
            path: self.tmp_dir.clone(),
            source,
        };
        let mut n = 0;
        for item in fs::read_dir(&self.tmp_dir).map_err(read_dir)? {
            let item = item.map_err(read_dir)?;
            if item.path().extension().is_some_and(|e| e == PART_EXT) {
                fs::remove_file(item.path()).map_err(read_dir)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// A temp file being written.
#[derive(Debug)]
pub struct Partial {
    file: File,
    path: PathBuf,
    root: PathBuf,
    hasher: blake3::Hasher,
    written: u64,
    resumed_from: u64,
    expected: u64,
    fail_after: Option<u64>,
    poisoned: bool,
}

impl Partial {
    /// Bytes already in the temp file when it was opened: read the phone file from this offset.
    pub fn resume_offset(&self) -> u64 {
        self.resumed_from
    }

    /// The kept bytes `[at, at + len)` of the temp file (clipped to what it holds), to compare
    /// with the phone's before resuming.
    pub(crate) fn read_kept(&self, at: u64, len: u64) -> Result<Vec<u8>, SafeWriteError> {
        use std::os::unix::fs::FileExt;
        let len = len.min(self.written.saturating_sub(at));
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
        self.file
            .read_exact_at(&mut buf, at)
            .map_err(|source| SafeWriteError::Read {
                path: self.path.clone(),
                source,
            })?;
        Ok(buf)
    }

    /// Drops the kept bytes and starts the file over (they did not match the phone's).
    pub fn restart(&mut self) -> Result<(), SafeWriteError> {
        let temp_err = |source| SafeWriteError::TempFile {
            path: self.path.clone(),
            source,
        };
        self.file.set_len(0).map_err(temp_err)?;
        self.file.seek(SeekFrom::Start(0)).map_err(temp_err)?;
        self.hasher = blake3::Hasher::new();
        self.written = 0;
        self.resumed_from = 0;
        Ok(())
    }

    /// Bytes in the temp file now.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The temp file.
    pub fn temp_path(&self) -> &Path {
        &self.path
    }

    /// Test hook: writes fail with "disk full" once `n` more bytes have been written, so the
    /// error path can be exercised without filling a disk.
    #[doc(hidden)]
    pub fn fail_writes_after(&mut self, n: u64) {
        self.fail_after = Some(self.written.saturating_add(n));
    }

    /// Appends bytes (hashing them). On error the writer is poisoned and the temp file keeps
    /// what reached it, for a later resume.
    pub fn write_all(&mut self, buf: &[u8]) -> Result<(), SafeWriteError> {
        if self.poisoned {
            return Err(SafeWriteError::Poisoned);
        }
        let after = self.written + buf.len() as u64;
        if after > self.expected {
            self.poisoned = true;
            return Err(SafeWriteError::SizeMismatch {
                expected: self.expected,
                got: after,
            });
        }
        let (allowed, injected) = match self.fail_after {
            Some(limit) if after > limit => {
                let n = usize::try_from(limit.saturating_sub(self.written)).unwrap_or(0);
                (&buf[..n.min(buf.len())], true)
            }
            _ => (buf, false),
        };
        let result = self.file.write_all(allowed).and_then(|()| {
            if injected {
                Err(io::Error::from(ErrorKind::StorageFull))
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => {
                self.hasher.update(buf);
                self.written = after;
                Ok(())
            }
            Err(e) => {
                self.poisoned = true;
                Err(write_error(&self.path, e))
            }
        }
    }

    /// Copies the rest of the file from `reader` (positioned at [`Self::resume_offset`]).
    pub fn copy_from(&mut self, reader: &mut impl Read) -> Result<u64, SafeWriteError> {
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => return Err(SafeWriteError::Source(source)),
            };
            self.write_all(&buf[..n])?;
            total += n as u64;
        }
    }

    /// Checks the length and makes the temp file durable. A short file stays as a temp for resume.
    pub fn finish(self) -> Result<Staged, SafeWriteError> {
        let staged = self.complete()?;
        staged
            .file
            .sync_all()
            .map_err(|e| sync_error(&staged.path, e))?;
        Ok(staged)
    }

    /// [`Self::finish`] without the fsync, for a file that a batch makes durable together with
    /// others ([`Staged::into_ready`], then [`Flusher::files`]).
    pub fn complete(mut self) -> Result<Staged, SafeWriteError> {
        if self.poisoned {
            return Err(SafeWriteError::Poisoned);
        }
        if self.written != self.expected {
            return Err(SafeWriteError::SizeMismatch {
                expected: self.expected,
                got: self.written,
            });
        }
        self.file.flush().map_err(|e| write_error(&self.path, e))?;
        Ok(Staged {
            hash: self.hasher.finalize(),
            len: self.written,
            file: self.file,
            path: self.path,
            root: self.root,
        })
    }

    /// Gives up on this file and deletes the temp file.
    pub(crate) fn discard(self) -> Result<(), SafeWriteError> {
        drop(self.file);
        fs::remove_file(&self.path).map_err(|source| SafeWriteError::TempFile {
            path: self.path,
            source,
        })
    }
}

/// A complete, durable temp file waiting for its final name.
#[derive(Debug)]
pub struct Staged {
    file: File,
    path: PathBuf,
    root: PathBuf,
    hash: blake3::Hash,
    len: u64,
}

/// What happened at commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The file was moved to the final path.
    Written,
    /// A file with identical content was already there; the temp file was dropped.
    AlreadyPresent,
}

/// Where a staged file ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Final path relative to DEST (with the collision suffix, if any).
    pub rel: RelPath,
    /// Collision suffix used (0 = none).
    pub suffix: u32,
    pub outcome: Outcome,
    pub blake3: blake3::Hash,
    pub len: u64,
}

impl Staged {
    /// The temp file (complete), e.g. to read the capture date before choosing the path.
    pub fn temp_path(&self) -> &Path {
        &self.path
    }

    pub fn blake3(&self) -> blake3::Hash {
        self.hash
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the mtime (if given) and closes the file, which is not durable yet: a batch makes
    /// it so before it is renamed ([`Ready`]).
    pub(crate) fn into_ready(self, mtime: Option<SystemTime>) -> Result<Ready, SafeWriteError> {
        if let Some(t) = mtime {
            self.file
                .set_modified(t)
                .map_err(|e| write_error(&self.path, e))?;
        }
        Ok(Ready {
            path: self.path,
            root: self.root,
            hash: self.hash,
            len: self.len,
        })
    }

    /// Sets the mtime (if given) and moves the file to `DEST/rel`, or `rel` with the first free
    /// suffix ≥ `first_suffix` (pass the suffix a Live Photo's other half got, to keep one stem).
    /// Never replaces an existing file; reuses one with identical content. Parent folders are
    /// created and fsynced.
    pub fn commit(
        self,
        rel: &RelPath,
        mtime: Option<SystemTime>,
        first_suffix: u32,
    ) -> Result<Committed, SafeWriteError> {
        if let Some(t) = mtime {
            self.file
                .set_modified(t)
                .map_err(|e| write_error(&self.path, e))?;
            self.file
                .sync_all()
                .map_err(|e| sync_error(&self.path, e))?;
        }
        let full = rel.under(&self.root);
        // A RelPath has at least one component, so its file always has a folder under root.
        let final_parent = full.parent().unwrap_or(&self.root);
        let created = create_dirs(&self.root, final_parent)?;
        for n in first_suffix..=MAX_SUFFIX {
            let candidate = rel.with_suffix(n)?;
            let full = candidate.under(&self.root);
            match fs::symlink_metadata(&full) {
                Ok(meta) => {
                    if meta.is_file() && meta.len() == self.len && hash_file(&full)? == self.hash {
                        fs::remove_file(&self.path).map_err(|source| SafeWriteError::TempFile {
                            path: self.path.clone(),
                            source,
                        })?;
                        sync_dirs(final_parent, &created)?;
                        return Ok(self.committed(candidate, n, Outcome::AlreadyPresent));
                    }
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(source) => return Err(SafeWriteError::Read { path: full, source }),
            }
            match rename_noreplace(&self.path, &full) {
                Ok(()) => {
                    sync_dirs(final_parent, &created)?;
                    return Ok(self.committed(candidate, n, Outcome::Written));
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(source) => {
                    return Err(SafeWriteError::Rename {
                        from: self.path.clone(),
                        to: full,
                        source,
                    });
                }
            }
        }
        Err(SafeWriteError::NoFreeName {
            path: rel.under(&self.root),
        })
    }

    /// Puts this (verified) file at `DEST/rel` *in place of* the file there, for `verify
    /// --repair`. The file it replaces is not deleted: it is moved to `aside` (a path under the
    /// state folder; its parent is created). With `renameat2(RENAME_EXCHANGE)` the swap is
    /// atomic: the final path always holds either the old or the new file. Where the
    /// filesystem cannot exchange, the old file is moved aside first, then the new one renamed
    /// in (a crash in between leaves the final path empty, which the next `verify` reports and
    /// repairs). When nothing is at `DEST/rel`, this is a plain no-replace rename.
    pub fn replace(
        self,
        rel: &RelPath,
        mtime: Option<SystemTime>,
        aside: &Path,
    ) -> Result<Committed, SafeWriteError> {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        use rustix::io::Errno;
        if let Some(t) = mtime {
            self.file
                .set_modified(t)
                .map_err(|e| write_error(&self.path, e))?;
            self.file
                .sync_all()
                .map_err(|e| sync_error(&self.path, e))?;
        }
        let full = rel.under(&self.root);
        let final_parent = full.parent().unwrap_or(&self.root).to_path_buf();
        let created = create_dirs(&self.root, &final_parent)?;
        let aside_parent = aside.parent().unwrap_or(&self.root);
        fs::create_dir_all(aside_parent).map_err(|source| SafeWriteError::CreateDir {
            path: aside_parent.to_path_buf(),
            source,
        })?;
        let rename_err = |from: &Path, to: &Path, source: io::Error| SafeWriteError::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            source,
        };
        // Refuse before touching anything: after an exchange the old file must have a place.
        if fs::symlink_metadata(aside).is_ok() {
            return Err(rename_err(
                &full,
                aside,
                io::Error::from(ErrorKind::AlreadyExists),
            ));
        }
        let exists = fs::symlink_metadata(&full).is_ok();
        if exists {
            match renameat_with(CWD, &self.path, CWD, &full, RenameFlags::EXCHANGE) {
                Ok(()) => {
                    // The old file now sits at the temp path: keep it aside.
                    rename_noreplace(&self.path, aside)
                        .map_err(|e| rename_err(&self.path, aside, e))?;
                }
                Err(e) if e == Errno::INVAL || e == Errno::NOSYS || e == Errno::OPNOTSUPP => {
                    rename_noreplace(&full, aside).map_err(|e| rename_err(&full, aside, e))?;
                    rename_noreplace(&self.path, &full)
                        .map_err(|e| rename_err(&self.path, &full, e))?;
                }
                Err(e) => return Err(rename_err(&self.path, &full, e.into())),
            }
        } else {
            rename_noreplace(&self.path, &full).map_err(|e| rename_err(&self.path, &full, e))?;
        }
        sync_dirs(&final_parent, &created)?;
        sync_dir(aside_parent)?;
        Ok(self.committed(rel.clone(), 0, Outcome::Written))
    }

    fn committed(&self, rel: RelPath, suffix: u32, outcome: Outcome) -> Committed {
        Committed {
            rel,
            suffix,
            outcome,
            blake3: self.hash,
            len: self.len,
        }
    }
}

/// BLAKE3 of a local file.
pub fn hash_file(path: &Path) -> Result<blake3::Hash, SafeWriteError> {
    let read = |source| SafeWriteError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(read)?;
    let mut h = blake3::Hasher::new();
    io::copy(&mut f, &mut h).map_err(read)?;
    Ok(h.finalize())
}

/// Creates `dir` (under `root`) and returns the folders that did not exist, outermost first.
pub(super) fn create_dirs(root: &Path, dir: &Path) -> Result<Vec<PathBuf>, SafeWriteError> {
    let mut missing = Vec::new();
    let mut d = dir;
    while d != root && !d.exists() {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    missing.reverse();
    if missing.is_empty() {
        // The folder is there (the usual case: every file but a folder's first).
        return Ok(missing);
    }
    fs::create_dir_all(dir).map_err(|source| SafeWriteError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(missing)
}

/// A complete temp file with its mtime set, waiting for its batch (not durable yet).
#[derive(Debug)]
pub struct Ready {
    pub(super) path: PathBuf,
    pub(super) root: PathBuf,
    pub(super) hash: blake3::Hash,
    pub(super) len: u64,
}

/// Makes the new directory entries durable: the file's folder, and the parent of every folder
/// that was created for it.
fn sync_dirs(final_parent: &Path, created: &[PathBuf]) -> Result<(), SafeWriteError> {
    sync_dir(final_parent)?;
    for dir in created.iter().rev() {
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Renames without replacing an existing file (`renameat2(RENAME_NOREPLACE)`); where the
/// filesystem does not support that, falls back to check-then-rename, which is safe because
/// the DEST lock keeps other importers out.
pub(super) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(e) if e == Errno::INVAL || e == Errno::NOSYS || e == Errno::OPNOTSUPP => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::from(ErrorKind::AlreadyExists));
            }
            fs::rename(from, to)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One version of a device file of `size` bytes.
    fn key(size: u64) -> SourceKey<'static> {
        SourceKey {
            udid: "u",
            device_path: "DCIM/A.JPG",
            copy: "",
            size,
            mtime_ns: 5,
        }
    }

    #[test]
    fn another_birth_time_is_another_version_and_is_not_resumed() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = Destination::open(tmp.path()).unwrap();
        let key = key(10);
        let mut p = dest.begin_version(&key, Some(1)).unwrap();
        p.write_all(b"hello").unwrap();
        let first = p.temp_path().to_path_buf();
        drop(p);
        assert_eq!(
            dest.begin_version(&key, Some(1)).unwrap().resume_offset(),
            5
        );
        // Same size and mtime, re-created: starts over, the stale temp file is gone.
        let p = dest.begin_version(&key, Some(2)).unwrap();
        assert_eq!(p.resume_offset(), 0);
        assert!(!first.exists());
    }

    #[test]
    fn begun_anew_the_kept_bytes_are_dropped_and_not_hashed() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = Destination::open(tmp.path()).unwrap();
        let key = key(4);
        let mut p = dest.begin_version(&key, None).unwrap();
        p.write_all(b"kep").unwrap();
        let kept = p.temp_path().to_path_buf();
        drop(p);
        let mut p = dest.begin_anew(&key, None).unwrap();
        assert_eq!((p.resume_offset(), p.written()), (0, 0));
        assert_eq!(p.temp_path(), kept, "the same version's temp file");
        assert_eq!(fs::metadata(&kept).unwrap().len(), 0);
        p.write_all(b"abcd").unwrap();
        let staged = p.complete().unwrap();
        assert_eq!(fs::read(&kept).unwrap(), b"abcd");
        assert_eq!(staged.blake3(), blake3::hash(b"abcd"));
    }
}
