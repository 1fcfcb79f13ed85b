//! Writing one file of the simulated library: create it (with its parent directories), flush it,
//! give it its mtime from the truth and record its size. Used by the parts that write files.

use super::error::{GenerateError, io_err};
use super::truth::Resource;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The `SystemTime` of a Unix time (before 1970 counts as 1970).
pub(super) fn system_time(unix: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64)
}

/// Opens `root/rel` for buffered writing, creating parent directories.
pub(super) fn create(root: &Path, rel: &str) -> Result<(PathBuf, BufWriter<File>), GenerateError> {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let file = File::create(&path).map_err(io_err(&path))?;
    Ok((path, BufWriter::with_capacity(256 * 1024, file)))
}

/// Flushes, sets the mtime and records the final size into `res`.
pub(super) fn finish(
    path: &Path,
    w: BufWriter<File>,
    res: &mut Resource,
) -> Result<(), GenerateError> {
    let file = w.into_inner().map_err(|e| io_err(path)(e.into_error()))?;
    file.set_modified(system_time(res.mtime_unix))
        .map_err(io_err(path))?;
    res.size = file.metadata().map_err(io_err(path))?.len();
    Ok(())
}

/// Writes `bytes` to `root/res.path` (see `finish`).
pub(super) fn write_bytes(
    root: &Path,
    res: &mut Resource,
    bytes: &[u8],
) -> Result<(), GenerateError> {
    let (path, mut w) = create(root, &res.path)?;
    w.write_all(bytes).map_err(io_err(&path))?;
    finish(&path, w, res)
}
