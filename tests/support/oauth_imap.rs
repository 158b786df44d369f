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
use super::proxy::{self, Proxy, ToClient, ToServer};
use base64::Engine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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
    proxy: Proxy,
    logins: Arc<Mutex<Vec<Login>>>,
    fired: Arc<AtomicBool>,
}

impl OAuthImap {
    /// Proxy to `d` for `user`.
    pub fn start(d: &Dovecot, user: &TestUser, setup: Setup) -> OAuthImap {
        let logins = Arc::new(Mutex::new(Vec::new()));
        let fired = Arc::new(AtomicBool::new(false));
        let (user, setup) = (user.clone(), Arc::new(setup));
        let (log, flag) = (logins.clone(), fired.clone());
        let proxy = Proxy::to(d.imap())
            .script(move || Session {
                user: user.clone(),
                setup: setup.clone(),
                logins: log.clone(),
                fired: flag.clone(),
                token: String::new(),
                awaiting: None,
            })
            .start();
        OAuthImap {
            proxy,
            logins,
            fired,
        }
    }

    /// The port to connect to (plain IMAP on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.proxy.port()
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

/// What the next client line is, inside an AUTHENTICATE.
enum Awaiting {
    /// The initial response the `+` asked for.
    Payload { tag: String, mechanism: String },
    /// The empty response that ends a refused exchange.
    Cancel { tag: String },
}

/// One client's session through the proxy.
struct Session {
    user: TestUser,
    setup: Arc<Setup>,
    logins: Arc<Mutex<Vec<Login>>>,
    fired: Arc<AtomicBool>,
    /// The token this session logged in with.
    token: String,
    awaiting: Option<Awaiting>,
}

impl Session {
    /// Judge the base64 `encoded` payload: log in to Dovecot with the password, or refuse.
    fn judge(
        &mut self,
        tag: String,
        mechanism: String,
        initial_response: bool,
        encoded: &str,
    ) -> ToServer {
        let payload = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .unwrap_or_default();
        let (who, token) = parse(&mechanism, &payload);
        let accepted = who == self.user.name && (self.setup.accept)(&who, &token);
        self.logins.lock().unwrap().push(Login {
            mechanism,
            initial_response,
            user: who,
            token: token.clone(),
            accepted,
        });
        if accepted {
            self.token = token;
            let (name, password) = (&self.user.name, &self.user.password);
            ToServer::Forward(format!("{tag} LOGIN \"{name}\" \"{password}\"\r\n").into_bytes())
        } else {
            self.awaiting = Some(Awaiting::Cancel { tag });
            ToServer::Answer(b"+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0=\r\n".to_vec())
        }
    }
}

impl proxy::Script for Session {
    fn client(&mut self, line: &[u8]) -> ToServer {
        let text = String::from_utf8_lossy(line);
        match self.awaiting.take() {
            Some(Awaiting::Payload { tag, mechanism }) => {
                return self.judge(tag, mechanism, false, text.trim_end());
            }
            Some(Awaiting::Cancel { tag }) => {
                return ToServer::Answer(
                    format!(
                        "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials (bearer token)\r\n"
                    )
                    .into_bytes(),
                );
            }
            None => {}
        }
        let words: Vec<&str> = text.trim_end().split(' ').collect();
        let tag = words[0].to_string();
        let authenticate = words.len() >= 3
            && words[1].eq_ignore_ascii_case("AUTHENTICATE")
            && matches!(
                words[2].to_ascii_uppercase().as_str(),
                "XOAUTH2" | "OAUTHBEARER"
            );
        if authenticate {
            let mechanism = words[2].to_ascii_uppercase();
            if words.len() > 3 {
                let encoded = words[3].to_string();
                return self.judge(tag, mechanism, true, &encoded);
            }
            self.awaiting = Some(Awaiting::Payload { tag, mechanism });
            return ToServer::Answer(b"+ \r\n".to_vec());
        }
        if let Some(on_bye) = &self.setup.bye_once {
            if text.contains("BODY.PEEK[]") && !self.fired.swap(true, Ordering::SeqCst) {
                on_bye(&self.token);
                return ToServer::Hangup(
                    b"* BYE Session expired, please log in again\r\n".to_vec(),
                );
            }
        }
        ToServer::Forward(line.to_vec())
    }

    fn server(&mut self, chunk: Vec<u8>) -> ToClient {
        let offered = String::from_utf8_lossy(&chunk)
            .replace(" AUTH=PLAIN", " AUTH=XOAUTH2 AUTH=OAUTHBEARER AUTH=PLAIN");
        ToClient::Send(vec![offered.into_bytes()])
    }
}
