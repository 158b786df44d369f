//! TLS for tests that need certificates Dovecot's cannot give: a private CA and server
//! certificates made on the spot with OpenSSL (any names, or self-signed), and a TLS front
//! (like stunnel) that terminates TLS with such a certificate and relays the plaintext to a
//! fake server on loopback, so the fake server's log shows exactly what a client sent inside
//! TLS, and nothing at all when the client gave up during or right after the handshake.

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn certificate(
    cn: &str,
    names: &[&str],
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    ca: bool,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    static SERIAL: AtomicU64 = AtomicU64::new(1);
    let serial = BigNum::from_u32(SERIAL.fetch_add(1, Ordering::SeqCst) as u32).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    match issuer {
        Some((cert, _)) => b.set_issuer_name(cert.subject_name()).unwrap(),
        None => b.set_issuer_name(&name).unwrap(),
    }
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
    }
    if !names.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for n in names {
            if n.parse::<std::net::IpAddr>().is_ok() {
                san.ip(n);
            } else {
                san.dns(n);
            }
        }
        let ext = san
            .build(&b.x509v3_context(issuer.map(|(c, _)| c.as_ref()), None))
            .unwrap();
        b.append_extension(ext).unwrap();
    }
    let signer = issuer.map_or(key, |(_, k)| k);
    b.sign(signer, MessageDigest::sha256()).unwrap();
    b.build()
}

/// A server certificate and key, and the CA file a client must trust for it.
pub struct ServerCert {
    dir: tempfile::TempDir,
    /// The server certificate, DER.
    pub der: Vec<u8>,
    identity_pem: (Vec<u8>, Vec<u8>),
}

impl ServerCert {
    /// A certificate for `names` (DNS names or IP addresses), issued by a fresh private CA.
    pub fn issued_for(names: &[&str]) -> ServerCert {
        let ca_key = key();
        let ca = certificate("mailfetch test CA", &[], &ca_key, None, true);
        let leaf_key = key();
        let leaf = certificate(names[0], names, &leaf_key, Some((&ca, &ca_key)), false);
        ServerCert::write(&leaf, &leaf_key, &ca)
    }

    /// A self-signed certificate for `names`.
    pub fn self_signed(names: &[&str]) -> ServerCert {
        let k = key();
        let leaf = certificate(names[0], names, &k, None, false);
        ServerCert::write(&leaf, &k, &leaf)
    }

    fn write(leaf: &X509, key: &PKey<Private>, ca: &X509) -> ServerCert {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.to_pem().unwrap()).unwrap();
        ServerCert {
            dir,
            der: leaf.to_der().unwrap(),
            identity_pem: (
                leaf.to_pem().unwrap(),
                key.private_key_to_pem_pkcs8().unwrap(),
            ),
        }
    }

    /// The PEM file of the CA that issued it (itself, when self-signed).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `sha256:AB:CD:...` of the certificate, as `tls-fingerprint` takes it.
    pub fn pin(&self) -> String {
        ServerCert::pin_of(&self.der)
    }

    /// `sha256:AB:CD:...` of the DER certificate `der`.
    pub fn pin_of(der: &[u8]) -> String {
        let digest = openssl::sha::sha256(der);
        let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
        format!("sha256:{}", hex.join(":"))
    }

    fn acceptor(&self) -> openssl::ssl::SslAcceptor {
        let (cert, key) = &self.identity_pem;
        let mut b =
            openssl::ssl::SslAcceptor::mozilla_intermediate_v5(openssl::ssl::SslMethod::tls())
                .unwrap();
        b.set_certificate(&openssl::x509::X509::from_pem(cert).unwrap())
            .unwrap();
        b.set_private_key(&openssl::pkey::PKey::private_key_from_pem(key).unwrap())
            .unwrap();
        b.build()
    }
}

/// A TLS front on a loopback port: it completes TLS handshakes with `cert` and relays each
/// connection's plaintext to the backend port.
pub struct TlsFront {
    port: u16,
    handshakes: Arc<AtomicUsize>,
    plaintext_from_clients: Arc<AtomicU64>,
}

impl TlsFront {
    /// Terminate TLS with `cert` in front of `127.0.0.1:backend`.
    pub fn start(cert: &ServerCert, backend: u16) -> TlsFront {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = cert.acceptor();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let plaintext = Arc::new(AtomicU64::new(0));
        let (h, p) = (handshakes.clone(), plaintext.clone());
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (acceptor, h, p) = (acceptor.clone(), h.clone(), p.clone());
                thread::spawn(move || {
                    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
                    let Ok(tls) = acceptor.accept(client) else {
                        return;
                    };
                    h.fetch_add(1, Ordering::SeqCst);
                    relay(tls, backend, &p);
                });
            }
        });
        TlsFront {
            port,
            handshakes,
            plaintext_from_clients: plaintext,
        }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many TLS handshakes completed.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// Bytes clients sent inside TLS (relayed to the backend).
    pub fn plaintext_from_clients(&self) -> u64 {
        self.plaintext_from_clients.load(Ordering::SeqCst)
    }
}

/// Relay between a TLS stream and a plain connection to the backend, both directions, with
/// short read timeouts on both sides (one thread owns the TLS stream).
fn relay(mut tls: openssl::ssl::SslStream<TcpStream>, backend: u16, counted: &AtomicU64) {
    let Ok(mut plain) = TcpStream::connect(("127.0.0.1", backend)) else {
        return;
    };
    let tick = Some(Duration::from_millis(5));
    let _ = tls.get_ref().set_read_timeout(tick);
    let _ = plain.set_read_timeout(tick);
    let mut buf = vec![0u8; 64 * 1024];
    let waiting =
        |e: &std::io::Error| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut);
    let mut idle = 0u32;
    loop {
        let mut moved = false;
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                counted.fetch_add(n as u64, Ordering::SeqCst);
                if plain.write_all(&buf[..n]).is_err() {
                    break;
                }
                moved = true;
            }
            Err(e) if waiting(&e) => {}
            Err(_) => break,
        }
        match plain.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tls.write_all(&buf[..n]).and_then(|_| tls.flush()).is_err() {
                    break;
                }
                moved = true;
            }
            Err(e) if waiting(&e) => {}
            Err(_) => break,
        }
        idle = if moved { 0 } else { idle + 1 };
        if idle > 6000 {
            break;
        }
    }
    let _ = tls.shutdown();
    let _ = plain.shutdown(Shutdown::Both);
}
