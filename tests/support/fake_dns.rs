//! A fake DNS server for `init --srv`: one SRV answer, NXDOMAIN to everything else.

/// A fake DNS server on 127.0.0.1 (UDP) answering `name` SRV with `target:port` (the
/// target's name compressed against the question) and NXDOMAIN to anything else; it
/// serves until the returned socket address's test ends (a thread per test).
pub fn fake_dns(name: &'static str, target: &'static str, port: u16) -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let q = &buf[..n];
            // The question: from offset 12 to the end (one question, no EDNS).
            let mut qname = Vec::new();
            let mut at = 12;
            while at < n && q[at] != 0 {
                let len = q[at] as usize;
                qname.push(String::from_utf8_lossy(&q[at + 1..at + 1 + len]).into_owned());
                at += 1 + len;
            }
            let asked = qname.join(".");
            let mut r = q.to_vec();
            r[2] = 0x81; // QR, RD
            r[3] = 0x80; // RA, NOERROR
            if asked.eq_ignore_ascii_case(name) {
                r[7] = 1; // ANCOUNT
                let mut rdata = vec![0, 10, 0, 5];
                rdata.extend_from_slice(&port.to_be_bytes());
                for label in target.split('.') {
                    rdata.push(label.len() as u8);
                    rdata.extend_from_slice(label.as_bytes());
                }
                rdata.push(0);
                r.extend_from_slice(&[0xC0, 12, 0, 33, 0, 1, 0, 0, 0, 60]);
                r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                r.extend_from_slice(&rdata);
            } else {
                r[3] = 0x83; // NXDOMAIN
            }
            let _ = socket.send_to(&r, from);
        }
    });
    addr
}
