//! Named people on the simulated phone: ZPERSON rows and ZDETECTEDFACE rows on a fixed pattern
//! of photos, in each shape's column names (ZASSET / ZPERSON up to iOS 16, ZASSETFORFACE /
//! ZPERSONFORFACE from iOS 17), with the decoys a reader must skip: a face without a person, a
//! person without a name, a face in the face trash.
//!
//! Geometry is stored as Photos does (see `library::db_people`): centre with the origin at the
//! bottom left, size as a fraction of the longer side. The truth holds what a sidecar should
//! say: MWG areas (top-left origin, width and height as fractions of each side).

use rusqlite::{Connection, params};

use super::schema_shape::SchemaShape;
use super::truth::{AssetKind, AssetTruth, FaceTruth};

/// Z_ENT of ZPERSON and ZDETECTEDFACE rows (stand-ins).
const ENT_PERSON: i64 = 40;
const ENT_FACE: i64 = 41;

/// (Z_PK, ZFULLNAME, ZDISPLAYNAME): a full name, a display name only, XML's special
/// characters, and an unnamed cluster.
const PEOPLE: [(i64, Option<&str>, &str); 4] = [
    (1, Some("Jón Sigurðsson"), "Jón"),
    (2, None, "Mamma"),
    (3, Some("Ana & <Bo>"), "Ana"),
    (4, Some(""), ""),
];

/// One stored face: person (None = no person), centre as Photos stores it, size, in the trash.
struct StoredFace {
    person: Option<i64>,
    cx: f64,
    cy: f64,
    size: f64,
    trashed: bool,
}

/// The faces on an asset, by its Z_PK (no draws from the random stream: adding them changed no
/// other fact of a seed).
fn stored(a: &AssetTruth) -> Vec<StoredFace> {
    if a.kind == AssetKind::Video {
        return Vec::new();
    }
    let face = |person, cx, cy, size, trashed| StoredFace {
        person,
        cx,
        cy,
        size,
        trashed,
    };
    let shift = (a.z_pk % 10) as f64 / 100.0;
    match a.z_pk % 7 {
        2 => vec![face(Some(1), 0.30 + shift, 0.62, 0.12, false)],
        4 => vec![
            face(Some(2), 0.25, 0.70, 0.10, false),
            face(Some(3), 0.70 + shift, 0.40, 0.08, false),
            face(None, 0.50, 0.50, 0.05, false),
            face(Some(4), 0.10, 0.20, 0.05, false),
        ],
        6 => vec![face(Some(1), 0.40, 0.50, 0.10, true)],
        _ => Vec::new(),
    }
}

fn name_of(person: i64) -> Option<&'static str> {
    let (_, full, display) = PEOPLE.iter().find(|p| p.0 == person)?;
    [full.unwrap_or(""), display]
        .into_iter()
        .find(|s| !s.trim().is_empty())
}

fn e6(v: f64) -> i64 {
    (v * 1e6).round() as i64
}

/// What a sidecar should say about an asset's people: its named faces' MWG areas.
pub(super) fn faces(a: &AssetTruth) -> Vec<FaceTruth> {
    let longer = f64::from(a.width.max(a.height));
    stored(a)
        .into_iter()
        .filter(|f| !f.trashed)
        .filter_map(|f| {
            let name = name_of(f.person?)?;
            let diameter = f.size * longer;
            Some(FaceTruth {
                name: name.to_owned(),
                x_e6: e6(f.cx),
                y_e6: e6(1.0 - f.cy),
                w_e6: e6(diameter / f64::from(a.width)),
                h_e6: e6(diameter / f64::from(a.height)),
            })
        })
        .collect()
}

/// The face's (asset, person) columns in this shape.
fn face_columns(shape: SchemaShape) -> (&'static str, &'static str) {
    if shape >= SchemaShape::Ios17 {
        ("ZASSETFORFACE", "ZPERSONFORFACE")
    } else {
        ("ZASSET", "ZPERSON")
    }
}

/// ZPERSON and ZDETECTEDFACE, with the people.
pub(super) fn create_tables(conn: &Connection, shape: SchemaShape) -> rusqlite::Result<()> {
    let (asset, person) = face_columns(shape);
    conn.execute_batch(&format!(
        "CREATE TABLE ZPERSON (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
           ZFACECOUNT INTEGER, ZTYPE INTEGER, ZVERIFIEDTYPE INTEGER, ZDISPLAYNAME VARCHAR,
           ZFULLNAME VARCHAR, ZPERSONUUID VARCHAR);
         CREATE TABLE ZDETECTEDFACE (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
           ZASSETVISIBLE INTEGER, ZHIDDEN INTEGER, ZISINTRASH INTEGER, ZMANUAL INTEGER,
           ZSOURCEHEIGHT INTEGER, ZSOURCEWIDTH INTEGER, {asset} INTEGER, {person} INTEGER,
           ZCENTERX FLOAT, ZCENTERY FLOAT, ZSIZE FLOAT, ZUUID VARCHAR);
         CREATE INDEX ZDETECTEDFACE_{asset} ON ZDETECTEDFACE ({asset});"
    ))?;
    for (pk, full, display) in PEOPLE {
        conn.execute(
            "INSERT INTO ZPERSON (Z_PK, Z_ENT, Z_OPT, ZFACECOUNT, ZTYPE, ZVERIFIEDTYPE,
               ZDISPLAYNAME, ZFULLNAME, ZPERSONUUID) VALUES (?1, ?2, 1, 0, 0, ?3, ?4, ?5, ?6)",
            params![
                pk,
                ENT_PERSON,
                i64::from(!display.is_empty()),
                display,
                full,
                format!("00000000-0000-4000-8000-{pk:012}"),
            ],
        )?;
    }
    Ok(())
}

/// The face rows of an asset.
pub(super) fn insert_faces(
    conn: &Connection,
    shape: SchemaShape,
    a: &AssetTruth,
) -> rusqlite::Result<()> {
    let (asset, person) = face_columns(shape);
    for (k, f) in stored(a).iter().enumerate() {
        conn.execute(
            &format!(
                "INSERT INTO ZDETECTEDFACE (Z_ENT, Z_OPT, ZASSETVISIBLE, ZHIDDEN, ZISINTRASH,
                   ZMANUAL, ZSOURCEHEIGHT, ZSOURCEWIDTH, {asset}, {person}, ZCENTERX, ZCENTERY,
                   ZSIZE, ZUUID) VALUES (?1, 1, 1, ?2, ?3, 0, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            params![
                ENT_FACE,
                i64::from(a.hidden),
                i64::from(f.trashed),
                a.height,
                a.width,
                a.z_pk,
                f.person,
                f.cx,
                f.cy,
                f.size,
                format!("{}-F{k}", a.uuid),
            ],
        )?;
    }
    Ok(())
}
