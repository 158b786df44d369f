//! Smoke test of the test harness itself (tests/support): the private
//! Dovecot comes up, seeding is byte-exact as seen through a raw POP3
//! exchange, folders/LMTP/TLS files work, and the Python mbox reader
//! undoes mboxrd quoting.  Uses no mailfetch code, so a failure here means
//! the harness (or the machine), not mailfetch, is broken.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use support::corpus::{corpus, corpus_message, simple};
use support::{read_mbox_with_python, Dovecot};

/// Minimal POP3 client over std: enough to check what the server serves.
struct Pop3 {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Pop3 {
    fn connect(port: u16) -> Pop3 {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect POP3");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut p = Pop3 {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        let greeting = p.line();
        assert!(
            greeting.starts_with(b"+OK"),
            "greeting {:?}",
            String::from_utf8_lossy(&greeting)
        );
        p
    }

    fn line(&mut self) -> Vec<u8> {
        let mut l = Vec::new();
        self.r
            .read_until(b'\n', &mut l)
            .expect("read from POP3 server");
        assert!(
            l.ends_with(b"\r\n"),
            "POP3 line without CRLF: {:?}",
            String::from_utf8_lossy(&l)
        );
        l
    }

    /// Sends a command; returns the status line (with "+OK"/"-ERR").
    fn send(&mut self, cmd: &str) -> String {
        self.w.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        String::from_utf8_lossy(&self.line()).trim_end().to_string()
    }

    fn ok(&mut self, cmd: &str) -> String {
        let resp = self.send(cmd);
        assert!(resp.starts_with("+OK"), "{cmd}: {resp}");
        resp
    }

    /// Body of a multi-line response, dot-unstuffed, CRLF kept.
    fn multiline(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let l = self.line();
            if l == b".\r\n" {
                return out;
            }
            out.extend_from_slice(if l.starts_with(b".") { &l[1..] } else { &l[..] });
        }
    }
}

fn crlf_to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

fn show(m: &[u8]) -> String {
    let s = String::from_utf8_lossy(m);
    if s.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}... ({} bytes)", &s[..cut], m.len())
    } else {
        s.into_owned()
    }
}

#[test]
fn pop3_serves_seeded_corpus_byte_exact() {
    let dc = Dovecot::shared();
    let user = dc.new_user("smoke-pop3");
    let corpus = corpus();
    dc.seed(&user, corpus.iter().map(|(_, m)| m));
    assert_eq!(dc.count(&user, "INBOX"), corpus.len());

    let mut p = Pop3::connect(dc.pop3());
    p.ok(&format!("USER {}", user.name));
    p.ok(&format!("PASS {}", user.password));
    let stat = p.ok("STAT");
    let n: usize = stat.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(n, corpus.len(), "STAT: {stat}");

    for (i, (name, original)) in corpus.iter().enumerate() {
        p.ok(&format!("RETR {}", i + 1));
        let got = crlf_to_lf(&p.multiline());
        let mut want = original.clone();
        if !want.ends_with(b"\n") {
            want.push(b'\n'); // POP3 must end the last line before "."
        }
        assert!(
            got == want,
            "RETR {} ({name}) differs:\n got: {}\nwant: {}",
            i + 1,
            show(&got),
            show(&want)
        );
    }
    p.ok("QUIT");
    // RETR must not have changed anything (pop3_no_flag_updates)
    let flags = dc.flags(&user, "INBOX");
    assert_eq!(flags.len(), corpus.len());
    assert!(flags.iter().flatten().all(|f| f != "\\Seen"), "{flags:?}");
}

#[test]
fn stored_bytes_are_exactly_the_seeded_bytes() {
    let dc = Dovecot::shared();
    let user = dc.new_user("smoke-stored");
    let corpus = corpus();
    dc.seed(&user, corpus.iter().map(|(_, m)| m));
    let stored = dc.server_messages(&user, "INBOX");
    assert_eq!(stored.len(), corpus.len());
    for ((name, want), got) in corpus.iter().zip(&stored) {
        assert!(got == want, "{name}: stored {}", show(got));
    }
}

#[test]
fn folders_users_and_wrong_password() {
    let dc = Dovecot::shared();
    let a = dc.new_user("smoke-a");
    let b = dc.new_user_with_password("smoke-b", "with space \"quote\" \\ and ümlaut");
    assert_ne!(a.name, b.name);
    dc.seed_folder(
        &a,
        "Archive/2023",
        [simple("f1", "one", "1\n"), simple("f2", "two", "2\n")],
    );
    dc.seed_folder(&a, "Empty", Vec::<Vec<u8>>::new());
    assert_eq!(dc.count(&a, "Archive/2023"), 2);
    assert_eq!(dc.count(&a, "INBOX"), 0);
    assert_eq!(dc.count(&b, "INBOX"), 0);
    assert!(
        dc.folders(&a).contains(&"Archive/2023".to_string()),
        "{:?}",
        dc.folders(&a)
    );
    assert!(dc.folder_exists(&a, "Empty"));
    dc.delete_folder(&a, "Archive/2023");
    assert!(!dc.folder_exists(&a, "Archive/2023"));

    let mut p = Pop3::connect(dc.pop3());
    p.ok(&format!("USER {}", b.name));
    p.ok(&format!("PASS {}", b.password));
    p.ok("QUIT");

    let mut p = Pop3::connect(dc.pop3());
    p.ok(&format!("USER {}", a.name));
    let resp = p.send(&format!("PASS {}", b.password));
    assert!(resp.starts_with("-ERR"), "{resp}");
}

#[test]
fn lmtp_socket_delivers() {
    let dc = Dovecot::shared();
    let user = dc.new_user("smoke-lmtp");
    let s = UnixStream::connect(dc.lmtp_socket()).expect("connect LMTP socket");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let reply = |r: &mut BufReader<UnixStream>| -> String {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            all.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return all;
            }
        }
    };
    assert!(reply(&mut r).starts_with("220"));
    for (cmd, code) in [
        ("LHLO localhost".to_string(), "250"),
        ("MAIL FROM:<sender@example.org>".to_string(), "250"),
        (format!("RCPT TO:<{}>", user.name), "250"),
        ("DATA".to_string(), "354"),
    ] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        let resp = reply(&mut r);
        assert!(resp.starts_with(code), "{cmd}: {resp}");
    }
    w.write_all(
        b"Subject: via lmtp\r\nMessage-ID: <lmtp-smoke@mailfetch.test>\r\n\r\nhello\r\n.\r\n",
    )
    .unwrap();
    let resp = reply(&mut r);
    assert!(resp.starts_with("250"), "after DATA: {resp}");
    w.write_all(b"QUIT\r\n").unwrap();
    assert_eq!(dc.count(&user, "INBOX"), 1);
}

#[test]
fn tls_trusts_ca_file_but_not_wrong_ca() {
    let dc = Dovecot::shared();
    // Only `ca` is trusted: no system store.
    let connector = |ca: &std::path::Path| {
        let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
        b.set_cert_store(
            openssl::x509::store::X509StoreBuilder::new()
                .unwrap()
                .build(),
        );
        b.set_ca_file(ca).unwrap();
        b.build()
    };
    for port in [dc.pop3s(), dc.imaps()] {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut tls = connector(dc.ca_file())
            .connect(dc.tls_name(), tcp)
            .expect("TLS with the right CA");
        let mut greeting = [0u8; 16];
        let n = tls.read(&mut greeting).unwrap();
        assert!(greeting[..n].starts_with(b"+OK") || greeting[..n].starts_with(b"* OK"));

        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert!(
            connector(dc.wrong_ca_file())
                .connect(dc.tls_name(), tcp)
                .is_err(),
            "TLS on port {port} must fail when only the wrong CA is trusted"
        );
    }
}

#[test]
fn python_mbox_reader_undoes_mboxrd_quoting() {
    let names = [
        "from-lines",
        "trailing-blank-lines",
        "header-only",
        "empty-body",
        "dot-lines",
        "latin1-8bit",
    ];
    let mut mbox = Vec::new();
    for name in names {
        mbox.extend_from_slice(b"From MAILER-DAEMON Mon Jan  2 10:00:00 2023\n");
        for line in corpus_message(name).split_inclusive(|&b| b == b'\n') {
            let gts = line.iter().take_while(|&&b| b == b'>').count();
            if line[gts..].starts_with(b"From ") {
                mbox.push(b'>');
            }
            mbox.extend_from_slice(line);
        }
        mbox.push(b'\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mbox");
    std::fs::write(&path, &mbox).unwrap();
    let got = read_mbox_with_python(&path);
    assert_eq!(got.len(), names.len());
    for (name, got) in names.iter().zip(got) {
        assert!(got == corpus_message(name), "{name}: {}", show(&got));
    }
}
