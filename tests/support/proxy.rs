//! One scripted TCP proxy for every test that needs a network between mailfetch and a
//! server: it listens on a free loopback port, connects each client to `127.0.0.1:upstream`
//! and passes bytes both ways, doing to them what the test asks:
//!
//! * a [`Fault`] on what the server sends, the way a network breaks: pace it (a slow link),
//!   cut the connection after N bytes or after the N-th occurrence of a pattern, or stop
//!   passing bytes while holding the connection open (a stalled server); for the next
//!   connection only ([`Proxy::set_once`]) or all of them ([`Proxy::set`]);
//! * a [`Script`] that reads the conversation: each client line on its way to the server
//!   (forward it, forward something else, answer the client instead, or hang up with a last
//!   word), and each unit the server sends, in chunks or whole IMAP responses (literals
//!   included), to be passed, rewritten, held back, reordered, dropped or added to;
//! * counts: connections accepted, and bytes and pattern occurrences sent to the client in
//!   the latest connection.
//!
//! The proxy stops accepting when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What happens to the server's bytes on their way to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Pass everything.
    Pass,
    /// Pass `chunk` bytes, then wait `every`: a slow link.
    Pace { chunk: usize, every: Duration },
    /// Close both sides once this many bytes went to the client.
    AfterBytes(u64),
    /// Close both sides `extra` bytes after the `marks`-th occurrence of the proxy's mark
    /// ([`Setup::mark`]) went to the client.
    AfterMarks { marks: usize, extra: u64 },
    /// Pass this many bytes, then nothing more, holding the connection open until the
    /// client gives up (or a minute passes).
    StallAfter(u64),
}

/// What becomes of a client's line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToServer {
    /// Send these bytes to the server (the line itself, or another).
    Forward(Vec<u8>),
    /// Send nothing to the server; send these bytes to the client.
    Answer(Vec<u8>),
    /// Send these bytes to the client, then close both sides.
    Hangup(Vec<u8>),
}

/// What becomes of a unit the server sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToClient {
    /// Send these to the client, in order (none: drop the unit).
    Send(Vec<Vec<u8>>),
    /// Send nothing more; close both sides.
    Hangup,
}

/// How the server's bytes are cut into units for [`Script::server`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// As they are read from the socket.
    Chunks,
    /// One IMAP response each: its lines and literals, up to its final CRLF.
    ImapResponses,
}

/// A conversation the proxy reads and changes, one per connection (made by the factory
/// given to [`Setup::script`]). Both hooks default to passing everything on.
pub trait Script: Send + 'static {
    /// How the server's bytes come to [`Script::server`].
    fn framing(&self) -> Framing {
        Framing::Chunks
    }

    /// A line from the client (with its line end), on its way to the server.
    fn client(&mut self, line: &[u8]) -> ToServer {
        ToServer::Forward(line.to_vec())
    }

    /// A unit from the server, on its way to the client.
    fn server(&mut self, unit: Vec<u8>) -> ToClient {
        ToClient::Send(vec![unit])
    }
}

type Factory = Box<dyn Fn() -> Box<dyn Script> + Send + Sync>;

/// A proxy being set up: [`Proxy::to`], then [`Setup::start`].
pub struct Setup {
    upstream: u16,
    fault: Fault,
    mark: Vec<u8>,
    script: Option<Factory>,
}

impl Setup {
    /// Count occurrences of `pattern` in what the server sends ([`Proxy::marks`],
    /// [`Fault::AfterMarks`]).
    pub fn mark(mut self, pattern: &[u8]) -> Setup {
        self.mark = pattern.to_vec();
        self
    }

    /// The fault for every connection, from the first.
    pub fn fault(mut self, fault: Fault) -> Setup {
        self.fault = fault;
        self
    }

    /// Each connection's conversation goes through a script `new()` makes.
    pub fn script<S: Script>(mut self, new: impl Fn() -> S + Send + Sync + 'static) -> Setup {
        self.script = Some(Box::new(move || Box::new(new())));
        self
    }

    /// Listen on a free loopback port.
    pub fn start(self) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            fault: Mutex::new(self.fault),
            once: AtomicBool::new(false),
            mark: self.mark,
            connections: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            marks: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let (s, upstream, script) = (shared.clone(), self.upstream, self.script);
        thread::spawn(move || {
            for client in listener.incoming() {
                if s.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let fault = {
                    let mut fault = s.fault.lock().unwrap();
                    let this = *fault;
                    if s.once.swap(false, Ordering::Relaxed) {
                        *fault = Fault::Pass;
                    }
                    this
                };
                s.connections.fetch_add(1, Ordering::Relaxed);
                s.bytes.store(0, Ordering::Relaxed);
                s.marks.store(0, Ordering::Relaxed);
                let (s2, script) = (s.clone(), script.as_ref().map(|new| new()));
                thread::spawn(move || relay(client, server, fault, script, &s2));
            }
        });
        Proxy { port, shared }
    }
}

struct Shared {
    fault: Mutex<Fault>,
    /// The fault applies to the next connection only; later ones pass.
    once: AtomicBool,
    mark: Vec<u8>,
    connections: AtomicUsize,
    /// Bytes sent to the client, and marks among them, in the latest connection.
    bytes: AtomicU64,
    marks: AtomicUsize,
    stop: AtomicBool,
}

/// A running proxy; stops accepting when dropped.
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy in front of `127.0.0.1:upstream`, passing everything until set up otherwise.
    pub fn to(upstream: u16) -> Setup {
        Setup {
            upstream,
            fault: Fault::Pass,
            mark: Vec::new(),
            script: None,
        }
    }

    /// A proxy in front of `127.0.0.1:upstream` that passes everything, started.
    pub fn start(upstream: u16) -> Proxy {
        Proxy::to(upstream).start()
    }

    /// Keep the proxy running for the rest of the test binary (as a server would), and
    /// return its port.
    pub fn detach(self) -> u16 {
        let port = self.port;
        std::mem::forget(self);
        port
    }

    /// The port clients connect to (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The fault for connections accepted from now on.
    pub fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
        self.shared.once.store(false, Ordering::Relaxed);
    }

    /// The fault for the next connection only (a reconnect then gets through).
    pub fn set_once(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
        self.shared.once.store(true, Ordering::Relaxed);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Bytes the server sent to the client in the latest connection.
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::Relaxed)
    }

    /// Occurrences of the mark in what went to the client in the latest connection.
    pub fn marks(&self) -> usize {
        self.shared.marks.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The first line of `unit` (an IMAP response, say), without its line end, as text.
pub fn first_line(unit: &[u8]) -> String {
    let end = unit.iter().position(|&b| b == b'\r' || b == b'\n');
    String::from_utf8_lossy(&unit[..end.unwrap_or(unit.len())]).into_owned()
}

/// The bytes on their way to the client, under a fault: counts, paces and cuts.
struct Out<'a> {
    client: TcpStream,
    fault: Fault,
    s: &'a Shared,
    sent: u64,
    marks: usize,
    /// The latest bytes sent, as long as the mark, to spot it across writes.
    tail: Vec<u8>,
    /// Bytes still to pass after the marks were reached (AfterMarks).
    after: Option<u64>,
}

/// Why the bytes stopped.
enum Stop {
    /// The fault cut the connection here.
    Cut,
    /// The client went away.
    Gone,
}

impl Out<'_> {
    fn send(&mut self, data: &[u8]) -> Result<(), Stop> {
        if let Fault::Pace { chunk, every } = self.fault {
            for piece in data.chunks(chunk.max(1)) {
                self.pass(piece)?;
                thread::sleep(every);
            }
            return Ok(());
        }
        self.pass(data)
    }

    /// Write what passes of `data` before the fault's cut, if the cut falls in it.
    fn pass(&mut self, data: &[u8]) -> Result<(), Stop> {
        let mut pass = data.len();
        let mut cut = false;
        for (i, &b) in data.iter().enumerate() {
            let at = self.sent + i as u64;
            let reached = match self.fault {
                Fault::Pass | Fault::Pace { .. } => false,
                Fault::AfterBytes(max) | Fault::StallAfter(max) => at >= max,
                Fault::AfterMarks { marks: want, extra } => {
                    if self.marks >= want && self.after.is_none() {
                        self.after = Some(extra);
                    }
                    self.after == Some(0)
                }
            };
            if reached {
                pass = i;
                cut = true;
                break;
            }
            if let Some(a) = self.after.as_mut() {
                *a -= 1;
            }
            if !self.s.mark.is_empty() {
                if self.tail.len() == self.s.mark.len() {
                    self.tail.remove(0);
                }
                self.tail.push(b);
                if self.tail == self.s.mark {
                    self.marks += 1;
                }
            }
        }
        if self.client.write_all(&data[..pass]).is_err() {
            return Err(Stop::Gone);
        }
        self.sent += pass as u64;
        self.s.bytes.store(self.sent, Ordering::Relaxed);
        self.s.marks.store(self.marks, Ordering::Relaxed);
        if cut {
            Err(Stop::Cut)
        } else {
            Ok(())
        }
    }
}

fn relay(
    client: TcpStream,
    server: TcpStream,
    fault: Fault,
    script: Option<Box<dyn Script>>,
    s: &Shared,
) {
    let framing = script.as_ref().map(|sc| sc.framing());
    let script = script.map(|sc| Arc::new(Mutex::new(sc)));
    let (c_in, s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let c_out = client.try_clone().unwrap();
    let up_script = script.clone();
    let upstream = thread::spawn(move || upstream_half(c_in, s_out, c_out, up_script));
    let mut out = Out {
        client: client.try_clone().unwrap(),
        fault,
        s,
        sent: 0,
        marks: 0,
        tail: Vec::new(),
        after: None,
    };
    let mut from_server = BufReader::with_capacity(64 * 1024, server.try_clone().unwrap());
    let stop = loop {
        let unit = match framing {
            Some(Framing::ImapResponses) => read_response(&mut from_server),
            _ => read_chunk(&mut from_server),
        };
        let Some(unit) = unit else { break None };
        let units = match &script {
            None => vec![unit],
            Some(sc) => match sc.lock().unwrap().server(unit) {
                ToClient::Send(units) => units,
                ToClient::Hangup => break None,
            },
        };
        if let Err(stop) = units.iter().try_for_each(|u| out.send(u)) {
            break Some(stop);
        }
    };
    if let (Some(Stop::Cut), Fault::StallAfter(_)) = (stop, fault) {
        // Hold on until the client gives up (or a minute passes).
        let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
        let _ = upstream.join();
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

/// The client-to-server half: untouched without a script, else line by line through it.
fn upstream_half(
    mut c_in: TcpStream,
    mut s_out: TcpStream,
    mut c_out: TcpStream,
    script: Option<Arc<Mutex<Box<dyn Script>>>>,
) {
    let Some(script) = script else {
        let _ = std::io::copy(&mut c_in, &mut s_out);
        let _ = s_out.shutdown(Shutdown::Write);
        return;
    };
    let mut lines = BufReader::new(c_in);
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
            break;
        }
        let verdict = script.lock().unwrap().client(&line);
        let sent = match verdict {
            ToServer::Forward(bytes) => s_out.write_all(&bytes),
            ToServer::Answer(bytes) => c_out.write_all(&bytes),
            ToServer::Hangup(bytes) => {
                let _ = c_out.write_all(&bytes);
                let _ = c_out.shutdown(Shutdown::Both);
                break;
            }
        };
        if sent.is_err() {
            break;
        }
    }
    let _ = s_out.shutdown(Shutdown::Both);
}

fn read_chunk(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let chunk = r.fill_buf().ok()?.to_vec();
    r.consume(chunk.len());
    (!chunk.is_empty()).then_some(chunk)
}

/// One IMAP response as the server sent it: its lines and literals, up to its final CRLF.
fn read_response(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let start = out.len();
        if r.read_until(b'\n', &mut out).ok()? == 0 {
            return None;
        }
        // A line ending in `{N}` is followed by N bytes of literal, then more of the response.
        let line = out[start..].strip_suffix(b"}\r\n");
        let Some(n) = line.and_then(|l| {
            let open = l.iter().rposition(|&b| b == b'{')?;
            let digits = std::str::from_utf8(&l[open + 1..]).ok()?;
            digits.trim_end_matches('+').parse::<usize>().ok()
        }) else {
            return Some(out);
        };
        let at = out.len();
        out.resize(at + n, 0);
        r.read_exact(&mut out[at..]).ok()?;
    }
}
