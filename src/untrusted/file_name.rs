//! The one check on file and folder names that come from the phone. The phone is untrusted: a
//! name it reports becomes part of a path we request and, later, of a local path, so it must be
//! one plain component before it is used for either. Device paths (`DCIM/100APPLE/IMG_0001.HEIC`)
//! are checked component by component.

use std::fmt;

use super::text::{for_terminal, is_invisible_format};

/// Longest name we accept (APFS allows 255 UTF-8 bytes).
pub(crate) const MAX_NAME_BYTES: usize = 255;

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
    /// The importer's own state folder under DEST (refused by the import layer's paths).
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
    pub fn new(name: &str, problem: NameProblem) -> Self {
        // Escaped and bounded even for a hostile multi-kilobyte name.
        InvalidName {
            name: for_terminal(name),
            problem,
        }
    }
}

/// Checks that `name` is one ordinary path component: not empty, not `.` or `..`, no `/` or
/// `\`, no NUL or other control characters, at most [`MAX_NAME_BYTES`] bytes. Unicode is fine.
pub(crate) fn validate_name(name: &str) -> Result<&str, InvalidName> {
    name_problem(name).map_or(Ok(name), |problem| Err(InvalidName::new(name, problem)))
}

/// The first rule `name` breaks, in a fixed order (so one name always gets the same reason).
fn name_problem(name: &str) -> Option<NameProblem> {
    Some(if name.is_empty() {
        NameProblem::Empty
    } else if name == "." {
        NameProblem::Dot
    } else if name == ".." {
        NameProblem::DotDot
    } else if name.len() > MAX_NAME_BYTES {
        NameProblem::TooLong
    } else if name.contains('\0') {
        NameProblem::Nul
    } else if name.contains(['/', '\\']) {
        NameProblem::Slash
    } else if name.chars().any(char::is_control) {
        NameProblem::Control
    } else if name.contains(char::REPLACEMENT_CHARACTER) {
        // Not valid UTF-8 on the phone (decoded with U+FFFD, so it cannot be asked for exactly).
        NameProblem::NotUtf8
    } else if name.chars().any(is_invisible_format) {
        NameProblem::Invisible
    } else {
        return None;
    })
}

/// Checks a device path relative to the media root (`DCIM/100APPLE/IMG_0001.HEIC`; one leading
/// `/` is tolerated, as AFC paths are often written absolute) and returns its components.
/// Empty components (`a//b`, a trailing `/`) are refused like any other bad name.
pub(crate) fn validate_device_path(path: &str) -> Result<Vec<&str>, InvalidName> {
    let rel = path.strip_prefix('/').unwrap_or(path);
    if rel.is_empty() {
        return Err(InvalidName::new(path, NameProblem::Empty));
    }
    rel.split('/').map(validate_name).collect()
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
    fn accepts_camera_names() {
        for n in [
            "IMG_0001.HEIC",
            "100APPLE",
            "FullSizeRender.jpg",
            "...",
            "a b.JPG",
        ] {
            assert_eq!(validate_name(n), Ok(n), "{n}");
        }
    }

    #[test]
    fn refuses_hostile_names_of_listings() {
        let long = "a".repeat(256);
        let cases = [
            ("", NameProblem::Empty),
            (".", NameProblem::Dot),
            ("..", NameProblem::DotDot),
            ("../x", NameProblem::Slash),
            ("a\\b", NameProblem::Slash),
            ("a\0b", NameProblem::Nul),
            ("IMG\n0001.JPG", NameProblem::Control),
            ("IMG\u{7f}.JPG", NameProblem::Control),
            ("IMG\u{9b}.JPG", NameProblem::Control),
            ("IMG\u{202e}GPJ.exe", NameProblem::Invisible),
            ("IMG_\u{fffd}.JPG", NameProblem::NotUtf8),
            (long.as_str(), NameProblem::TooLong),
        ];
        for (n, want) in cases {
            assert_eq!(
                validate_name(n).unwrap_err().problem,
                want,
                "{}",
                for_terminal(n)
            );
        }
    }
}
