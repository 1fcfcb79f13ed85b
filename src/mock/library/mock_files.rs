//! The mock's own files beside the library (`.iphone-mock/`: placeholders, truth.json) and the
//! directory mtimes that make two generated trees identical.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use super::error::{GenerateError, io_err};
use super::files::{system_time, write_bytes};
use super::options::{MOCK_DIR, PLACEHOLDERS_FILE, TRUTH_FILE};
use super::truth::{LibraryTruth, Resource};

pub(super) fn write_mock_files(root: &Path, truth: &LibraryTruth) -> Result<(), GenerateError> {
    let mut placeholders = String::new();
    for p in &truth.placeholders {
        placeholders.push_str(p);
        placeholders.push('\n');
    }
    let mut res = Resource {
        path: PLACEHOLDERS_FILE.into(),
        size: 0,
        mtime_unix: truth.snapshot_unix,
    };
    write_bytes(root, &mut res, placeholders.as_bytes())?;
    let mut json = serde_json::to_vec_pretty(truth)?;
    json.push(b'\n');
    res.path = TRUTH_FILE.into();
    write_bytes(root, &mut res, &json)
}

/// Directory mtimes too, so two runs give identical trees (children before parents).
pub(super) fn set_dir_mtimes(dir: &Path, unix: i64) -> Result<(), GenerateError> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        if path.is_dir() {
            set_dir_mtimes(&path, unix)?;
            File::open(&path)
                .and_then(|f| f.set_modified(system_time(unix)))
                .map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// True for media-relative paths that belong to the mock, not the phone (`.iphone-mock/...`):
/// the AFC server must neither list nor serve them.
pub fn is_mock_internal(rel_path: &str) -> bool {
    let rel = rel_path.trim_start_matches('/');
    rel == MOCK_DIR || rel.starts_with(".iphone-mock/")
}

/// Reads `.iphone-mock/placeholders` of a generated library (the AFC server's view of which
/// reads must fail). Missing file = no placeholders.
pub fn read_placeholders(media_root: &Path) -> io::Result<Vec<String>> {
    match fs::read_to_string(media_root.join(PLACEHOLDERS_FILE)) {
        Ok(s) => Ok(s
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Reads `.iphone-mock/truth.json` of a generated library.
pub fn read_truth(media_root: &Path) -> Result<LibraryTruth, GenerateError> {
    let path = media_root.join(TRUTH_FILE);
    let bytes = fs::read(&path).map_err(io_err(&path))?;
    Ok(serde_json::from_slice(&bytes)?)
}
