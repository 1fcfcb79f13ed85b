//! Calendar arithmetic for the generator: capture times are fixed from the seed, so every
//! format (EXIF, QuickTime, Core Data, plist) is derived here from one `unix` + `offset` pair.
//! Hand-written (Howard Hinnant's civil-date algorithm) to avoid a date crate for ~40 lines.

/// Seconds between 1970-01-01 and 2001-01-01 (Core Data's epoch), per photo-library.md §7.
pub(super) const CORE_DATA_EPOCH_UNIX: i64 = 978_307_200;
/// Seconds between 1904-01-01 (QuickTime's epoch) and 1970-01-01.
pub(super) const QUICKTIME_EPOCH_OFFSET: i64 = 2_082_844_800;

/// Civil date-time (no zone) broken out from seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Days since 1970-01-01 → (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
#[cfg(test)]
pub(super) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Breaks `secs` (seconds since 1970 in some zone) into calendar fields.
pub(super) fn civil(secs: i64) -> Civil {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: (rem % 3600 / 60) as u32,
        second: (rem % 60) as u32,
    }
}

/// `+01:00` style offset (EXIF OffsetTimeOriginal, truth.json).
pub(super) fn offset_colon(offset_secs: i32) -> String {
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let a = offset_secs.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, a % 3600 / 60)
}

/// `2025:06:14 10:22:31`: EXIF DateTime format of the local wall-clock time.
pub(super) fn exif_datetime(unix: i64, offset_secs: i32) -> String {
    let c = civil(unix + offset_secs as i64);
    format!(
        "{:04}:{:02}:{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `2025-06-14T10:22:31` local wall-clock time (ISO 8601, no offset).
pub(super) fn iso_local(unix: i64, offset_secs: i32) -> String {
    let c = civil(unix + offset_secs as i64);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `2025-06-14T08:22:31Z`: UTC instant.
pub(super) fn iso_utc(unix: i64) -> String {
    format!("{}Z", iso_local(unix, 0))
}

/// Unix seconds → Core Data seconds (ZDATECREATED etc.).
pub(super) fn core_data(unix: i64) -> f64 {
    (unix - CORE_DATA_EPOCH_UNIX) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips_and_formats() {
        // 2025-06-14T08:22:31Z
        let unix = 1_749_889_351;
        assert_eq!(iso_utc(unix), "2025-06-14T08:22:31Z");
        assert_eq!(exif_datetime(unix, 7200), "2025:06:14 10:22:31");
        assert_eq!(offset_colon(7200), "+02:00");
        assert_eq!(offset_colon(-(5 * 3600 + 1800)), "-05:30");
        assert_eq!(offset_colon(19_800), "+05:30");
        assert_eq!(days_from_civil(2001, 1, 1) * 86_400, CORE_DATA_EPOCH_UNIX);
        assert_eq!(
            days_from_civil(1904, 1, 1) * 86_400,
            -QUICKTIME_EPOCH_OFFSET
        );
        for d in [-800_000i64, -1, 0, 59, 10_000, 20_000, 700_000] {
            let c = civil(d * 86_400);
            assert_eq!(days_from_civil(c.year, c.month, c.day), d);
        }
        assert_eq!(core_data(CORE_DATA_EPOCH_UNIX + 5), 5.0);
    }
}
