//! Named people in a photo and where their faces are, for XMP sidecars (MWG face regions).
//!
//! Photos.sqlite keeps people in ZPERSON (ZFULLNAME, ZDISPLAYNAME) and one ZDETECTEDFACE row per
//! face found in an asset. The face's links were renamed: ZASSET / ZPERSON up to iOS 16 (Photos
//! 5–7), ZASSETFORFACE / ZPERSONFORFACE from iOS 17 (iLEAPP's Ph016 people-and-faces queries by
//! Scott Koenig; the osxphotos schema notes agree). Every column is probed before use.
//!
//! Geometry, as osxphotos' `FaceInfo` reads it (personinfo.py, `mwg_rs_area`): ZCENTERX and
//! ZCENTERY are the face centre as fractions of the width and height with the origin at the
//! **bottom** left (so y is flipped for MWG's top-left origin), and ZSIZE is the face's diameter
//! as a fraction of the image's **longer** side. The point is turned by the asset's EXIF
//! ZORIENTATION into the displayed frame, and for 5–8 width and height swap. Not yet checked
//! against a real device (photo-library.md §11).
//!
//! Left out on purpose: faces without a named person (an MWG region without a name tells the
//! reader nothing it cannot detect itself, and Photos' unnamed clusters are not people a person
//! chose), faces in Photos' face trash (ZISINTRASH 1: the person removed them), and the regions
//! (not the names) of edited assets: osxphotos notes that faces of an edited photo are placed on
//! the edited render, while the sidecar describes the original.

use std::collections::{BTreeSet, HashMap};

use rusqlite::Connection;
use serde::Serialize;

use super::db_rows::{Corrupt, for_rows, int, real, text};
use super::db_schema::{Schema, col};

/// Faces kept per asset: above any group photo, low enough to bound memory and sidecar size.
const MAX_FACES: usize = 128;

/// One named face: MWG `stArea` (centre and size, normalised to the displayed image).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceRegion {
    pub name: String,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// The named people of one asset.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct People {
    /// Sorted, duplicates merged.
    pub names: Vec<String>,
    /// In ZDETECTEDFACE order; empty for edited assets (see the module comment).
    pub regions: Vec<FaceRegion>,
    /// (width, height) in pixels of the displayed image the regions apply to.
    pub dimensions: (u32, u32),
}

/// What the asset table says about the image a face was found on.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Frame {
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub orientation: Option<i64>,
    pub edited: bool,
}

/// The first of `candidates` that `table` has.
fn first_col<'a>(schema: &Schema, table: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates.iter().copied().find(|c| schema.has(table, c))
}

/// Person Z_PK → name (ZFULLNAME, else ZDISPLAYNAME; blank is no name).
fn person_names(conn: &Connection, schema: &Schema) -> Result<HashMap<i64, String>, Corrupt> {
    const P: &str = "ZPERSON";
    let mut names = HashMap::new();
    if !schema.has(P, "Z_PK") {
        return Ok(names);
    }
    let sql = format!(
        "SELECT p.Z_PK, {}, {} FROM {P} p",
        col(schema, P, "p", "ZFULLNAME"),
        col(schema, P, "p", "ZDISPLAYNAME")
    );
    for_rows(conn, &sql, |r| {
        let name = |i| text(r.get_ref(i).ok()?).map(|s| s.trim().to_owned());
        let chosen = [name(1), name(2)]
            .into_iter()
            .flatten()
            .find(|s| !s.is_empty());
        if let (Some(pk), Some(n)) = (int(r.get_ref(0)?), chosen) {
            names.insert(pk, n);
        }
        Ok(())
    })?;
    Ok(names)
}

/// A stored centre (bottom-left origin) in the displayed frame (top-left origin), by EXIF
/// orientation; unknown orientations read as 1.
fn displayed(x: f64, y: f64, orientation: Option<i64>) -> (f64, f64) {
    match orientation {
        Some(2) => (1.0 - x, 1.0 - y),
        Some(3) => (1.0 - x, y),
        Some(4) => (x, y),
        Some(5) => (1.0 - y, x),
        Some(6) => (1.0 - y, 1.0 - x),
        Some(7) => (y, 1.0 - x),
        Some(8) => (y, x),
        _ => (x, 1.0 - y),
    }
}

/// The MWG region of a face, or None for a frame or values that cannot be one.
fn region(
    name: &str,
    cx: f64,
    cy: f64,
    size: f64,
    frame: Frame,
) -> Option<(FaceRegion, (u32, u32))> {
    let dim = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok()).filter(|&v| v > 0);
    let (w, h) = (dim(frame.width)?, dim(frame.height)?);
    let unit = 0.0..=1.0;
    if !(unit.contains(&cx) && unit.contains(&cy) && size > 0.0 && size <= 1.0) {
        return None;
    }
    let diameter = size * f64::from(w.max(h));
    let (x, y) = displayed(cx, cy, frame.orientation);
    let (dw, dh) = match frame.orientation {
        Some(5..=8) => (h, w),
        _ => (w, h),
    };
    let face = FaceRegion {
        name: name.to_owned(),
        x,
        y,
        w: (diameter / f64::from(dw)).min(1.0),
        h: (diameter / f64::from(dh)).min(1.0),
    };
    Some((face, (dw, dh)))
}

/// The named people of every asset with any, keyed by asset Z_PK.
pub(super) fn read_people(
    conn: &Connection,
    schema: &Schema,
    frames: &HashMap<i64, Frame>,
) -> Result<HashMap<i64, People>, Corrupt> {
    const F: &str = "ZDETECTEDFACE";
    let mut out: HashMap<i64, People> = HashMap::new();
    let asset_col = first_col(schema, F, &["ZASSETFORFACE", "ZASSET"]);
    let person_col = first_col(schema, F, &["ZPERSONFORFACE", "ZPERSON"]);
    let (Some(asset_col), Some(person_col)) = (asset_col, person_col) else {
        return Ok(out);
    };
    let names = person_names(conn, schema)?;
    if names.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT f.{asset_col}, f.{person_col}, {}, {}, {}, {} FROM {F} f ORDER BY f.Z_PK",
        col(schema, F, "f", "ZCENTERX"),
        col(schema, F, "f", "ZCENTERY"),
        col(schema, F, "f", "ZSIZE"),
        col(schema, F, "f", "ZISINTRASH"),
    );
    let mut seen: HashMap<i64, BTreeSet<String>> = HashMap::new();
    for_rows(conn, &sql, |r| {
        let (Some(asset), Some(name)) = (
            int(r.get_ref(0)?),
            int(r.get_ref(1)?).and_then(|p| names.get(&p)),
        ) else {
            return Ok(());
        };
        if int(r.get_ref(5)?) == Some(1) {
            return Ok(());
        }
        let set = seen.entry(asset).or_default();
        if set.len() < MAX_FACES {
            set.insert(name.clone());
        }
        let frame = frames.get(&asset).copied().unwrap_or_default();
        let people = out.entry(asset).or_default();
        if people.regions.len() >= MAX_FACES {
            return Ok(());
        }
        let real = |i| real(r.get_ref(i).ok()?);
        if let (false, Some(cx), Some(cy), Some(size)) = (frame.edited, real(2), real(3), real(4))
            && let Some((face, dims)) = region(name, cx, cy, size, frame)
        {
            people.regions.push(face);
            people.dimensions = dims;
        }
        Ok(())
    })?;
    for (asset, set) in seen {
        out.entry(asset).or_default().names = set.into_iter().collect();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::db_schema::detect_schema;

    fn frame(width: i64, height: i64, orientation: i64) -> Frame {
        Frame {
            width: Some(width),
            height: Some(height),
            orientation: Some(orientation),
            edited: false,
        }
    }

    #[test]
    fn centre_flipped_and_size_relative_to_the_longer_side() {
        let (f, dims) = region("Ana", 0.25, 0.75, 0.1, frame(4000, 3000, 1)).unwrap();
        assert_eq!(dims, (4000, 3000));
        assert_eq!((f.x, f.y), (0.25, 0.25));
        assert!((f.w - 0.1).abs() < 1e-12 && (f.h - 400.0 / 3000.0).abs() < 1e-12);
        // Orientation 6 (the usual portrait HEIC): displayed 3000 × 4000.
        let (f, dims) = region("Ana", 0.25, 0.75, 0.1, frame(4000, 3000, 6)).unwrap();
        assert_eq!(dims, (3000, 4000));
        assert_eq!((f.x, f.y), (0.25, 0.75));
        assert!((f.w - 400.0 / 3000.0).abs() < 1e-12 && (f.h - 0.1).abs() < 1e-12);
        assert!(region("Ana", 1.5, 0.5, 0.1, frame(10, 10, 1)).is_none());
        assert!(region("Ana", 0.5, 0.5, 0.1, frame(0, 10, 1)).is_none());
    }

    #[test]
    fn named_faces_by_either_column_shape() {
        for (asset, person) in [("ZASSET", "ZPERSON"), ("ZASSETFORFACE", "ZPERSONFORFACE")] {
            let conn = Connection::open_in_memory().unwrap();
            conn.execute_batch(&format!(
                "CREATE TABLE ZASSET (Z_PK INTEGER PRIMARY KEY);
                 CREATE TABLE ZPERSON (Z_PK INTEGER PRIMARY KEY, ZFULLNAME VARCHAR, ZDISPLAYNAME VARCHAR);
                 CREATE TABLE ZDETECTEDFACE (Z_PK INTEGER PRIMARY KEY, {asset} INTEGER,
                   {person} INTEGER, ZCENTERX FLOAT, ZCENTERY FLOAT, ZSIZE FLOAT, ZISINTRASH INTEGER);
                 INSERT INTO ZPERSON VALUES (1, 'Jón Sigurðsson', 'Jón'), (2, ' ', 'Mamma'), (3, NULL, '');
                 INSERT INTO ZDETECTEDFACE VALUES (10, 7, 1, 0.5, 0.5, 0.2, 0), (11, 7, 2, 0.2, 0.9, 0.1, NULL),
                   (12, 7, 3, 0.1, 0.1, 0.1, 0), (13, 7, NULL, 0.1, 0.1, 0.1, 0),
                   (14, 8, 1, 0.5, 0.5, 0.2, 1), (15, 9, 1, 'x', 0.5, 0.2, 0), (16, 10, 2, 0.5, 0.5, 0.2, 0);"
            ))
            .unwrap();
            let schema = detect_schema(&conn).unwrap();
            let mut frames = HashMap::new();
            for pk in [7, 8, 9] {
                frames.insert(pk, frame(100, 50, 1));
            }
            frames.insert(
                10,
                Frame {
                    edited: true,
                    ..frame(100, 50, 1)
                },
            );
            let people = read_people(&conn, &schema, &frames)
                .map_err(|_| ())
                .unwrap();
            let p = &people[&7];
            assert_eq!(p.names, ["Jón Sigurðsson", "Mamma"], "{asset}");
            assert_eq!(p.regions.len(), 2);
            assert_eq!(p.regions[1].name, "Mamma");
            assert!((p.regions[1].y - 0.1).abs() < 1e-12);
            assert_eq!(p.dimensions, (100, 50));
            assert!(!people.contains_key(&8), "a face in the face trash is gone");
            assert_eq!(
                people[&9].names,
                ["Jón Sigurðsson"],
                "garbage geometry keeps the name"
            );
            assert!(people[&9].regions.is_empty());
            assert!(people[&10].regions.is_empty(), "edited: names only");
            assert_eq!(people[&10].names, ["Mamma"]);
        }
    }
}
