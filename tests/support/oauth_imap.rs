//! An OAuth2-terminating proxy in front of the test Dovecot's plain IMAP port, as a mail
//! provider's front end would be: it offers AUTH=XOAUTH2 and AUTH=OAUTHBEARER (besides what
//! Dovecot offers, SASL-IR included), takes an AUTHENTICATE with either apart, judges the
//! bearer token with the fake OAuth2 provider, and on success logs in to Dovecot with the
//! user's password, so everything after login is the real server. It can end the first
//! session with BYE at the first message fetch, to force a reconnect mid-pull.
//!
//! Why not Dovecot's own oauth2 passdb: it validates tokens by calling an introspection URL
//! from its auth process, configured when Dovecot starts; the shared test instance
//! (scripts/dovecot) is started once per test binary before any fake provider exists, and
//! a second, OAuth-configured instance per test would cost seconds each. The proxy tests
//! the same client behaviour (payloads, SASL-IR, renewal) with the real server behind it.

use super::dovecot::{Dovecot, TestUser};
use super::fake_oauth::TokenCheck;
use base64::Engine;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// A bearer-token login the proxy saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// The mechanism named in AUTHENTICATE.
    pub mechanism: String,
    /// Whether the initial response came with the command (SASL-IR).
    pub initial_response: bool,
    /// The user in the payload.
    pub user: String,
    /// The token in the payload.
    pub token: String,
    /// Whether it was accepted.
    pub accepted: bool,
}

/// Called with the token of the session the proxy ends with BYE.
pub type OnBye = Arc<dyn Fn(&str) + Send + Sync>;

/// What a test wants of the proxy.
pub struct Setup {
    /// Whether `(user, token)` may log in.
    pub accept: TokenCheck,
    /// End the first session with BYE at its first message fetch, after calling this with
    /// the token that session logged in with.
    pub bye_once: Option<OnBye>,
}

/// A running proxy.
pub struct OAuthImap {
    port: u16,
    logins: Arc<Mutex<Vec<Login>>>,
    fired: Arc<AtomicBool>,
}

impl OAuthImap {
    /// Proxy to `d` for `user`.
    pub fn start(d: &Dovecot, user: &TestUser, setup: Setup) -> OAuthImap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let logins = Arc::new(Mutex::new(Vec::new()));
        let fired = Arc::new(AtomicBool::new(false));
        let upstream = d.imap();
        let (user, setup) = (user.clone(), Arc::new(setup));
        let (log, flag) = (logins.clone(), fired.clone());
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                let (user, setup, log, flag) =
                    (user.clone(), setup.clone(), log.clone(), flag.clone());
                thread::spawn(move || relay(client, server, &user, &setup, &log, &flag));
            }
        });
        OAuthImap {
            port,
            logins,
            fired,
        }
    }

    /// The port to connect to (plain IMAP on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bearer-token logins so far.
    pub fn logins(&self) -> Vec<Login> {
        self.logins.lock().unwrap().clone()
    }

    /// Whether the BYE was sent.
    pub fn said_bye(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

/// The user and token of an XOAUTH2 or OAUTHBEARER payload.
fn parse(mechanism: &str, payload: &str) -> (String, String) {
    let user = if mechanism == "XOAUTH2" {
        payload
            .strip_prefix("user=")
            .and_then(|r| r.split('\x01').next())
    } else {
        payload.split(',').find_map(|p| p.strip_prefix("a="))
    };
    let token = payload
        .split('\x01')
        .find_map(|p| p.strip_prefix("auth=Bearer "));
    (
        user.unwrap_or("").to_string(),
        token.unwrap_or("").to_string(),
    )
}

fn relay(
    client: TcpStream,
    server: TcpStream,
    user: &TestUser,
    setup: &Setup,
    logins: &Mutex<Vec<Login>>,
    fired: &AtomicBool,
) {
    let to_client = Arc::new(Mutex::new(client.try_clone().unwrap()));
    let (mut from_server, writer) = (server.try_clone().unwrap(), to_client.clone());
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from_server.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let data = String::from_utf8_lossy(&buf[..n])
                        .replace(" AUTH=PLAIN", " AUTH=XOAUTH2 AUTH=OAUTHBEARER AUTH=PLAIN")
                        .into_bytes();
                    if writer.lock().unwrap().write_all(&data).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = writer.lock().unwrap().shutdown(Shutdown::Both);
    });
    let mut to_server = server;
    let mut lines = BufReader::new(client);
    let mut session_token = String::new();
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = to_server.shutdown(Shutdown::Both);
            return;
        }
        let words: Vec<&str> = line.trim_end().split(' ').collect();
        let tag = words[0].to_string();
        let authenticate = words.len() >= 3
            && words[1].eq_ignore_ascii_case("AUTHENTICATE")
            && matches!(
                words[2].to_ascii_uppercase().as_str(),
                "XOAUTH2" | "OAUTHBEARER"
            );
        if authenticate {
            let mechanism = words[2].to_ascii_uppercase();
            let initial_response = words.len() > 3;
            let encoded = if initial_response {
                words[3].to_string()
            } else {
                let _ = to_client.lock().unwrap().write_all(b"+ \r\n");
                let mut next = String::new();
                let _ = lines.read_line(&mut next);
                next.trim_end().to_string()
            };
            let payload = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map(|p| String::from_utf8_lossy(&p).into_owned())
                .unwrap_or_default();
            let (who, token) = parse(&mechanism, &payload);
            let accepted = who == user.name && (setup.accept)(&who, &token);
            logins.lock().unwrap().push(Login {
                mechanism,
                initial_response,
                user: who,
                token: token.clone(),
                accepted,
            });
            if accepted {
                session_token = token;
                let login = format!("{tag} LOGIN \"{}\" \"{}\"\r\n", user.name, user.password);
                if to_server.write_all(login.as_bytes()).is_err() {
                    return;
                }
            } else {
                let mut c = to_client.lock().unwrap();
                let _ = c.write_all(b"+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0=\r\n");
                drop(c);
                let mut empty = String::new();
                let _ = lines.read_line(&mut empty);
                let _ = write!(
                    to_client.lock().unwrap(),
                    "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials (bearer token)\r\n"
                );
            }
            continue;
        }
        if let Some(on_bye) = &setup.bye_once {
            if line.contains("BODY.PEEK[]") && !fired.swap(true, Ordering::SeqCst) {
                on_bye(&session_token);
                let mut c = to_client.lock().unwrap();
                let _ = c.write_all(b"* BYE Session expired, please log in again\r\n");
                let _ = c.shutdown(Shutdown::Both);
                let _ = to_server.shutdown(Shutdown::Both);
                return;
            }
        }
        if to_server.write_all(line.as_bytes()).is_err() {
            return;
        }
    }
}
