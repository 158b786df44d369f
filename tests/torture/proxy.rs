//! A loopback TCP proxy in front of a server port that breaks what the server sends, the
//! way a network does: it cuts the connection after N bytes, or after the N-th end of a
//! POP3 multi-line reply (`CRLF.CRLF`) plus some bytes, or stops passing bytes on while
//! keeping the connection open (a stalled server). Client-to-server bytes pass untouched.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What to do to the server's bytes on the next connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Pass everything.
    Pass,
    /// Close both sides once this many bytes went to the client.
    AfterBytes(u64),
    /// Close both sides `extra` bytes after the `ends`-th multi-line reply ended.
    AfterEnds { ends: usize, extra: u64 },
    /// Pass this many bytes, then nothing more, holding the connection open.
    StallAfter(u64),
}

struct Shared {
    cut: Mutex<Cut>,
    /// The cut applies to the next connection only; later ones pass.
    once: AtomicBool,
    /// Bytes sent to the client, and multi-line ends seen, in the latest connection.
    bytes: AtomicU64,
    ends: AtomicUsize,
    stop: AtomicBool,
}

/// A running proxy; stops accepting when dropped.
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy on a free loopback port in front of `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            cut: Mutex::new(Cut::Pass),
            once: AtomicBool::new(false),
            bytes: AtomicU64::new(0),
            ends: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if s.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let cut = {
                    let mut cut = s.cut.lock().unwrap();
                    let this = *cut;
                    if s.once.swap(false, Ordering::Relaxed) {
                        *cut = Cut::Pass;
                    }
                    this
                };
                s.bytes.store(0, Ordering::Relaxed);
                s.ends.store(0, Ordering::Relaxed);
                let s2 = s.clone();
                thread::spawn(move || relay(client, server, cut, &s2));
            }
        });
        Proxy { port, shared }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The fault for connections accepted from now on.
    pub fn set(&self, cut: Cut) {
        *self.shared.cut.lock().unwrap() = cut;
        self.shared.once.store(false, Ordering::Relaxed);
    }

    /// The fault for the next connection only (a reconnect then gets through).
    pub fn set_once(&self, cut: Cut) {
        *self.shared.cut.lock().unwrap() = cut;
        self.shared.once.store(true, Ordering::Relaxed);
    }

    /// Bytes the server sent to the client in the latest connection.
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::Relaxed)
    }

    /// Multi-line reply ends in the latest connection.
    pub fn ends(&self) -> usize {
        self.shared.ends.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn relay(client: TcpStream, server: TcpStream, cut: Cut, s: &Shared) {
    let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    // Client to server: untouched, until either side closes.
    let upstream = thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = c_in.read(&mut buf) {
            if n == 0 || s_out.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = s_out.shutdown(Shutdown::Write);
    });
    let (mut s_in, mut c_out) = (server.try_clone().unwrap(), client.try_clone().unwrap());
    let mut buf = [0u8; 16384];
    let mut sent: u64 = 0;
    let mut ends = 0usize;
    // The last four bytes seen, to spot CRLF.CRLF across reads.
    let mut tail: u32 = 0;
    // Bytes still to pass after the ends were reached (AfterEnds).
    let mut after: Option<u64> = None;
    loop {
        let n = match s_in.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // How much of this chunk passes before the cut, if the cut falls in it.
        let mut pass = n;
        let mut cut_here = false;
        for (i, &b) in buf[..n].iter().enumerate() {
            let at = sent + i as u64;
            let reached = match cut {
                Cut::Pass => false,
                Cut::AfterBytes(max) | Cut::StallAfter(max) => at >= max,
                Cut::AfterEnds { ends: want, extra } => {
                    if ends >= want && after.is_none() {
                        after = Some(extra);
                    }
                    after == Some(0)
                }
            };
            if reached {
                pass = i;
                cut_here = true;
                break;
            }
            if let Some(a) = after.as_mut() {
                *a -= 1;
            }
            tail = (tail << 8) | b as u32;
            // The previous line ended, then ".\r\n": tail holds "\n.\r\n".
            if tail == u32::from_be_bytes(*b"\n.\r\n") {
                ends += 1;
            }
        }
        if c_out.write_all(&buf[..pass]).is_err() {
            break;
        }
        sent += pass as u64;
        s.bytes.store(sent, Ordering::Relaxed);
        s.ends.store(ends, Ordering::Relaxed);
        if cut_here {
            if let Cut::StallAfter(_) = cut {
                // Hold on until the client gives up (or a minute passes).
                let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
                let _ = upstream.join();
            }
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}
