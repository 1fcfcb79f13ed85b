//! `PhotoData/Photos.sqlite` in the shape of one iOS version (photo-library.md §6–§8): the asset
//! table (ZASSET, or ZGENERICASSET up to iOS 13), ZADDITIONALASSETATTRIBUTES, ZGENERICALBUM, the
//! album join table `Z_<n>ASSETS` (`Z_<n>ALBUMS`, `Z_<m>ASSETS`; §6.1), ZINTERNALRESOURCE,
//! ZCLOUDMASTER, Z_PRIMARYKEY, Z_METADATA, plus relation tables whose names also end in ASSETS
//! (decoys: a reader that picks the join table by name alone gets the wrong one).
//!
//! Left in WAL mode like a live phone: everything up to a checkpoint is in the main file, the
//! newest assets and one album are committed only in `Photos.sqlite-wal` (the connection closes
//! without checkpointing). The WAL's random salts are then replaced by seed-derived ones (and
//! the checksums recomputed) so the files are byte-identical per seed. No `-shm` is left behind;
//! SQLite rebuilds it from the WAL.

use super::db_asset_rows::insert_asset;
use super::error::{GenerateError, io_err};
use super::files::system_time;
use super::schema_shape::{
    ENT_ADDITIONAL, ENT_CLOUD_MASTER, ENT_MEMORY, ENT_RESOURCE, ENT_SUGGESTION, SchemaShape,
};
use super::time::core_data;
use super::truth::{AssetKind, LibraryTruth};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, params};
use std::fs;
use std::io;
use std::path::Path;

/// The CREATE statements of one shape.
fn schema_sql(shape: SchemaShape) -> String {
    let asset = shape.asset_table();
    let m = shape.asset_entity();
    let (join, album_col, asset_col) = shape.join();
    let bundle = if shape.has_bundle_scope() {
        " ZBUNDLESCOPE INTEGER,"
    } else {
        ""
    };
    let newer = shape.newer_asset_columns();
    let (has_adjustments, hashes) = if shape.has_stable_hashes() {
        (
            "",
            "ZORIGINALSTABLEHASH VARCHAR, ZADJUSTEDSTABLEHASH VARCHAR",
        )
    } else {
        (" ZHASADJUSTMENTS INTEGER,", "ZMASTERFINGERPRINT VARCHAR")
    };
    format!(
        r#"
CREATE TABLE Z_PRIMARYKEY (Z_ENT INTEGER PRIMARY KEY, Z_NAME VARCHAR, Z_SUPER INTEGER, Z_MAX INTEGER);
CREATE TABLE Z_METADATA (Z_VERSION INTEGER PRIMARY KEY, Z_UUID VARCHAR(255), Z_PLIST BLOB);
CREATE TABLE Z_MODELCACHE (Z_CONTENT BLOB);
CREATE TABLE {asset} (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZADJUSTMENTSSTATE INTEGER, ZAVALANCHEPICKTYPE INTEGER,{bundle}
  ZCLOUDLOCALSTATE INTEGER, ZCOMPLETE INTEGER, ZFAVORITE INTEGER,{has_adjustments}
  ZHEIGHT INTEGER, ZHIDDEN INTEGER, ZKIND INTEGER, ZKINDSUBTYPE INTEGER, ZORIENTATION INTEGER,
  ZPLAYBACKSTYLE INTEGER, ZSAVEDASSETTYPE INTEGER, ZTRASHEDSTATE INTEGER, ZVISIBILITYSTATE INTEGER,
  ZWIDTH INTEGER, ZADDITIONALATTRIBUTES INTEGER, ZMASTER INTEGER, ZADDEDDATE TIMESTAMP,
  ZADJUSTMENTTIMESTAMP TIMESTAMP, ZDATECREATED TIMESTAMP, ZDURATION FLOAT, ZLATITUDE FLOAT,
  ZLONGITUDE FLOAT, ZMODIFICATIONDATE TIMESTAMP, ZTRASHEDDATE TIMESTAMP, ZAVALANCHEUUID VARCHAR,
  ZCLOUDASSETGUID VARCHAR, ZDIRECTORY VARCHAR, ZFILENAME VARCHAR, ZMEDIAGROUPUUID VARCHAR,
  ZUNIFORMTYPEIDENTIFIER VARCHAR, ZUUID VARCHAR{newer});
CREATE TABLE ZADDITIONALASSETATTRIBUTES (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZORIGINALFILESIZE INTEGER, ZORIGINALHEIGHT INTEGER, ZORIGINALWIDTH INTEGER,
  ZTIMEZONEOFFSET INTEGER, ZASSET INTEGER, ZEXIFTIMESTAMPSTRING VARCHAR,
  ZORIGINALFILENAME VARCHAR, {hashes}, ZTIMEZONENAME VARCHAR, ZTITLE VARCHAR,
  ZASSETDESCRIPTION INTEGER);
CREATE TABLE ZASSETDESCRIPTION (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZASSETATTRIBUTES INTEGER, ZLONGDESCRIPTION VARCHAR);
CREATE TABLE ZKEYWORD (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZTITLE VARCHAR);
CREATE TABLE Z_1KEYWORDS (Z_1ASSETATTRIBUTES INTEGER, Z_{kw}KEYWORDS INTEGER,
  PRIMARY KEY (Z_1ASSETATTRIBUTES, Z_{kw}KEYWORDS));
CREATE TABLE ZCLOUDMASTER (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZCLOUDLOCALSTATE INTEGER, ZCREATIONDATE TIMESTAMP, ZIMPORTDATE TIMESTAMP,
  ZCLOUDMASTERGUID VARCHAR, ZORIGINALFILENAME VARCHAR, ZUNIFORMTYPEIDENTIFIER VARCHAR);
CREATE TABLE ZINTERNALRESOURCE (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZCLOUDLOCALSTATE INTEGER, ZDATASTORESUBTYPE INTEGER, ZLOCALAVAILABILITY INTEGER,
  ZRECIPEID INTEGER, ZREMOTEAVAILABILITY INTEGER, ZRESOURCETYPE INTEGER, ZVERSION INTEGER,
  ZUNORIENTEDHEIGHT INTEGER, ZUNORIENTEDWIDTH INTEGER, ZASSET INTEGER, ZDATALENGTH INTEGER,
  ZFINGERPRINT VARCHAR, ZSTABLEHASH VARCHAR);
CREATE TABLE ZGENERICALBUM (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
  ZCACHEDCOUNT INTEGER, ZCACHEDPHOTOSCOUNT INTEGER, ZCACHEDVIDEOSCOUNT INTEGER, ZKIND INTEGER,
  ZTRASHEDSTATE INTEGER, ZPARENTFOLDER INTEGER, ZCREATIONDATE TIMESTAMP, ZTRASHEDDATE TIMESTAMP,
  ZCLOUDGUID VARCHAR, ZTITLE VARCHAR, ZUUID VARCHAR);
CREATE TABLE {join} ({album_col} INTEGER, {asset_col} INTEGER, Z_FOK_{m}ASSETS INTEGER,
  PRIMARY KEY ({album_col}, {asset_col}));
CREATE TABLE Z_{m}SUGGESTIONSBEINGREPRESENTATIVEASSETS (Z_{m}ASSETS INTEGER,
  Z_{s}SUGGESTIONSBEINGREPRESENTATIVEASSETS INTEGER, PRIMARY KEY (Z_{m}ASSETS, Z_{s}SUGGESTIONSBEINGREPRESENTATIVEASSETS));
CREATE TABLE Z_{m}MEMORIESBEINGCURATEDASSETS (Z_{m}ASSETS INTEGER,
  Z_{mem}MEMORIESBEINGCURATEDASSETS INTEGER, PRIMARY KEY (Z_{m}ASSETS, Z_{mem}MEMORIESBEINGCURATEDASSETS));
CREATE TABLE Z_{s}ASSETS (Z_{s}SUGGESTIONS INTEGER, Z_{m}ASSETS INTEGER, Z_FOK_{m}ASSETS INTEGER,
  PRIMARY KEY (Z_{s}SUGGESTIONS, Z_{m}ASSETS));
CREATE INDEX {asset}_ZDIRECTORY_ZFILENAME ON {asset} (ZDIRECTORY, ZFILENAME);
CREATE INDEX {asset}_ZUUID ON {asset} (ZUUID);
CREATE INDEX ZINTERNALRESOURCE_ZASSET ON ZINTERNALRESOURCE (ZASSET);
CREATE INDEX {join}_{asset_col} ON {join} ({asset_col}, {album_col});
"#,
        s = ENT_SUGGESTION,
        mem = ENT_MEMORY,
        kw = shape.keyword_entity(),
    )
}

/// One ZGENERICALBUM row (folder or album) and its members (asset Z_PK, is video).
struct AlbumRow<'a> {
    pk: i64,
    ent: i64,
    kind: i64,
    parent: Option<i64>,
    title: Option<&'a str>,
    uuid: &'a str,
    created: i64,
    trashed: bool,
    members: Vec<(i64, bool)>,
}

fn insert_album(conn: &Connection, shape: SchemaShape, r: &AlbumRow<'_>) -> rusqlite::Result<()> {
    let photos = r.members.iter().filter(|(_, video)| !video).count() as i64;
    let count = r.members.len() as i64;
    conn.execute(
        "INSERT INTO ZGENERICALBUM (Z_PK, Z_ENT, Z_OPT, ZCACHEDCOUNT, ZCACHEDPHOTOSCOUNT,
           ZCACHEDVIDEOSCOUNT, ZKIND, ZTRASHEDSTATE, ZPARENTFOLDER, ZCREATIONDATE, ZTRASHEDDATE,
           ZCLOUDGUID, ZTITLE, ZUUID)
         VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11, ?12)",
        params![
            r.pk,
            r.ent,
            count,
            photos,
            count - photos,
            r.kind,
            r.trashed as i64,
            r.parent,
            core_data(r.created),
            r.trashed.then(|| core_data(r.created + 60)),
            r.title,
            r.uuid,
        ],
    )?;
    let (join, album_col, asset_col) = shape.join();
    let m = shape.asset_entity();
    let sql = format!(
        "INSERT INTO {join} ({album_col}, {asset_col}, Z_FOK_{m}ASSETS) VALUES (?1, ?2, ?3)"
    );
    for (i, (asset, _)) in r.members.iter().enumerate() {
        conn.execute(&sql, params![r.pk, asset, (i as i64 + 1) * 1024])?;
    }
    Ok(())
}

fn write_primary_keys(
    conn: &Connection,
    shape: SchemaShape,
    assets: i64,
    albums: i64,
    resources: i64,
) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM Z_PRIMARYKEY", [])?;
    let album = shape.album_entity();
    let asset_name = if shape == SchemaShape::Ios13 {
        "GenericAsset"
    } else {
        "Asset"
    };
    let rows: [(i64, &str, i64, i64); 10] = [
        (ENT_ADDITIONAL, "AdditionalAssetAttributes", 0, assets),
        (shape.asset_entity(), asset_name, 0, assets),
        (ENT_CLOUD_MASTER, "CloudMaster", 0, assets),
        (album - 1, "GenericAlbum", 0, albums),
        (album, "Album", album - 1, 0),
        (album + 1, "CloudSharedAlbum", album - 1, 0),
        (album + 3, "Folder", album - 1, 0),
        (ENT_RESOURCE, "InternalResource", 0, resources),
        (ENT_SUGGESTION, "Suggestion", 0, 0),
        (ENT_MEMORY, "Memory", 0, 0),
    ];
    for (ent, name, sup, max) in rows {
        conn.execute(
            "INSERT INTO Z_PRIMARYKEY (Z_ENT, Z_NAME, Z_SUPER, Z_MAX) VALUES (?1, ?2, ?3, ?4)",
            params![ent, name, sup, max],
        )?;
    }
    Ok(())
}

fn metadata_plist(shape: SchemaShape) -> Result<Vec<u8>, plist::Error> {
    let mut d = plist::Dictionary::new();
    d.insert(
        "PLModelVersion".into(),
        plist::Value::Integer(shape.model_version().into()),
    );
    d.insert("NSStoreType".into(), plist::Value::String("SQLite".into()));
    d.insert(
        "NSStoreModelVersionHashesVersion".into(),
        plist::Value::Integer(3.into()),
    );
    d.insert(
        "NSPersistenceFrameworkVersion".into(),
        plist::Value::Integer(1338.into()),
    );
    let mut out = Vec::new();
    plist::Value::Dictionary(d).to_writer_binary(&mut out)?;
    Ok(out)
}

/// The folder and album rows (with whether each is written to the WAL only): folders first,
/// then the visible albums, then the trashed ones, numbered in that order.
fn album_rows(truth: &LibraryTruth, shape: SchemaShape, first: i64) -> Vec<(AlbumRow<'_>, bool)> {
    let pk_of = |uuid: &str| {
        truth
            .asset(uuid)
            .map(|a| (a.z_pk, a.kind == AssetKind::Video))
            .expect("album members come from the asset list")
    };
    let album_ent = shape.album_entity();
    let root_pk = 1;
    let folder_pk = |path: &str| {
        truth
            .folders
            .iter()
            .position(|f| f.path == path && f.kind == 4000)
            .map(|i| i as i64 + 1)
    };
    let mut albums: Vec<(AlbumRow<'_>, bool)> = vec![];
    for (i, f) in truth.folders.iter().enumerate() {
        let parent = match f.path.rsplit_once('/') {
            _ if f.kind == 3999 => None,
            Some((outer, _)) => folder_pk(outer),
            None => Some(root_pk),
        };
        albums.push((
            AlbumRow {
                pk: i as i64 + 1,
                ent: album_ent + 3,
                kind: f.kind,
                parent,
                title: (!f.title.is_empty()).then_some(f.title.as_str()),
                uuid: &f.uuid,
                created: first,
                trashed: false,
                members: vec![],
            },
            false,
        ));
    }
    let all_albums = truth
        .albums
        .iter()
        .map(|al| (al, false))
        .chain(truth.trashed_albums.iter().map(|al| (al, true)));
    for (i, (al, trashed)) in all_albums.enumerate() {
        let parent = match al.folders.join("/") {
            folder if !folder.is_empty() => folder_pk(&folder),
            _ if al.kind == 2 => Some(root_pk),
            _ => None,
        };
        albums.push((
            AlbumRow {
                pk: (truth.folders.len() + i) as i64 + 1,
                ent: if al.kind == 1505 {
                    album_ent + 1
                } else {
                    album_ent
                },
                kind: al.kind,
                parent,
                title: Some(&al.title),
                uuid: &al.uuid,
                created: if al.in_wal_only {
                    truth.snapshot_unix - 600
                } else {
                    first
                },
                trashed,
                members: al.asset_uuids.iter().map(|u| pk_of(u)).collect(),
            },
            al.in_wal_only,
        ));
    }
    albums
}

/// Writes the database for `truth` at `path` (+ `-wal`).
pub(super) fn write(
    path: &Path,
    truth: &LibraryTruth,
    seed: u64,
    shape: SchemaShape,
) -> Result<(), GenerateError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let conn = Connection::open(path)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(GenerateError::NotWal {
            path: path.to_owned(),
            mode,
        });
    }
    // Checkpoints only when we say so: the split between file and WAL is part of the fixture.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.execute_batch(&schema_sql(shape))?;
    super::people::create_tables(&conn, shape)?;

    let first = truth
        .assets
        .first()
        .map_or(truth.snapshot_unix, |a| a.capture.unix);
    let albums = album_rows(truth, shape, first);

    let mut next_resource = 0;
    // Phase 1: everything but the newest rows, then a checkpoint into the main file.
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "INSERT INTO Z_METADATA (Z_VERSION, Z_UUID, Z_PLIST) VALUES (1, ?1, ?2)",
        params![
            truth.folders.first().map_or("", |f| f.uuid.as_str()),
            metadata_plist(shape)?
        ],
    )?;
    for a in truth.assets.iter().filter(|a| !a.in_wal_only) {
        insert_asset(&tx, shape, a, &mut next_resource)?;
    }
    for (row, _) in albums.iter().filter(|(_, wal)| !wal) {
        insert_album(&tx, shape, row)?;
    }
    let main_assets = truth.assets.iter().filter(|a| !a.in_wal_only).count() as i64;
    let main_albums = albums.iter().filter(|(_, wal)| !wal).count() as i64;
    write_primary_keys(&tx, shape, main_assets, main_albums, next_resource)?;
    tx.commit()?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;

    // Phase 2: the newest assets and album, committed to the WAL only.
    let tx = conn.unchecked_transaction()?;
    for a in truth.assets.iter().filter(|a| a.in_wal_only) {
        insert_asset(&tx, shape, a, &mut next_resource)?;
    }
    for (row, _) in albums.iter().filter(|(_, wal)| *wal) {
        insert_album(&tx, shape, row)?;
    }
    write_primary_keys(
        &tx,
        shape,
        truth.assets.len() as i64,
        albums.len() as i64,
        next_resource,
    )?;
    tx.commit()?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    conn.close().map_err(|(_, e)| e)?;

    let wal = path.with_file_name("Photos.sqlite-wal");
    let shm = path.with_file_name("Photos.sqlite-shm");
    let salts = (
        (seed as u32) ^ 0x5A17_0001,
        ((seed >> 32) as u32) ^ 0x0BAD_5EED,
    );
    reseal_wal(&wal, salts).map_err(io_err(&wal))?;
    match fs::remove_file(&shm) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&shm)(e)),
    }
    for p in [path, wal.as_path()] {
        fs::File::options()
            .write(true)
            .open(p)
            .and_then(|f| f.set_modified(system_time(truth.snapshot_unix)))
            .map_err(io_err(p))?;
    }
    Ok(())
}

/// SQLite's WAL checksum: pairs of 32-bit words, accumulated (sqlite.org/fileformat.html §4.1).
fn wal_checksum(big_endian: bool, data: &[u8], mut s: (u32, u32)) -> (u32, u32) {
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let a = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }
        };
        s.0 = s.0.wrapping_add(word(&pair[0..4])).wrapping_add(s.1);
        s.1 = s.1.wrapping_add(word(&pair[4..8])).wrapping_add(s.0);
    }
    s
}

/// Replaces the WAL's salts (random per run) with `salts` and re-chains every checksum, so
/// the WAL is deterministic and still valid. Only sound for a WAL whose frames all belong to
/// the current generation, which the TRUNCATE checkpoint above guarantees.
pub(crate) fn reseal_wal(path: &Path, salts: (u32, u32)) -> io::Result<()> {
    let mut b = fs::read(path)?;
    if b.len() < 32 {
        return Ok(());
    }
    let be = |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let big_endian = be(&b, 0) & 1 == 1;
    let page_size = match be(&b, 8) {
        1 => 65_536,
        n => n as usize,
    };
    b[16..20].copy_from_slice(&salts.0.to_be_bytes());
    b[20..24].copy_from_slice(&salts.1.to_be_bytes());
    let mut s = wal_checksum(big_endian, &b[..24], (0, 0));
    b[24..28].copy_from_slice(&s.0.to_be_bytes());
    b[28..32].copy_from_slice(&s.1.to_be_bytes());
    let mut at = 32;
    while at + 24 + page_size <= b.len() {
        b[at + 8..at + 12].copy_from_slice(&salts.0.to_be_bytes());
        b[at + 12..at + 16].copy_from_slice(&salts.1.to_be_bytes());
        s = wal_checksum(big_endian, &b[at..at + 8], s);
        s = wal_checksum(big_endian, &b[at + 24..at + 24 + page_size], s);
        b[at + 16..at + 20].copy_from_slice(&s.0.to_be_bytes());
        b[at + 20..at + 24].copy_from_slice(&s.1.to_be_bytes());
        at += 24 + page_size;
    }
    fs::write(path, b)
}
