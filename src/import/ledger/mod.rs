//! The import ledger: which file of which phone was imported to where, with the BLAKE3 of the
//! bytes written. It makes re-runs incremental (compare names per folder, no per-file stat) and
//! lets `verify` re-hash everything. SQLite at `DEST/.iphone-import/ledger.sqlite`, WAL mode,
//! `synchronous=FULL` so a committed row survives power loss as surely as the renamed file.
//!
//! Two ways in: [`Ledger::open`] (read-write, migrates; only under the DEST lock) and
//! [`Ledger::open_read_only`] (`status`, `verify`, `pull --dry-run`: writes nothing anywhere,
//! see [`super::ledger_ro`]).

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::layout::STATE_DIR;
pub use super::ledger_error::{LedgerError, SCHEMA_VERSION};

/// File name of the ledger inside the state folder.
pub(crate) const LEDGER_FILE: &str = "ledger.sqlite";

/// One imported resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Device UDID (as reported by usbmux).
    pub udid: String,
    /// Path on the phone relative to the media root, e.g. `DCIM/100APPLE/IMG_0001.HEIC`.
    pub device_path: String,
    /// Which copy of the device file this is: empty for the one copy of a plain layout; a
    /// layout with `{album}` keeps one copy per album, each with its own key (see
    /// [`copy_key`]). One row per (udid, device_path, copy).
    pub copy: String,
    pub size: u64,
    /// `st_mtime` on the phone, nanoseconds since the Unix epoch.
    pub device_mtime_ns: i64,
    /// Where it went, relative to DEST, `/`-separated.
    pub dest_path: String,
    /// BLAKE3 of the bytes written.
    pub blake3: [u8; 32],
    /// When it was imported, nanoseconds since the Unix epoch.
    pub imported_at_ns: i64,
}

/// The ledger's copy key of a copy in `album` (see [`Entry::copy`]): empty for a plain
/// layout's one copy, `album:<path>` for an album's (`album:` alone for "No Album").
/// Here, with the column it fills, so that `sidecars` and `jpeg_copies`, which walk an asset's
/// copies, need nothing of `pull` (re-exported as `pull::copy_key`).
pub(crate) fn copy_key(album: Option<&str>) -> String {
    album.map_or_else(String::new, |a| format!("album:{a}"))
}

/// What the ledger remembers about a device as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub udid: String,
    /// Device name at the last run.
    pub name: String,
    /// When the last file from it was received, nanoseconds since the Unix epoch.
    pub last_received_ns: i64,
    /// Its device path.
    pub last_received_path: String,
}

/// An open ledger.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
    /// A read-only open's shared hold on the DEST lock (keeps writers out while we read).
    _reader_lock: Option<std::fs::File>,
}

/// `DEST/.iphone-import/ledger.sqlite`.
pub fn ledger_path(dest: &Path) -> PathBuf {
    dest.join(STATE_DIR).join(LEDGER_FILE)
}

/// Splits `DCIM/100APPLE/IMG_1.HEIC` into (`DCIM/100APPLE`, `IMG_1.HEIC`).
fn split_folder(device_path: &str) -> (&str, &str) {
    let p = device_path.strip_prefix('/').unwrap_or(device_path);
    match p.rfind('/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => ("", p),
    }
}

fn normalise(device_path: &str) -> &str {
    device_path.strip_prefix('/').unwrap_or(device_path)
}

impl Ledger {
    /// Opens (creating if needed) the ledger of `dest`, [`ledger_path`], and migrates it to
    /// [`SCHEMA_VERSION`].
    pub fn open(dest: &Path) -> Result<Ledger, LedgerError> {
        let state_dir = dest.join(STATE_DIR);
        let state_dir = state_dir.as_path();
        let path = ledger_path(dest);
        let open_err = |source| LedgerError::Open {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(state_dir).map_err(|source| LedgerError::CreateDir {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        // WAL: readers (verify) do not block the writer. FULL: a commit is durable on return.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        let mut ledger = Ledger {
            conn,
            path,
            _reader_lock: None,
        };
        ledger.migrate()?;
        Ok(ledger)
    }

    /// Opens the existing ledger of `dest` for reading only: nothing under DEST is created,
    /// changed or migrated (an older schema is read as it is). See [`super::ledger_ro`].
    pub fn open_read_only(dest: &Path) -> Result<Ledger, LedgerError> {
        let path = ledger_path(dest);
        let (conn, reader_lock) = super::ledger_ro::connect(dest, &path)?;
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|source| LedgerError::Open {
                path: path.clone(),
                source,
            })?;
        if found > SCHEMA_VERSION {
            return Err(LedgerError::TooNew { path, found });
        }
        super::ledger_ro::read_as_current(&conn, found).map_err(|source| LedgerError::Open {
            path: path.clone(),
            source,
        })?;
        Ok(Ledger {
            conn,
            path,
            _reader_lock: reader_lock,
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Current schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, LedgerError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Brings the schema up to [`SCHEMA_VERSION`], one step per version, each in a transaction.
    /// A future version adds `n => { ...; }` arms here.
    fn migrate(&mut self) -> Result<(), LedgerError> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(LedgerError::TooNew {
                path: self.path.clone(),
                found,
            });
        }
        for version in found..SCHEMA_VERSION {
            let tx = self.conn.transaction()?;
            match version {
                0 => tx.execute_batch(
                    "CREATE TABLE resources (
                        udid TEXT NOT NULL,
                        device_path TEXT NOT NULL,
                        folder TEXT NOT NULL,
                        name TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        device_mtime_ns INTEGER NOT NULL,
                        dest_path TEXT NOT NULL,
                        blake3 BLOB NOT NULL,
                        imported_at_ns INTEGER NOT NULL,
                        PRIMARY KEY (udid, device_path)
                    ) WITHOUT ROWID;
                    CREATE INDEX resources_by_folder ON resources (udid, folder);
                    CREATE TABLE devices (
                        udid TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL,
                        last_received_ns INTEGER NOT NULL,
                        last_received_path TEXT NOT NULL
                    );",
                )?,
                // v2: one row per copy of a device file (a layout with {album} puts an asset in
                // each of its albums' folders). SQLite cannot change a primary key in place.
                1 => tx.execute_batch(
                    "CREATE TABLE resources_v2 (
                        udid TEXT NOT NULL,
                        device_path TEXT NOT NULL,
                        copy TEXT NOT NULL DEFAULT '',
                        folder TEXT NOT NULL,
                        name TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        device_mtime_ns INTEGER NOT NULL,
                        dest_path TEXT NOT NULL,
                        blake3 BLOB NOT NULL,
                        imported_at_ns INTEGER NOT NULL,
                        PRIMARY KEY (udid, device_path, copy)
                    ) WITHOUT ROWID;
                    INSERT INTO resources_v2
                        (udid, device_path, copy, folder, name, size, device_mtime_ns, dest_path,
                         blake3, imported_at_ns)
                        SELECT udid, device_path, '', folder, name, size, device_mtime_ns,
                               dest_path, blake3, imported_at_ns FROM resources;
                    DROP TABLE resources;
                    ALTER TABLE resources_v2 RENAME TO resources;
                    CREATE INDEX resources_by_folder ON resources (udid, folder);",
                )?,
                // v3: the per-folder index covers `name` (and, being on a WITHOUT ROWID table,
                // the key's `copy`). Without it SQLite walked every row of the device for each
                // folder: 1.8 s of a 100k-asset no-op re-run, 0.08 s with it.
                2 => tx.execute_batch(
                    "DROP INDEX IF EXISTS resources_by_folder;
                    CREATE INDEX resources_by_folder ON resources (udid, folder, name);",
                )?,
                // v4: BLAKE3 of each XMP sidecar as `pull --xmp` last wrote it (by DEST-relative
                // path), so a sidecar another program edited is kept until Photos changes.
                3 => tx.execute_batch(
                    "CREATE TABLE sidecars (
                        path TEXT PRIMARY KEY NOT NULL,
                        digest BLOB NOT NULL
                    ) WITHOUT ROWID;",
                )?,
                // v5: rows a group commit intends to record, written before its renames, so
                // a file renamed before a crash is adopted by the next run (pull's `adopt`).
                4 => tx.execute_batch(
                    "CREATE TABLE pending (
                        udid TEXT NOT NULL,
                        device_path TEXT NOT NULL,
                        copy TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        device_mtime_ns INTEGER NOT NULL,
                        dest_path TEXT NOT NULL,
                        blake3 BLOB NOT NULL,
                        imported_at_ns INTEGER NOT NULL,
                        device_name TEXT NOT NULL,
                        PRIMARY KEY (udid, device_path, copy)
                    ) WITHOUT ROWID;",
                )?,
                _ => unreachable!("no migration from version {version}"),
            }
            tx.pragma_update(None, "user_version", version + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// The entry for one device file's plain copy (the only one without `{album}`), if it was
    /// imported.
    pub fn lookup(&self, udid: &str, device_path: &str) -> Result<Option<Entry>, LedgerError> {
        self.lookup_copy(udid, device_path, "")
    }

    /// The entry for one copy of a device file, if it was imported.
    pub fn lookup_copy(
        &self,
        udid: &str,
        device_path: &str,
        copy: &str,
    ) -> Result<Option<Entry>, LedgerError> {
        self.conn
            .query_row(
                "SELECT udid, device_path, size, device_mtime_ns, dest_path, blake3, imported_at_ns,
                        copy
                 FROM resources WHERE udid = ?1 AND device_path = ?2 AND copy = ?3",
                params![udid, normalise(device_path), copy],
                row_to_entry,
            )
            .optional()?
            .transpose()
    }

    /// Names of the files already imported from one device folder (e.g. `DCIM/100APPLE`):
    /// a re-run lists the folder and skips these names without stat'ing each file.
    pub fn known_paths(&self, udid: &str, folder: &str) -> Result<HashSet<String>, LedgerError> {
        let folder = normalise(folder).trim_end_matches('/');
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM resources WHERE udid = ?1 AND folder = ?2")?;
        let names = stmt
            .query_map(params![udid, folder], |r| r.get::<_, String>(0))?
            .collect::<Result<HashSet<_>, _>>()?;
        Ok(names)
    }

    /// `(name, copy)` of every copy imported from one device folder: a layout with `{album}`
    /// skips the copies it has and makes the ones it lacks.
    pub fn known_copies(
        &self,
        udid: &str,
        folder: &str,
    ) -> Result<HashSet<(String, String)>, LedgerError> {
        let folder = normalise(folder).trim_end_matches('/');
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, copy FROM resources WHERE udid = ?1 AND folder = ?2")?;
        let pairs = stmt
            .query_map(params![udid, folder], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<HashSet<_>, _>>()?;
        Ok(pairs)
    }

    /// BLAKE3 of the sidecar at `path` (DEST-relative) as `pull --xmp` last wrote it.
    pub(crate) fn sidecar_digest(&self, path: &str) -> Result<Option<[u8; 32]>, LedgerError> {
        let blob: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT digest FROM sidecars WHERE path = ?1",
                params![path],
                |r| r.get(0),
            )
            .optional()?;
        Ok(blob.and_then(|b| b.try_into().ok()))
    }

    /// Every sidecar `pull --xmp` wrote (DEST-relative paths), for `verify`.
    pub(crate) fn sidecar_paths(&self) -> Result<Vec<String>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT path FROM sidecars ORDER BY path")?;
        let paths = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(paths)
    }

    /// Remembers what `pull --xmp` wrote at `path` (call after the sidecar is in place).
    pub(crate) fn record_sidecar(&self, path: &str, digest: &[u8; 32]) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT OR REPLACE INTO sidecars (path, digest) VALUES (?1, ?2)",
            params![path, &digest[..]],
        )?;
        Ok(())
    }

    /// Records one imported resource (replacing an older row for the same device file) and
    /// updates the device's "last received" info, in one durable transaction. Call it only after
    /// the file was renamed into place and its folder synced.
    pub fn record(&mut self, entry: &Entry, device_name: &str) -> Result<(), LedgerError> {
        self.record_many(std::slice::from_ref(entry), device_name)
    }

    /// Like [`Self::record`] for several entries (an asset's resources, or a batch) in one
    /// transaction: one durable commit instead of one per file.
    pub fn record_many(&mut self, entries: &[Entry], device_name: &str) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        for entry in entries {
            Self::record_in(&tx, entry, device_name)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Notes, durably, the rows a group commit is about to make true: written after the
    /// group's bytes are durable and before any rename, removed when the rows are recorded.
    pub fn intend(&mut self, entries: &[Entry], device_name: &str) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        for e in entries {
            let size = i64::try_from(e.size)
                .map_err(|_| LedgerError::Corrupt(format!("size {} too large", e.size)))?;
            tx.execute(
                "INSERT OR REPLACE INTO pending (udid, device_path, copy, size, device_mtime_ns,
                 dest_path, blake3, imported_at_ns, device_name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    e.udid,
                    normalise(&e.device_path),
                    e.copy,
                    size,
                    e.device_mtime_ns,
                    e.dest_path,
                    &e.blake3[..],
                    e.imported_at_ns,
                    device_name
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Rows intended by a group commit that never recorded them (a crash), with the device
    /// name of each.
    pub fn pending(&self) -> Result<Vec<(Entry, String)>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT udid, device_path, copy, size, device_mtime_ns, dest_path, blake3,
                    imported_at_ns, device_name FROM pending",
        )?;
        let rows = stmt.query_map([], |r| {
            let blake3: Vec<u8> = r.get(6)?;
            let size: i64 = r.get(3)?;
            Ok((
                Entry {
                    udid: r.get(0)?,
                    device_path: r.get(1)?,
                    copy: r.get(2)?,
                    size: u64::try_from(size).unwrap_or(u64::MAX),
                    device_mtime_ns: r.get(4)?,
                    dest_path: r.get(5)?,
                    blake3: blake3.try_into().unwrap_or([0; 32]),
                    imported_at_ns: r.get(7)?,
                },
                r.get::<_, String>(8)?,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records the `adopted` pending rows and forgets every other pending row, in one
    /// transaction.
    pub(crate) fn settle_pending(
        &mut self,
        adopted: &[(Entry, String)],
    ) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        for (entry, name) in adopted {
            Self::record_in(&tx, entry, name)?;
        }
        tx.execute("DELETE FROM pending", [])?;
        tx.commit()?;
        Ok(())
    }

    fn record_in(
        tx: &rusqlite::Transaction<'_>,
        entry: &Entry,
        device_name: &str,
    ) -> Result<(), LedgerError> {
        let size = i64::try_from(entry.size)
            .map_err(|_| LedgerError::Corrupt(format!("size {} too large", entry.size)))?;
        let path = normalise(&entry.device_path);
        let (folder, name) = split_folder(path);
        tx.execute(
            "INSERT OR REPLACE INTO resources
             (udid, device_path, folder, name, size, device_mtime_ns, dest_path, blake3, imported_at_ns,
              copy)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                entry.udid,
                path,
                folder,
                name,
                size,
                entry.device_mtime_ns,
                entry.dest_path,
                &entry.blake3[..],
                entry.imported_at_ns,
                entry.copy
            ],
        )?;
        tx.execute(
            "INSERT INTO devices (udid, name, last_received_ns, last_received_path)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (udid) DO UPDATE SET name = excluded.name,
               last_received_ns = excluded.last_received_ns,
               last_received_path = excluded.last_received_path",
            params![entry.udid, device_name, entry.imported_at_ns, path],
        )?;
        tx.execute(
            "DELETE FROM pending WHERE udid = ?1 AND device_path = ?2 AND copy = ?3",
            params![entry.udid, path, entry.copy],
        )?;
        Ok(())
    }

    /// Removes the entries of one device file, every copy (e.g. when `verify` finds its copy gone and the
    /// user wants it imported again). Returns whether there was one.
    pub fn forget(&mut self, udid: &str, device_path: &str) -> Result<bool, LedgerError> {
        let n = self.conn.execute(
            "DELETE FROM resources WHERE udid = ?1 AND device_path = ?2",
            params![udid, normalise(device_path)],
        )?;
        Ok(n > 0)
    }

    /// Every device the ledger knows, by UDID.
    pub fn devices(&self) -> Result<Vec<DeviceInfo>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT udid, name, last_received_ns, last_received_path FROM devices ORDER BY udid",
        )?;
        let rows = stmt
            .query_map([], row_to_device)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// What is remembered about a device.
    pub fn device(&self, udid: &str) -> Result<Option<DeviceInfo>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT udid, name, last_received_ns, last_received_path FROM devices WHERE udid = ?1",
                params![udid],
                row_to_device,
            )
            .optional()?)
    }

    /// Number of resources recorded for one device, or for all devices with `None`.
    pub fn count(&self, udid: Option<&str>) -> Result<u64, LedgerError> {
        let n: i64 = match udid {
            Some(u) => self.conn.query_row(
                "SELECT COUNT(*) FROM resources WHERE udid = ?1",
                params![u],
                |r| r.get(0),
            )?,
            None => self
                .conn
                .query_row("SELECT COUNT(*) FROM resources", [], |r| r.get(0))?,
        };
        Ok(n as u64)
    }

    /// Number of entries and the sum of their sizes, over all devices (for a progress total).
    pub(crate) fn totals(&self) -> Result<(u64, u64), LedgerError> {
        let (n, bytes): (i64, i64) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM resources",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((n.max(0) as u64, bytes.max(0) as u64))
    }

    /// Points an entry at a new destination path (after `verify --repair` had to restore a
    /// file under another name), leaving everything else, and the device's info, as it was.
    pub fn relocate(
        &mut self,
        udid: &str,
        device_path: &str,
        copy: &str,
        dest_path: &str,
    ) -> Result<bool, LedgerError> {
        let n = self.conn.execute(
            "UPDATE resources SET dest_path = ?4 WHERE udid = ?1 AND device_path = ?2 AND copy = ?3",
            params![udid, normalise(device_path), copy, dest_path],
        )?;
        Ok(n > 0)
    }

    /// Up to `limit` entries of `udid` after `after` (a `(device_path, copy)` key), in key
    /// order: a walk that awaits between rows (`verify --deep`) pages with it instead of
    /// holding a statement open.
    pub fn page(
        &self,
        udid: &str,
        after: Option<&(String, String)>,
        limit: usize,
    ) -> Result<Vec<Entry>, LedgerError> {
        let (path, copy) = after.map_or(("", ""), |(p, c)| (p.as_str(), c.as_str()));
        let mut stmt = self.conn.prepare_cached(
            "SELECT udid, device_path, size, device_mtime_ns, dest_path, blake3, imported_at_ns,
                    copy
             FROM resources WHERE udid = ?1 AND (?4 = 0 OR (device_path, copy) > (?2, ?3))
             ORDER BY device_path, copy LIMIT ?5",
        )?;
        let rows = stmt
            .query_map(
                params![udid, path, copy, after.is_some(), limit as i64],
                row_to_entry,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    /// Sets the BLAKE3 of an entry (after `verify --deep --repair` restored the phone's bytes).
    pub fn set_blake3(
        &mut self,
        udid: &str,
        device_path: &str,
        copy: &str,
        blake3: &[u8; 32],
    ) -> Result<bool, LedgerError> {
        let n = self.conn.execute(
            "UPDATE resources SET blake3 = ?4 WHERE udid = ?1 AND device_path = ?2 AND copy = ?3",
            params![udid, normalise(device_path), copy, &blake3[..]],
        )?;
        Ok(n > 0)
    }

    /// Streams every entry (of one device, or all with `None`) to `f` in device-path order,
    /// one row in memory at a time. `f` returning `Err` stops the walk and is passed back.
    pub fn for_each<E>(
        &self,
        udid: Option<&str>,
        mut f: impl FnMut(Entry) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<LedgerError>,
    {
        let sql =
            "SELECT udid, device_path, size, device_mtime_ns, dest_path, blake3, imported_at_ns,
                    copy
                   FROM resources WHERE (?1 IS NULL OR udid = ?1) ORDER BY udid, device_path, copy";
        let mut stmt = self.conn.prepare(sql).map_err(LedgerError::from)?;
        let mut rows = stmt.query(params![udid]).map_err(LedgerError::from)?;
        while let Some(row) = rows.next().map_err(LedgerError::from)? {
            let entry = row_to_entry(row).map_err(LedgerError::from)??;
            f(entry)?;
        }
        Ok(())
    }
}

fn row_to_device(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceInfo> {
    Ok(DeviceInfo {
        udid: r.get(0)?,
        name: r.get(1)?,
        last_received_ns: r.get(2)?,
        last_received_path: r.get(3)?,
    })
}

fn row_to_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Entry, LedgerError>> {
    let blob: Vec<u8> = r.get(5)?;
    let size: i64 = r.get(2)?;
    let device_path: String = r.get(1)?;
    let Ok(blake3) = <[u8; 32]>::try_from(blob.as_slice()) else {
        return Ok(Err(LedgerError::Corrupt(format!(
            "hash of {device_path} is {} bytes",
            blob.len()
        ))));
    };
    let Ok(size) = u64::try_from(size) else {
        return Ok(Err(LedgerError::Corrupt(format!(
            "size of {device_path} is {size}"
        ))));
    };
    Ok(Ok(Entry {
        udid: r.get(0)?,
        device_path,
        copy: r.get(7)?,
        size,
        device_mtime_ns: r.get(3)?,
        dest_path: r.get(4)?,
        blake3,
        imported_at_ns: r.get(6)?,
    }))
}

#[cfg(test)]
mod tests;

/// [`Ledger::open_read_only`] (the read-only open of `ledger_ro`) against the writer's open.
#[cfg(test)]
mod read_only_tests;
