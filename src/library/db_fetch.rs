//! Fetching Photos.sqlite: the live database is in WAL mode, so the main file, `-wal` and
//! `-shm` are copied (streamed to temp files, then renamed) into a cache directory; an
//! unchanged database (same sizes and mtimes on the phone) is not copied again. A copy is used
//! only if the phone's files did not change while it was made, and after `PRAGMA quick_check`;
//! a changing or torn one is copied again, a bounded number of times.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::db_rows::Corrupt;
use super::error::LibraryError;
use super::photos_db::{LibraryDb, OpenLibrary, open_checked, open_library};
use super::scan::afc_path;
use crate::afc::{AfcClient, AfcStatus, FileInfo};

pub(crate) const DB_PATH: &str = "PhotoData/Photos.sqlite";
pub(crate) const WAL_PATH: &str = "PhotoData/Photos.sqlite-wal";
pub(crate) const SHM_PATH: &str = "PhotoData/Photos.sqlite-shm";

const CACHE_DB: &str = "Photos.sqlite";
const CACHE_WAL: &str = "Photos.sqlite-wal";
const CACHE_SHM: &str = "Photos.sqlite-shm";
const CACHE_STATE: &str = "Photos.sqlite.source.json";

/// Sizes and mtimes of the phone's files at the time of the cached copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SourceState {
    db: (u64, u64),
    wal: Option<(u64, u64)>,
}

fn stamp(info: &FileInfo) -> (u64, u64) {
    (info.st_size, info.st_mtime_ns)
}

async fn stat_optional(afc: &AfcClient, rel: &str) -> Result<Option<FileInfo>, LibraryError> {
    match afc.stat(&afc_path(rel)).await {
        Ok(info) => Ok(Some(info)),
        Err(e) if e.status() == Some(AfcStatus::ObjectNotFound) => Ok(None),
        Err(e) => Err(LibraryError::Afc {
            path: rel.to_owned(),
            source: e,
        }),
    }
}

/// Copies made of a database that keeps changing, or whose copies fail SQLite's check,
/// before giving up (the import then goes on from DCIM alone).
pub const MAX_FETCHES: usize = 4;

/// Sizes and mtimes of the phone's database and `-wal` now; None when there is no
/// Photos.sqlite. (Not the `-shm`: readers write to it too, so its mtime moves while the data
/// stands still.)
async fn source_state(afc: &AfcClient) -> Result<Option<SourceState>, LibraryError> {
    let Some(db) = stat_optional(afc, DB_PATH).await? else {
        return Ok(None);
    };
    let wal = stat_optional(afc, WAL_PATH).await?;
    Ok(Some(SourceState {
        db: stamp(&db),
        wal: wal.as_ref().map(stamp),
    }))
}

/// Why the last copy was not used.
enum Problem {
    /// The phone's files changed between the stats before and after the copy.
    Changing,
    /// The copy is not a sound database.
    Damaged(String),
}

/// Copies Photos.sqlite, `-wal` and `-shm` into `cache_dir` unless the cached copy is current,
/// opens the copy read-only and decodes it. A copy counts only if the database and `-wal` have
/// the same sizes and mtimes after it as before (else they may come from different moments); up
/// to MAX_FETCHES copies are made. None when the phone has no Photos.sqlite.
pub async fn fetch_db(
    afc: &AfcClient,
    cache_dir: &Path,
) -> Result<Option<LibraryDb>, LibraryError> {
    // A cached copy is not checked again: if its rows fail, it is forgotten and fetched anew.
    let mut forgotten = false;
    loop {
        let Some(db) = open_db(afc, cache_dir, true).await? else {
            return Ok(None);
        };
        let (reused, facts) = (db.reused, db.facts.clone());
        let rows = tokio::task::spawn_blocking(move || db.library.collect())
            .await
            .map_err(reader_crashed)?;
        match rows {
            Ok((schema, assets, albums)) => {
                return Ok(Some(LibraryDb {
                    schema,
                    assets,
                    albums,
                    wal_present: facts.wal_present,
                    fetched: facts.fetched,
                    cache_path: facts.cache_path,
                }));
            }
            Err(_) if reused && !forgotten => {
                forget_cache(cache_dir);
                forgotten = true;
            }
            Err(Corrupt::Damaged(detail)) => return Err(LibraryError::DbCorrupt { detail }),
            Err(Corrupt::Other(e)) => return Err(e),
        }
    }
}

/// About the copy of the database, apart from its contents.
#[derive(Debug, Clone)]
pub(super) struct CopyFacts {
    /// Whether the phone had a `-wal` beside the database.
    pub wal_present: bool,
    /// True when this run copied the database; false when the cached copy was still current.
    pub fetched: bool,
    pub cache_path: std::path::PathBuf,
}

/// The database opened for reading its rows (see [`open_db`]).
pub(super) struct OpenDb {
    pub library: OpenLibrary,
    pub facts: CopyFacts,
    /// The cached copy was used without `quick_check`: if its rows fail, call
    /// [`forget_cache`] and open again.
    pub reused: bool,
}

pub(super) fn reader_crashed(e: tokio::task::JoinError) -> LibraryError {
    LibraryError::DbCorrupt {
        detail: format!("the reader crashed: {e}"),
    }
}

/// Makes the next [`open_db`] fetch a fresh copy.
pub(super) fn forget_cache(cache_dir: &Path) {
    let _ = std::fs::remove_file(cache_dir.join(CACHE_STATE));
}

/// Like [`fetch_db`], but stops before the asset rows: the caller decodes them one at a time
/// (with `metadata`, also titles, places, people…).
pub(super) async fn open_db(
    afc: &AfcClient,
    cache_dir: &Path,
    metadata: bool,
) -> Result<Option<OpenDb>, LibraryError> {
    let mut fetched = false;
    let mut problem = Problem::Changing;
    for attempt in 0..MAX_FETCHES {
        let Some(state) = source_state(afc).await? else {
            return Ok(None);
        };
        // Later attempts always copy: the first copy (maybe a cached one) was bad.
        let reused = attempt == 0 && cache_is_current(cache_dir, &state);
        if !reused {
            match copy_into_cache(afc, cache_dir, &state).await {
                Ok(()) => {}
                // The file changed while it was copied: that is a torn copy, try again.
                Err(LibraryError::Afc {
                    source: crate::afc::AfcError::SizeMismatch { .. },
                    ..
                }) => {
                    problem = Problem::Changing;
                    continue;
                }
                Err(e) => return Err(e),
            }
            if source_state(afc).await?.as_ref() != Some(&state) {
                problem = Problem::Changing;
                continue;
            }
            write_state(cache_dir, &state)?;
            fetched = true;
        }
        let db_path = cache_dir.join(CACHE_DB);
        let opened = tokio::task::spawn_blocking({
            let db_path = db_path.clone();
            // A reused copy passed quick_check on the run that fetched it (a failed one is
            // never reused); checking 60 MB again cost a no-op re-run 0.2 s at 100k assets.
            move || open_checked(&db_path, !reused).and_then(|conn| open_library(conn, metadata))
        })
        .await
        .map_err(reader_crashed)?;
        match opened {
            Ok(library) => {
                let facts = CopyFacts {
                    wal_present: state.wal.is_some(),
                    fetched,
                    cache_path: db_path,
                };
                return Ok(Some(OpenDb {
                    library,
                    facts,
                    reused,
                }));
            }
            Err(Corrupt::Damaged(detail)) => {
                problem = Problem::Damaged(detail);
                // Forget the copy so a later run fetches it again too.
                forget_cache(cache_dir);
            }
            // Unchecked, a reused copy damaged since may fail in any way: fetch a checked one.
            Err(Corrupt::Other(e)) if reused => {
                problem = Problem::Damaged(e.to_string());
                forget_cache(cache_dir);
            }
            Err(Corrupt::Other(e)) => return Err(e),
        }
    }
    Err(match problem {
        Problem::Changing => LibraryError::DbUnstable {
            copies: MAX_FETCHES,
        },
        Problem::Damaged(detail) => LibraryError::DbCorrupt { detail },
    })
}

fn read_state(cache_dir: &Path) -> Option<SourceState> {
    let bytes = std::fs::read(cache_dir.join(CACHE_STATE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The cached copy matches what the phone has now (and its files are the sizes we copied).
fn cache_is_current(cache_dir: &Path, state: &SourceState) -> bool {
    if read_state(cache_dir).as_ref() != Some(state) {
        return false;
    }
    let len = |name| {
        std::fs::metadata(cache_dir.join(name))
            .map(|m| m.len())
            .ok()
    };
    len(CACHE_DB) == Some(state.db.0)
        && match state.wal {
            Some((size, _)) => len(CACHE_WAL) == Some(size),
            None => true,
        }
}

async fn copy_one(afc: &AfcClient, rel: &str, size: u64, dest: &Path) -> Result<(), LibraryError> {
    let part = dest.with_extension("part");
    let mut file = tokio::fs::File::create(&part)
        .await
        .map_err(LibraryError::cache(&part))?;
    afc.read_file_to(&afc_path(rel), Some(size), &mut file)
        .await
        .map_err(LibraryError::afc(rel))?;
    file.sync_all().await.map_err(LibraryError::cache(&part))?;
    drop(file);
    tokio::fs::rename(&part, dest)
        .await
        .map_err(LibraryError::cache(dest))
}

async fn copy_into_cache(
    afc: &AfcClient,
    cache_dir: &Path,
    state: &SourceState,
) -> Result<(), LibraryError> {
    tokio::fs::create_dir_all(cache_dir)
        .await
        .map_err(LibraryError::cache(cache_dir))?;
    // Invalidate first: a crash mid-copy must not leave a state file vouching for new files.
    for name in [CACHE_STATE, CACHE_SHM] {
        remove_if_present(&cache_dir.join(name))?;
    }
    copy_one(afc, DB_PATH, state.db.0, &cache_dir.join(CACHE_DB)).await?;
    match state.wal {
        Some((size, _)) => copy_one(afc, WAL_PATH, size, &cache_dir.join(CACHE_WAL)).await?,
        None => remove_if_present(&cache_dir.join(CACHE_WAL))?,
    }
    // The phone's wal-index, copied after the -wal it indexes. SQLite checks its header against
    // the -wal and rebuilds it when they disagree. A phone without one is fine too.
    if let Some(shm) = stat_optional(afc, SHM_PATH).await? {
        match copy_one(afc, SHM_PATH, shm.st_size, &cache_dir.join(CACHE_SHM)).await {
            Ok(()) => {}
            // Rewritten while copied: SQLite rebuilds it from the -wal.
            Err(LibraryError::Afc {
                source: crate::afc::AfcError::SizeMismatch { .. },
                ..
            }) => remove_if_present(&cache_dir.join(CACHE_SHM))?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Records which phone files the cached copy is of (only once the copy proved consistent).
fn write_state(cache_dir: &Path, state: &SourceState) -> Result<(), LibraryError> {
    let json = serde_json::to_vec(state).expect("plain struct serialises");
    let path = cache_dir.join(CACHE_STATE);
    std::fs::write(&path, json).map_err(LibraryError::cache(&path))
}

fn remove_if_present(path: &Path) -> Result<(), LibraryError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LibraryError::cache(path)(e)),
    }
}
