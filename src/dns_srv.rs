//! RFC 6186 SRV lookups for `mailfetch init` (`_imaps._tcp.DOMAIN` and friends).
//!
//! Why a module of its own rather than a DNS crate: `init` needs exactly one kind of query,
//! once, interactively, to propose default answers the user confirms; a resolver crate
//! (and its async runtime glue) would be a large dependency for that. So this sends one
//! RFC 1035 query (type SRV, recursion desired, random id) over UDP to the first
//! `nameserver` of /etc/resolv.conf, or to `MAILFETCH_RESOLVER=IP:PORT` (for tests and
//! unusual setups), waits about two seconds, and parses the reply defensively: the id and
//! the question must match, every length is checked against the packet, name compression
//! is followed with a bound on jumps and on the name's length, and a truncated reply is an
//! error (no TCP fallback: a domain's mail SRV records fit a UDP reply).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// DNS RR type SRV (RFC 2782).
const TYPE_SRV: u16 = 33;
/// Class IN.
const CLASS_IN: u16 = 1;
/// How long to wait for the reply.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// The environment variable naming the resolver as IP:PORT.
pub const RESOLVER_ENV: &str = "MAILFETCH_RESOLVER";
/// At most this many compression pointers are followed in one name.
const MAX_JUMPS: usize = 32;

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// The host, without the trailing dot; "." is RFC 2782's "service not offered".
    pub target: String,
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The records, best first (lowest priority, then highest weight).
    Offered(Vec<Srv>),
    /// RFC 2782: a single record with target "." says the service is decidedly not offered.
    NotOffered,
    /// No such name, or no SRV record.
    Nothing,
}

/// The resolver to ask: `MAILFETCH_RESOLVER`, else the first usable `nameserver` of
/// /etc/resolv.conf (port 53).
pub fn resolver() -> Result<SocketAddr, String> {
    if let Ok(v) = std::env::var(RESOLVER_ENV) {
        return v
            .parse()
            .map_err(|_| format!("{RESOLVER_ENV}={v:?}: expected IP:PORT"));
    }
    let text = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| format!("cannot read /etc/resolv.conf: {e}"))?;
    first_nameserver(&text).ok_or_else(|| "no nameserver in /etc/resolv.conf".to_string())
}

/// The first `nameserver` line of a resolv.conf that is an IP address.
fn first_nameserver(text: &str) -> Option<SocketAddr> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("nameserver"))
            .then(|| words.next())
            .flatten()
            .and_then(|a| a.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// Look up the SRV records of `name` (e.g. `_imaps._tcp.example.org`) at `server`.
pub fn lookup(name: &str, server: SocketAddr) -> Result<Found, String> {
    let mut id = [0u8; 2];
    openssl::rand::rand_bytes(&mut id).map_err(|e| format!("random query id: {e}"))?;
    let id = u16::from_be_bytes(id);
    let query = build_query(id, name)?;
    let local: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let socket = UdpSocket::bind(local).map_err(|e| format!("UDP socket: {e}"))?;
    socket
        .send_to(&query, server)
        .map_err(|e| format!("sending the query to {server}: {e}"))?;
    let deadline = Instant::now() + TIMEOUT;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no answer from {server} within {TIMEOUT:?}"));
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| format!("UDP socket: {e}"))?;
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("no answer from {server} within {TIMEOUT:?}"))
            }
            Err(e) => return Err(format!("reading the answer from {server}: {e}")),
        };
        // Replies from elsewhere, or to another id, are not ours: keep waiting.
        if from != server || n < 2 || u16::from_be_bytes([buf[0], buf[1]]) != id {
            continue;
        }
        return parse_reply(id, name, &buf[..n]);
    }
}

/// The query packet: header (id, RD), one question `name` SRV IN.
pub fn build_query(id: u16, name: &str) -> Result<Vec<u8>, String> {
    let mut p = Vec::with_capacity(12 + name.len() + 6);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x01, 0x00]); // RD
    p.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT 1
    encode_name(name, &mut p)?;
    p.extend_from_slice(&TYPE_SRV.to_be_bytes());
    p.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(p)
}

fn encode_name(name: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let mut total = 1;
    for label in trimmed.split('.') {
        if label.is_empty() || label.len() > 63 || !label.is_ascii() {
            return Err(format!("{name:?} is not a valid DNS name"));
        }
        total += label.len() + 1;
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    if total > 255 {
        return Err(format!("{name:?} is longer than DNS allows"));
    }
    out.push(0);
    Ok(())
}

fn u16_at(p: &[u8], at: usize) -> Result<u16, String> {
    p.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| "reply truncated".to_string())
}

/// Read the (possibly compressed) name at `pos`: the name (without the trailing dot, "."
/// for the root) and where the data after it starts.
fn read_name(p: &[u8], mut pos: usize) -> Result<(String, usize), String> {
    let mut name = String::new();
    let mut after = None;
    let mut jumps = 0;
    let mut length = 1;
    loop {
        let b = *p.get(pos).ok_or("reply truncated in a name")?;
        match b & 0xC0 {
            0x00 if b == 0 => {
                let end = after.unwrap_or(pos + 1);
                if name.is_empty() {
                    name.push('.');
                }
                return Ok((name, end));
            }
            0x00 => {
                let len = b as usize;
                let label = p
                    .get(pos + 1..pos + 1 + len)
                    .ok_or("reply truncated in a name")?;
                length += len + 1;
                if length > 255 {
                    return Err("a name in the reply is longer than 255 bytes".into());
                }
                if !label
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
                {
                    return Err("a name in the reply has characters no host name has".into());
                }
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(std::str::from_utf8(label).expect("ASCII"));
                pos += 1 + len;
            }
            0xC0 => {
                let low = *p.get(pos + 1).ok_or("reply truncated in a name")?;
                after.get_or_insert(pos + 2);
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return Err("compression pointers in the reply loop".into());
                }
                pos = ((b as usize & 0x3F) << 8) | low as usize;
            }
            _ => return Err("unknown label type in the reply".into()),
        }
    }
}

/// Parse the reply to the query `id` for `name`.
pub fn parse_reply(id: u16, name: &str, p: &[u8]) -> Result<Found, String> {
    if p.len() < 12 {
        return Err("reply shorter than a DNS header".into());
    }
    if u16_at(p, 0)? != id {
        return Err("reply to another query (id)".into());
    }
    let flags = u16_at(p, 2)?;
    if flags & 0x8000 == 0 {
        return Err("not a reply (QR clear)".into());
    }
    if flags & 0x0200 != 0 {
        return Err("reply truncated (TC); no TCP fallback".into());
    }
    match flags & 0x000F {
        0 => {}
        3 => return Ok(Found::Nothing),
        rcode => return Err(format!("resolver error (rcode {rcode})")),
    }
    if u16_at(p, 4)? != 1 {
        return Err("reply does not repeat the one question".into());
    }
    let answers = u16_at(p, 6)?;
    let (qname, mut pos) = read_name(p, 12)?;
    let want = name.strip_suffix('.').unwrap_or(name);
    if !qname.eq_ignore_ascii_case(want)
        || u16_at(p, pos)? != TYPE_SRV
        || u16_at(p, pos + 2)? != CLASS_IN
    {
        return Err("reply to another question".into());
    }
    pos += 4;
    let mut records = Vec::new();
    for _ in 0..answers {
        let (owner, at) = read_name(p, pos)?;
        let rtype = u16_at(p, at)?;
        let class = u16_at(p, at + 2)?;
        let rdlength = u16_at(p, at + 8)? as usize;
        let rdata = at + 10;
        let end = rdata + rdlength;
        if end > p.len() {
            return Err("reply truncated in a record".into());
        }
        if rtype == TYPE_SRV && class == CLASS_IN && owner.eq_ignore_ascii_case(want) {
            if rdlength < 7 {
                return Err("SRV record too short".into());
            }
            let (target, name_end) = read_name(p, rdata + 6)?;
            if name_end > end {
                return Err("SRV target runs past its record".into());
            }
            records.push(Srv {
                priority: u16_at(p, rdata)?,
                weight: u16_at(p, rdata + 2)?,
                port: u16_at(p, rdata + 4)?,
                target,
            });
        }
        pos = end;
    }
    if records.len() == 1 && records[0].target == "." {
        return Ok(Found::NotOffered);
    }
    records.retain(|r| r.target != "." && r.port != 0);
    if records.is_empty() {
        return Ok(Found::Nothing);
    }
    records.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
    Ok(Found::Offered(records))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "_imaps._tcp.example.test";

    /// A reply to `build_query(7, NAME)` with the given answer section.
    fn reply(count: u16, answers: &[u8]) -> Vec<u8> {
        let mut p = build_query(7, NAME).unwrap();
        p[2] = 0x81;
        p[3] = 0x80;
        p[6..8].copy_from_slice(&count.to_be_bytes());
        p.extend_from_slice(answers);
        p
    }

    /// An SRV answer whose owner is a pointer to the question (offset 12).
    fn srv_rr(prio: u16, weight: u16, port: u16, target: &[u8]) -> Vec<u8> {
        let mut r = vec![0xC0, 12, 0, 33, 0, 1, 0, 0, 1, 0];
        r.extend_from_slice(&((6 + target.len()) as u16).to_be_bytes());
        r.extend_from_slice(&prio.to_be_bytes());
        r.extend_from_slice(&weight.to_be_bytes());
        r.extend_from_slice(&port.to_be_bytes());
        r.extend_from_slice(target);
        r
    }

    #[test]
    fn the_query_is_rfc_1035() {
        let q = build_query(0x1234, "_imaps._tcp.a.b").unwrap();
        assert_eq!(&q[..12], &[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            &q[12..],
            b"\x06_imaps\x04_tcp\x01a\x01b\x00\x00\x21\x00\x01"
        );
        assert!(build_query(1, "a..b").is_err());
        assert!(build_query(1, &"a".repeat(64)).is_err());
    }

    #[test]
    fn records_are_parsed_and_sorted_with_compressed_targets() {
        // Target "mail" + pointer to "example.test" inside the question (offset 12 + 7 + 5).
        let mut answers = srv_rr(10, 0, 993, b"\x04mail\xC0\x18");
        answers.extend(srv_rr(5, 1, 1993, b"\x05other\x00"));
        let p = reply(2, &answers);
        let Found::Offered(r) = parse_reply(7, NAME, &p).unwrap() else {
            panic!()
        };
        assert_eq!(r[0].target, "other");
        assert_eq!(r[0].port, 1993);
        assert_eq!(r[1].target, "mail.example.test");
        assert_eq!(r[1].port, 993);
    }

    #[test]
    fn a_dot_target_means_not_offered_and_nxdomain_means_nothing() {
        let p = reply(1, &srv_rr(0, 0, 0, b"\x00"));
        assert_eq!(parse_reply(7, NAME, &p).unwrap(), Found::NotOffered);
        let mut p = reply(0, &[]);
        p[3] = 0x83;
        assert_eq!(parse_reply(7, NAME, &p).unwrap(), Found::Nothing);
        assert_eq!(
            parse_reply(7, NAME, &reply(0, &[])).unwrap(),
            Found::Nothing
        );
    }

    #[test]
    fn hostile_replies_are_errors_not_panics() {
        // A pointer to itself, and two pointing at each other.
        let p = reply(1, &srv_rr(0, 0, 993, b"\xC0\x2A"));
        let at = p.len() - 2;
        let mut looped = p.clone();
        looped[at..].copy_from_slice(&[0xC0, at as u8]);
        assert!(parse_reply(7, NAME, &looped).unwrap_err().contains("loop"));
        // Wrong id, wrong question, not a reply, TC set.
        let good = reply(1, &srv_rr(0, 0, 993, b"\x01x\x00"));
        assert!(parse_reply(8, NAME, &good).is_err());
        assert!(parse_reply(7, "_pop3s._tcp.example.test", &good).is_err());
        let mut q = good.clone();
        q[2] = 0x01;
        assert!(parse_reply(7, NAME, &q).is_err());
        let mut tc = good.clone();
        tc[2] |= 0x02;
        assert!(parse_reply(7, NAME, &tc).unwrap_err().contains("TC"));
        // Every truncation of a good reply is an error, never a panic.
        for n in 0..good.len() {
            assert!(parse_reply(7, NAME, &good[..n]).is_err(), "{n}");
        }
        // A count of answers larger than the packet holds.
        let mut many = good.clone();
        many[6..8].copy_from_slice(&[0xFF, 0xFF]);
        assert!(parse_reply(7, NAME, &many).is_err());
        // A pointer past the end, reserved label types, and a name over 255 bytes.
        assert!(parse_reply(7, NAME, &reply(1, &srv_rr(0, 0, 1, b"\xC0\xFF"))).is_err());
        assert!(parse_reply(7, NAME, &reply(1, &srv_rr(0, 0, 1, b"\x80"))).is_err());
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert!(parse_reply(7, NAME, &reply(1, &srv_rr(0, 0, 1, &long)))
            .unwrap_err()
            .contains("255"));
        // A target running past its record's length, and bytes no host name has.
        let mut past = srv_rr(0, 0, 1, b"\x01x\x00");
        past[11] = 7;
        assert!(parse_reply(7, NAME, &reply(1, &past))
            .unwrap_err()
            .contains("past"));
        assert!(parse_reply(7, NAME, &reply(1, &srv_rr(0, 0, 1, b"\x01\n\x00"))).is_err());
    }

    #[test]
    fn the_first_nameserver_is_taken() {
        let conf =
            "# c\nsearch x\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\nnameserver 1.1.1.1\n";
        assert_eq!(first_nameserver(conf), Some("10.0.0.2:53".parse().unwrap()));
        assert_eq!(first_nameserver("search x\n"), None);
    }
}
