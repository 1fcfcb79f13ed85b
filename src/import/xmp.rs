//! XMP sidecars: what the person put into Apple Photos (favourite, title, caption, keywords,
//! albums, named people and their faces, place, capture date, original file name, Live Photo
//! pairing id) as an `.xmp` file that digiKam, darktable, Immich, PhotoPrism
//! and Shotwell read next to the photo or video.
//!
//! Rendered with quick-xml (already in the build through `plist`), which escapes text and
//! attribute values; phone text is untrusted, so characters XML 1.0 cannot carry are dropped.

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::library::Asset;
use crate::library::db_people::People;

/// How a sidecar is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XmpName {
    /// `IMG_0001.HEIC.xmp`: digiKam's, darktable's and Immich's default, and never shared by a
    /// photo and a video of the same stem.
    #[default]
    Full,
    /// `IMG_0001.xmp`: the Adobe convention (Lightroom, Capture One).
    Stem,
}

impl std::str::FromStr for XmpName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "full" => Ok(XmpName::Full),
            "stem" => Ok(XmpName::Stem),
            other => Err(format!(
                "unknown sidecar name style {other:?}; use \"full\" (IMG_0001.HEIC.xmp) or \"stem\" (IMG_0001.xmp)"
            )),
        }
    }
}

/// The sidecar's file name for a file named `name`.
pub(crate) fn sidecar_name(name: &str, style: XmpName) -> String {
    match style {
        XmpName::Full => format!("{name}.xmp"),
        XmpName::Stem => match name.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => format!("{stem}.xmp"),
            _ => format!("{name}.xmp"),
        },
    }
}

/// Keyword given to assets hidden in Photos.
pub(crate) const HIDDEN_KEYWORD: &str = "Hidden";
/// Root of the album tags (`Albums|Trips|Iceland 2025`).
pub(crate) const ALBUM_ROOT: &str = "Albums";

const RDF: (&str, &str) = ("xmlns:rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#");

const NAMESPACES: [(&str, &str); 11] = [
    ("xmlns:xmp", "http://ns.adobe.com/xap/1.0/"),
    ("xmlns:exif", "http://ns.adobe.com/exif/1.0/"),
    ("xmlns:photoshop", "http://ns.adobe.com/photoshop/1.0/"),
    ("xmlns:dc", "http://purl.org/dc/elements/1.1/"),
    ("xmlns:lr", "http://ns.adobe.com/lightroom/1.0/"),
    ("xmlns:digiKam", "http://www.digikam.org/ns/1.0/"),
    ("xmlns:xmpMM", "http://ns.adobe.com/xap/1.0/mm/"),
    // Named people: Metadata Working Group face regions and IPTC's person list.
    (
        "xmlns:mwg-rs",
        "http://www.metadataworkinggroup.com/schemas/regions/",
    ),
    ("xmlns:stArea", "http://ns.adobe.com/xmp/sType/Area#"),
    (
        "xmlns:stDim",
        "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
    ),
    (
        "xmlns:Iptc4xmpExt",
        "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    ),
];

/// Text XML 1.0 can carry (control characters other than tab and newlines are dropped).
fn clean(s: &str) -> Cow<'_, str> {
    let ok = |c: char| !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}');
    if s.chars().all(ok) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|&c| ok(c)).collect())
    }
}

/// XMP GPS coordinate: `DDD,MM.mmmmmmR` (degrees, decimal minutes, N/S or E/W).
pub(crate) fn gps_coordinate(value: f64, positive: char, negative: char) -> String {
    let hemisphere = if value < 0.0 { negative } else { positive };
    let micro_minutes = (value.abs() * 60.0 * 1e6).round() as u64;
    let (deg, rest) = (micro_minutes / 60_000_000, micro_minutes % 60_000_000);
    format!(
        "{deg},{}.{:06}{hemisphere}",
        rest / 1_000_000,
        rest % 1_000_000
    )
}

/// Album tags: `Albums|Trips|Iceland 2025` (Lightroom) and `Albums/Trips/Iceland 2025` (digiKam).
fn album_tags(asset: &Asset, separator: &str) -> Vec<String> {
    asset
        .albums
        .iter()
        .map(|p| {
            let mut parts = vec![ALBUM_ROOT];
            parts.extend(p.split('/'));
            parts.join(separator)
        })
        .collect()
}

type W = Writer<Vec<u8>>;

fn list(w: &mut W, property: &str, container: &str, items: &[String], lang: bool) {
    if items.is_empty() {
        return;
    }
    let ev = |w: &mut W, e: Event<'_>| w.write_event(e).expect("writing to a Vec");
    ev(w, Event::Start(BytesStart::new(property)));
    ev(w, Event::Start(BytesStart::new(container)));
    for item in items {
        let mut li = BytesStart::new("rdf:li");
        if lang {
            li.push_attribute(("xml:lang", "x-default"));
        }
        ev(w, Event::Start(li));
        ev(w, Event::Text(BytesText::new(&clean(item))));
        ev(w, Event::End(BytesEnd::new("rdf:li")));
    }
    ev(w, Event::End(BytesEnd::new(container)));
    ev(w, Event::End(BytesEnd::new(property)));
}

/// A normalised coordinate, fixed precision so the same facts give the same bytes.
fn fraction(v: f64) -> String {
    format!("{v:.6}")
}

/// MWG face regions (`mwg-rs:Regions`), read by digiKam, Lightroom and exiftool's
/// `RegionName` / `RegionAreaX`…: centre-based, normalised to the displayed image.
fn regions(w: &mut W, people: &People) {
    if people.regions.is_empty() {
        return;
    }
    let ev = |w: &mut W, e: Event<'_>| w.write_event(e).expect("writing to a Vec");
    let mut top = BytesStart::new("mwg-rs:Regions");
    top.push_attribute(("rdf:parseType", "Resource"));
    ev(w, Event::Start(top));
    let (width, height) = people.dimensions;
    let mut dims = BytesStart::new("mwg-rs:AppliedToDimensions");
    dims.push_attribute(("stDim:w", width.to_string().as_str()));
    dims.push_attribute(("stDim:h", height.to_string().as_str()));
    dims.push_attribute(("stDim:unit", "pixel"));
    ev(w, Event::Empty(dims));
    ev(w, Event::Start(BytesStart::new("mwg-rs:RegionList")));
    ev(w, Event::Start(BytesStart::new("rdf:Bag")));
    for face in &people.regions {
        ev(w, Event::Start(BytesStart::new("rdf:li")));
        let mut d = BytesStart::new("rdf:Description");
        d.push_attribute(("mwg-rs:Name", clean(&face.name).as_ref()));
        d.push_attribute(("mwg-rs:Type", "Face"));
        ev(w, Event::Start(d));
        let mut area = BytesStart::new("mwg-rs:Area");
        for (k, v) in [
            ("stArea:x", face.x),
            ("stArea:y", face.y),
            ("stArea:w", face.w),
            ("stArea:h", face.h),
        ] {
            area.push_attribute((k, fraction(v).as_str()));
        }
        area.push_attribute(("stArea:unit", "normalized"));
        ev(w, Event::Empty(area));
        ev(w, Event::End(BytesEnd::new("rdf:Description")));
        ev(w, Event::End(BytesEnd::new("rdf:li")));
    }
    ev(w, Event::End(BytesEnd::new("rdf:Bag")));
    ev(w, Event::End(BytesEnd::new("mwg-rs:RegionList")));
    ev(w, Event::End(BytesEnd::new("mwg-rs:Regions")));
}

/// The sidecar of `asset`, as bytes. The same facts always give the same bytes (no timestamps),
/// so a re-run can tell whether anything changed by comparing them.
pub fn render(asset: &Asset) -> Vec<u8> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 1);
    let ev = |w: &mut W, e: Event<'_>| w.write_event(e).expect("writing to a Vec");
    ev(
        &mut w,
        Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)),
    );
    let mut meta = BytesStart::new("x:xmpmeta");
    meta.push_attribute(("xmlns:x", "adobe:ns:meta/"));
    meta.push_attribute(("x:xmptk", "iphone-import"));
    ev(&mut w, Event::Start(meta));
    let mut rdf = BytesStart::new("rdf:RDF");
    rdf.push_attribute(RDF);
    ev(&mut w, Event::Start(rdf));

    let mut d = BytesStart::new("rdf:Description");
    d.push_attribute(("rdf:about", ""));
    for ns in &NAMESPACES {
        d.push_attribute(*ns);
    }
    let m = &asset.meta;
    if let Some(t) = asset.created {
        let date = t.format("%Y-%m-%dT%H:%M:%S%:z").to_string();
        d.push_attribute(("xmp:CreateDate", date.as_str()));
        d.push_attribute(("exif:DateTimeOriginal", date.as_str()));
        d.push_attribute(("photoshop:DateCreated", date.as_str()));
    }
    if let Some((lat, lon)) = m.location {
        d.push_attribute(("exif:GPSLatitude", gps_coordinate(lat, 'N', 'S').as_str()));
        d.push_attribute(("exif:GPSLongitude", gps_coordinate(lon, 'E', 'W').as_str()));
    }
    if asset.favorite {
        d.push_attribute(("xmp:Rating", "5"));
    }
    if let Some(name) = &m.original_filename {
        d.push_attribute(("xmpMM:PreservedFileName", clean(name).as_ref()));
    }
    if let Some(id) = &m.live_photo_id {
        d.push_attribute((
            "iphoneimport:LivePhotoContentIdentifier",
            clean(id).as_ref(),
        ));
    }
    ev(&mut w, Event::Start(d));
    let one = |s: &Option<String>| s.iter().cloned().collect::<Vec<_>>();
    list(&mut w, "dc:title", "rdf:Alt", &one(&m.title), true);
    list(&mut w, "dc:description", "rdf:Alt", &one(&m.caption), true);
    let mut subject = m.keywords.clone();
    if asset.hidden {
        subject.push(HIDDEN_KEYWORD.to_owned());
    }
    list(&mut w, "dc:subject", "rdf:Bag", &subject, false);
    list(
        &mut w,
        "lr:hierarchicalSubject",
        "rdf:Bag",
        &album_tags(asset, "|"),
        false,
    );
    list(
        &mut w,
        "digiKam:TagsList",
        "rdf:Seq",
        &album_tags(asset, "/"),
        false,
    );
    list(
        &mut w,
        "Iptc4xmpExt:PersonInImage",
        "rdf:Bag",
        &m.people.names,
        false,
    );
    regions(&mut w, &m.people);
    ev(&mut w, Event::End(BytesEnd::new("rdf:Description")));
    ev(&mut w, Event::End(BytesEnd::new("rdf:RDF")));
    ev(&mut w, Event::End(BytesEnd::new("x:xmpmeta")));
    let mut out = w.into_inner();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::db_people::FaceRegion;
    use crate::library::{AssetKind, AssetMeta, MetaFields};

    fn asset() -> Asset {
        Asset {
            uuid: Some("U1".into()),
            kind: AssetKind::Photo,
            resources: Vec::new(),
            created: chrono::DateTime::parse_from_rfc3339("2025-07-01T12:30:05+02:00").ok(),
            hidden: true,
            trashed: false,
            trashed_at: None,
            icloud_only: false,
            original_missing: false,
            only_copy_on_phone: false,
            favorite: true,
            albums: vec!["Trips/Iceland 2025".into()],
            meta: MetaFields {
                title: Some("Geysir <&> \u{1}".into()),
                caption: Some("Steam \"rising\"".into()),
                keywords: vec!["water".into()],
                location: Some((64.31, -20.3)),
                original_filename: Some("IMG_0001.HEIC".into()),
                live_photo_id: Some("0A1B-LIVE".into()),
                screenshot: false,
                people: People {
                    names: vec!["Ana".into(), "Jón <J>".into()],
                    regions: vec![FaceRegion {
                        name: "Jón <J>".into(),
                        x: 0.5,
                        y: 0.25,
                        w: 0.1,
                        h: 0.125,
                    }],
                    dimensions: (4032, 3024),
                },
            }
            .into(),
        }
    }

    #[test]
    fn gps_in_degrees_and_decimal_minutes() {
        assert_eq!(gps_coordinate(64.31, 'N', 'S'), "64,18.600000N");
        assert_eq!(gps_coordinate(-20.3, 'E', 'W'), "20,18.000000W");
        // Rounding up to a whole degree carries instead of printing 60 minutes.
        assert_eq!(gps_coordinate(9.999_999_999_9, 'N', 'S'), "10,0.000000N");
    }

    #[test]
    fn sidecar_names() {
        assert_eq!(
            sidecar_name("IMG_0001.HEIC", XmpName::Full),
            "IMG_0001.HEIC.xmp"
        );
        assert_eq!(sidecar_name("IMG_0001.HEIC", XmpName::Stem), "IMG_0001.xmp");
        assert_eq!(sidecar_name(".hidden", XmpName::Stem), ".hidden.xmp");
        assert!("other".parse::<XmpName>().is_err());
    }

    #[test]
    fn render_escapes_phone_text_and_holds_every_fact() {
        let xml = String::from_utf8(render(&asset())).unwrap();
        assert!(xml.contains("Geysir &lt;&amp;&gt; <"), "{xml}");
        assert!(!xml.contains('\u{1}'));
        assert!(xml.contains(r#"xmp:Rating="5""#));
        assert!(xml.contains(r#"exif:DateTimeOriginal="2025-07-01T12:30:05+02:00""#));
        assert!(xml.contains(r#"exif:GPSLongitude="20,18.000000W""#));
        assert!(xml.contains("<rdf:li>Albums|Trips|Iceland 2025</rdf:li>"));
        assert!(xml.contains("<rdf:li>Albums/Trips/Iceland 2025</rdf:li>"));
        assert!(xml.contains("<rdf:li>Hidden</rdf:li>"));
        assert!(xml.contains("<rdf:li>Jón &lt;J&gt;</rdf:li>"), "{xml}");
        assert!(xml.contains(r#"mwg-rs:Name="Jón &lt;J&gt;" mwg-rs:Type="Face""#));
        assert!(xml.contains(r#"stArea:x="0.500000" stArea:y="0.250000""#));
        assert!(xml.contains(r#"stDim:w="4032" stDim:h="3024""#));
        assert!(xml.contains(r#"xmpMM:PreservedFileName="IMG_0001.HEIC""#));
        assert!(xml.contains(r#"iphoneimport:LivePhotoContentIdentifier="0A1B-LIVE""#));
        let mut plain = asset();
        plain.favorite = false;
        plain.meta = AssetMeta::default();
        let xml = String::from_utf8(render(&plain)).unwrap();
        assert!(!xml.contains("Rating") && !xml.contains("GPS") && !xml.contains("dc:title"));
        assert!(!xml.contains("<mwg-rs:") && !xml.contains("<Iptc4xmpExt:"));
        assert!(!xml.contains("PreservedFileName") && !xml.contains("LivePhotoContent"));
        assert_eq!(render(&plain), render(&plain), "same facts, same bytes");
    }
}
