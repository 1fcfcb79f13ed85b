//! Where each asset's original is, per Photos.sqlite: on the phone, only in iCloud, or missing
//! (on neither). The original is the ZINTERNALRESOURCE row with ZDATASTORESUBTYPE 1; its
//! ZLOCALAVAILABILITY is 1 on the phone, -1 not; ZREMOTEAVAILABILITY (iOS 14+) is 1 when iCloud
//! holds it, 0 when not (the values iLEAPP and ScottKjr3347's Photos.sqlite queries decode).
//!
//! "Not local" alone is only a forensic "possibly optimised" hint: an original that is neither
//! on the phone nor in iCloud cannot be fetched by "Download and Keep Originals", so it is told
//! apart. Without ZREMOTEAVAILABILITY (an unmigrated or odd database), iCloud is trusted to hold
//! it only when the asset is synced (cloud state 3) and has a fingerprint: the resource's
//! ZFINGERPRINT (ZSTABLEHASH on iOS 18+), else ZADDITIONALASSETATTRIBUTES.ZMASTERFINGERPRINT
//! (ZORIGINALSTABLEHASH on iOS 18+).

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;
use serde::Serialize;

use super::db_rows::{CloudState, Corrupt, for_rows, int, present};
use super::db_schema::{Schema, col};

/// Where the original of an asset is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OriginalPlace {
    /// On the phone (or the database says nothing against it).
    #[default]
    OnPhone,
    /// Not on the phone, in iCloud ("Optimize iPhone Storage").
    IcloudOnly,
    /// Neither on the phone nor (as far as the database knows) in iCloud.
    Missing,
}

/// The original resource's row, reduced to what [`Originals::place`] and
/// [`Originals::resource_cloud`] read: 16 bytes a map entry with its key instead of 64 (8.5 MB
/// at 100,000 assets, held with the asset rows at the inventory's peak).
#[derive(Debug)]
struct OriginalRow {
    /// ZLOCALAVAILABILITY is -1.
    not_local: bool,
    /// ZREMOTEAVAILABILITY: Some(true) for 1, Some(false) for 0, None otherwise.
    remote: Option<bool>,
    fingerprint: bool,
    cloud: CloudState,
}

/// Original-resource facts of every asset that has them.
#[derive(Debug, Default)]
pub(super) struct Originals {
    rows: HashMap<i64, OriginalRow>,
    /// Assets whose ZADDITIONALASSETATTRIBUTES row carries a master fingerprint / stable hash.
    fingerprinted: HashSet<i64>,
}

const IR: &str = "ZINTERNALRESOURCE";

impl Originals {
    /// Reads what exists; a database without these tables or columns gives no facts.
    /// `fingerprinted` comes from ZADDITIONALASSETATTRIBUTES (see `db_assets`, which reads that
    /// table once for this and the time-zone offsets).
    pub(super) fn read(
        conn: &Connection,
        schema: &Schema,
        fingerprinted: HashSet<i64>,
    ) -> Result<Originals, Corrupt> {
        let mut out = Originals {
            rows: HashMap::new(),
            fingerprinted,
        };
        if ["ZASSET", "ZDATASTORESUBTYPE"]
            .iter()
            .all(|c| schema.has(IR, c))
        {
            let sql = format!(
                "SELECT r.ZASSET, {}, {}, {}, {}, {} FROM {IR} r WHERE r.ZDATASTORESUBTYPE = 1",
                col(schema, IR, "r", "ZLOCALAVAILABILITY"),
                col(schema, IR, "r", "ZREMOTEAVAILABILITY"),
                col(schema, IR, "r", "ZFINGERPRINT"),
                col(schema, IR, "r", "ZSTABLEHASH"),
                col(schema, IR, "r", "ZCLOUDLOCALSTATE"),
            );
            for_rows(conn, &sql, |r| {
                if let Some(asset) = int(r.get_ref(0)?) {
                    let row = OriginalRow {
                        not_local: int(r.get_ref(1)?) == Some(-1),
                        remote: match int(r.get_ref(2)?) {
                            Some(1) => Some(true),
                            Some(0) => Some(false),
                            _ => None,
                        },
                        fingerprint: present(r.get_ref(3)?) || present(r.get_ref(4)?),
                        cloud: CloudState::from_code(int(r.get_ref(5)?)),
                    };
                    out.rows.insert(asset, row);
                }
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// The cloud state of the original resource's ZCLOUDLOCALSTATE (used when ZCLOUDMASTER
    /// says nothing).
    pub(super) fn resource_cloud(&self, asset: i64) -> CloudState {
        self.rows
            .get(&asset)
            .map_or(CloudState::Unknown, |r| r.cloud)
    }

    /// Where the original of `asset` (whose cloud state is `cloud`) is.
    pub(super) fn place(&self, asset: i64, cloud: CloudState) -> OriginalPlace {
        let Some(r) = self.rows.get(&asset) else {
            return OriginalPlace::OnPhone;
        };
        if !r.not_local {
            return OriginalPlace::OnPhone;
        }
        match r.remote {
            Some(true) => OriginalPlace::IcloudOnly,
            Some(false) => OriginalPlace::Missing,
            _ if cloud == CloudState::Synced
                && (r.fingerprint || self.fingerprinted.contains(&asset)) =>
            {
                OriginalPlace::IcloudOnly
            }
            _ => OriginalPlace::Missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OriginalRow;

    #[test]
    fn a_map_entry_is_two_words() {
        assert!(size_of::<(i64, OriginalRow)>() <= 16);
    }
}
