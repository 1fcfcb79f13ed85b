//! Photos.sqlite, read from a local copy (fetched by `db_fetch`): opens it, checks it, reads
//! the side tables and albums (`db_assets`, which calls the others) into an [`OpenLibrary`]
//! whose asset rows are then decoded one at a time (the inventory joins each as it comes), or
//! all into a [`LibraryDb`].
//!
//! The shared pieces are leaves this file re-exports: `db_rows` (value decoders, `Corrupt`),
//! `db_schema` (what [`detect_schema`] finds) and `db_records` ([`DbAsset`], [`DbAlbum`]).
//!
//! The schema is detected by inspection, never by iOS version (photo-library.md §6.2): the asset
//! table is ZASSET or ZGENERICASSET, the album join table is the `Z_<n>ASSETS` table with a
//! `Z_<n>ALBUMS` and a `Z_<m>ASSETS` column (other relations use such names too, so the one that
//! agrees with Z_PRIMARYKEY's Album entity wins), and only columns that exist are queried.
//! Codes this tool does not know read as unknown, malformed values as absent.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::db_assets::{RowReader, read_directories};
use super::db_rows::Corrupt;
use super::error::LibraryError;

pub use super::db_records::{DbAlbum, DbAsset};
#[cfg(test)]
use super::db_rows::{CORE_DATA_EPOCH, core_data_time};
pub use super::db_rows::{CloudState, DbKind, subtype_name};
pub(crate) use super::db_schema::detect_schema;
pub use super::db_schema::{JoinTable, Schema};

/// The decoded library database.
#[derive(Debug, Clone, Serialize)]
pub struct LibraryDb {
    pub schema: Schema,
    pub assets: Vec<DbAsset>,
    pub albums: Vec<DbAlbum>,
    /// Whether the phone had a `-wal` beside the database.
    pub wal_present: bool,
    /// True when this run copied the database; false when the cached copy was still current.
    pub fetched: bool,
    /// Where the copy lives.
    pub cache_path: PathBuf,
}

/// Opens the copy read-only (SQLite builds the `-shm` beside it, in our cache) and, with
/// `check`, runs `quick_check` on it.
pub(super) fn open_checked(path: &Path, check: bool) -> Result<Connection, Corrupt> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    if !check {
        return Ok(conn);
    }
    let verdict: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
    if verdict != "ok" {
        return Err(Corrupt::Damaged(verdict));
    }
    Ok(conn)
}

/// The database with its side tables and albums read, its asset rows not yet.
pub(super) struct OpenLibrary {
    pub conn: Connection,
    pub schema: Schema,
    /// The distinct ZDIRECTORY values (see `read_directories`).
    pub directories: Vec<String>,
    pub rows: RowReader,
}

/// `metadata`: also read titles, places, people… into each asset's `meta` (see
/// `InventoryOptions::without_metadata`).
pub(super) fn open_library(conn: Connection, metadata: bool) -> Result<OpenLibrary, Corrupt> {
    let schema = detect_schema(&conn)?;
    let rows = RowReader::prepare(&conn, &schema, metadata)?;
    let directories = read_directories(&conn, &schema)?;
    Ok(OpenLibrary {
        conn,
        schema,
        directories,
        rows,
    })
}

impl OpenLibrary {
    /// Decodes every asset row into a vector.
    pub(super) fn collect(self) -> Result<(Schema, Vec<DbAsset>, Vec<DbAlbum>), Corrupt> {
        let mut assets = Vec::with_capacity(self.rows.len());
        let albums = self.rows.for_each(&self.conn, |a| assets.push(a))?;
        Ok((self.schema, assets, albums))
    }
}

/// Opens a database file read-only and decodes it (for tools and tests on a local copy).
pub fn read_local(path: &Path) -> Result<LibraryDb, LibraryError> {
    // Looked at before opening: opening a WAL-mode database creates an empty `-wal`.
    let wal = path.with_file_name(format!(
        "{}-wal",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("")
    ));
    let wal_present = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
    let damaged = |e| match e {
        Corrupt::Damaged(detail) => LibraryError::LocalDbCorrupt {
            path: path.to_owned(),
            detail,
        },
        Corrupt::Other(e) => e,
    };
    let conn = open_checked(path, true).map_err(damaged)?;
    let (schema, assets, albums) = open_library(conn, true)
        .and_then(OpenLibrary::collect)
        .map_err(damaged)?;
    Ok(LibraryDb {
        schema,
        assets,
        albums,
        wal_present,
        fetched: false,
        cache_path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(sql: &str) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(sql).unwrap();
        conn
    }

    #[test]
    fn ios13_generic_asset_and_z26_join() {
        let conn = db("CREATE TABLE ZGENERICASSET (Z_PK INTEGER PRIMARY KEY, ZUUID VARCHAR,
               ZDIRECTORY VARCHAR, ZFILENAME VARCHAR, ZKIND INTEGER, ZDATECREATED TIMESTAMP);
             CREATE TABLE Z_26ASSETS (Z_26ALBUMS INTEGER, Z_34ASSETS INTEGER, Z_FOK_34ASSETS INTEGER);
             CREATE TABLE ZGENERICALBUM (Z_PK INTEGER PRIMARY KEY, ZKIND INTEGER, ZTITLE VARCHAR);
             INSERT INTO ZGENERICASSET VALUES (7, 'U7', 'DCIM/100APPLE', 'IMG_0001.JPG', 0, 700000000.5);
             INSERT INTO ZGENERICALBUM VALUES (3, 2, 'Cats');
             INSERT INTO Z_26ASSETS VALUES (3, 7, 1);");
        let schema = detect_schema(&conn).unwrap();
        assert_eq!(schema.asset_table, "ZGENERICASSET");
        assert_eq!(
            schema.join,
            Some(JoinTable {
                table: "Z_26ASSETS".into(),
                album_column: "Z_26ALBUMS".into(),
                asset_column: "Z_34ASSETS".into(),
            })
        );
        // Columns that do not exist (ZHIDDEN, ZTRASHEDSTATE, side tables) are simply not read.
        let (assets, albums) = super::super::db_assets::read_assets(&conn, &schema, true)
            .map_err(|_| ())
            .unwrap();
        assert_eq!(albums.len(), 1);
        assert_eq!(assets.len(), 1);
        let a = &assets[0];
        assert_eq!(a.uuid.as_deref(), Some("U7"));
        assert_eq!(a.kind, DbKind::Photo);
        assert!(!a.hidden && !a.trashed && !a.icloud_only);
        assert_eq!(a.albums, vec!["Cats".to_string()]);
        assert_eq!(
            a.created.unwrap().timestamp(),
            700_000_000 + CORE_DATA_EPOCH
        );
    }

    #[test]
    fn ios26_asset_with_z33_join_and_decoys() {
        let conn = db("CREATE TABLE ZASSET (Z_PK INTEGER PRIMARY KEY, ZUUID VARCHAR, ZKIND INTEGER,
               ZHIDDEN INTEGER, ZTRASHEDSTATE INTEGER, ZTRASHEDDATE TIMESTAMP, ZKINDSUBTYPE INTEGER);
             CREATE TABLE Z_3SUGGESTIONSBEINGREPRESENTATIVEASSETS (Z_3ASSETS INTEGER,
               Z_55SUGGESTIONSBEINGREPRESENTATIVEASSETS INTEGER);
             CREATE TABLE Z_3ASSETS (Z_3ASSETS INTEGER, Z_40KEYASSETS INTEGER);
             CREATE TABLE Z_33ASSETS (Z_33ALBUMS INTEGER, Z_3ASSETS INTEGER);
             CREATE TABLE ZGENERICALBUM (Z_PK INTEGER PRIMARY KEY, ZKIND INTEGER, ZTITLE VARCHAR,
               ZPARENTFOLDER INTEGER, ZTRASHEDSTATE INTEGER);
             INSERT INTO ZGENERICALBUM VALUES (1, 3999, NULL, NULL, 0), (2, 4000, 'Trips', 1, 0),
               (3, 2, 'Iceland 2025', 2, 0), (4, 2, 'Old', 1, 1), (5, 1505, 'Family', NULL, 0),
               (6, 4000, 'Bin', 1, 1), (7, 2, 'In trashed folder', 6, 0), (8, 99999, 'weird', 1, 0);
             INSERT INTO ZASSET VALUES (1, 'A', 1, 1, 1, 0.0, 4242), (2, 'B', 77, 'yes', NULL, NULL, 2);
             INSERT INTO Z_33ASSETS VALUES (3, 1), (4, 1), (5, 1), (7, 1), (8, 1), (99, 1);");
        let schema = detect_schema(&conn).unwrap();
        assert_eq!(schema.asset_table, "ZASSET");
        let j = schema.join.clone().unwrap();
        assert_eq!(
            (
                j.table.as_str(),
                j.album_column.as_str(),
                j.asset_column.as_str()
            ),
            ("Z_33ASSETS", "Z_33ALBUMS", "Z_3ASSETS")
        );
        let (assets, albums) = super::super::db_assets::read_assets(&conn, &schema, true)
            .map_err(|_| ())
            .unwrap();
        let paths: Vec<&str> = albums.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(paths, ["Family", "Trips/Iceland 2025"]);
        let a = &assets[0];
        assert_eq!(a.kind, DbKind::Video);
        assert!(a.hidden && a.trashed && a.shared);
        assert_eq!(subtype_name(a.kind_subtype), "unknown");
        assert_eq!(
            a.trashed_at.unwrap().timestamp(),
            CORE_DATA_EPOCH,
            "Core Data 0 = 2001-01-01"
        );
        assert_eq!(a.albums, ["Family", "Trips/Iceland 2025"]);
        // Garbage values are unknown / false, never an error.
        let b = &assets[1];
        assert_eq!(b.kind, DbKind::Unknown);
        assert!(!b.hidden && !b.trashed && b.albums.is_empty());
        assert_eq!(subtype_name(b.kind_subtype), "live_photo");
    }

    #[test]
    fn no_asset_table_is_unknown_schema() {
        let conn = db("CREATE TABLE Z_28ASSETS (Z_28ALBUMS INTEGER, Z_3ASSETS INTEGER);");
        assert!(matches!(
            detect_schema(&conn),
            Err(LibraryError::UnknownSchema)
        ));
    }

    #[test]
    fn join_without_album_column_is_not_the_join() {
        let conn = db("CREATE TABLE ZASSET (Z_PK INTEGER PRIMARY KEY);
             CREATE TABLE Z_3ASSETS (Z_3ASSETS INTEGER, Z_40KEYASSETS INTEGER);");
        assert_eq!(detect_schema(&conn).unwrap().join, None);
    }

    #[test]
    fn several_candidate_joins_the_one_agreeing_with_z_primarykey_wins() {
        // Both look like album joins; only Z_30ASSETS agrees with itself and Z_PRIMARYKEY.
        let conn = db("CREATE TABLE ZASSET (Z_PK INTEGER PRIMARY KEY);
             CREATE TABLE Z_12ASSETS (Z_30ALBUMS INTEGER, Z_3ASSETS INTEGER);
             CREATE TABLE Z_30ASSETS (Z_30ALBUMS INTEGER, Z_3ASSETS INTEGER);
             CREATE TABLE Z_PRIMARYKEY (Z_ENT INTEGER PRIMARY KEY, Z_NAME VARCHAR);
             INSERT INTO Z_PRIMARYKEY VALUES (3, 'Asset'), (30, 'Album'), (31, 'CloudSharedAlbum');");
        let schema = detect_schema(&conn).unwrap();
        assert_eq!(schema.join.unwrap().table, "Z_30ASSETS");
        assert_eq!(schema.album_entity, Some(30));
        // Without Z_PRIMARYKEY, a join whose album column carries its own number still wins.
        let conn = db("CREATE TABLE ZASSET (Z_PK INTEGER PRIMARY KEY);
             CREATE TABLE Z_12ASSETS (Z_29ALBUMS INTEGER, Z_3ASSETS INTEGER);
             CREATE TABLE Z_29ASSETS (Z_29ALBUMS INTEGER, Z_3ASSETS INTEGER);");
        let schema = detect_schema(&conn).unwrap();
        assert_eq!(schema.join.unwrap().table, "Z_29ASSETS");
        assert_eq!(schema.album_entity, None);
    }

    #[test]
    fn model_version_from_metadata_plist_and_garbage_is_none() {
        let conn = db("CREATE TABLE ZASSET (Z_PK INTEGER PRIMARY KEY);
             CREATE TABLE Z_METADATA (Z_VERSION INTEGER PRIMARY KEY, Z_UUID VARCHAR, Z_PLIST BLOB);");
        let mut d = plist::Dictionary::new();
        d.insert("PLModelVersion".into(), plist::Value::Integer(5001.into()));
        let mut blob = Vec::new();
        plist::Value::Dictionary(d)
            .to_writer_binary(&mut blob)
            .unwrap();
        conn.execute("INSERT INTO Z_METADATA VALUES (1, 'u', ?1)", [&blob])
            .unwrap();
        assert_eq!(detect_schema(&conn).unwrap().model_version, Some(5001));
        conn.execute(
            "UPDATE Z_METADATA SET Z_PLIST = x'62706c6973743030ffff'",
            [],
        )
        .unwrap();
        assert_eq!(detect_schema(&conn).unwrap().model_version, None);
        conn.execute("UPDATE Z_METADATA SET Z_PLIST = 'text'", [])
            .unwrap();
        assert_eq!(detect_schema(&conn).unwrap().model_version, None);
    }

    #[test]
    fn core_data_time_applies_offset() {
        let t = core_data_time(0.0, Some(3600)).unwrap();
        assert_eq!(t.to_rfc3339(), "2001-01-01T01:00:00+01:00");
        assert_eq!(
            core_data_time(0.0, Some(1_000_000))
                .unwrap()
                .offset()
                .local_minus_utc(),
            0
        );
        assert!(core_data_time(f64::MAX, None).is_none());
    }
}
