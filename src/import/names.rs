//! Validation of file and folder names that come from the phone.
//!
//! The phone is untrusted: a name it reports must be a single, ordinary path component before it
//! is ever joined to a local path. Device paths (`DCIM/100APPLE/IMG_0001.HEIC`) are checked
//! component by component.

use std::fmt;

pub use crate::library::names::MAX_NAME_BYTES;
use crate::library::names::{BadName, check_name};
use crate::untrusted::text::{for_terminal, is_invisible_format};

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    Dot,
    DotDot,
    Slash,
    Nul,
    Control,
    TooLong,
    NotUtf8,
    Invisible,
    /// The importer's own state folder under DEST.
    Reserved,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameProblem::Empty => "it is empty",
            NameProblem::Dot => "it is `.`",
            NameProblem::DotDot => "it is `..`",
            NameProblem::Slash => "it contains a path separator (`/` or `\\`)",
            NameProblem::Nul => "it contains a NUL byte",
            NameProblem::Control => "it contains a control character",
            NameProblem::TooLong => "it is longer than 255 bytes",
            NameProblem::NotUtf8 => "it is not valid UTF-8",
            NameProblem::Invisible => {
                "it contains a bidirectional or invisible formatting character"
            }
            NameProblem::Reserved => "it is the importer's own state folder",
        })
    }
}

/// A name (or a component of a device path) that cannot be used as a local file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsafe file name \"{name}\" from the phone: {problem}; it was skipped")]
pub struct InvalidName {
    /// The offending name, escaped for the terminal and shortened to a readable length.
    pub name: String,
    pub problem: NameProblem,
}

impl InvalidName {
    pub(crate) fn new(name: &str, problem: NameProblem) -> Self {
        // Escaped and bounded even for a hostile multi-kilobyte name.
        InvalidName {
            name: for_terminal(name),
            problem,
        }
    }
}

/// Checks that `name` is one ordinary path component: not empty, not `.` or `..`, no `/` or
/// `\`, no NUL or other control characters, at most [`MAX_NAME_BYTES`] bytes. Unicode is fine.
pub fn validate_name(name: &str) -> Result<&str, InvalidName> {
    // One rule for "a plain component", shared with the library's listing checks.
    check_name(name).map(|()| name).map_err(|bad| {
        let problem = match bad {
            BadName::Empty => NameProblem::Empty,
            BadName::DotOrDotDot if name == "." => NameProblem::Dot,
            BadName::DotOrDotDot => NameProblem::DotDot,
            BadName::Separator => NameProblem::Slash,
            BadName::Nul => NameProblem::Nul,
            BadName::Control => NameProblem::Control,
            BadName::TooLong => NameProblem::TooLong,
            BadName::NotUtf8 => NameProblem::NotUtf8,
            BadName::Invisible => NameProblem::Invisible,
        };
        InvalidName::new(name, problem)
    })
}

/// Checks a device path relative to the media root (`DCIM/100APPLE/IMG_0001.HEIC`; one leading
/// `/` is tolerated, as AFC paths are often written absolute) and returns its components.
/// Empty components (`a//b`, a trailing `/`) are refused like any other bad name.
pub fn validate_device_path(path: &str) -> Result<Vec<&str>, InvalidName> {
    let rel = path.strip_prefix('/').unwrap_or(path);
    if rel.is_empty() {
        return Err(InvalidName::new(path, NameProblem::Empty));
    }
    rel.split('/').map(validate_name).collect()
}

/// Turns a value from the phone (device name, folder name) into something usable *inside* one
/// path component: `/`, control characters and the characters FAT/exFAT refuse
/// (`\ : * ? " < > |`) become `_`, and a value that would be empty,
/// `.` or `..` becomes `_`; a leading `.` becomes `_` (no hidden folders); bidirectional and
/// invisible formatting characters become `_`. Overlong values are cut at a character boundary.
pub fn sanitize_component(value: &str) -> String {
    let mut out: String = value
        .chars()
        .map(|c| {
            // `/` and control characters are unsafe anywhere; the others are refused by
            // FAT/exFAT, which many external photo drives use.
            if c.is_control()
                || is_invisible_format(c)
                || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
            {
                '_'
            } else {
                c
            }
        })
        .collect();
    if out.len() > MAX_NAME_BYTES {
        let mut cut = MAX_NAME_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    if out == "." || out == ".." {
        out = "_".to_string();
    }
    // A leading dot would make a hidden folder (`../../x` would become `.._.._x`).
    if out.starts_with('.') {
        out.replace_range(..1, "_");
    }
    if out.is_empty() {
        out = "_".to_string();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_and_unicode_names_pass() {
        for n in ["IMG_0001.HEIC", "Zoë ☀️ 写真.jpg", ".hidden", "a b", "..."] {
            assert_eq!(validate_name(n), Ok(n));
        }
    }

    #[test]
    fn hostile_names_are_refused_with_reason() {
        let long = "x".repeat(300);
        let cases: [(&str, NameProblem); 9] = [
            ("", NameProblem::Empty),
            (".", NameProblem::Dot),
            ("..", NameProblem::DotDot),
            ("a/b", NameProblem::Slash),
            ("/", NameProblem::Slash),
            // The phone lists it as one name, but Windows-formatted NAS shares and FAT drives
            // would read it as a separator.
            ("a\\b", NameProblem::Slash),
            ("a\0b", NameProblem::Nul),
            ("a\nb", NameProblem::Control),
            (&long, NameProblem::TooLong),
        ];
        for (name, problem) in cases {
            let err = validate_name(name).unwrap_err();
            assert_eq!(err.problem, problem, "{name:?}");
        }
        assert!(validate_name("a\u{7f}").is_err());
        assert!(validate_name("a\u{85}").is_err());
    }

    #[test]
    fn error_names_the_offender_and_stays_short() {
        let err = validate_name("../etc").unwrap_err();
        assert!(err.to_string().contains("../etc"), "{err}");
        let err = validate_name(&"y".repeat(300)).unwrap_err();
        assert!(err.name.len() < 100);
    }

    #[test]
    fn limit_is_in_bytes() {
        let ok = "é".repeat(127); // 254 bytes
        assert!(validate_name(&ok).is_ok());
        let bad = "é".repeat(128); // 256 bytes
        assert_eq!(
            validate_name(&bad).unwrap_err().problem,
            NameProblem::TooLong
        );
    }

    #[test]
    fn device_paths_are_checked_per_component() {
        assert_eq!(
            validate_device_path("/DCIM/100APPLE/IMG_0001.HEIC").unwrap(),
            vec!["DCIM", "100APPLE", "IMG_0001.HEIC"]
        );
        assert_eq!(validate_device_path("DCIM/x").unwrap(), vec!["DCIM", "x"]);
        for bad in [
            "",
            "/",
            "DCIM/../x",
            "DCIM//x",
            "DCIM/x/",
            "//x",
            "DCIM/\u{1}",
        ] {
            assert!(validate_device_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sanitize_never_yields_a_separator_or_dots() {
        assert_eq!(sanitize_component("Bob's ../iPhone"), "Bob's .._iPhone");
        assert_eq!(
            sanitize_component("../../x\u{1b}[31m\nsecond line"),
            "_._.._x_[31m_second line"
        );
        assert_eq!(sanitize_component(".hidden"), "_hidden");
        assert_eq!(sanitize_component("Ann\u{202e}enohP"), "Ann_enohP");
        assert_eq!(sanitize_component(".."), "_");
        assert_eq!(sanitize_component(""), "_");
        assert_eq!(sanitize_component("a\nb\\c"), "a_b_c");
        assert_eq!(
            sanitize_component("iPhone: \"Ann\" <3?"),
            "iPhone_ _Ann_ _3_"
        );
        let s = sanitize_component(&"é".repeat(200));
        assert!(s.len() <= MAX_NAME_BYTES);
        assert!(validate_name(&s).is_ok());
    }
}
