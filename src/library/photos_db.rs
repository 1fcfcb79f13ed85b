//! Photos.sqlite, read from a local copy (fetched by `db_fetch`).
//!
//! The schema is detected by inspection, never by iOS version (photo-library.md §6.2): the asset
//! table is ZASSET or ZGENERICASSET, the album join table is the `Z_<n>ASSETS` table with a
//! `Z_<n>ALBUMS` and a `Z_<m>ASSETS` column (other relations use such names too, so the one that
//! agrees with Z_PRIMARYKEY's Album entity wins), and only columns that exist are queried.
//! Codes this tool does not know read as unknown, malformed values as absent.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::db_assets::read_assets;
use super::db_meta::AssetMeta;
use super::error::LibraryError;
use crate::untrusted::plist::{Limits, decode_dict};

pub use super::db_fetch::{DB_PATH, WAL_PATH, fetch_db, fetch_db_for};

/// Core Data timestamps count seconds from 2001-01-01 UTC.
pub const CORE_DATA_EPOCH: i64 = 978_307_200;
/// Rows accepted from one table: far above any real library, low enough to bound memory.
pub const MAX_ROWS: usize = 5_000_000;

/// ZASSET.ZKIND.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DbKind {
    Photo,
    Video,
    Unknown,
}

/// iCloud upload state of the original (ZCLOUDMASTER, else the original's ZINTERNALRESOURCE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloudState {
    /// 0: not synced (iCloud Photos off, or never uploaded).
    NotSynced,
    /// 1: the only copy is on this phone, upload pending.
    PendingUpload,
    /// 3: in iCloud.
    Synced,
    Unknown,
}

impl CloudState {
    pub(super) fn from_code(code: Option<i64>) -> CloudState {
        match code {
            Some(0) => CloudState::NotSynced,
            Some(1) => CloudState::PendingUpload,
            Some(3) => CloudState::Synced,
            _ => CloudState::Unknown,
        }
    }
}

/// ZKINDSUBTYPE as a word ("unknown" for codes this tool does not know).
pub fn subtype_name(code: Option<i64>) -> &'static str {
    match code {
        Some(0) => "still",
        Some(1) => "panorama",
        Some(2) => "live_photo",
        Some(10) => "screenshot",
        Some(100) => "video",
        Some(101) => "slo_mo",
        Some(102) => "time_lapse",
        Some(103) => "screen_recording",
        _ => "unknown",
    }
}

/// One asset row, decoded.
#[derive(Debug, Clone, Serialize)]
pub struct DbAsset {
    pub pk: i64,
    pub uuid: Option<String>,
    /// ZDIRECTORY, e.g. `DCIM/100APPLE`.
    pub directory: Option<String>,
    /// ZFILENAME, e.g. `IMG_0001.HEIC`.
    pub filename: Option<String>,
    pub kind: DbKind,
    pub kind_subtype: Option<i64>,
    pub created: Option<DateTime<FixedOffset>>,
    pub hidden: bool,
    pub trashed: bool,
    pub trashed_at: Option<DateTime<FixedOffset>>,
    pub favorite: bool,
    /// Edited: ZHASADJUSTMENTS where it exists, else ZADJUSTMENTSSTATE > 0 (iOS 18+).
    pub has_adjustments: bool,
    /// The original is not on the phone but iCloud has it (see `originals`).
    pub icloud_only: bool,
    /// The original is neither on the phone nor in iCloud (see `originals`).
    pub original_missing: bool,
    pub cloud: CloudState,
    /// In a shared album (ZBUNDLESCOPE 2, or member of a ZKIND 1505 album) or Shared with You (3).
    pub shared: bool,
    /// Album paths ("Trips/Iceland 2025"), sorted, duplicates merged.
    pub albums: Vec<String>,
    /// Z_PK of every album holding this asset (two albums may share a path), sorted.
    pub album_pks: Vec<i64>,
    /// Title, caption, keywords, place (for XMP sidecars).
    pub meta: AssetMeta,
}

/// One user or shared album (not trashed).
#[derive(Debug, Clone, Serialize)]
pub struct DbAlbum {
    pub pk: i64,
    pub uuid: Option<String>,
    /// 2 user album, 1505 shared album.
    pub kind: i64,
    /// Folder titles and the album's own title joined with `/` ("Trips/Iceland 2025"). A title
    /// may itself contain `/`; use `title` and `folders` when that matters.
    pub path: String,
    /// The album's own title (ZTITLE; "(untitled)" when absent).
    pub title: String,
    /// Enclosing folder titles, outermost first (empty at the top level).
    pub folders: Vec<String>,
    /// A shared (iCloud Shared Album, ZKIND 1505) album.
    pub shared: bool,
}

/// The album join table as found in this database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JoinTable {
    pub table: String,
    pub album_column: String,
    pub asset_column: String,
}

/// What was found by inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schema {
    /// ZASSET (iOS 14+) or ZGENERICASSET (iOS ≤ 13).
    pub asset_table: String,
    pub join: Option<JoinTable>,
    /// Z_METADATA's PLModelVersion, when present (shown, never relied on: §6.1).
    pub model_version: Option<i64>,
    /// The Core Data entity number of `Album` in Z_PRIMARYKEY, when present; on every known
    /// version it is the `n` of the join table `Z_<n>ASSETS`, which breaks ties between
    /// candidate join tables.
    pub album_entity: Option<i64>,
    /// Every table's columns (upper case).
    #[serde(skip)]
    pub columns: BTreeMap<String, BTreeSet<String>>,
}

impl Schema {
    pub fn has(&self, table: &str, column: &str) -> bool {
        self.columns.get(table).is_some_and(|c| c.contains(column))
    }

    pub fn has_table(&self, table: &str) -> bool {
        self.columns.contains_key(table)
    }
}

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

pub(super) enum Corrupt {
    /// The copy is not a sound database: fetch again.
    Damaged(String),
    Other(LibraryError),
}

impl From<rusqlite::Error> for Corrupt {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        match e.sqlite_error_code() {
            Some(DatabaseCorrupt | NotADatabase) => Corrupt::Damaged(e.to_string()),
            _ => Corrupt::Other(LibraryError::Sql(e)),
        }
    }
}

impl From<LibraryError> for Corrupt {
    fn from(e: LibraryError) -> Self {
        Corrupt::Other(e)
    }
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

/// `metadata`: also read titles, places, people… into each asset's `meta` (see
/// `InventoryOptions::without_metadata`).
pub(super) fn read_library(
    conn: &Connection,
    metadata: bool,
) -> Result<(Schema, Vec<DbAsset>, Vec<DbAlbum>), Corrupt> {
    let schema = detect_schema(conn)?;
    let (assets, albums) = read_assets(conn, &schema, metadata)?;
    Ok((schema, assets, albums))
}

fn is_join_name(name: &str, suffix: &str) -> bool {
    name.strip_prefix("Z_")
        .and_then(|r| r.strip_suffix(suffix))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Finds the asset table, the album join table and every table's columns.
pub fn detect_schema(conn: &Connection) -> Result<Schema, LibraryError> {
    let mut tables: Vec<String> = Vec::new();
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        if let ValueRef::Text(t) = row.get_ref(0)? {
            tables.push(String::from_utf8_lossy(t).into_owned());
        }
        if tables.len() > 100_000 {
            return Err(LibraryError::UnknownSchema);
        }
    }
    let mut columns: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for table in &tables {
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
        let cols = stmt
            .query_map([table], |r| r.get::<_, String>(0))?
            .collect::<Result<BTreeSet<_>, _>>()?;
        columns.insert(
            table.to_ascii_uppercase(),
            cols.into_iter().map(|c| c.to_ascii_uppercase()).collect(),
        );
    }
    let asset_table = ["ZASSET", "ZGENERICASSET"]
        .into_iter()
        .find(|t| columns.contains_key(*t))
        .ok_or(LibraryError::UnknownSchema)?
        .to_owned();
    let entities = read_entities(conn, &columns)?;
    let album_entity = entities.get("ALBUM").copied();
    let asset_entity = entities
        .get("ASSET")
        .or_else(|| entities.get("GENERICASSET"))
        .copied();
    let join = pick_join(&columns, album_entity, asset_entity);
    let model_version = read_model_version(conn, &columns);
    Ok(Schema {
        asset_table,
        join,
        model_version,
        album_entity,
        columns,
    })
}

/// The number in `Z_<n>ALBUMS` / `Z_<n>ASSETS`.
fn join_number(name: &str, suffix: &str) -> Option<i64> {
    if !is_join_name(name, suffix) {
        return None;
    }
    name[2..name.len() - suffix.len()].parse().ok()
}

/// The album join table among every `Z_<n>ASSETS` table that has a `Z_<k>ALBUMS` and a
/// `Z_<m>ASSETS` column. Other relations can be named `Z_<n>ASSETS` too, so when several
/// qualify the one that agrees with itself (`n` = `k`) and with Z_PRIMARYKEY (`n` = the Album
/// entity, `m` = the Asset entity) wins; ties go to the first name.
fn pick_join(
    columns: &BTreeMap<String, BTreeSet<String>>,
    album_entity: Option<i64>,
    asset_entity: Option<i64>,
) -> Option<JoinTable> {
    let mut best: Option<(u8, JoinTable)> = None;
    for (t, cols) in columns {
        let Some(n) = join_number(t, "ASSETS") else {
            continue;
        };
        // A real join has one column of each kind; a few bound the work on a hostile file.
        for album in cols.iter().filter(|c| is_join_name(c, "ALBUMS")).take(4) {
            for asset in cols.iter().filter(|c| is_join_name(c, "ASSETS")).take(4) {
                let k = join_number(album, "ALBUMS");
                let m = join_number(asset, "ASSETS");
                let score = 4 * u8::from(k == Some(n))
                    + 2 * u8::from(album_entity == Some(n))
                    + u8::from(asset_entity.is_some() && asset_entity == m);
                if best.as_ref().is_none_or(|(b, _)| score > *b) {
                    best = Some((
                        score,
                        JoinTable {
                            table: t.clone(),
                            album_column: album.clone(),
                            asset_column: asset.clone(),
                        },
                    ));
                }
            }
        }
    }
    best.map(|(_, j)| j)
}

/// Z_PRIMARYKEY: entity name (upper case) → Z_ENT. Empty when the table is missing or odd.
fn read_entities(
    conn: &Connection,
    columns: &BTreeMap<String, BTreeSet<String>>,
) -> Result<HashMap<String, i64>, LibraryError> {
    let mut out = HashMap::new();
    let has = |c: &str| columns.get("Z_PRIMARYKEY").is_some_and(|t| t.contains(c));
    if !(has("Z_ENT") && has("Z_NAME")) {
        return Ok(out);
    }
    let mut stmt = conn.prepare("SELECT Z_ENT, Z_NAME FROM Z_PRIMARYKEY LIMIT 10000")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        if let (Some(ent), Some(name)) = (int(row.get_ref(0)?), text(row.get_ref(1)?)) {
            out.insert(name.to_ascii_uppercase(), ent);
        }
    }
    Ok(out)
}

/// Bigger Z_METADATA plists are not real ones.
const MAX_METADATA_PLIST: usize = 16 << 20;

/// PLModelVersion from Z_METADATA.Z_PLIST (a binary plist), as osxphotos reads it. Anything
/// missing or malformed is simply None.
fn read_model_version(
    conn: &Connection,
    columns: &BTreeMap<String, BTreeSet<String>>,
) -> Option<i64> {
    if !columns
        .get("Z_METADATA")
        .is_some_and(|c| c.contains("Z_PLIST"))
    {
        return None;
    }
    let blob: Vec<u8> = conn
        .query_row(
            "SELECT Z_PLIST FROM Z_METADATA WHERE length(Z_PLIST) <= ?1 LIMIT 1",
            [MAX_METADATA_PLIST as i64],
            |r| r.get(0),
        )
        .ok()?;
    let limits = Limits {
        max_input: MAX_METADATA_PLIST,
        max_decoded_bytes: MAX_METADATA_PLIST,
        ..Limits::MESSAGE
    };
    decode_dict(&blob, &limits)
        .ok()?
        .get("PLModelVersion")?
        .as_signed_integer()
}

/// An integer from any storage class (garbage → None, never an error).
pub(super) fn int(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        ValueRef::Real(f) if f.is_finite() => Some(f as i64),
        _ => None,
    }
}

pub(super) fn real(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(f) if f.is_finite() => Some(f),
        _ => None,
    }
}

/// Text, capped: a name or UUID longer than this is garbage.
pub(super) fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Text(t) if t.len() <= 4096 => std::str::from_utf8(t).ok().map(str::to_owned),
        _ => None,
    }
}

/// A Core Data timestamp at a UTC offset (seconds east; an invalid offset falls back to UTC).
pub fn core_data_time(secs: f64, offset_secs: Option<i64>) -> Option<DateTime<FixedOffset>> {
    let unix = secs + CORE_DATA_EPOCH as f64;
    if !(-1e12..1e12).contains(&unix) {
        return None;
    }
    let whole = unix.floor() as i64;
    let nanos = ((unix - unix.floor()) * 1e9) as u32;
    let utc = Utc.timestamp_opt(whole, nanos.min(999_999_999)).single()?;
    let offset = offset_secs
        .and_then(|o| i32::try_from(o).ok())
        .and_then(FixedOffset::east_opt)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    Some(utc.with_timezone(&offset))
}

/// `SELECT` list entry for a column that may not exist.
pub(super) fn col(schema: &Schema, table: &str, alias: &str, column: &str) -> String {
    if schema.has(table, column) {
        format!("{alias}.{column}")
    } else {
        "NULL".to_owned()
    }
}

/// Runs `sql` and hands each row to `f`, refusing more than MAX_ROWS rows.
pub(super) fn for_rows(
    conn: &Connection,
    sql: &str,
    mut f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<()>,
) -> Result<(), Corrupt> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    let mut n = 0usize;
    while let Some(row) = rows.next()? {
        n += 1;
        if n > MAX_ROWS {
            return Err(Corrupt::Other(LibraryError::TooManyEntries {
                what: "Photos.sqlite".to_owned(),
                limit: MAX_ROWS,
            }));
        }
        f(row)?;
    }
    Ok(())
}

/// The number of rows of `table` (at most MAX_ROWS, which `for_rows` enforces anyway); 0 when it
/// cannot be counted. Only for sizing buffers.
pub(super) fn row_count(conn: &Connection, table: &str) -> usize {
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
        r.get::<_, i64>(0)
    })
    .map_or(0, |n| usize::try_from(n).unwrap_or(0).min(MAX_ROWS))
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
    let (schema, assets, albums) = read_library(&conn, true).map_err(damaged)?;
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
        let (assets, albums) = read_assets(&conn, &schema, true).map_err(|_| ()).unwrap();
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
        let (assets, albums) = read_assets(&conn, &schema, true).map_err(|_| ()).unwrap();
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
