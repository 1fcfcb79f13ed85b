//! `--layout TEMPLATE`: where each imported file goes under DEST.
//!
//! The template is parsed once (unknown variables fail at parse time) and rendered per resource.
//! Rendering works on the *asset*: a Live Photo's photo and video share the asset's stem and
//! differ only in extension, and an edited render is `<stem>_edited.<ext>` beside the original.
//! Every rendered component is validated, so a hostile value from the phone (a device called
//! `../..`) can never make a path that leaves DEST.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};

use crate::library::asset::split_name;

use super::names::{InvalidName, NameProblem, sanitize_component, validate_name};

/// The layout used when `--layout` is not given.
pub const DEFAULT_LAYOUT: &str = "{year}/{month}/{name}";

/// Folder under DEST that holds the importer's own state; no rendered path may start with it.
pub(crate) const STATE_DIR: &str = ".iphone-import";

/// Variables a template may use, in the order they are listed in error messages.
pub(crate) const KNOWN_VARIABLES: &[&str] = &[
    "year",
    "month",
    "day",
    "name",
    "stem",
    "ext",
    "device",
    "dcim_folder",
    "album",
    "original_name",
    "favorite",
    "kind",
];

/// What `{album}` becomes for an asset in no (selected) album.
pub(crate) const NO_ALBUM: &str = "No Album";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Year,
    Month,
    Day,
    Name,
    Stem,
    Ext,
    Device,
    DcimFolder,
    Album,
    OriginalName,
    Favorite,
    Kind,
}

impl Var {
    fn from_name(name: &str) -> Option<Var> {
        Some(match name {
            "year" => Var::Year,
            "month" => Var::Month,
            "day" => Var::Day,
            "name" => Var::Name,
            "stem" => Var::Stem,
            "ext" => Var::Ext,
            "device" => Var::Device,
            "dcim_folder" => Var::DcimFolder,
            "album" => Var::Album,
            "original_name" => Var::OriginalName,
            "favorite" => Var::Favorite,
            "kind" => Var::Kind,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Var(Var),
}

/// Errors from parsing a template or rendering a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error(
        "unknown variable {{{name}}} in --layout {template:?}; known variables: {}",
        known_list()
    )]
    UnknownVariable { name: String, template: String },
    #[error(
        "unclosed `{{` in --layout {template:?}; write `{{{{` for a literal brace, or close the variable with `}}`"
    )]
    Unclosed { template: String },
    #[error("stray `}}` in --layout {template:?}; write `}}}}` for a literal brace")]
    StrayBrace { template: String },
    #[error("--layout {template:?} must be a relative path inside DEST (no leading `/`)")]
    Absolute { template: String },
    #[error(
        "--layout {template:?} has an empty, `.` or `..` folder; every folder must be a plain name"
    )]
    BadComponent { template: String },
    #[error("--layout {template:?} would write into DEST/{STATE_DIR}, which is the importer's own")]
    StateDir { template: String },
    #[error(
        "the last part of --layout {template:?} must contain {{name}}, or both {{stem}} and {{ext}}, so that files (and the two halves of a Live Photo) get distinct names"
    )]
    NoFileName { template: String },
    #[error("--layout produced an unusable path: {0}")]
    Rendered(#[from] InvalidName),
}

fn known_list() -> String {
    KNOWN_VARIABLES
        .iter()
        .map(|v| format!("{{{v}}}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A parsed `--layout` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    template: String,
    /// One entry per path component (split at literal `/`).
    components: Vec<Vec<Piece>>,
}

/// What a resource contributes to its path. `stem` is the *asset's* stem (a Live Photo's video
/// passes the photo's stem) and `ext` the resource's own extension without the dot.
/// `date` is the capture date as local wall time (see `dates::CaptureDate::wall`).
#[derive(Debug, Clone, Copy)]
pub struct ResourceVars<'a> {
    pub date: NaiveDate,
    pub stem: &'a str,
    pub ext: &'a str,
    /// Device name as the phone reports it (untrusted; sanitised here).
    pub device: &'a str,
    /// Camera folder on the phone, e.g. `100APPLE` (untrusted; sanitised here).
    pub dcim_folder: &'a str,
    /// Album path ("Trips/Iceland 2025", untrusted): one component, `/` becomes `_`; empty
    /// means [`NO_ALBUM`].
    pub album: &'a str,
    /// Stem of the name the asset had before it came onto the phone (Photos'
    /// ZORIGINALFILENAME, untrusted); empty = unknown, and `{original_name}` falls back to `stem`.
    pub original_stem: &'a str,
    /// Favourite in Photos: `{favorite}` is `favorite`, else empty (and an empty folder is left
    /// out of the path).
    pub favorite: bool,
    /// `{kind}`: `photo`, `video`, `screenshot` or `live`.
    pub kind: &'a str,
}

impl Default for Layout {
    fn default() -> Self {
        Layout::parse(DEFAULT_LAYOUT).expect("the default layout parses")
    }
}

impl Layout {
    /// Whether the template names `{original_name}`, the one variable read from the phone's
    /// per-asset metadata.
    pub(crate) fn uses_original_name(&self) -> bool {
        self.components
            .iter()
            .flatten()
            .any(|p| *p == Piece::Var(Var::OriginalName))
    }

    /// Parses a template; all errors (unknown variable, bad braces, escaping folders) surface here.
    pub fn parse(template: &str) -> Result<Layout, LayoutError> {
        let t = || template.to_string();
        if template.starts_with('/') {
            return Err(LayoutError::Absolute { template: t() });
        }
        let mut components: Vec<Vec<Piece>> = vec![Vec::new()];
        let mut lit = String::new();
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '}' => return Err(LayoutError::StrayBrace { template: t() }),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(LayoutError::Unclosed { template: t() }),
                        }
                    }
                    let var = Var::from_name(&name).ok_or(LayoutError::UnknownVariable {
                        name,
                        template: t(),
                    })?;
                    let current = components.last_mut().expect("never empty");
                    if !lit.is_empty() {
                        current.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    current.push(Piece::Var(var));
                }
                '/' => {
                    let current = components.last_mut().expect("never empty");
                    if !lit.is_empty() {
                        current.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    components.push(Vec::new());
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            components
                .last_mut()
                .expect("never empty")
                .push(Piece::Lit(lit));
        }
        for comp in &components {
            match comp.as_slice() {
                [] => return Err(LayoutError::BadComponent { template: t() }),
                [Piece::Lit(s)] if s == "." || s == ".." => {
                    return Err(LayoutError::BadComponent { template: t() });
                }
                [Piece::Lit(s)] => {
                    validate_name(s)?;
                }
                _ => {}
            }
        }
        if let [Piece::Lit(s)] = components[0].as_slice()
            && s == STATE_DIR
        {
            return Err(LayoutError::StateDir { template: t() });
        }
        let last = components.last().expect("never empty");
        let has = |v: Var| last.contains(&Piece::Var(v));
        let has_stem = has(Var::Stem) || has(Var::OriginalName);
        if !(has(Var::Name) || (has_stem && has(Var::Ext))) {
            return Err(LayoutError::NoFileName { template: t() });
        }
        Ok(Layout {
            template: template.to_string(),
            components,
        })
    }

    /// Whether the template uses `{album}` (then an asset gets a copy in each of its albums).
    pub(crate) fn has_album(&self) -> bool {
        self.components
            .iter()
            .flatten()
            .any(|p| *p == Piece::Var(Var::Album))
    }

    /// The template as given.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// Renders the relative destination path of one resource.
    pub fn render(&self, vars: &ResourceVars<'_>) -> Result<RelPath, LayoutError> {
        let stem = sanitize_component(vars.stem);
        let ext = if vars.ext.is_empty() {
            String::new()
        } else {
            sanitize_component(vars.ext)
        };
        let name = if ext.is_empty() {
            stem.clone()
        } else {
            format!("{stem}.{ext}")
        };
        let device = sanitize_component(vars.device);
        let folder = sanitize_component(vars.dcim_folder);
        let album = sanitize_component(if vars.album.is_empty() {
            NO_ALBUM
        } else {
            vars.album
        });
        let original = if vars.original_stem.is_empty() {
            stem.clone()
        } else {
            sanitize_component(vars.original_stem)
        };
        let kind = sanitize_component(vars.kind);
        let mut out = Vec::with_capacity(self.components.len());
        for comp in &self.components {
            let mut s = String::new();
            for piece in comp {
                match piece {
                    Piece::Lit(l) => s.push_str(l),
                    Piece::Var(Var::Year) => s.push_str(&format!("{:04}", vars.date.year())),
                    Piece::Var(Var::Month) => s.push_str(&format!("{:02}", vars.date.month())),
                    Piece::Var(Var::Day) => s.push_str(&format!("{:02}", vars.date.day())),
                    Piece::Var(Var::Name) => s.push_str(&name),
                    Piece::Var(Var::Stem) => s.push_str(&stem),
                    Piece::Var(Var::Ext) => s.push_str(&ext),
                    Piece::Var(Var::Device) => s.push_str(&device),
                    Piece::Var(Var::DcimFolder) => s.push_str(&folder),
                    Piece::Var(Var::Album) => s.push_str(&album),
                    Piece::Var(Var::OriginalName) => s.push_str(&original),
                    Piece::Var(Var::Favorite) if vars.favorite => s.push_str("favorite"),
                    Piece::Var(Var::Favorite) => {}
                    Piece::Var(Var::Kind) => s.push_str(&kind),
                }
            }
            // `{favorite}/` of a non-favourite: no folder rather than an empty name.
            if s.is_empty() && comp.contains(&Piece::Var(Var::Favorite)) {
                continue;
            }
            out.push(s);
        }
        Ok(RelPath::new(out)?)
    }

    /// Renders the path of an edited render (`--edited`): `<stem>_edited.<edited_ext>` in the
    /// folder of the original, whatever the template does to the name.
    pub fn render_edited(
        &self,
        vars: &ResourceVars<'_>,
        edited_ext: &str,
    ) -> Result<RelPath, LayoutError> {
        let stem = format!("{}_edited", vars.stem);
        self.render(&ResourceVars {
            stem: &stem,
            ext: edited_ext,
            ..*vars
        })
    }
}

/// A relative path under DEST whose every component is a validated plain name, and which does
/// not lead into DEST/.iphone-import. Joining it to DEST can never leave DEST (short of
/// symlinks the user made inside DEST).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelPath(Vec<String>);

impl RelPath {
    /// Validates components into a path.
    pub fn new(components: Vec<String>) -> Result<RelPath, InvalidName> {
        if components.is_empty() {
            return Err(InvalidName::new("", NameProblem::Empty));
        }
        for c in &components {
            validate_name(c)?;
        }
        if components[0] == STATE_DIR {
            return Err(InvalidName::new(STATE_DIR, NameProblem::Reserved));
        }
        Ok(RelPath(components))
    }

    /// Parses a `/`-separated path as stored in the ledger.
    pub fn parse(s: &str) -> Result<RelPath, InvalidName> {
        RelPath::new(s.split('/').map(str::to_string).collect())
    }

    /// Components, outermost first.
    pub fn components(&self) -> &[String] {
        &self.0
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.0.last().expect("never empty")
    }

    /// As a relative `Path`.
    pub fn to_path_buf(&self) -> PathBuf {
        self.0.iter().collect()
    }

    /// `dest.join(self)`.
    pub fn under(&self, dest: &Path) -> PathBuf {
        let mut p = dest.to_path_buf();
        p.extend(self.0.iter());
        p
    }

    /// The same path with a collision suffix on the file name: `IMG_0001 (2).HEIC` for `n = 2`
    /// (the convention of desktop file managers and immich-go); `n = 0` is the path itself.
    pub(crate) fn with_suffix(&self, n: u32) -> Result<RelPath, InvalidName> {
        if n == 0 {
            return Ok(self.clone());
        }
        let (stem, ext) = split_name(self.file_name());
        let name = if ext.is_empty() {
            format!("{stem} ({n})")
        } else {
            format!("{stem} ({n}).{ext}")
        };
        let mut comps = self.0.clone();
        *comps.last_mut().expect("never empty") = name;
        RelPath::new(comps)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(stem: &'a str, ext: &'a str, device: &'a str) -> ResourceVars<'a> {
        ResourceVars {
            date: NaiveDate::from_ymd_opt(2023, 5, 7).unwrap(),
            stem,
            ext,
            device,
            dcim_folder: "100APPLE",
            album: "",
            original_stem: "",
            favorite: false,
            kind: "photo",
        }
    }

    #[test]
    fn original_name_favorite_and_kind() {
        let l = Layout::parse("{kind}/{favorite}/{original_name}.{ext}").unwrap();
        assert!(l.uses_original_name());
        assert!(
            !Layout::parse("{kind}/{favorite}/{name}")
                .unwrap()
                .uses_original_name()
        );
        let v = vars("IMG_0001", "HEIC", "x");
        // Not a favourite: the folder is left out; no original name: the phone's stem.
        assert_eq!(l.render(&v).unwrap().to_string(), "photo/IMG_0001.HEIC");
        let v = ResourceVars {
            original_stem: "DSC/0042",
            favorite: true,
            kind: "screenshot",
            ..v
        };
        assert_eq!(
            l.render(&v).unwrap().to_string(),
            "screenshot/favorite/DSC_0042.HEIC"
        );
        assert!(
            Layout::parse("{year}/{original_name}").is_err(),
            "needs {{ext}}"
        );
    }

    #[test]
    fn album_is_one_sanitised_component_with_a_fallback() {
        let l = Layout::parse("{album}/{name}").unwrap();
        let v = vars("IMG_0001", "HEIC", "x");
        assert_eq!(l.render(&v).unwrap().to_string(), "No Album/IMG_0001.HEIC");
        let v = ResourceVars {
            album: "Trips/Ísland 2025",
            ..v
        };
        assert_eq!(
            l.render(&v).unwrap().to_string(),
            "Trips_Ísland 2025/IMG_0001.HEIC"
        );
        let v = ResourceVars { album: "..", ..v };
        assert_eq!(l.render(&v).unwrap().to_string(), "_/IMG_0001.HEIC");
    }

    #[test]
    fn default_layout_renders_year_month_name() {
        let l = Layout::default();
        let p = l.render(&vars("IMG_0001", "HEIC", "iPhone")).unwrap();
        assert_eq!(p.to_string(), "2023/05/IMG_0001.HEIC");
        assert_eq!(p.to_path_buf(), PathBuf::from("2023/05/IMG_0001.HEIC"));
    }

    #[test]
    fn live_photo_halves_share_the_asset_stem() {
        let l = Layout::parse("{year}/{year}-{month}-{day}_{stem}.{ext}").unwrap();
        let photo = l.render(&vars("IMG_0042", "HEIC", "x")).unwrap();
        let video = l.render(&vars("IMG_0042", "MOV", "x")).unwrap();
        assert_eq!(photo.to_string(), "2023/2023-05-07_IMG_0042.HEIC");
        assert_eq!(video.to_string(), "2023/2023-05-07_IMG_0042.MOV");
    }

    #[test]
    fn edited_render_sits_beside_the_original() {
        let l = Layout::parse("{device}/{dcim_folder}/{day}-{name}").unwrap();
        let v = vars("IMG_0042", "HEIC", "Ann's iPhone");
        assert_eq!(
            l.render(&v).unwrap().to_string(),
            "Ann's iPhone/100APPLE/07-IMG_0042.HEIC"
        );
        assert_eq!(
            l.render_edited(&v, "jpg").unwrap().to_string(),
            "Ann's iPhone/100APPLE/07-IMG_0042_edited.jpg"
        );
    }

    #[test]
    fn unknown_variable_lists_known_ones() {
        let err = Layout::parse("{year}/{albm}/{name}").unwrap_err();
        assert!(matches!(&err, LayoutError::UnknownVariable { name, .. } if name == "albm"));
        let msg = err.to_string();
        for v in KNOWN_VARIABLES {
            assert!(msg.contains(&format!("{{{v}}}")), "{msg}");
        }
    }

    #[test]
    fn braces_escape_and_errors() {
        let l = Layout::parse("{{x}}/{name}").unwrap();
        assert_eq!(
            l.render(&vars("a", "b", "d")).unwrap().to_string(),
            "{x}/a.b"
        );
        assert!(matches!(
            Layout::parse("{year/{name}"),
            Err(LayoutError::UnknownVariable { .. })
        ));
        assert!(matches!(
            Layout::parse("{name"),
            Err(LayoutError::Unclosed { .. })
        ));
        assert!(matches!(
            Layout::parse("a}/{name}"),
            Err(LayoutError::StrayBrace { .. })
        ));
    }

    #[test]
    fn templates_that_escape_or_collide_are_refused() {
        for t in [
            "/abs/{name}",
            "../{name}",
            "a/./{name}",
            "a//{name}",
            "{name}/",
        ] {
            assert!(Layout::parse(t).is_err(), "{t}");
        }
        assert!(matches!(
            Layout::parse(".iphone-import/{name}"),
            Err(LayoutError::StateDir { .. })
        ));
        assert!(matches!(
            Layout::parse("{year}/{stem}"),
            Err(LayoutError::NoFileName { .. })
        ));
        assert!(matches!(
            Layout::parse("{name}/x"),
            Err(LayoutError::NoFileName { .. })
        ));
    }

    #[test]
    fn device_name_cannot_escape() {
        let l = Layout::parse("{device}/{name}").unwrap();
        for dev in ["Bob's ../iPhone", "..", "../../etc", "/", "a\nb", ""] {
            let p = l.render(&vars("IMG_1", "JPG", dev)).unwrap();
            assert_eq!(p.components().len(), 2, "{dev:?} -> {p}");
            assert!(p.components().iter().all(|c| c != ".." && c != "."));
            assert!(!p.to_path_buf().is_absolute());
        }
        let l = Layout::parse("{device}{year}/{name}").unwrap();
        assert_eq!(
            l.render(&vars("a", "b", "..")).unwrap().to_string(),
            "_2023/a.b"
        );
    }

    #[test]
    fn split_and_suffix() {
        assert_eq!(split_name("IMG_1.HEIC"), ("IMG_1", "HEIC"));
        assert_eq!(split_name("a.tar.gz"), ("a.tar", "gz"));
        assert_eq!(split_name(".hidden"), (".hidden", ""));
        assert_eq!(split_name("noext"), ("noext", ""));
        let p = RelPath::parse("2023/05/IMG_1.HEIC").unwrap();
        assert_eq!(p.with_suffix(0).unwrap(), p);
        assert_eq!(
            p.with_suffix(2).unwrap().to_string(),
            "2023/05/IMG_1 (2).HEIC"
        );
        assert!(RelPath::parse("../x").is_err());
        assert!(RelPath::parse(".iphone-import/x").is_err());
        assert!(RelPath::parse("a//b").is_err());
    }
}
