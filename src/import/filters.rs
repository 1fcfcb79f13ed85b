//! The `pull` filters as a pure predicate over asset metadata.
//!
//! Dates are compared as local calendar days at capture (the wall time the photo says it was
//! taken, see `dates::CaptureDate::day`), so `--since 2024-07-01` means "taken on or after
//! 1 July where it was taken", independent of the computer's time zone.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use chrono::NaiveDate;

/// Photo or video (Photos.sqlite `ZKIND` 0 / 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    Photo,
    Video,
}

/// What the filters need to know about an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssetMeta {
    pub kind: AssetKind,
    /// Local calendar day of capture.
    pub captured: NaiveDate,
    pub hidden: bool,
    /// In "Recently Deleted".
    pub trashed: bool,
}

/// Which kinds `pull` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KindFilter {
    #[default]
    All,
    PhotosOnly,
    VideosOnly,
}

/// Filter errors (bad command-line values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("invalid date {0:?}; write it as YYYY-MM-DD, e.g. 2024-07-01")]
    BadDate(String),
    #[error("--since {since} is after --until {until}; nothing would be imported")]
    EmptyRange { since: NaiveDate, until: NaiveDate },
    #[error("--photos-only and --videos-only exclude each other; give at most one")]
    BothKinds,
}

/// The pull filters. `Default` = everything except Recently Deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Filters {
    /// First day included (`--since`).
    pub since: Option<NaiveDate>,
    /// Last day included (`--until`).
    pub until: Option<NaiveDate>,
    pub kinds: KindFilter,
    /// `--include-trashed` (off by default).
    pub include_trashed: bool,
    /// `--exclude-hidden` (hidden assets are included by default).
    pub exclude_hidden: bool,
}

/// Parses `YYYY-MM-DD`.
pub(crate) fn parse_day(s: &str) -> Result<NaiveDate, FilterError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| FilterError::BadDate(s.into()))
}

impl Filters {
    /// Builds filters from command-line values, rejecting contradictions.
    pub fn from_args(
        since: Option<&str>,
        until: Option<&str>,
        photos_only: bool,
        videos_only: bool,
        include_trashed: bool,
        exclude_hidden: bool,
    ) -> Result<Filters, FilterError> {
        let since = since.map(parse_day).transpose()?;
        let until = until.map(parse_day).transpose()?;
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            return Err(FilterError::EmptyRange { since: s, until: u });
        }
        let kinds = match (photos_only, videos_only) {
            (true, true) => return Err(FilterError::BothKinds),
            (true, false) => KindFilter::PhotosOnly,
            (false, true) => KindFilter::VideosOnly,
            (false, false) => KindFilter::All,
        };
        Ok(Filters {
            since,
            until,
            kinds,
            include_trashed,
            exclude_hidden,
        })
    }

    /// Whether `pull` takes this asset.
    pub fn matches(&self, a: &AssetMeta) -> bool {
        let kind_ok = match self.kinds {
            KindFilter::All => true,
            KindFilter::PhotosOnly => a.kind == AssetKind::Photo,
            KindFilter::VideosOnly => a.kind == AssetKind::Video,
        };
        kind_ok
            && self.since.is_none_or(|s| a.captured >= s)
            && self.until.is_none_or(|u| a.captured <= u)
            && (self.include_trashed || !a.trashed)
            && !(self.exclude_hidden && a.hidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        parse_day(s).unwrap()
    }

    fn asset(kind: AssetKind, d: &str) -> AssetMeta {
        AssetMeta {
            kind,
            captured: day(d),
            hidden: false,
            trashed: false,
        }
    }

    #[test]
    fn default_takes_everything_but_trash() {
        let f = Filters::default();
        assert!(f.matches(&asset(AssetKind::Photo, "2020-01-01")));
        assert!(f.matches(&asset(AssetKind::Video, "2020-01-01")));
        let hidden = AssetMeta {
            hidden: true,
            ..asset(AssetKind::Photo, "2020-01-01")
        };
        assert!(f.matches(&hidden));
        let trashed = AssetMeta {
            trashed: true,
            ..asset(AssetKind::Photo, "2020-01-01")
        };
        assert!(!f.matches(&trashed));
        let f = Filters::from_args(None, None, false, false, true, true).unwrap();
        assert!(f.matches(&trashed));
        assert!(!f.matches(&hidden));
    }

    #[test]
    fn date_range_is_inclusive_days() {
        let f = Filters::from_args(
            Some("2024-07-01"),
            Some("2024-07-31"),
            false,
            false,
            false,
            false,
        )
        .unwrap();
        for (d, want) in [
            ("2024-06-30", false),
            ("2024-07-01", true),
            ("2024-07-15", true),
            ("2024-07-31", true),
            ("2024-08-01", false),
        ] {
            assert_eq!(f.matches(&asset(AssetKind::Photo, d)), want, "{d}");
        }
        let only_since =
            Filters::from_args(Some("2024-07-01"), None, false, false, false, false).unwrap();
        assert!(only_since.matches(&asset(AssetKind::Photo, "2099-01-01")));
        assert!(!only_since.matches(&asset(AssetKind::Photo, "2024-06-30")));
    }

    #[test]
    fn kinds() {
        let p = Filters::from_args(None, None, true, false, false, false).unwrap();
        let v = Filters::from_args(None, None, false, true, false, false).unwrap();
        assert!(p.matches(&asset(AssetKind::Photo, "2024-01-01")));
        assert!(!p.matches(&asset(AssetKind::Video, "2024-01-01")));
        assert!(v.matches(&asset(AssetKind::Video, "2024-01-01")));
        assert!(!v.matches(&asset(AssetKind::Photo, "2024-01-01")));
    }

    #[test]
    fn bad_arguments() {
        assert_eq!(
            Filters::from_args(Some("2024-7-1x"), None, false, false, false, false),
            Err(FilterError::BadDate("2024-7-1x".into()))
        );
        assert!(matches!(
            Filters::from_args(
                Some("2024-08-01"),
                Some("2024-07-01"),
                false,
                false,
                false,
                false
            ),
            Err(FilterError::EmptyRange { .. })
        ));
        assert_eq!(
            Filters::from_args(None, None, true, true, false, false),
            Err(FilterError::BothKinds)
        );
        assert!(parse_day("2024-02-30").is_err());
    }
}
