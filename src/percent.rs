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
    if token == "%" {
        return Some(String::new());
    }
    if !token.contains('%') {
        return Some(token.to_string());
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
    String::from_utf8(out).ok()
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
}
