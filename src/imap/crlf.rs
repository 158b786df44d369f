//! CRLF to LF, in one pass, appended to the caller's buffer (reserved, never zeroed): IMAP
//! serves messages with CRLF line ends, local stores hold LF. Only a CR directly followed by
//! LF is dropped; a lone CR is message content and stays. The body may arrive in pieces
//! (partial fetches), so a CR at the end of one piece is held back until the next piece (or
//! the end) shows what follows it.

/// The conversion state between pieces.
#[derive(Debug, Default)]
pub struct CrlfToLf {
    held_cr: bool,
}

impl CrlfToLf {
    /// Convert all of `input`, appending to `out` (which is only reserved, never zeroed).
    pub fn convert_all(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + 1);
        let mut rest = input;
        if self.held_cr {
            match rest.first() {
                None => return,
                Some(b'\n') => {}
                Some(_) => out.push(b'\r'),
            }
            self.held_cr = false;
        }
        while let Some(at) = memchr::memchr(b'\r', rest) {
            out.extend_from_slice(&rest[..at]);
            match rest.get(at + 1) {
                // CRLF: the CR goes, the LF is copied with the next run.
                Some(b'\n') => {}
                Some(_) => out.push(b'\r'),
                None => {
                    self.held_cr = true;
                    return;
                }
            }
            rest = &rest[at + 1..];
        }
        out.extend_from_slice(rest);
    }

    /// The body has ended: the CR held back, if any, was a lone CR at the very end. Returns
    /// the bytes still to emit.
    pub fn finish(&mut self) -> &'static [u8] {
        if std::mem::take(&mut self.held_cr) {
            b"\r"
        } else {
            b""
        }
    }
}

/// Drop every CR directly followed by LF in `buf`, in place; returns the new length. A CR
/// at the very end stays (the caller decides whether it is held back, see `Streamed`).
pub fn to_lf_in_place(buf: &mut [u8]) -> usize {
    let Some(first) = memchr::memmem::find(buf, b"\r\n") else {
        return buf.len();
    };
    let mut out = first;
    let mut at = first + 1; // the LF: copied with the run after it
    while let Some(next) = memchr::memmem::find(&buf[at..], b"\r\n") {
        let end = at + next;
        buf.copy_within(at..end, out);
        out += end - at;
        at = end + 1;
    }
    let len = buf.len();
    buf.copy_within(at..len, out);
    out + (len - at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Convert `pieces` one after the other.
    fn run(pieces: &[&[u8]]) -> Vec<u8> {
        let mut c = CrlfToLf::default();
        let mut out = Vec::new();
        for piece in pieces {
            c.convert_all(piece, &mut out);
        }
        out.extend_from_slice(c.finish());
        out
    }

    #[test]
    fn crlf_becomes_lf_and_lone_cr_stays() {
        assert_eq!(run(&[b"a\r\nb\rc\r\r\n\r\nend\r"]), b"a\nb\rc\r\n\nend\r");
    }

    #[test]
    fn cr_at_a_piece_boundary_is_decided_by_the_next_piece() {
        assert_eq!(run(&[b"a\r", b"\nb"]), b"a\nb");
        assert_eq!(run(&[b"a\r", b"b"]), b"a\rb");
        assert_eq!(run(&[b"a\r", b"", b"\r\n"]), b"a\r\n");
        assert_eq!(run(&[b"x\r"]), b"x\r");
    }

    #[test]
    fn convert_all_appends_and_keeps_the_state() {
        let mut c = CrlfToLf::default();
        let mut out = b"x".to_vec();
        c.convert_all(b"a\r\nb\r", &mut out);
        c.convert_all(b"\nc\r", &mut out);
        c.convert_all(b"d", &mut out);
        out.extend_from_slice(c.finish());
        assert_eq!(out, b"xa\nb\nc\rd");
    }

    #[test]
    fn every_split_of_a_tricky_body_gives_the_same_result() {
        let input: &[u8] = b"\r\r\n\r\nx\ry\r\n\r\rz\r";
        let want = run(&[input]);
        assert_eq!(want, b"\r\n\nx\ry\n\r\rz\r");
        for cut in 0..=input.len() {
            for cut2 in cut..=input.len() {
                let pieces = [&input[..cut], &input[cut..cut2], &input[cut2..]];
                assert_eq!(run(&pieces), want, "cuts {cut} {cut2}");
            }
        }
    }

    #[test]
    fn in_place_conversion_drops_only_the_cr_of_crlf() {
        for (input, want) in [
            (&b"a\r\nb\r\n"[..], &b"a\nb\n"[..]),
            (b"\r\n\r\n", b"\n\n"),
            (b"a\rb\r", b"a\rb\r"),
            (b"no ends", b"no ends"),
            (b"\r\r\n", b"\r\n"),
        ] {
            let mut buf = input.to_vec();
            let n = to_lf_in_place(&mut buf);
            assert_eq!(&buf[..n], want, "{input:?}");
        }
    }
}
