//! Showing phone-supplied strings (device names, file names, album titles, values in errors)
//! on a terminal or in a log line: no control character reaches the terminal (no escape
//! sequences, no forged lines), bidirectional overrides and other invisible formatting are shown
//! as `\u{...}` escapes (a name cannot pretend to end in ".jpg"), and long strings are cut with
//! an ellipsis so a 10 kB name cannot flood the screen.

/// Characters of a phone string shown before it is cut.
pub(crate) const MAX_SHOWN_CHARS: usize = 80;

/// Characters of a phone path (device path, destination path) shown before it is cut: more
/// than any real one.
pub(crate) const MAX_SHOWN_PATH_CHARS: usize = 300;

/// Characters of an error text shown (it may quote the phone).
pub(crate) const MAX_SHOWN_REASON: usize = 600;

/// A path from the phone made safe to print (cut only when absurdly long).
pub(crate) fn path_for_terminal(s: &str) -> String {
    for_terminal_max(s, MAX_SHOWN_PATH_CHARS)
}

/// `s` made safe to print, at most [`MAX_SHOWN_CHARS`] characters plus an ellipsis.
pub(crate) fn for_terminal(s: &str) -> String {
    for_terminal_max(s, MAX_SHOWN_CHARS)
}

/// As [`for_terminal`], cut after `max_chars` characters of the original.
pub(crate) fn for_terminal_max(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars * 2));
    for (i, c) in s.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        if c.is_control() || is_invisible_format(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Bidirectional controls and other zero-width formatting characters: harmless in a file
/// name on disk, misleading on a terminal (U+202E shows "gpj.exe" as "exe.jpg").
pub(crate) fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_newlines_and_bidi_overrides_are_shown_escaped() {
        assert_eq!(
            for_terminal("../../x\u{1b}[31m\nsecond line"),
            "../../x\\u{1b}[31m\\nsecond line"
        );
        assert_eq!(for_terminal("IMG\u{202e}gpj.exe"), "IMG\\u{202e}gpj.exe");
        assert_eq!(for_terminal("Zoë ☀️ 写真"), "Zoë ☀️ 写真");
    }

    #[test]
    fn long_strings_are_cut_with_an_ellipsis() {
        let shown = for_terminal(&"a".repeat(10_000));
        assert_eq!(shown.chars().count(), MAX_SHOWN_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(for_terminal(&"b".repeat(MAX_SHOWN_CHARS)), "b".repeat(80));
    }
}
