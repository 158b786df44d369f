//! The accept loop of the small fake servers tests write inline (a hostile IMAP greeting, a
//! trap that records what reaches it, a fake LMTP): a listener on a free port, each
//! connection handled on its own thread, so that a test writes only the conversation.
//! (Scripted servers with more to them live in their own modules: [`super::fake_pop3`],
//! [`super::fake_gmail`]; a network in between is [`super::proxy`].)

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

/// Serve each connection to a free port on 127.0.0.1 with `handler`; returns the port.
pub fn serve(handler: impl Fn(TcpStream) + Send + Sync + 'static) -> u16 {
    serve_on("127.0.0.1", handler)
}

/// [`serve`] on a free port of `ip` (another loopback address, say).
pub fn serve_on(ip: &str, handler: impl Fn(TcpStream) + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind((ip, 0)).expect("bind a fake server");
    let port = listener.local_addr().expect("fake server address").port();
    let handler = Arc::new(handler);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handler = handler.clone();
            thread::spawn(move || handler(stream));
        }
    });
    port
}

/// Send `greeting` on a new connection; returns where to write and the client's lines.
pub fn greet(stream: TcpStream, greeting: &[u8]) -> (TcpStream, BufReader<TcpStream>) {
    let mut out = stream.try_clone().expect("clone the connection");
    let _ = out.write_all(greeting);
    (out, BufReader::new(stream))
}
