//! The POP3 multi-line reader (src/pop3/body.rs `DotReader`) against a plain line-by-line
//! reference, at the buffer sizes and read sizes the input picks: the same message bytes,
//! the same bytes left after the terminator, never more wire bytes than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::pop3::DotReader;
use std::io::{BufReader, Read};

/// What RFC 1939 section 3 makes of `wire`: the unstuffed lines with LF ends, and the bytes
/// after the terminating line; `None` if there is no terminator.
fn reference(wire: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(len) = wire[at..].iter().position(|&b| b == b'\n') {
        let mut line = &wire[at..at + len];
        at += len + 1;
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if line == b"." {
            return Some((out, at));
        }
        // A leading ".." loses one dot; a lone leading dot (a server bug) is kept.
        if line.starts_with(b"..") {
            line = &line[1..];
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    None
}

fuzz_target!(|data: &[u8]| {
    let Some((&[cap, chunk, limit], wire)) = data.split_first_chunk::<3>() else {
        return;
    };
    let capacity = usize::from(cap % 32) + 1;
    let chunk = usize::from(chunk % 16) + 1;
    // Either unlimited, or a limit the input may exceed.
    let limit = if limit < 128 {
        u64::MAX
    } else {
        u64::from(limit)
    };
    let mut inner = BufReader::with_capacity(capacity, wire);
    let mut got = Vec::new();
    let result = {
        let mut reader = DotReader::new(&mut inner, limit);
        let mut buf = vec![0u8; chunk];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break Ok(reader.finished()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break Err(e),
            }
        }
    };
    let mut rest = Vec::new();
    inner.read_to_end(&mut rest).expect("reading a slice");
    match (result, reference(wire)) {
        (Ok(finished), Some((want, end))) => {
            assert!(finished);
            assert_eq!(got, want);
            assert_eq!(rest, &wire[end..]);
            assert!(end as u64 <= limit);
        }
        (Ok(_), None) => panic!("a message without a terminator was accepted"),
        (Err(_), Some((_, end))) => assert!(end as u64 > limit, "a valid message was refused"),
        (Err(_), None) => {}
    }
});
