//! What can stop the generator: `GenerateError`, and `io_err`, which names the path an I/O
//! error happened at. A leaf: it uses no other part of the generator.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(
        "{requested} assets requested but the generator makes at most {max}; ask for fewer photos/videos"
    )]
    TooManyAssets { requested: usize, max: usize },
    #[error("items per folder must be between 1 and 1000, got {0}")]
    BadFolderSize(usize),
    #[error(
        "{requested} assets at {per_folder} per folder need more than 900 folders (100APPLE..999APPLE); raise --items-per-folder"
    )]
    TooManyFolders { requested: usize, per_folder: usize },
    #[error("{} is not empty; generate into a new or empty directory", .dir.display())]
    NotEmpty { dir: PathBuf },
    #[error("cannot write {}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "SQLite kept {} in journal mode {mode:?} instead of WAL; generate on a local filesystem",
        .path.display()
    )]
    NotWal { path: PathBuf, mode: String },
    #[error("building Photos.sqlite failed: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("encoding a plist failed: {0}")]
    Plist(#[from] plist::Error),
    #[error("encoding truth.json failed: {0}")]
    Json(#[from] serde_json::Error),
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> GenerateError + '_ {
    move |source| GenerateError::Io {
        path: path.to_owned(),
        source,
    }
}
