//! The browser's redirect to mailfetch's loopback port during `mailfetch auth`
//! (src/oauth2/flow.rs `answer_redirect`): an arbitrary HTTP request from whatever reaches
//! the port. Never panics; a code is taken only from `GET /?...` carrying the expected
//! `state`; the answer is one of mailfetch's own fixed pages, never an echo of the request;
//! a refusal's text from the provider reaches the error message without control characters.
//!
//! Input: the request's bytes, up to the blank line that ends a GET request (what follows
//! would stay unread, and closing a socket with unread data resets the connection, taking
//! the answer with it). Half the runs put the expected state into the query, so that the
//! code and error paths are reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::oauth2::flow::answer_redirect;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::OnceLock;

const STATE: &str = "st4te-X_y";

fn listener() -> &'static TcpListener {
    static LISTENER: OnceLock<TcpListener> = OnceLock::new();
    LISTENER.get_or_init(|| TcpListener::bind("127.0.0.1:0").expect("loopback port"))
}

/// The pages mailfetch answers with.
const PAGES: [&str; 4] = [
    "Not the page mailfetch is waiting for.",
    "mailfetch was not authorized. You can close this page.",
    "mailfetch is authorized. You can close this page.",
    "The redirect carried no code.",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut request = if mode & 1 == 0 {
        let mut r = format!("GET /?state={STATE}&").into_bytes();
        r.extend_from_slice(rest);
        r
    } else {
        rest.to_vec()
    };
    if let Some(end) = memchr::memmem::find(&request, b"\r\n\r\n") {
        request.truncate(end + 4);
    }
    let listener = listener();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    client.write_all(&request).expect("send the request");
    client.shutdown(Shutdown::Write).expect("shutdown");
    let (server, _) = listener.accept().expect("accept");
    let result = answer_redirect(server, STATE);
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).expect("read the answer");

    let answer = String::from_utf8(answer).expect("our pages are UTF-8");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 "), "{head:?}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("a length")
        .parse()
        .expect("a number");
    assert_eq!(length, body.len());
    assert!(
        PAGES.iter().any(|p| body.contains(&format!("<p>{p}</p>"))),
        "{body:?}"
    );

    let first = request.split(|&b| b == b'\n').next().unwrap_or_default();
    match result {
        Ok(Some(code)) => {
            assert!(!code.is_empty());
            assert!(first.starts_with(b"GET /?"), "{first:?}");
            assert!(head.starts_with("HTTP/1.1 200 "));
        }
        Ok(None) => assert!(!head.starts_with("HTTP/1.1 200 ")),
        Err(e) => {
            assert!(first.starts_with(b"GET /?"), "{first:?}");
            let text = e.to_string();
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(text.chars().count() < 400, "{text:?}");
        }
    }
});
