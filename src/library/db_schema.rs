//! Photos.sqlite's schema, found by inspection ([`detect_schema`]): the asset table, the album
//! join table, every table's columns, and [`col`] for a column that may not exist.
//!
//! A leaf of `library`'s database readers: it imports only `library::error`, `db_rows` (another
//! leaf) and the plist decoder, so `photos_db` and the readers can all use it without an
//! import cycle.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde::Serialize;

use super::db_rows::{int, text};
use super::error::LibraryError;
use crate::untrusted::plist::{Limits, decode_dict};

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
}

fn is_join_name(name: &str, suffix: &str) -> bool {
    name.strip_prefix("Z_")
        .and_then(|r| r.strip_suffix(suffix))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Finds the asset table, the album join table and every table's columns.
pub(crate) fn detect_schema(conn: &Connection) -> Result<Schema, LibraryError> {
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

/// `SELECT` list entry for a column that may not exist.
pub(super) fn col(schema: &Schema, table: &str, alias: &str, column: &str) -> String {
    if schema.has(table, column) {
        format!("{alias}.{column}")
    } else {
        "NULL".to_owned()
    }
}
