//! TLS as issue 5 asks for it: certificates verified (chain and host name), pinning with
//! `tls-fingerprint` checked before any credential is sent, `tls-min`, STARTTLS/STLS never
//! skipped, and `mailfetch certinfo`.
//!
//! What must not be sent is checked where it would arrive: a fake POP3 server
//! (tests/support/fake_pop3.rs) behind a TLS front with a certificate made for the test
//! (tests/support/tls.rs), whose log holds every line a client sent inside TLS. Dovecot's
//! own certificate (for `localhost` and 127.0.0.1) serves the checks against a real server.

mod support;

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};
use support::account::Account;
use support::client::{maildir_messages, Client};
use support::dovecot::Dovecot;
use support::fake_pop3::{FakePop3, Mail, Script};
use support::listen::{greet, serve};
use support::tls::{ServerCert, TlsFront};

const PASSWORD: &str = "tls-test-password-8c1f";

/// A fake POP3 server with one message, behind a TLS front using `cert`.
fn fronted(cert: &ServerCert) -> (FakePop3, TlsFront) {
    let server = FakePop3::start(
        vec![Mail::new("u1", b"Subject: one\n\nbody\n")],
        Script::default(),
    );
    let front = TlsFront::start(cert, server.port());
    (server, front)
}

/// A POP3 account over implicit TLS to `host:port`, with `extra` keys.
fn account(host: &str, port: u16, extra: &str) -> Client {
    Client::new(
        &tls_account("pop3", port, "implicit")
            .name("t")
            .set("host", host)
            .extra(extra)
            .toml(),
    )
}

/// An account of `alice` on a fake server at `127.0.0.1:port` that speaks `tls`.
fn tls_account(protocol: &str, port: u16, tls: &str) -> Account {
    Account::fake(protocol, port)
        .tls(tls)
        .without("allow-plaintext-password")
        .set("user", "alice")
        .password(PASSWORD)
}

fn ca(cert: &ServerCert) -> String {
    format!("ca-file = \"{}\"\n", cert.ca_file().display())
}

#[test]
fn certificate_from_a_private_ca_is_accepted_with_its_ca_file() {
    let cert = ServerCert::issued_for(&["localhost"]);
    let (server, front) = fronted(&cert);
    let c = account("localhost", front.port(), &ca(&cert));
    c.ok(&["pull"]);
    assert_eq!(maildir_messages(&c.path("M")).len(), 1);
    assert!(server.all_commands().contains(&format!("PASS {PASSWORD}")));
}

#[test]
fn self_signed_certificate_without_ca_file_is_refused_and_nothing_is_sent() {
    let cert = ServerCert::self_signed(&["localhost"]);
    let (server, front) = fronted(&cert);
    let c = account("localhost", front.port(), "");
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 69, "{out:?}");
    assert!(
        out.stderr.contains("TLS handshake with localhost failed"),
        "{out:?}"
    );
    assert!(out.stderr.contains("ca-file"), "says what to do: {out:?}");
    assert_eq!(front.handshakes(), 0);
    assert!(
        server.all_commands().is_empty(),
        "{:?}",
        server.all_commands()
    );
}

#[test]
fn host_name_not_in_the_certificate_is_refused() {
    // Trusted CA, but the certificate names only `localhost`: 127.0.0.1 (an IP literal not in
    // its subjectAltName) must not pass.
    let cert = ServerCert::issued_for(&["localhost"]);
    let (server, front) = fronted(&cert);
    let c = account("127.0.0.1", front.port(), &ca(&cert));
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 69, "{out:?}");
    assert!(
        out.stderr.contains("TLS handshake with 127.0.0.1 failed"),
        "{out:?}"
    );
    assert!(server.all_commands().is_empty());
}

#[test]
fn right_pin_is_accepted_even_for_a_self_signed_certificate() {
    let cert = ServerCert::self_signed(&["mail.invalid"]);
    let (server, front) = fronted(&cert);
    let c = account(
        "127.0.0.1",
        front.port(),
        &format!("tls-fingerprint = \"{}\"\n", cert.pin().to_lowercase()),
    );
    c.ok(&["pull"]);
    assert_eq!(maildir_messages(&c.path("M")).len(), 1);
    assert!(server.all_commands().contains(&format!("PASS {PASSWORD}")));
}

#[test]
fn wrong_pin_is_refused_before_any_password_is_sent() {
    let cert = ServerCert::issued_for(&["localhost"]);
    let other = ServerCert::issued_for(&["localhost"]);
    let (server, front) = fronted(&cert);
    // Trusted and valid for the name, but not the pinned certificate.
    let c = account(
        "localhost",
        front.port(),
        &format!("{}tls-fingerprint = \"{}\"\n", ca(&cert), other.pin()),
    );
    let out = c.run(&["pull", "--verbose"]);
    assert_eq!(out.code, 69, "{out:?}");
    assert!(
        out.stderr.contains("does not match tls-fingerprint")
            && out.stderr.contains(&cert.pin())
            && out.stderr.contains(&other.pin()),
        "{out:?}"
    );
    assert_eq!(front.handshakes(), 1, "the handshake itself completed");
    assert_eq!(front.plaintext_from_clients(), 0, "not one byte inside TLS");
    assert!(
        server.all_commands().is_empty(),
        "{:?}",
        server.all_commands()
    );
    assert!(!out.stderr.contains(PASSWORD) && !out.stdout.contains(PASSWORD));
}

#[test]
fn pins_and_tls_min_work_against_dovecot_over_pop3_and_imap() {
    let d = Dovecot::shared();
    let user = d.new_user("tlspin");
    d.seed(&user, [b"Subject: pinned\n\nbody\n".to_vec()]);
    let der = pem_to_der(&std::fs::read(d.server_cert_file()).unwrap());
    let pin = ServerCert::pin_of(&der);
    // POP3S by IP address with only the pin (no ca-file): the pin replaces verification.
    let pop = Account::pop3(d, &user)
        .name("p")
        .target("maildir:{dir}/P")
        .set("tls-min", "1.3")
        .without("ca-file")
        .set("host", "127.0.0.1")
        .set("tls-fingerprint", pin.as_str());
    let imap = Account::imap(d, &user)
        .name("i")
        .tls("starttls")
        .without("ca-file")
        .set("host", "127.0.0.1")
        .target("maildir:{dir}/I")
        .set("tls-fingerprint", pin.as_str())
        .timeout(20);
    let c = Client::new(&format!("{pop}\n{imap}"));
    c.ok(&["pull"]);
    assert_eq!(maildir_messages(&c.path("P")).len(), 1);
    assert_eq!(maildir_messages(&c.path("I")).len(), 1);
    // A wrong pin on IMAP is refused as well, with no login.
    let wrong = ServerCert::issued_for(&["localhost"]).pin();
    c.set_config(&imap.set("tls-fingerprint", wrong).toml());
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 69, "{out:?}");
    assert!(
        out.stderr.contains("does not match tls-fingerprint"),
        "{out:?}"
    );
}

#[test]
fn imap_server_without_starttls_is_refused_and_gets_no_login() {
    // A fake IMAP server whose capabilities lack STARTTLS (as if someone stripped it).
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = received.clone();
    let port = serve(move |stream| {
        let (mut out, mut lines) =
            greet(stream, b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n");
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap_or(0) > 0 {
            let tag = line.split(' ').next().unwrap_or("*").to_string();
            log.lock().unwrap().push(line.trim_end().to_string());
            let _ = out.write_all(
                format!("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n").as_bytes(),
            );
            line.clear();
        }
    });
    let imap = tls_account("imap", port, "starttls").name("i");
    let c = Client::new(&imap.target("maildir:{dir}/I").toml());
    for args in [&["pull"][..], &["certinfo", "i"][..]] {
        let out = c.run(args);
        assert_eq!(out.code, 76, "{args:?}: {out:?}");
        assert!(out.stderr.contains("does not offer STARTTLS"), "{out:?}");
    }
    let got = received.lock().unwrap().clone();
    assert!(
        got.iter()
            .all(|l| !l.contains("LOGIN") && !l.contains("AUTHENTICATE")),
        "{got:?}"
    );
}

#[test]
fn certinfo_shows_the_chain_fingerprint_and_verification() {
    let d = Dovecot::shared();
    let user = d.new_user("certinfo");
    let der = pem_to_der(&std::fs::read(d.server_cert_file()).unwrap());
    let pin = ServerCert::pin_of(&der);
    let pop = Account::pop3(d, &user)
        .name("p")
        .tls("starttls")
        .target("maildir:{dir}/P");
    let c = Client::new(&pop.toml());
    let out = c.ok(&["certinfo", "p"]);
    assert!(out.stdout.contains("certificate 0 (server):"), "{out:?}");
    assert!(out.stdout.contains(&format!("sha256:   {pin}")), "{out:?}");
    assert!(out.stdout.contains("verification: ok"), "{out:?}");
    assert!(
        out.stdout.contains(&format!("tls-fingerprint = \"{pin}\"")),
        "{out:?}"
    );
    assert!(out.stdout.contains("localhost"), "names: {out:?}");
    assert!(out.stdout.contains("expires in"), "{out:?}");
    // Without the CA: still shown (that is what certinfo is for), but not trusted.
    c.set_config(&pop.without("ca-file").toml());
    let out = c.ok(&["certinfo", "p"]);
    assert!(out.stdout.contains("verification: FAILED"), "{out:?}");
    // IMAP over implicit TLS, with the pin: it matches.
    let imap = Account::imap(d, &user)
        .name("i")
        .without("ca-file")
        .without("timeout")
        .target("maildir:{dir}/I")
        .set("tls-fingerprint", pin.as_str());
    c.set_config(&imap.toml());
    let out = c.ok(&["certinfo", "i", "--verbose"]);
    assert!(out.stdout.contains("tls-fingerprint: matches"), "{out:?}");
    assert!(
        !out.stderr.contains(&user.password),
        "no credential sent: {out:?}"
    );
}

/// The first certificate of a PEM file, as DER.
fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    openssl::x509::X509::from_pem(pem)
        .unwrap()
        .to_der()
        .unwrap()
}

/// The system store is OpenSSL's hashed certificate directory, looked up on demand (the
/// bundle beside it is not parsed on every connection), and a bundle that `SSL_CERT_FILE`
/// names elsewhere is trusted too: a private CA reaches mailfetch through either, without
/// `ca-file`, and through neither it is refused.
#[test]
fn system_store_is_the_hashed_directory_plus_an_ssl_cert_file_elsewhere() {
    let cert = ServerCert::issued_for(&["localhost"]);
    let (_server, front) = fronted(&cert);
    let c = account("localhost", front.port(), "");
    let ca_pem = std::fs::read(cert.ca_file()).unwrap();
    let ca = openssl::x509::X509::from_pem(&ca_pem).unwrap();
    let other = ServerCert::issued_for(&["localhost"]);
    let other_ca = openssl::x509::X509::from_pem(&std::fs::read(other.ca_file()).unwrap()).unwrap();
    // A hashed directory with our CA, and one with an unrelated CA only.
    let hashed = |name: &str, ca: &openssl::x509::X509| {
        let dir = c.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join(format!("{:08x}.0", ca.subject_name_hash()));
        std::fs::write(link, ca.to_pem().unwrap()).unwrap();
        dir
    };
    let ours = hashed("certs-ours", &ca);
    let unrelated = hashed("certs-other", &other_ca);
    let bundle = c.path("elsewhere.pem");
    std::fs::write(&bundle, &ca_pem).unwrap();
    let pull = |dir: &std::path::Path, file: Option<&std::path::Path>| {
        let mut cmd = c.command(&["pull", "--reset-state"]);
        cmd.env("SSL_CERT_DIR", dir).env_remove("SSL_CERT_FILE");
        if let Some(file) = file {
            cmd.env("SSL_CERT_FILE", file);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = pull(&ours, None);
    assert_eq!(code, Some(0), "CA found in the hashed directory: {err}");
    let (code, err) = pull(&unrelated, Some(&bundle));
    assert_eq!(code, Some(0), "CA found in SSL_CERT_FILE: {err}");
    let (code, err) = pull(&unrelated, None);
    assert_eq!(code, Some(69), "CA in neither: {err}");
    assert!(err.contains("certificate verify failed"), "{err}");
}
