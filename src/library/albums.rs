//! User and shared albums: the listing of `iphone-import albums` and the name matching of
//! `pull --album NAME`.
//!
//! A name matches an album when it equals, ignoring case (Unicode lower-casing), the album's
//! title ("Iceland 2025") or its full path ("Trips/Iceland 2025"). A title shared by two albums
//! selects both. An album's id (its ZUUID, listed by `albums --json`) selects exactly that
//! album, so two albums with the same title or path can be told apart by a script. An unknown
//! name is an error that lists the closest album names.

use crate::untrusted::text::for_terminal_max;
use std::collections::BTreeSet;

use serde::Serialize;

use super::inventory::{AlbumMembers, Inventory};

/// How many close matches an unknown-name error offers.
const MAX_SUGGESTIONS: usize = 5;
/// Normalised similarity (0..1) above which a name is offered as a close match.
const MIN_SIMILARITY: f64 = 0.5;

/// One line of `iphone-import albums`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AlbumLine {
    /// Stable id (ZGENERICALBUM.ZUUID): `pull --album ID` selects this album alone.
    pub id: Option<String>,
    /// "Trips/Iceland 2025": folders and title joined with `/`.
    pub path: String,
    pub title: String,
    pub folders: Vec<String>,
    /// An iCloud Shared Album (other people may add to it).
    pub shared: bool,
    /// Items in the album, including those in Recently Deleted and those not on the phone.
    pub items: usize,
    /// Items whose original is not on this phone (only in iCloud, or missing): `pull` cannot
    /// copy them.
    pub not_on_phone: usize,
    /// Items of the album that are in Recently Deleted.
    pub in_recently_deleted: usize,
}

/// The albums of an inventory, sorted by path (case-insensitive), for display.
pub(crate) fn album_lines(inventory: &Inventory) -> Vec<AlbumLine> {
    let mut lines: Vec<AlbumLine> = inventory
        .albums
        .iter()
        .map(|m| AlbumLine {
            id: m.album.uuid.clone(),
            path: m.album.path.clone(),
            title: m.album.title.clone(),
            folders: m.album.folders.clone(),
            shared: m.album.shared,
            items: m.items,
            not_on_phone: m.not_on_phone,
            in_recently_deleted: m.trashed,
        })
        .collect();
    lines.sort_by(|a, b| (a.path.to_lowercase(), &a.path).cmp(&(b.path.to_lowercase(), &b.path)));
    lines
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AlbumError {
    #[error(
        "no album is named \"{}\"{}; `iphone-import albums` lists them all",
        shown(.name),
        hint(.suggestions)
    )]
    Unknown {
        name: String,
        /// Closest album paths, best first (may be empty).
        suggestions: Vec<String>,
    },
    #[error(
        "the phone's photo database could not be read, so its albums are unknown; run `iphone-import pull` without --album to copy everything"
    )]
    NoDatabase,
}

/// An album name for a terminal: control characters (which a hostile title could use to forge
/// output) and bidi overrides escaped, cut after 160 characters; everything else (quotes,
/// accents, emoji) as is.
pub(crate) fn shown(name: &str) -> String {
    for_terminal_max(name, 160)
}

fn hint(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = suggestions
        .iter()
        .map(|s| format!("\"{}\"", shown(s)))
        .collect();
    format!(" (did you mean {}?)", quoted.join(", "))
}

/// Indices (into `albums`) of every album any of `names` selects, sorted. Every name must select
/// at least one album.
pub(crate) fn select(albums: &[AlbumMembers], names: &[String]) -> Result<Vec<usize>, AlbumError> {
    let mut chosen = BTreeSet::new();
    for name in names {
        let wanted = normalise(name);
        let by_id: Vec<usize> = (0..albums.len())
            .filter(|&i| {
                let id = albums[i].album.uuid.as_deref();
                id.is_some_and(|id| id.eq_ignore_ascii_case(name.trim()))
            })
            .collect();
        let hits: Vec<usize> = if by_id.is_empty() {
            (0..albums.len())
                .filter(|&i| {
                    let a = &albums[i].album;
                    normalise(&a.title) == wanted || normalise(&a.path) == wanted
                })
                .collect()
        } else {
            by_id
        };
        if hits.is_empty() {
            return Err(AlbumError::Unknown {
                name: name.clone(),
                suggestions: suggestions(albums, name),
            });
        }
        chosen.extend(hits);
    }
    Ok(chosen.into_iter().collect())
}

/// Lower case, and the slashes that may surround a path typed by hand removed.
fn normalise(s: &str) -> String {
    s.trim().trim_matches('/').to_lowercase()
}

/// Album paths close to `name` (by title or path), best first.
pub(crate) fn suggestions(albums: &[AlbumMembers], name: &str) -> Vec<String> {
    let wanted = normalise(name);
    let mut scored: Vec<(f64, &str)> = albums
        .iter()
        .map(|m| {
            let a = &m.album;
            let score = [normalise(&a.title), normalise(&a.path)]
                .iter()
                .map(|c| {
                    let s = strsim::normalized_damerau_levenshtein(&wanted, c);
                    // A typed fragment ("iceland") is close to what contains it.
                    if !wanted.is_empty() && c.contains(&wanted) {
                        s.max(0.9)
                    } else {
                        s
                    }
                })
                .fold(0.0, f64::max);
            (score, a.path.as_str())
        })
        .filter(|(score, _)| *score >= MIN_SIMILARITY)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut out: Vec<String> = Vec::new();
    for (_, path) in scored {
        if !out.iter().any(|p| p == path) {
            out.push(path.to_string());
        }
        if out.len() == MAX_SUGGESTIONS {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::photos_db::DbAlbum;

    fn album(pk: i64, folders: &[&str], title: &str) -> AlbumMembers {
        let mut path: Vec<&str> = folders.to_vec();
        path.push(title);
        AlbumMembers {
            album: DbAlbum {
                pk,
                uuid: None,
                kind: 2,
                path: path.join("/"),
                title: title.into(),
                folders: folders.iter().map(|s| s.to_string()).collect(),
                shared: false,
            },
            asset_keys: Vec::new(),
            items: 0,
            not_on_phone: 0,
            trashed: 0,
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn title_or_path_any_case_and_duplicate_titles_select_all() {
        let albums = vec![
            album(1, &["Trips"], "Iceland 2025"),
            album(2, &[], "Family"),
            album(3, &["Old"], "Family"),
            album(4, &[], "Ärzte"),
        ];
        assert_eq!(select(&albums, &names(&["iceland 2025"])).unwrap(), [0]);
        assert_eq!(
            select(&albums, &names(&["TRIPS/Iceland 2025/"])).unwrap(),
            [0]
        );
        assert_eq!(select(&albums, &names(&["family"])).unwrap(), [1, 2]);
        assert_eq!(select(&albums, &names(&["old/family"])).unwrap(), [2]);
        assert_eq!(
            select(&albums, &names(&["ärzte", "Family"])).unwrap(),
            [1, 2, 3]
        );
    }

    #[test]
    fn an_id_selects_one_of_two_albums_with_the_same_path() {
        let mut albums = vec![album(1, &[], "Pets"), album(2, &[], "Pets")];
        albums[0].album.uuid = Some("8F0C6D6E-0000-4000-8000-00000000000A".into());
        albums[1].album.uuid = Some("8F0C6D6E-0000-4000-8000-00000000000B".into());
        assert_eq!(select(&albums, &names(&["pets"])).unwrap(), [0, 1]);
        let by_id = |id: &str| select(&albums, &names(&[id])).unwrap();
        assert_eq!(by_id("8F0C6D6E-0000-4000-8000-00000000000B"), [1]);
        assert_eq!(by_id(" 8f0c6d6e-0000-4000-8000-00000000000a "), [0]);
        let lines: Vec<Option<String>> = album_lines(&Inventory {
            assets: Vec::new(),
            db: None,
            missing_files: Vec::new(),
            counts: Default::default(),
            albums: albums.clone(),
            warnings: Vec::new(),
            unsafe_names: 0,
        })
        .into_iter()
        .map(|l| l.id)
        .collect();
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(Option::is_some));
        assert_ne!(lines[0], lines[1]);
    }

    #[test]
    fn unknown_name_lists_close_matches() {
        let albums = vec![
            album(1, &["Trips"], "Iceland 2025"),
            album(2, &["Trips"], "Lisbon 2024"),
            album(3, &[], "Family"),
        ];
        let err = select(&albums, &names(&["Iceland 2052"])).unwrap_err();
        let AlbumError::Unknown { suggestions, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(
            suggestions.first().map(String::as_str),
            Some("Trips/Iceland 2025")
        );
        assert!(
            !suggestions.contains(&"Family".to_string()),
            "{suggestions:?}"
        );
        assert!(err.to_string().contains("\"Trips/Iceland 2025\""), "{err}");
        let err = select(&albums, &names(&["Iceland\x1b[2J"])).unwrap_err();
        assert!(!err.to_string().contains('\x1b'), "{err}");
        let err = select(&albums, &names(&["zzzzzzzzzz"])).unwrap_err();
        assert!(matches!(&err, AlbumError::Unknown { suggestions, .. } if suggestions.is_empty()));
    }
}
