//! The asset table's rows (ZASSET, or ZGENERICASSET before iOS 14), each joined with what side
//! tables know of it: time-zone offsets, the cloud state of its master, where its original is,
//! the albums it is in and, when asked, the person's metadata.

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::db_albums::read_albums;
use super::db_meta::{AssetMeta, MetaFields, read_meta};
use super::db_records::{DbAlbum, DbAsset};
use super::db_rows::{
    CloudState, Corrupt, DbKind, core_data_time, for_rows, int, present, real, row_count, text,
};
use super::db_schema::{Schema, col};
use super::error::LibraryError;
use super::originals::{OriginalPlace, Originals};

/// Per-asset facts from side tables, read before the asset rows (each only if its columns
/// exist), and consumed row by row.
struct SideFacts {
    /// ZADDITIONALASSETATTRIBUTES: asset pk → time-zone offset in seconds.
    offsets: HashMap<i64, i64>,
    /// ZCLOUDMASTER: master pk → ZCLOUDLOCALSTATE.
    master_cloud: HashMap<i64, i64>,
    originals: Originals,
    /// Asset pk → the indices in `albums` of the albums it is in (removed as each row is
    /// decoded).
    membership: HashMap<i64, Vec<u32>>,
    /// Asset pk → titles, places, people… (empty unless asked for).
    meta: HashMap<i64, MetaFields>,
    /// iOS 18 dropped ZHASADJUSTMENTS: there an edit is ZADJUSTMENTSSTATE > 0.
    has_flag_column: bool,
    /// The metadata of a screenshot that has no other, shared by every such row.
    screenshot_only: AssetMeta,
}

/// The asset table's columns, in the order [`decode_asset`] reads them (after Z_PK).
const ASSET_COLUMNS: [&str; 15] = [
    "ZUUID",
    "ZDIRECTORY",
    "ZFILENAME",
    "ZKIND",
    "ZKINDSUBTYPE",
    "ZDATECREATED",
    "ZHIDDEN",
    "ZTRASHEDSTATE",
    "ZTRASHEDDATE",
    "ZFAVORITE",
    "ZHASADJUSTMENTS",
    "ZBUNDLESCOPE",
    "ZMASTER",
    "ZCLOUDLOCALSTATE",
    "ZADJUSTMENTSSTATE",
];

/// The asset rows, ready to be decoded one at a time: the side tables and albums are read, the
/// rows not yet. A caller that joins each row as it comes never holds them all (at 100,000
/// assets the decoded rows were 20 MB at the inventory's memory peak).
pub(super) struct RowReader {
    facts: SideFacts,
    albums: Vec<DbAlbum>,
    sql: String,
    /// Rows in the asset table (at most the row limit), for sizing a collection.
    rows: usize,
}

impl RowReader {
    /// Reads the side tables and the albums.
    pub(super) fn prepare(
        conn: &Connection,
        schema: &Schema,
        metadata: bool,
    ) -> Result<Self, Corrupt> {
        let t = schema.asset_table.as_str();
        if !schema.has(t, "Z_PK") {
            return Err(Corrupt::Other(LibraryError::UnknownSchema));
        }
        const CM: &str = "ZCLOUDMASTER";
        let (offsets, fingerprinted) = read_attributes(conn, schema)?;
        let originals = Originals::read(conn, schema, fingerprinted)?;
        let meta = if metadata {
            read_meta(conn, schema)?
        } else {
            HashMap::new()
        };
        let master_cloud = if schema.has(CM, "Z_PK")
            && schema.has(CM, "ZCLOUDLOCALSTATE")
            && schema.has(t, "ZMASTER")
        {
            int_pairs(conn, &format!("SELECT Z_PK, ZCLOUDLOCALSTATE FROM {CM}"))?
        } else {
            HashMap::new()
        };
        let albums = read_albums(conn, schema)?;
        let facts = SideFacts {
            offsets,
            master_cloud,
            originals,
            membership: read_membership(conn, schema, &albums)?,
            meta,
            has_flag_column: schema.has(t, "ZHASADJUSTMENTS"),
            screenshot_only: MetaFields {
                screenshot: true,
                ..MetaFields::default()
            }
            .into(),
        };
        let list: Vec<String> = ASSET_COLUMNS
            .iter()
            .map(|c| col(schema, t, "a", c))
            .collect();
        let sql = format!(
            "SELECT a.Z_PK, {} FROM {t} a ORDER BY a.Z_PK",
            list.join(", ")
        );
        Ok(RowReader {
            facts,
            albums,
            sql,
            rows: row_count(conn, t),
        })
    }

    /// The user and shared albums (not trashed).
    pub(super) fn albums(&self) -> &[DbAlbum] {
        &self.albums
    }

    /// Rows in the asset table (at most the row limit).
    pub(super) fn len(&self) -> usize {
        self.rows
    }

    /// Decodes every asset row in Z_PK order and hands each to `each`; returns the albums.
    pub(super) fn for_each(
        mut self,
        conn: &Connection,
        mut each: impl FnMut(DbAsset),
    ) -> Result<Vec<DbAlbum>, Corrupt> {
        let (facts, albums) = (&mut self.facts, &self.albums);
        for_rows(conn, &self.sql, |r| {
            if let Some(asset) = decode_asset(r, facts, albums)? {
                each(asset);
            }
            Ok(())
        })?;
        Ok(self.albums)
    }
}

/// Every asset row, decoded, and the albums.
#[cfg(test)]
pub(super) fn read_assets(
    conn: &Connection,
    schema: &Schema,
    metadata: bool,
) -> Result<(Vec<DbAsset>, Vec<DbAlbum>), Corrupt> {
    let reader = RowReader::prepare(conn, schema, metadata)?;
    let mut assets = Vec::with_capacity(reader.rows);
    let albums = reader.for_each(conn, |a| assets.push(a))?;
    Ok((assets, albums))
}

/// The distinct ZDIRECTORY values, in the order of their first row (the folders the rows
/// place originals in, read before the rows so that they can be listed first).
pub(super) fn read_directories(conn: &Connection, schema: &Schema) -> Result<Vec<String>, Corrupt> {
    let t = schema.asset_table.as_str();
    if !schema.has(t, "ZDIRECTORY") || !schema.has(t, "Z_PK") {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT ZDIRECTORY, MIN(Z_PK) AS first FROM {t} WHERE ZDIRECTORY IS NOT NULL \
         GROUP BY ZDIRECTORY ORDER BY first"
    );
    let mut dirs = Vec::new();
    for_rows(conn, &sql, |r| {
        if let Some(d) = text(r.get_ref(0)?) {
            dirs.push(d);
        }
        Ok(())
    })?;
    Ok(dirs)
}

/// ZADDITIONALASSETATTRIBUTES in one pass (a table about as large as the asset rows): asset pk
/// → time-zone offset in seconds, and the assets whose row has a master fingerprint or an
/// original stable hash.
fn read_attributes(
    conn: &Connection,
    schema: &Schema,
) -> Result<(HashMap<i64, i64>, HashSet<i64>), Corrupt> {
    const AA: &str = "ZADDITIONALASSETATTRIBUTES";
    let (mut offsets, mut fingerprinted) = (HashMap::new(), HashSet::new());
    let wanted = [
        "ZTIMEZONEOFFSET",
        "ZMASTERFINGERPRINT",
        "ZORIGINALSTABLEHASH",
    ];
    if !schema.has(AA, "ZASSET") || !wanted.iter().any(|c| schema.has(AA, c)) {
        return Ok((offsets, fingerprinted));
    }
    let [offset, print, hash] = wanted.map(|c| col(schema, AA, "a", c));
    let sql = format!("SELECT a.ZASSET, {offset}, {print}, {hash} FROM {AA} a");
    for_rows(conn, &sql, |r| {
        let Some(asset) = int(r.get_ref(0)?) else {
            return Ok(());
        };
        if let Some(secs) = int(r.get_ref(1)?) {
            offsets.insert(asset, secs);
        }
        if present(r.get_ref(2)?) || present(r.get_ref(3)?) {
            fingerprinted.insert(asset);
        }
        Ok(())
    })?;
    Ok((offsets, fingerprinted))
}

/// A two-integer query as a map (rows with a NULL are skipped).
fn int_pairs(conn: &Connection, sql: &str) -> Result<HashMap<i64, i64>, Corrupt> {
    let mut map = HashMap::new();
    for_rows(conn, sql, |r| {
        if let (Some(k), Some(v)) = (int(r.get_ref(0)?), int(r.get_ref(1)?)) {
            map.insert(k, v);
        }
        Ok(())
    })?;
    Ok(map)
}

/// Asset pk → the albums it is in, from the album join table (when the schema has one).
fn read_membership(
    conn: &Connection,
    schema: &Schema,
    albums: &[DbAlbum],
) -> Result<HashMap<i64, Vec<u32>>, Corrupt> {
    let mut membership: HashMap<i64, Vec<u32>> = HashMap::new();
    let Some(j) = &schema.join else {
        return Ok(membership);
    };
    let album_by_pk: HashMap<i64, u32> = albums
        .iter()
        .enumerate()
        .map(|(i, a)| (a.pk, i as u32))
        .collect();
    let sql = format!(
        "SELECT {}, {} FROM {}",
        j.album_column, j.asset_column, j.table
    );
    for_rows(conn, &sql, |r| {
        if let (Some(al), Some(asset)) = (int(r.get_ref(0)?), int(r.get_ref(1)?))
            && let Some(album) = album_by_pk.get(&al)
        {
            membership.entry(asset).or_default().push(*album);
        }
        Ok(())
    })?;
    Ok(membership)
}

/// One row of `SELECT a.Z_PK, ASSET_COLUMNS…` with its side facts; `None` without a pk.
fn decode_asset(
    r: &rusqlite::Row<'_>,
    facts: &mut SideFacts,
    albums: &[DbAlbum],
) -> rusqlite::Result<Option<DbAsset>> {
    let Some(pk) = int(r.get_ref(0)?) else {
        return Ok(None);
    };
    let get = |i: usize| r.get_ref(i + 1);
    let offset = facts.offsets.get(&pk).copied();
    let flag = |v: ValueRef<'_>| int(v).is_some_and(|v| v != 0);
    let trashed = int(get(7)?) == Some(1);
    let cloud = match int(get(12)?).and_then(|m| facts.master_cloud.get(&m)) {
        Some(s) => CloudState::from_code(Some(*s)),
        None => facts.originals.resource_cloud(pk),
    };
    let original = facts.originals.place(pk, cloud);
    let has_adjustments = if facts.has_flag_column {
        flag(get(10)?)
    } else {
        int(get(14)?).is_some_and(|s| s > 0)
    };
    let member_of: Vec<&DbAlbum> = facts
        .membership
        .remove(&pk)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| albums.get(i as usize))
        .collect();
    let bundle = int(get(11)?);
    let mut albums: Vec<String> = member_of.iter().map(|a| a.path.clone()).collect();
    albums.sort();
    albums.dedup();
    let mut album_pks: Vec<i64> = member_of.iter().map(|a| a.pk).collect();
    album_pks.sort_unstable();
    album_pks.dedup();
    Ok(Some(DbAsset {
        pk,
        uuid: text(get(0)?),
        directory: text(get(1)?),
        filename: text(get(2)?),
        kind: match int(get(3)?) {
            Some(0) => DbKind::Photo,
            Some(1) => DbKind::Video,
            _ => DbKind::Unknown,
        },
        kind_subtype: int(get(4)?),
        created: real(get(5)?).and_then(|s| core_data_time(s, offset)),
        hidden: flag(get(6)?),
        trashed,
        trashed_at: real(get(8)?)
            .filter(|_| trashed)
            .and_then(|s| core_data_time(s, offset)),
        favorite: flag(get(9)?),
        has_adjustments,
        icloud_only: original == OriginalPlace::IcloudOnly,
        original_missing: original == OriginalPlace::Missing,
        cloud,
        shared: matches!(bundle, Some(2 | 3)) || member_of.iter().any(|a| a.kind == 1505),
        albums,
        album_pks,
        meta: AssetMeta::sharing(
            MetaFields {
                screenshot: int(get(4)?) == Some(10),
                ..facts.meta.remove(&pk).unwrap_or_default()
            },
            &facts.screenshot_only,
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::read_assets;
    use crate::library::db_schema::detect_schema;
    use rusqlite::Connection;

    /// (uuid, edited, icloud_only, original_missing) of every row.
    fn facts(sql: &str) -> Vec<(String, bool, bool, bool)> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(sql).unwrap();
        let schema = detect_schema(&conn).unwrap();
        let (assets, _) = read_assets(&conn, &schema, true).map_err(|_| ()).unwrap();
        assets
            .into_iter()
            .map(|a| {
                let uuid = a.uuid.unwrap();
                (uuid, a.has_adjustments, a.icloud_only, a.original_missing)
            })
            .collect()
    }

    #[test]
    fn ios18_edits_from_adjustments_state_and_remote_availability_splits_not_local() {
        // No ZHASADJUSTMENTS (iOS 18+); stable hashes instead of fingerprints.
        let got = facts(
            "CREATE TABLE ZASSET (Z_PK INTEGER PRIMARY KEY, ZUUID VARCHAR, ZADJUSTMENTSSTATE INTEGER,
               ZCLOUDLOCALSTATE INTEGER);
             CREATE TABLE ZINTERNALRESOURCE (Z_PK INTEGER PRIMARY KEY, ZASSET INTEGER,
               ZDATASTORESUBTYPE INTEGER, ZLOCALAVAILABILITY INTEGER, ZREMOTEAVAILABILITY INTEGER,
               ZCLOUDLOCALSTATE INTEGER, ZFINGERPRINT VARCHAR, ZSTABLEHASH VARCHAR);
             INSERT INTO ZASSET VALUES (1, 'edited', 2, 3), (2, 'plain', 0, 3), (3, 'cloud', 0, 3),
               (4, 'missing', 0, 3), (5, 'garbage', 'x', 3);
             INSERT INTO ZINTERNALRESOURCE VALUES (1, 1, 1, 1, 1, 3, NULL, 'h1'),
               (2, 2, 1, 1, 1, 3, NULL, 'h2'), (3, 3, 1, -1, 1, 3, NULL, 'h3'),
               (4, 4, 1, -1, 0, 3, NULL, 'h4'), (5, 3, 3, 1, 1, 3, NULL, NULL);",
        );
        let want = [
            ("edited", true, false, false),
            ("plain", false, false, false),
            ("cloud", false, true, false),
            ("missing", false, false, true),
            ("garbage", false, false, false),
        ];
        let want: Vec<_> = want
            .into_iter()
            .map(|(u, e, c, m)| (u.to_owned(), e, c, m))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn unmigrated_database_without_remote_availability_or_edit_columns() {
        // An old database: no ZREMOTEAVAILABILITY, no ZHASADJUSTMENTS/ZADJUSTMENTSSTATE. Not
        // local counts as iCloud-only only when synced and fingerprinted.
        let got = facts(
            "CREATE TABLE ZASSET (Z_PK INTEGER PRIMARY KEY, ZUUID VARCHAR, ZMASTER INTEGER);
             CREATE TABLE ZCLOUDMASTER (Z_PK INTEGER PRIMARY KEY, ZCLOUDLOCALSTATE INTEGER);
             CREATE TABLE ZADDITIONALASSETATTRIBUTES (Z_PK INTEGER PRIMARY KEY, ZASSET INTEGER,
               ZMASTERFINGERPRINT VARCHAR);
             CREATE TABLE ZINTERNALRESOURCE (Z_PK INTEGER PRIMARY KEY, ZASSET INTEGER,
               ZDATASTORESUBTYPE INTEGER, ZLOCALAVAILABILITY INTEGER);
             INSERT INTO ZASSET VALUES (1, 'synced', 1), (2, 'pending', 2), (3, 'no-hash', 3),
               (4, 'local', 4);
             INSERT INTO ZCLOUDMASTER VALUES (1, 3), (2, 1), (3, 3), (4, 3);
             INSERT INTO ZADDITIONALASSETATTRIBUTES VALUES (1, 1, 'fp'), (2, 2, 'fp'),
               (3, 3, ''), (4, 4, 'fp');
             INSERT INTO ZINTERNALRESOURCE VALUES (1, 1, 1, -1), (2, 2, 1, -1), (3, 3, 1, -1),
               (4, 4, 1, 1);",
        );
        let want = [
            ("synced", false, true, false),
            ("pending", false, false, true),
            ("no-hash", false, false, true),
            ("local", false, false, false),
        ];
        let want: Vec<_> = want
            .into_iter()
            .map(|(u, e, c, m)| (u.to_owned(), e, c, m))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn one_attributes_row_gives_the_time_zone_and_the_fingerprint() {
        // ZDATECREATED 0 is 2001-01-01 00:00:00 UTC; +7200 s puts it at 02:00 local time. The
        // same ZADDITIONALASSETATTRIBUTES row's fingerprint makes the synced, not-local
        // original iCloud-only.
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE ZASSET (Z_PK INTEGER PRIMARY KEY, ZUUID VARCHAR, ZDATECREATED TIMESTAMP,
               ZCLOUDLOCALSTATE INTEGER);
             CREATE TABLE ZADDITIONALASSETATTRIBUTES (Z_PK INTEGER PRIMARY KEY, ZASSET INTEGER,
               ZTIMEZONEOFFSET INTEGER, ZORIGINALSTABLEHASH VARCHAR);
             CREATE TABLE ZINTERNALRESOURCE (Z_PK INTEGER PRIMARY KEY, ZASSET INTEGER,
               ZDATASTORESUBTYPE INTEGER, ZLOCALAVAILABILITY INTEGER, ZCLOUDLOCALSTATE INTEGER);
             INSERT INTO ZASSET VALUES (1, 'east', 0, 3), (2, 'plain', 0, 3);
             INSERT INTO ZADDITIONALASSETATTRIBUTES VALUES (1, 1, 7200, 'h1'), (2, 2, NULL, NULL);
             INSERT INTO ZINTERNALRESOURCE VALUES (1, 1, 1, -1, 3), (2, 2, 1, -1, 3);",
        )
        .unwrap();
        let schema = detect_schema(&conn).unwrap();
        let (assets, _) = read_assets(&conn, &schema, false).map_err(|_| ()).unwrap();
        let got: Vec<_> = assets
            .iter()
            .map(|a| {
                let created = a.created.map(|c| c.to_rfc3339());
                (a.uuid.as_deref().unwrap(), created, a.icloud_only)
            })
            .collect();
        let want = [
            ("east", Some("2001-01-01T02:00:00+02:00".to_owned()), true),
            ("plain", Some("2001-01-01T00:00:00+00:00".to_owned()), false),
        ];
        assert_eq!(got, want);
    }
}
