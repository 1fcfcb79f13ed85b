//! Checks on file names the phone sends in listings. The phone is untrusted: a name becomes part
//! of a path we request and, later, of a local path, so it must be one plain component.
//! (The import layer has its own destination-side checks; library cannot depend on it.)

use crate::untrusted::text::{for_terminal, is_invisible_format};

/// Longest name we accept (APFS allows 255 UTF-8 bytes).
pub const MAX_NAME_BYTES: usize = 255;

/// Why a name from the phone was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadName {
    Empty,
    DotOrDotDot,
    Separator,
    Nul,
    Control,
    TooLong,
    /// Not valid UTF-8 on the phone (decoded with U+FFFD, so it cannot be asked for exactly).
    NotUtf8,
    /// A bidirectional override or other invisible formatting character.
    Invisible,
}

impl std::fmt::Display for BadName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BadName::Empty => "empty name",
            BadName::DotOrDotDot => "\".\" or \"..\"",
            BadName::Separator => "contains a path separator",
            BadName::Nul => "contains a NUL byte",
            BadName::Control => "contains a control character",
            BadName::TooLong => "longer than 255 bytes",
            BadName::NotUtf8 => "not valid UTF-8",
            BadName::Invisible => "contains a bidirectional or invisible formatting character",
        })
    }
}

/// Accepts exactly one path component: not empty, not `.`/`..`, no `/` or `\`, no NUL, no
/// control characters (newlines in names break logs, ledgers and shells).
pub fn check_name(name: &str) -> Result<(), BadName> {
    if name.is_empty() {
        return Err(BadName::Empty);
    }
    if name == "." || name == ".." {
        return Err(BadName::DotOrDotDot);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(BadName::TooLong);
    }
    if name.contains('\0') {
        return Err(BadName::Nul);
    }
    if name.contains(['/', '\\']) {
        return Err(BadName::Separator);
    }
    if name.chars().any(char::is_control) {
        return Err(BadName::Control);
    }
    if name.contains(char::REPLACEMENT_CHARACTER) {
        return Err(BadName::NotUtf8);
    }
    if name.chars().any(is_invisible_format) {
        return Err(BadName::Invisible);
    }
    Ok(())
}

/// A name for messages: escaped and shortened so a hostile name cannot forge log lines or
/// flood the terminal.
pub fn printable(name: &str) -> String {
    for_terminal(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_camera_names() {
        for n in [
            "IMG_0001.HEIC",
            "100APPLE",
            "FullSizeRender.jpg",
            "...",
            "a b.JPG",
        ] {
            assert_eq!(check_name(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn refuses_hostile_names() {
        let long = "a".repeat(256);
        let cases = [
            ("", BadName::Empty),
            (".", BadName::DotOrDotDot),
            ("..", BadName::DotOrDotDot),
            ("../x", BadName::Separator),
            ("a\\b", BadName::Separator),
            ("a\0b", BadName::Nul),
            ("IMG\n0001.JPG", BadName::Control),
            ("IMG\u{7f}.JPG", BadName::Control),
            ("IMG\u{9b}.JPG", BadName::Control),
            ("IMG\u{202e}GPJ.exe", BadName::Invisible),
            ("IMG_\u{fffd}.JPG", BadName::NotUtf8),
            (long.as_str(), BadName::TooLong),
        ];
        for (n, want) in cases {
            assert_eq!(check_name(n), Err(want), "{}", printable(n));
        }
    }
}
