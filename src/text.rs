//! Text from the other side made safe to print: a server's refusal, a folder name, a
//! certificate's subject, a message's From and Subject all reach the user's terminal, and a
//! hostile peer can put escape sequences in any of them (clear the screen, retitle the
//! window, rewrite an earlier line to hide a warning, on some terminals answer back as if
//! typed). [`printable`] is the one place that decides what of such text may pass.
//!
//! It replaces every control character, and nothing else, with `?`: C0 (U+0000 to U+001F,
//! which includes ESC, CR, LF and TAB), DEL (U+007F) and C1 (U+0080 to U+009F, where U+009B
//! is a one-character CSI to terminals that read it). Everything else, non-ASCII letters
//! included, is shown as sent: names and subjects in other scripts stay readable, and a
//! replaced character still shows where the text held something.

use std::borrow::Cow;

/// The character shown for each control character.
const REPLACEMENT: char = '?';

/// `text` with every C0 and C1 control character and DEL replaced by `?`; borrowed when
/// there is none, as in almost all text.
pub fn printable(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| if c.is_control() { REPLACEMENT } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// Bytes from the other side as printable text: UTF-8 where they are UTF-8 (invalid
/// sequences become U+FFFD), then [`printable`].
pub fn printable_bytes(bytes: &[u8]) -> String {
    printable(&String::from_utf8_lossy(bytes)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_lose_their_escape() {
        assert_eq!(printable("NO \x1b]0;owned\x07 bad"), "NO ?]0;owned? bad");
        assert_eq!(printable("a\r\nb\tc\0d"), "a??b?c?d");
    }

    #[test]
    fn del_and_c1_controls_are_replaced() {
        assert_eq!(printable("x\x7fy"), "x?y");
        assert_eq!(printable("\u{9b}2J\u{85}\u{80}\u{9f}"), "?2J???");
    }

    #[test]
    fn other_text_is_kept_and_borrowed() {
        let text = "Grüße aus Köln, 東京 – ok ☃ \u{a0}";
        assert!(matches!(printable(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn bytes_that_are_not_utf8_become_replacement_characters() {
        assert_eq!(printable_bytes(b"ok \xff\x1b[2J"), "ok \u{fffd}?[2J");
    }
}
