//! Names for DEST made from values the phone sends (`sanitize_component`). Checking a name
//! from the phone is `untrusted::file_name`'s job; its items are re-exported here for the
//! import layer's callers.

pub(crate) use crate::untrusted::file_name::{InvalidName, NameProblem};
pub(crate) use crate::untrusted::file_name::{MAX_NAME_BYTES, validate_device_path, validate_name};
use crate::untrusted::text::is_invisible_format;

/// Turns a value from the phone (device name, folder name) into something usable *inside* one
/// path component: `/`, control characters and the characters FAT/exFAT refuse
/// (`\ : * ? " < > |`) become `_`, and a value that would be empty,
/// `.` or `..` becomes `_`; a leading `.` becomes `_` (no hidden folders); bidirectional and
/// invisible formatting characters become `_`. Overlong values are cut at a character boundary.
pub(crate) fn sanitize_component(value: &str) -> String {
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
