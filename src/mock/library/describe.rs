//! What the simulated person typed into Photos: titles, captions, keywords and places on a
//! fixed pattern of assets, and the rows that hold them in Photos.sqlite.

use rusqlite::{Connection, params};

use super::truth::{AssetTruth, MetaTruth};

/// Z_ENT of ZASSETDESCRIPTION rows.
const ENT_DESCRIPTION: i64 = 4;

/// Titles, captions, keywords and places on a fixed pattern of assets (no draws from the
/// generator's random stream, so adding them changed no other fact of a seed). Text carries
/// XML's special characters and non-ASCII on purpose.
pub(super) fn describe(i: usize, number: u32) -> MetaTruth {
    let mut m = MetaTruth::default();
    if i % 5 == 1 {
        m.title = Some(format!("Café & <friends> {number}"));
    }
    if i % 6 == 2 {
        m.caption = Some(format!("Steam rising at \"Geysir\", day {number}"));
    }
    match i % 8 {
        3 => m.keywords = vec!["Iceland".into(), "water".into()],
        7 => m.keywords = vec!["Iceland".into()],
        _ => {}
    }
    match i % 9 {
        0 => m.location_e6 = Some((64_310_000 + i as i64, -20_300_000 - i as i64)),
        4 => m.location_e6 = Some((-33_856_800, 151_215_300)),
        _ => {}
    }
    m
}

/// Caption (ZASSETDESCRIPTION, pk = the attributes row's) and keywords (ZKEYWORD + Z_1KEYWORDS).
pub(super) fn insert_description(
    conn: &Connection,
    kw: i64,
    a: &AssetTruth,
) -> rusqlite::Result<()> {
    if let Some(caption) = &a.meta.caption {
        conn.execute(
            "INSERT INTO ZASSETDESCRIPTION (Z_PK, Z_ENT, Z_OPT, ZASSETATTRIBUTES, ZLONGDESCRIPTION)
             VALUES (?1, ?2, 1, ?1, ?3)",
            params![a.z_pk, ENT_DESCRIPTION, caption],
        )?;
    }
    for title in &a.meta.keywords {
        conn.execute(
            "INSERT INTO ZKEYWORD (Z_ENT, Z_OPT, ZTITLE) SELECT ?1, 1, ?2
             WHERE NOT EXISTS (SELECT 1 FROM ZKEYWORD WHERE ZTITLE = ?2)",
            params![kw, title],
        )?;
        conn.execute(
            &format!(
                "INSERT INTO Z_1KEYWORDS (Z_1ASSETATTRIBUTES, Z_{kw}KEYWORDS)
                 SELECT ?1, Z_PK FROM ZKEYWORD WHERE ZTITLE = ?2"
            ),
            params![a.z_pk, title],
        )?;
    }
    Ok(())
}
