//! One asset's rows in the simulated Photos.sqlite: the asset table, its attributes, cloud
//! master, resources, and the decoy relations that catch a reader joining the wrong table.

use rusqlite::{Connection, params};

use super::schema_shape::{
    ENT_ADDITIONAL, ENT_CLOUD_MASTER, ENT_RESOURCE, ENT_SUGGESTION, SchemaShape,
};
use super::time::core_data;
use super::truth::{AssetKind, AssetTruth, CloudState, FileFormat};

/// Every row of one asset, in the order a phone's tables would have them.
pub(super) fn insert_asset(
    conn: &Connection,
    shape: SchemaShape,
    a: &AssetTruth,
    next_resource: &mut i64,
) -> rusqlite::Result<()> {
    insert_asset_row(conn, shape, a)?;
    insert_attributes(conn, shape, a)?;
    super::describe::insert_description(conn, shape.keyword_entity(), a)?;
    super::people::insert_faces(conn, shape, a)?;
    insert_cloud_master_and_resources(conn, shape, a, next_resource)?;
    insert_decoys(conn, shape, a)
}

/// The asset table's row.
fn insert_asset_row(conn: &Connection, shape: SchemaShape, a: &AssetTruth) -> rusqlite::Result<()> {
    let synced = a.cloud_state == CloudState::Synced;
    let (kind, subtype, playback) = match a.kind {
        AssetKind::Photo => (0, 0, 1),
        AssetKind::LivePhoto => (0, 2, 3),
        AssetKind::Screenshot => (0, 10, 1),
        AssetKind::Video => (1, 100, 4),
    };
    let added = a.capture.unix + 2;
    let edited_unix = a.edited_render.as_ref().map(|r| r.mtime_unix);
    let (bundle_col, bundle_val) = if shape.has_bundle_scope() {
        (" ZBUNDLESCOPE,", " 0,")
    } else {
        ("", "")
    };
    // ?6 stays in the parameter list either way (SQLite counts up to the highest index).
    let (adj_col, adj_val) = if shape.has_stable_hashes() {
        ("", "")
    } else {
        (" ZHASADJUSTMENTS,", " ?6,")
    };
    conn.execute(
        &format!(
            "INSERT INTO {} (Z_PK, Z_ENT, Z_OPT, ZADJUSTMENTSSTATE, ZAVALANCHEPICKTYPE,{bundle_col}
           ZCLOUDLOCALSTATE, ZCOMPLETE, ZFAVORITE,{adj_col} ZHEIGHT, ZHIDDEN, ZKIND,
           ZKINDSUBTYPE, ZORIENTATION, ZPLAYBACKSTYLE, ZSAVEDASSETTYPE, ZTRASHEDSTATE,
           ZVISIBILITYSTATE, ZWIDTH, ZADDITIONALATTRIBUTES, ZMASTER, ZADDEDDATE, ZADJUSTMENTTIMESTAMP,
           ZDATECREATED, ZDURATION, ZLATITUDE, ZLONGITUDE, ZMODIFICATIONDATE, ZTRASHEDDATE,
           ZAVALANCHEUUID, ZCLOUDASSETGUID, ZDIRECTORY, ZFILENAME, ZMEDIAGROUPUUID,
           ZUNIFORMTYPEIDENTIFIER, ZUUID)
         VALUES (?1, ?2, 1, ?3, 0,{bundle_val} ?4, 1, ?5,{adj_val} ?7, ?8, ?9, ?10, 1, ?11, 3, ?12, 0, ?13, ?1, ?1,
           ?14, ?15, ?16, ?17, ?26, ?27, ?18, ?19, NULL, ?20, ?21, ?22, ?23, ?24, ?25)",
            shape.asset_table()
        ),
        params![
            a.z_pk,
            shape.asset_entity(),
            // ZADJUSTMENTSSTATE 2: edited in Photos.
            if a.edited { 2 } else { 0 },
            synced as i64,
            a.favorite as i64,
            a.edited as i64,
            a.height,
            a.hidden as i64,
            kind,
            subtype,
            playback,
            a.trashed as i64,
            a.width,
            core_data(added),
            edited_unix.map(core_data),
            core_data(a.capture.unix),
            a.duration_ms.map_or(0.0, |d| d as f64 / 1000.0),
            core_data(edited_unix.unwrap_or(added)),
            a.trashed_unix.map(core_data),
            synced.then(|| fingerprint(&a.uuid, "G")),
            a.directory,
            a.filename,
            a.content_identifier,
            uti(a.format),
            a.uuid,
            // -180.0: no location.
            a.meta.location_e6.map_or(-180.0, |l| l.0 as f64 / 1e6),
            a.meta.location_e6.map_or(-180.0, |l| l.1 as f64 / 1e6),
        ],
    )?;
    Ok(())
}

/// ZADDITIONALASSETATTRIBUTES: offset, EXIF time stamp, original name, hash, title.
fn insert_attributes(
    conn: &Connection,
    shape: SchemaShape,
    a: &AssetTruth,
) -> rusqlite::Result<()> {
    let exif_ts = (a.format != FileFormat::Png).then(|| {
        let l = &a.capture.local;
        format!("{}:{}:{} {}", &l[0..4], &l[5..7], &l[8..10], &l[11..])
    });
    let hash_col = if shape.has_stable_hashes() {
        "ZORIGINALSTABLEHASH"
    } else {
        "ZMASTERFINGERPRINT"
    };
    conn.execute(
        &format!(
            "INSERT INTO ZADDITIONALASSETATTRIBUTES (Z_PK, Z_ENT, Z_OPT, ZORIGINALFILESIZE,
           ZORIGINALHEIGHT, ZORIGINALWIDTH, ZTIMEZONEOFFSET, ZASSET, ZEXIFTIMESTAMPSTRING,
           ZORIGINALFILENAME, {hash_col}, ZTIMEZONENAME, ZTITLE, ZASSETDESCRIPTION)
         VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?1, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        params![
            a.z_pk,
            ENT_ADDITIONAL,
            a.original.size as i64,
            a.height,
            a.width,
            a.capture.offset_secs,
            exif_ts,
            a.filename,
            fingerprint(&a.uuid, "S"),
            a.capture.time_zone,
            a.meta.title,
            a.meta.caption.as_ref().map(|_| a.z_pk),
        ],
    )?;
    Ok(())
}

/// ZCLOUDMASTER and the resources: the original (subtype 1), the Live Photo video (type 3),
/// one local thumbnail.
fn insert_cloud_master_and_resources(
    conn: &Connection,
    shape: SchemaShape,
    a: &AssetTruth,
    next_resource: &mut i64,
) -> rusqlite::Result<()> {
    let synced = a.cloud_state == CloudState::Synced;
    let added = a.capture.unix + 2;
    let cloud_state = if synced { 3 } else { 1 };
    conn.execute(
        "INSERT INTO ZCLOUDMASTER (Z_PK, Z_ENT, Z_OPT, ZCLOUDLOCALSTATE, ZCREATIONDATE, ZIMPORTDATE,
           ZCLOUDMASTERGUID, ZORIGINALFILENAME, ZUNIFORMTYPEIDENTIFIER)
         VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            a.z_pk,
            ENT_CLOUD_MASTER,
            cloud_state,
            core_data(a.capture.unix),
            core_data(added),
            synced.then(|| fingerprint(&a.uuid, "M")),
            a.filename,
            uti(a.format),
        ],
    )?;
    let local = if a.icloud_only || a.original_missing {
        -1
    } else {
        1
    };
    let mut resource = |rtype: i64, subtype: i64, local: i64, len: u64, fp: Option<String>| {
        *next_resource += 1;
        let (fingerprint, stable_hash) = if shape.has_stable_hashes() {
            (None, fp)
        } else {
            (fp, None)
        };
        conn.execute(
            "INSERT INTO ZINTERNALRESOURCE (Z_PK, Z_ENT, Z_OPT, ZCLOUDLOCALSTATE, ZDATASTORESUBTYPE,
               ZLOCALAVAILABILITY, ZRECIPEID, ZREMOTEAVAILABILITY, ZRESOURCETYPE, ZVERSION,
               ZUNORIENTEDHEIGHT, ZUNORIENTEDWIDTH, ZASSET, ZDATALENGTH, ZFINGERPRINT, ZSTABLEHASH)
             VALUES (?1, ?2, 1, ?3, ?4, ?5, 0, ?6, ?7, 0, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                *next_resource,
                ENT_RESOURCE,
                cloud_state,
                subtype,
                local,
                synced as i64,
                rtype,
                a.height,
                a.width,
                a.z_pk,
                len as i64,
                fingerprint,
                stable_hash,
            ],
        )
    };
    let rtype = if a.kind == AssetKind::Video { 1 } else { 0 };
    resource(
        rtype,
        1,
        local,
        a.original.size,
        synced.then(|| fingerprint(&a.uuid, "O")),
    )?;
    if let Some(v) = &a.live_video {
        resource(
            3,
            2,
            local,
            v.size,
            synced.then(|| fingerprint(&a.uuid, "V")),
        )?;
    }
    resource(0, 3, 1, 4096, None)?;
    Ok(())
}

/// Decoy relations hold rows too, with numbers that look like album keys: a reader that
/// joins through one of them gets visibly wrong albums.
fn insert_decoys(conn: &Connection, shape: SchemaShape, a: &AssetTruth) -> rusqlite::Result<()> {
    let m = shape.asset_entity();
    if a.z_pk % 3 == 0 {
        conn.execute(
            &format!("INSERT INTO Z_{m}SUGGESTIONSBEINGREPRESENTATIVEASSETS VALUES (?1, ?2)"),
            params![a.z_pk, 1 + a.z_pk % 4],
        )?;
        conn.execute(
            &format!("INSERT INTO Z_{ENT_SUGGESTION}ASSETS VALUES (?1, ?2, ?3)"),
            params![2 + a.z_pk % 5, a.z_pk, a.z_pk * 16],
        )?;
    }
    if a.z_pk % 4 == 1 {
        conn.execute(
            &format!("INSERT INTO Z_{m}MEMORIESBEINGCURATEDASSETS VALUES (?1, ?2)"),
            params![a.z_pk, 3 + a.z_pk % 6],
        )?;
    }
    Ok(())
}

fn uti(format: FileFormat) -> &'static str {
    match format {
        FileFormat::Heic => "public.heic",
        FileFormat::Jpeg => "public.jpeg",
        FileFormat::Png => "public.png",
        FileFormat::Mov => "com.apple.quicktime-movie",
        FileFormat::Mp4 => "public.mpeg-4",
    }
}

/// A stable fake of Apple's resource fingerprint, derived from the asset UUID.
fn fingerprint(uuid: &str, salt: &str) -> String {
    let hex: String = uuid.chars().filter(|c| *c != '-').collect();
    format!("A{salt}{}", &hex[..24])
}
