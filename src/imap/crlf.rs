//! CRLF to LF, in one pass and without allocating: IMAP serves messages with CRLF line ends,
//! local stores hold LF. Only a CR directly followed by LF is dropped; a lone CR is message
//! content and stays. The body may arrive in pieces (partial fetches), so a CR at the end of
//! one piece is held back until the next piece (or the end) shows what follows it.

/// The conversion state between pieces.
#[derive(Debug, Default)]
pub struct CrlfToLf {
    held_cr: bool,
}

impl CrlfToLf {
    /// Convert from `input` into `out`; returns (bytes consumed, bytes written). Stops when
    /// either side is exhausted; call again with the rest.
    pub fn convert(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize) {
        let (mut i, mut o) = (0, 0);
        if self.held_cr {
            match input.first() {
                None => return (0, 0),
                Some(b'\n') => {}
                Some(_) => {
                    if out.is_empty() {
                        return (0, 0);
                    }
                    out[0] = b'\r';
                    o = 1;
                }
            }
            self.held_cr = false;
        }
        while i < input.len() && o < out.len() {
            let room = (input.len() - i).min(out.len() - o);
            let window = &input[i..i + room];
            match memchr::memchr(b'\r', window) {
                None => {
                    out[o..o + room].copy_from_slice(window);
                    return (i + room, o + room);
                }
                Some(at) => {
                    out[o..o + at].copy_from_slice(&window[..at]);
                    i += at + 1;
                    o += at;
                    match input.get(i) {
                        // CRLF: the CR goes, the LF is copied with the next run.
                        Some(b'\n') => {}
                        Some(_) => {
                            out[o] = b'\r';
                            o += 1;
                        }
                        None => {
                            self.held_cr = true;
                            return (i, o);
                        }
                    }
                }
            }
        }
        (i, o)
    }

    /// Convert all of `input`, appending to `out`.
    pub fn convert_all(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        // A held CR may add one byte; nothing else grows.
        out.resize(start + input.len() + 1, 0);
        let (mut used, mut wrote) = (0, 0);
        while used < input.len() {
            let (u, w) = self.convert(&input[used..], &mut out[start + wrote..]);
            used += u;
            wrote += w;
        }
        out.truncate(start + wrote);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Convert `pieces` with an output buffer of `room` bytes.
    fn run(pieces: &[&[u8]], room: usize) -> Vec<u8> {
        let mut c = CrlfToLf::default();
        let mut out = Vec::new();
        let mut buf = vec![0u8; room];
        for piece in pieces {
            let mut rest = *piece;
            loop {
                let (used, wrote) = c.convert(rest, &mut buf);
                out.extend_from_slice(&buf[..wrote]);
                rest = &rest[used..];
                if wrote == 0 && (rest.is_empty() || used == 0) {
                    break;
                }
            }
        }
        out.extend_from_slice(c.finish());
        out
    }

    #[test]
    fn crlf_becomes_lf_and_lone_cr_stays() {
        let input: &[u8] = b"a\r\nb\rc\r\r\n\r\nend\r";
        let want: &[u8] = b"a\nb\rc\r\n\nend\r";
        for room in [1, 2, 3, 64] {
            assert_eq!(run(&[input], room), want, "room {room}");
        }
    }

    #[test]
    fn cr_at_a_piece_boundary_is_decided_by_the_next_piece() {
        assert_eq!(run(&[b"a\r", b"\nb"], 64), b"a\nb");
        assert_eq!(run(&[b"a\r", b"b"], 64), b"a\rb");
        assert_eq!(run(&[b"a\r", b"", b"\r\n"], 1), b"a\r\n");
        assert_eq!(run(&[b"x\r"], 64), b"x\r");
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
        let input: &[u8] = b"\r\r\n\r\nx\ry\r\n\r";
        let want = run(&[input], 64);
        assert_eq!(want, b"\r\n\nx\ry\n\r");
        for cut in 0..=input.len() {
            for room in [1, 2, 5] {
                assert_eq!(
                    run(&[&input[..cut], &input[cut..]], room),
                    want,
                    "cut {cut}"
                );
            }
        }
    }
}
