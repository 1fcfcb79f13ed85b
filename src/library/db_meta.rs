//! What the person wrote into Photos about an asset: title, caption, keywords, and where the
//! phone says it was taken. Read for XMP sidecars; every table and column is probed first, as
//! they moved between iOS versions:
//! - title and original file name: ZADDITIONALASSETATTRIBUTES.ZTITLE / ZORIGINALFILENAME;
//! - caption: ZASSETDESCRIPTION.ZLONGDESCRIPTION, reached through
//!   ZADDITIONALASSETATTRIBUTES.ZASSETDESCRIPTION (or ZASSETDESCRIPTION.ZASSETATTRIBUTES);
//! - keywords: ZKEYWORD.ZTITLE joined to the attributes row by `Z_1KEYWORDS`
//!   (`Z_1ASSETATTRIBUTES`, `Z_<n>KEYWORDS`; the numbers vary by version, so found by shape);
//! - location: ZLATITUDE / ZLONGITUDE on the asset table, -180.0 meaning "none";
//! - Live Photo pairing id: ZMEDIAGROUPUUID on the asset table (iOS 14–26 per iLEAPP);
//! - named people and their face regions: ZPERSON and ZDETECTEDFACE (see `db_people`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rusqlite::Connection;
use serde::Serialize;

use super::db_people::{Frame, People, read_people};
use super::db_rows::{Corrupt, for_rows, int, real, row_count, text};
use super::db_schema::{Schema, col};

/// Keywords kept per asset: far above what a person types, low enough to bound memory.
const MAX_KEYWORDS: usize = 256;

/// Descriptive metadata of one asset (all optional; empty when the database has none).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetaFields {
    /// The title given in Photos.
    pub title: Option<String>,
    /// The caption given in Photos.
    pub caption: Option<String>,
    /// Sorted, duplicates merged.
    pub keywords: Vec<String>,
    /// (latitude, longitude) in degrees, only when the phone recorded a place.
    pub location: Option<(f64, f64)>,
    /// The file name the asset had when it came onto the phone (imports, AirDrop).
    pub original_filename: Option<String>,
    /// A screenshot (ZKINDSUBTYPE 10).
    pub screenshot: bool,
    /// Named people and where their faces are.
    pub people: People,
    /// The Live Photo pairing id (ZMEDIAGROUPUUID): the content identifier both halves carry
    /// (exiftool's MakerNotes `MediaGroupUUID` in the photo, QuickTime `ContentIdentifier` in
    /// the video).
    pub live_photo_id: Option<String>,
}

/// An asset's [`MetaFields`], boxed, and only when it has any. Inline they were ~220 bytes on
/// every asset, twice (Photos.sqlite's rows and the assets), about 45 MB at 100,000 assets,
/// while a pull without `--xmp` reads none of them. Reads go through `Deref` (an empty asset
/// reads [`EMPTY`]); writes through `DerefMut` allocate the box (or copy a shared one).
/// An `Arc`, so that equal fields can share one box (see [`AssetMeta::sharing`]).
#[derive(Debug, Clone, Default)]
pub struct AssetMeta(Option<Arc<MetaFields>>);

/// What an asset without metadata reads.
static EMPTY: MetaFields = MetaFields {
    title: None,
    caption: None,
    keywords: Vec::new(),
    location: None,
    original_filename: None,
    screenshot: false,
    people: People {
        names: Vec::new(),
        regions: Vec::new(),
        dimensions: (0, 0),
    },
    live_photo_id: None,
};

impl From<MetaFields> for AssetMeta {
    /// Empty fields take no box.
    fn from(fields: MetaFields) -> Self {
        AssetMeta((fields != EMPTY).then(|| Arc::new(fields)))
    }
}

impl AssetMeta {
    /// `fields`, sharing `like`'s box when they are equal: every screenshot without other
    /// metadata reads the same fields (a box each was 3 MB at 100,000 assets).
    pub(crate) fn sharing(fields: MetaFields, like: &AssetMeta) -> AssetMeta {
        if fields == **like {
            like.clone()
        } else {
            fields.into()
        }
    }
}

impl std::ops::Deref for AssetMeta {
    type Target = MetaFields;
    fn deref(&self) -> &MetaFields {
        self.0.as_deref().unwrap_or(&EMPTY)
    }
}

impl std::ops::DerefMut for AssetMeta {
    fn deref_mut(&mut self) -> &mut MetaFields {
        Arc::make_mut(self.0.get_or_insert_with(Arc::default))
    }
}

impl PartialEq for AssetMeta {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Serialize for AssetMeta {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

/// A latitude/longitude pair that means a place (-180.0 is "no location"; garbage is none).
pub(crate) fn location(lat: Option<f64>, lon: Option<f64>) -> Option<(f64, f64)> {
    let (lat, lon) = (lat?, lon?);
    let valid = (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
    (valid && lat != -180.0 && lon != -180.0 && !(lat == 0.0 && lon == 0.0)).then_some((lat, lon))
}

fn is_numbered(name: &str, suffix: &str) -> bool {
    name.strip_prefix("Z_")
        .and_then(|r| r.strip_suffix(suffix))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The keyword join table: (table, attributes column, keyword column).
fn keyword_join(schema: &Schema) -> Option<(String, String, String)> {
    let cols = |t: &str| schema.columns.get(t).cloned().unwrap_or_default();
    let pick =
        |c: &BTreeSet<String>, suffix: &str| c.iter().find(|c| is_numbered(c, suffix)).cloned();
    schema
        .columns
        .keys()
        .filter(|t| is_numbered(t, "KEYWORDS"))
        .find_map(|t| {
            let c = cols(t);
            Some((
                t.clone(),
                pick(&c, "ASSETATTRIBUTES")?,
                pick(&c, "KEYWORDS")?,
            ))
        })
}

/// Attributes row pk → asset pk, with title and original name, and the caption link.
struct Attributes {
    asset: HashMap<i64, i64>,
    description: HashMap<i64, i64>,
}

/// Reads the descriptive metadata of every asset, keyed by asset Z_PK.
pub(super) fn read_meta(
    conn: &Connection,
    schema: &Schema,
) -> Result<HashMap<i64, MetaFields>, Corrupt> {
    let mut out: HashMap<i64, MetaFields> = HashMap::new();
    let t = schema.asset_table.as_str();
    // One frame per asset: sized once rather than rehashed while growing.
    let mut frames: HashMap<i64, Frame> = HashMap::with_capacity(row_count(conn, t));
    if schema.has(t, "Z_PK") {
        let c = |name| col(schema, t, "a", name);
        let sql = format!(
            "SELECT a.Z_PK, {}, {}, {}, {}, {}, {}, {}, {} FROM {t} a",
            c("ZLATITUDE"),
            c("ZLONGITUDE"),
            c("ZWIDTH"),
            c("ZHEIGHT"),
            c("ZORIENTATION"),
            c("ZHASADJUSTMENTS"),
            c("ZADJUSTMENTSSTATE"),
            c("ZMEDIAGROUPUUID"),
        );
        for_rows(conn, &sql, |r| {
            let Some(pk) = int(r.get_ref(0)?) else {
                return Ok(());
            };
            let (lat, lon) = (real(r.get_ref(1)?), real(r.get_ref(2)?));
            if let Some(loc) = location(lat, lon) {
                out.entry(pk).or_default().location = Some(loc);
            }
            if let Some(id) = words(text(r.get_ref(8)?)) {
                out.entry(pk).or_default().live_photo_id = Some(id);
            }
            // Edited: ZHASADJUSTMENTS, or ZADJUSTMENTSSTATE > 0 where that flag is gone (iOS 18).
            let positive = |i| int(r.get_ref(i).ok()?).map(|v| v > 0);
            frames.insert(
                pk,
                Frame {
                    width: int(r.get_ref(3)?),
                    height: int(r.get_ref(4)?),
                    orientation: int(r.get_ref(5)?),
                    edited: positive(6).or(positive(7)).unwrap_or(false),
                },
            );
            Ok(())
        })?;
    }
    let attrs = read_attributes(conn, schema, &mut out)?;
    read_captions(conn, schema, &attrs, &mut out)?;
    read_keywords(conn, schema, &attrs, &mut out)?;
    for (pk, people) in read_people(conn, schema, &frames)? {
        out.entry(pk).or_default().people = people;
    }
    Ok(out)
}

/// Non-blank text, trimmed.
fn words(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

const AA: &str = "ZADDITIONALASSETATTRIBUTES";

fn read_attributes(
    conn: &Connection,
    schema: &Schema,
    out: &mut HashMap<i64, MetaFields>,
) -> Result<Attributes, Corrupt> {
    let mut attrs = Attributes {
        asset: HashMap::new(),
        description: HashMap::new(),
    };
    if !(schema.has(AA, "Z_PK") && schema.has(AA, "ZASSET")) {
        return Ok(attrs);
    }
    let sql = format!(
        "SELECT a.Z_PK, a.ZASSET, {}, {}, {} FROM {AA} a",
        col(schema, AA, "a", "ZTITLE"),
        col(schema, AA, "a", "ZORIGINALFILENAME"),
        col(schema, AA, "a", "ZASSETDESCRIPTION"),
    );
    for_rows(conn, &sql, |r| {
        let (Some(pk), Some(asset)) = (int(r.get_ref(0)?), int(r.get_ref(1)?)) else {
            return Ok(());
        };
        attrs.asset.insert(pk, asset);
        if let Some(d) = int(r.get_ref(4)?) {
            attrs.description.insert(d, asset);
        }
        let (title, name) = (words(text(r.get_ref(2)?)), words(text(r.get_ref(3)?)));
        if title.is_some() || name.is_some() {
            let m = out.entry(asset).or_default();
            m.title = title;
            m.original_filename = name;
        }
        Ok(())
    })?;
    Ok(attrs)
}

fn read_captions(
    conn: &Connection,
    schema: &Schema,
    attrs: &Attributes,
    out: &mut HashMap<i64, MetaFields>,
) -> Result<(), Corrupt> {
    const D: &str = "ZASSETDESCRIPTION";
    if !(schema.has(D, "Z_PK") && schema.has(D, "ZLONGDESCRIPTION")) {
        return Ok(());
    }
    let sql = format!(
        "SELECT d.Z_PK, d.ZLONGDESCRIPTION, {} FROM {D} d",
        col(schema, D, "d", "ZASSETATTRIBUTES")
    );
    for_rows(conn, &sql, |r| {
        let asset = int(r.get_ref(0)?)
            .and_then(|pk| attrs.description.get(&pk))
            .or_else(|| {
                let back = int(r.get_ref(2).ok()?)?;
                attrs.asset.get(&back)
            });
        if let (Some(&asset), Some(caption)) = (asset, words(text(r.get_ref(1)?))) {
            out.entry(asset).or_default().caption = Some(caption);
        }
        Ok(())
    })
}

fn read_keywords(
    conn: &Connection,
    schema: &Schema,
    attrs: &Attributes,
    out: &mut HashMap<i64, MetaFields>,
) -> Result<(), Corrupt> {
    const K: &str = "ZKEYWORD";
    let Some((join, attr_col, kw_col)) = keyword_join(schema) else {
        return Ok(());
    };
    if !(schema.has(K, "Z_PK") && schema.has(K, "ZTITLE")) {
        return Ok(());
    }
    let mut titles: HashMap<i64, String> = HashMap::new();
    for_rows(conn, &format!("SELECT Z_PK, ZTITLE FROM {K}"), |r| {
        if let (Some(pk), Some(t)) = (int(r.get_ref(0)?), words(text(r.get_ref(1)?))) {
            titles.insert(pk, t);
        }
        Ok(())
    })?;
    let mut per_asset: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    let sql = format!("SELECT {attr_col}, {kw_col} FROM {join}");
    for_rows(conn, &sql, |r| {
        let asset = int(r.get_ref(0)?).and_then(|a| attrs.asset.get(&a));
        let title = int(r.get_ref(1)?).and_then(|k| titles.get(&k));
        if let (Some(&asset), Some(title)) = (asset, title) {
            let set = per_asset.entry(asset).or_default();
            if set.len() < MAX_KEYWORDS {
                set.insert(title.clone());
            }
        }
        Ok(())
    })?;
    for (asset, set) in per_asset {
        out.entry(asset).or_default().keywords = set.into_iter().collect();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::db_schema::detect_schema;

    #[test]
    fn title_caption_keywords_and_location_by_shape() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE ZASSET (Z_PK INTEGER PRIMARY KEY, ZLATITUDE FLOAT, ZLONGITUDE FLOAT,
               ZMEDIAGROUPUUID VARCHAR);
             CREATE TABLE ZADDITIONALASSETATTRIBUTES (Z_PK INTEGER PRIMARY KEY, ZASSET INTEGER,
               ZTITLE VARCHAR, ZORIGINALFILENAME VARCHAR, ZASSETDESCRIPTION INTEGER);
             CREATE TABLE ZASSETDESCRIPTION (Z_PK INTEGER PRIMARY KEY, ZASSETATTRIBUTES INTEGER,
               ZLONGDESCRIPTION VARCHAR);
             CREATE TABLE ZKEYWORD (Z_PK INTEGER PRIMARY KEY, ZTITLE VARCHAR);
             CREATE TABLE Z_1KEYWORDS (Z_1ASSETATTRIBUTES INTEGER, Z_38KEYWORDS INTEGER);
             INSERT INTO ZASSET VALUES (1, 64.1466, -21.9426, 'C0FFEE-1'), (2, -180.0, -180.0, ' '),
               (3, 'x', NULL, NULL);
             INSERT INTO ZADDITIONALASSETATTRIBUTES VALUES (11, 1, ' Geysir ', 'IMG_0001.HEIC', 21),
               (12, 2, '', NULL, NULL), (13, 3, NULL, NULL, NULL);
             INSERT INTO ZASSETDESCRIPTION VALUES (21, 11, 'Steam & <sky>'), (22, 13, 'back link');
             INSERT INTO ZKEYWORD VALUES (31, 'Iceland'), (32, 'water'), (33, '  ');
             INSERT INTO Z_1KEYWORDS VALUES (11, 32), (11, 31), (11, 31), (11, 33), (99, 31), (12, 77);",
        )
        .unwrap();
        let schema = detect_schema(&conn).unwrap();
        let meta = read_meta(&conn, &schema).map_err(|_| ()).unwrap();
        let a = &meta[&1];
        assert_eq!(a.title.as_deref(), Some("Geysir"));
        assert_eq!(a.caption.as_deref(), Some("Steam & <sky>"));
        assert_eq!(a.keywords, ["Iceland", "water"]);
        assert_eq!(a.location, Some((64.1466, -21.9426)));
        assert_eq!(a.original_filename.as_deref(), Some("IMG_0001.HEIC"));
        assert_eq!(a.live_photo_id.as_deref(), Some("C0FFEE-1"));
        // -180.0, blank titles, dangling joins and garbage are simply absent.
        assert!(!meta.contains_key(&2));
        assert_eq!(meta[&3].caption.as_deref(), Some("back link"));
        assert_eq!(meta[&3].location, None);
    }

    #[test]
    fn missing_tables_read_as_no_metadata() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE ZGENERICASSET (Z_PK INTEGER PRIMARY KEY);")
            .unwrap();
        let schema = detect_schema(&conn).unwrap();
        assert!(
            read_meta(&conn, &schema)
                .map_err(|_| ())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn empty_metadata_takes_no_box_and_reads_as_empty() {
        let empty = AssetMeta::from(MetaFields::default());
        assert!(empty.0.is_none());
        assert_eq!(empty.title, None);
        assert!(empty.keywords.is_empty() && empty.people.names.is_empty());
        assert_eq!(serde_json::to_value(&empty).unwrap()["screenshot"], false);
        let fields = MetaFields {
            location: Some((64.31, -20.3)),
            ..MetaFields::default()
        };
        let placed = AssetMeta::from(fields.clone());
        assert_eq!(*placed, fields);
        // A write allocates; a box holding empty fields still equals no box.
        let mut written = AssetMeta::from(MetaFields::default());
        written.screenshot = true;
        assert!(written.0.is_some() && written.screenshot);
        written.screenshot = false;
        assert_eq!(written, empty);
        // Shared while equal; a write copies the shared box.
        let shot = MetaFields {
            screenshot: true,
            ..MetaFields::default()
        };
        let like = AssetMeta::from(shot.clone());
        let mut shared = AssetMeta::sharing(shot, &like);
        assert!(Arc::ptr_eq(
            shared.0.as_ref().unwrap(),
            like.0.as_ref().unwrap()
        ));
        let other = AssetMeta::sharing(fields.clone(), &like);
        assert!(!Arc::ptr_eq(
            other.0.as_ref().unwrap(),
            like.0.as_ref().unwrap()
        ));
        assert_eq!(*other, fields);
        shared.title = Some("t".into());
        assert_eq!(
            (like.title.as_deref(), shared.title.as_deref()),
            (None, Some("t"))
        );
    }
}
