//! Edit sidecars: the XML-plist `.AAE` next to an original in DCIM and the `Adjustments.plist`
//! next to `FullSizeRender` under `PhotoData/Mutations` (photo-library.md §2).

use plist::{Dictionary, Value};
use std::time::{Duration, SystemTime};

fn adjustment_dict(edited_unix: i64, filter: &str) -> Dictionary {
    let mut d = Dictionary::new();
    d.insert("adjustmentBaseVersion".into(), Value::Integer(0.into()));
    // Apple stores a compressed binary blob; a JSON recipe stands in for it.
    let recipe = format!(
        r#"{{"adjustments":[{{"identifier":"Effect","settings":{{"filterName":"{filter}"}}}}],"formatVersion":1}}"#
    );
    d.insert("adjustmentData".into(), Value::Data(recipe.into_bytes()));
    d.insert(
        "adjustmentEditorBundleID".into(),
        Value::String("com.apple.mobileslideshow".into()),
    );
    d.insert(
        "adjustmentFormatIdentifier".into(),
        Value::String("com.apple.photo".into()),
    );
    d.insert(
        "adjustmentFormatVersion".into(),
        Value::String("1.5".into()),
    );
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(edited_unix.max(0) as u64);
    d.insert(
        "adjustmentTimestamp".into(),
        Value::Date(plist::Date::from(when)),
    );
    d
}

/// XML plist bytes of an `.AAE` sidecar.
pub(super) fn aae_xml(edited_unix: i64, filter: &str) -> Result<Vec<u8>, plist::Error> {
    let mut out = Vec::new();
    Value::Dictionary(adjustment_dict(edited_unix, filter)).to_writer_xml(&mut out)?;
    Ok(out)
}

/// Binary plist bytes of `Mutations/.../Adjustments/Adjustments.plist`.
pub(super) fn adjustments_plist(edited_unix: i64, filter: &str) -> Result<Vec<u8>, plist::Error> {
    let mut out = Vec::new();
    Value::Dictionary(adjustment_dict(edited_unix, filter)).to_writer_binary(&mut out)?;
    Ok(out)
}
