//! The `%XX` escaping that keeps arbitrary text inside one safe token: state-journal fields
//! (no spaces or control bytes) and Maildir++ folder names (no `/`, `.` or control
//! characters). An empty text is written as a lone `%`, so it still is a token.

/// Escape every character of `text` for which `escape` holds as `%XX` per UTF-8 byte;
/// `%` itself is always escaped. Empty text becomes `%`.
pub fn encode(text: &str, escape: impl Fn(char) -> bool) -> String {
    if text.is_empty() {
        return "%".to_string();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '%' || escape(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Undo [`encode`]; `None` for a malformed escape or bytes that are not UTF-8.
pub fn decode(token: &str) -> Option<String> {
    if !token.contains('%') {
        return Some(token.to_string());
    }
    String::from_utf8(decode_bytes(token)?).ok()
}

/// Escape every byte of `data` outside `!` to `~` (and `%`) as `%XX`: any bytes as one
/// token without spaces or control characters. For UTF-8 text this is [`encode`] with the
/// rule "not ASCII graphic". Empty data becomes `%`.
pub fn encode_bytes(data: &[u8]) -> String {
    if data.is_empty() {
        return "%".to_string();
    }
    let mut out = String::with_capacity(data.len());
    for &b in data {
        if b == b'%' || !b.is_ascii_graphic() {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Undo [`encode`] or [`encode_bytes`] to bytes; `None` for a malformed escape.
pub fn decode_bytes(token: &str) -> Option<Vec<u8>> {
    if token == "%" {
        return Some(Vec::new());
    }
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_any_escape_rule() {
        for text in ["", "a b", "100%", "x\0y\r\n", "Entwürfe/2024", "%"] {
            for rule in [
                |c: char| c.is_whitespace() || c.is_control(),
                |c: char| c == '/',
            ] {
                let token = encode(text, rule);
                assert!(!token.is_empty());
                assert_eq!(
                    decode(&token).as_deref(),
                    Some(text),
                    "{text:?} via {token:?}"
                );
            }
        }
        assert_eq!(decode("%G1"), None);
        assert_eq!(decode("%4"), None);
    }

    #[test]
    fn bytes_round_trip_and_text_escapes_as_before() {
        let cases: [&[u8]; 5] = [b"", b"a b", b"100%", b"\xff\x00\n\t", "Entwürfe".as_bytes()];
        for data in cases {
            let token = encode_bytes(data);
            assert!(!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()));
            assert_eq!(decode_bytes(&token).as_deref(), Some(data), "{token:?}");
        }
        let text = "maildir\ntmp/a\tnew/a Entwürfe %";
        assert_eq!(
            encode_bytes(text.as_bytes()),
            encode(text, |c| !c.is_ascii_graphic())
        );
    }
}
