//! Opening the ledger for read-only commands (`status`, `verify`, `pull --dry-run`) so that
//! they write nothing anywhere, and work on read-only media (a mounted backup disk, a NAS
//! snapshot).
//!
//! A plain `mode=ro` open of a WAL database creates `ledger.sqlite-wal` and `-shm` and leaves
//! them behind, and fails where they cannot be created. So:
//!
//! - The reader first takes a *shared* `flock` on `DEST/.iphone-import/lock`, opened read-only
//!   (no byte of the file changes). While it is held no writer (`pull`, `verify --repair`,
//!   which take the lock exclusively) can start, and none is running.
//! - With no writer and no `-wal` file, every committed row is in the main file: it is opened
//!   `immutable=1`, which reads it with no locking and no side files at all.
//! - Otherwise (a writer holds the lock, or a crashed one left a `-wal` whose rows matter) it
//!   is opened `mode=ro`, which reads through the existing `-wal`/`-shm`; should that fail on
//!   read-only media, `immutable=1` still reads what was checkpointed.
//!
//! An older schema is never migrated here (migration writes, and happens only under the
//! lock): [`read_as_current`] lays temporary, in-memory views over it instead.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::layout::STATE_DIR;
use super::ledger_error::LedgerError;
use super::lock::LOCK_FILE;

/// Opens `path` (the ledger of `dest`) read-only. Returns the connection and the shared lock
/// it holds (dropping it lets writers in again).
pub(crate) fn connect(dest: &Path, path: &Path) -> Result<(Connection, Option<File>), LedgerError> {
    let open_err = |source| LedgerError::Open {
        path: path.to_path_buf(),
        source,
    };
    if !path.is_file() {
        return Err(open_err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some("no such file".into()),
        )));
    }
    let lock_path = dest.join(STATE_DIR).join(LOCK_FILE);
    let (reader_lock, writer_running) = match File::open(&lock_path) {
        Ok(f) => match f.try_lock_shared() {
            Ok(()) => (Some(f), false),
            Err(std::fs::TryLockError::WouldBlock) => (None, true),
            // A filesystem without flock: assume the worst.
            Err(std::fs::TryLockError::Error(_)) => (None, true),
        },
        // No lock file: no writer ever ran here.
        Err(_) => (None, false),
    };
    let wal = sidecar(path, "-wal").exists();
    let conn = if writer_running || wal {
        open(path, false).or_else(|_| open(path, true))
    } else {
        open(path, true)
    }
    .map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_err)?;
    Ok((conn, reader_lock))
}

/// `ledger.sqlite` + `suffix`.
fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    s.into()
}

fn open(path: &Path, immutable: bool) -> rusqlite::Result<Connection> {
    let query = if immutable {
        "mode=ro&immutable=1"
    } else {
        "mode=ro"
    };
    let uri = format!("{}?{query}", file_uri(path));
    let conn = Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Opening is lazy: read the schema now so a failure shows here, not at the first query.
    conn.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |_| Ok(()))?;
    // Temporary views (old schemas) and sorts stay in memory, not in a temp file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

/// `file:` URI of a path: bytes other than unreserved characters and `/` percent-encoded, so
/// `?`, `#` and `%` in folder names stay part of the path.
fn file_uri(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut uri = String::from("file:");
    for &b in abs.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

/// Makes a ledger of schema `version` (older than current) answer the current queries, with
/// temporary objects that live in this connection's memory only (they shadow `main`'s).
pub(crate) fn read_as_current(conn: &Connection, version: i64) -> rusqlite::Result<()> {
    // v4 added the XMP sidecars `pull --xmp` wrote: an older ledger has none.
    if version < 4 {
        conn.execute_batch(
            "CREATE TEMP TABLE sidecars (path TEXT PRIMARY KEY NOT NULL, digest BLOB NOT NULL);",
        )?;
    }
    match version {
        // Created but never migrated (interrupted first run): an empty ledger.
        0 => conn.execute_batch(
            "CREATE TEMP TABLE resources (
                udid TEXT NOT NULL, device_path TEXT NOT NULL, copy TEXT NOT NULL DEFAULT '',
                folder TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL,
                device_mtime_ns INTEGER NOT NULL, dest_path TEXT NOT NULL, blake3 BLOB NOT NULL,
                imported_at_ns INTEGER NOT NULL, PRIMARY KEY (udid, device_path, copy));
            CREATE TEMP TABLE devices (
                udid TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL,
                last_received_ns INTEGER NOT NULL, last_received_path TEXT NOT NULL);",
        ),
        // v1: one copy per device file, no `copy` column.
        1 => conn.execute_batch(
            "CREATE TEMP VIEW resources AS
                SELECT udid, device_path, '' AS copy, folder, name, size, device_mtime_ns,
                       dest_path, blake3, imported_at_ns
                FROM main.resources;",
        ),
        // v2 differs from v3 only in an index, v3 from v4 in the sidecars table.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_escape_what_sqlite_would_read_as_query_or_escape() {
        let uri = file_uri(Path::new("/a b/x?y#z%/l.sqlite"));
        assert_eq!(uri, "file:/a%20b/x%3Fy%23z%25/l.sqlite");
    }
}
