//! A fake OAuth2 provider for tests (std only, HTTP on loopback): the token endpoint
//! (authorization code with PKCE, refresh, device code) and the device authorization
//! endpoint, plus the bookkeeping a fake mail server needs to judge a bearer token.
//!
//! The "browser" side of the authorization-code flow is the test itself: it reads the URL
//! `mailfetch auth` prints, [`FakeOAuth::approve`]s it (which checks the URL and binds a code
//! to its PKCE challenge and redirect URI), and follows the redirect to mailfetch's loopback
//! port. The token endpoint then grants tokens only for the code with the verifier whose
//! S256 challenge was in the URL.

use super::client::{Client, Outcome};
use base64::Engine;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A mail server's judgement of a bearer token: whether `(user, token)` may log in.
pub type TokenCheck = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// The client id the tests register.
pub const CLIENT_ID: &str = "mailfetch-test-client";

/// One request to the token or device endpoint.
#[derive(Clone, Debug)]
pub struct Request {
    /// `/token` or `/device`.
    pub path: String,
    /// The form fields.
    pub form: HashMap<String, String>,
}

#[derive(Default)]
struct State {
    /// code -> (challenge, redirect_uri)
    codes: HashMap<String, (String, String)>,
    /// Refresh tokens that are valid.
    refresh: Vec<String>,
    /// Access token -> when it expires.
    access: HashMap<String, Instant>,
    /// Lifetime of the access tokens granted from now on.
    lifetime: u64,
    /// Rotate the refresh token on every refresh.
    rotate: bool,
    /// Device flow: polls still to answer `authorization_pending`.
    pending_polls: usize,
    issued: usize,
    log: Vec<Request>,
}

/// A running fake provider.
pub struct FakeOAuth {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl FakeOAuth {
    /// Start on a free loopback port.
    pub fn start() -> FakeOAuth {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            lifetime: 3600,
            ..State::default()
        }));
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                thread::spawn(move || serve(stream, &shared));
            }
        });
        FakeOAuth { port, state }
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Config keys for an account using this provider with `auth = "oauth2"`.
    pub fn account_keys(&self) -> String {
        format!(
            "auth = \"oauth2\"\noauth2-client-id = \"{CLIENT_ID}\"\n\
             oauth2-auth-url = \"{u}/authorize\"\noauth2-token-url = \"{u}/token\"\n\
             oauth2-device-url = \"{u}/device\"\noauth2-scope = \"mail offline_access\"\n",
            u = self.url()
        )
    }

    /// Access tokens granted from now on live `seconds`.
    pub fn set_lifetime(&self, seconds: u64) {
        self.state.lock().unwrap().lifetime = seconds;
    }

    /// Issue a new refresh token with every refresh (as Microsoft does).
    pub fn rotate_refresh_tokens(&self) {
        self.state.lock().unwrap().rotate = true;
    }

    /// The device flow answers `authorization_pending` to this many polls first.
    pub fn set_pending_polls(&self, n: usize) {
        self.state.lock().unwrap().pending_polls = n;
    }

    /// Revoke every refresh token (the user withdrew the app's access).
    pub fn revoke_refresh_tokens(&self) {
        self.state.lock().unwrap().refresh.clear();
    }

    /// Revoke the access token `token` before its time.
    pub fn revoke_access_token(&self, token: &str) {
        self.state.lock().unwrap().access.remove(token);
    }

    /// Whether `token` is a current access token.
    pub fn valid(&self, token: &str) -> bool {
        let state = self.state.lock().unwrap();
        state.access.get(token).is_some_and(|t| Instant::now() < *t)
    }

    /// A checker for fake mail servers: `(user, token)` is accepted when the token is valid.
    pub fn checker(&self) -> TokenCheck {
        let state = self.state.clone();
        Arc::new(move |_user, token| {
            let s = state.lock().unwrap();
            s.access.get(token).is_some_and(|t| Instant::now() < *t)
        })
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().log.clone()
    }

    /// The requests with `grant_type`.
    pub fn grants(&self, grant_type: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.form.get("grant_type").map(String::as_str) == Some(grant_type))
            .collect()
    }

    /// Every token this provider issued (access and refresh), for leak checks.
    pub fn issued_tokens(&self) -> Vec<String> {
        let n = self.state.lock().unwrap().issued;
        (1..=n)
            .flat_map(|i| [access_token(i), refresh_token(i)])
            .collect()
    }

    /// Play the user at the authorization page: check the URL mailfetch printed, bind a
    /// code to its PKCE challenge, and return the redirect to follow (with code and state).
    pub fn approve(&self, url: &str) -> String {
        let (base, query) = url.split_once('?').expect("a query");
        assert_eq!(base, format!("{}/authorize", self.url()));
        let params = query_map(query);
        assert_eq!(params["response_type"], "code");
        assert_eq!(params["client_id"], CLIENT_ID);
        assert_eq!(params["code_challenge_method"], "S256");
        assert_eq!(params["scope"], "mail offline_access");
        let redirect = params["redirect_uri"].clone();
        assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
        let code = format!("code-{}", self.state.lock().unwrap().codes.len() + 1);
        self.state.lock().unwrap().codes.insert(
            code.clone(),
            (params["code_challenge"].clone(), redirect.clone()),
        );
        format!("{redirect}?state={}&code={code}", params["state"])
    }
}

/// Run `mailfetch auth ACCOUNT ARGS` and play the browser: approve the printed URL at the
/// fake provider and follow the redirect to mailfetch's loopback port.
pub fn authorize(c: &Client, provider: &FakeOAuth, account: &str, args: &[&str]) -> Outcome {
    let mut all = vec!["auth", account];
    all.extend_from_slice(args);
    let mut child = c
        .command(&all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "auth ended without a URL: {printed}"
        );
        printed.push_str(&line);
        if line.starts_with(&format!("{}/authorize?", provider.url())) {
            break line.trim().to_string();
        }
    };
    let redirect = provider.approve(&url);
    let target = redirect.trim_start_matches("http://");
    let (host, path) = target.split_once('/').unwrap();
    let mut browser = TcpStream::connect(host).unwrap();
    write!(
        browser,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    browser.read_to_string(&mut page).unwrap();
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("authorized"),
        "{page}"
    );
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    Outcome {
        code: status.code().unwrap_or(-1),
        stdout: printed + &rest,
        stderr,
    }
}

/// The n-th access token issued.
fn access_token(n: usize) -> String {
    format!("ya29.fake-access-{n:04}-c0ffee")
}

/// The n-th refresh token issued.
fn refresh_token(n: usize) -> String {
    format!("1//fake-refresh-{n:04}-5ecret")
}

/// Decode a form or query string.
pub fn query_map(query: &str) -> HashMap<String, String> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split(' ').nth(1).unwrap_or("").to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let form = query_map(&String::from_utf8_lossy(&body));
    let (status, json) = answer(&path, &form, state);
    state.lock().unwrap().log.push(Request { path, form });
    let mut out = stream;
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{json}",
        json.len()
    );
}

fn error(code: &str, description: &str) -> (&'static str, String) {
    (
        "400 Bad Request",
        format!(r#"{{"error":"{code}","error_description":"{description}"}}"#),
    )
}

/// Grant a new access token (and refresh token when `with_refresh`).
fn issue(state: &mut State, with_refresh: bool) -> (&'static str, String) {
    state.issued += 1;
    let access = access_token(state.issued);
    state.access.insert(
        access.clone(),
        Instant::now() + Duration::from_secs(state.lifetime),
    );
    let mut json = format!(
        r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":{}"#,
        state.lifetime
    );
    if with_refresh {
        let refresh = refresh_token(state.issued);
        state.refresh.push(refresh.clone());
        json.push_str(&format!(r#","refresh_token":"{refresh}""#));
    }
    json.push('}');
    ("200 OK", json)
}

fn answer(
    path: &str,
    form: &HashMap<String, String>,
    state: &Mutex<State>,
) -> (&'static str, String) {
    let mut s = state.lock().unwrap();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if field("client_id") != CLIENT_ID {
        return error("invalid_client", "unknown client");
    }
    match (path, field("grant_type")) {
        ("/device", _) => (
            "200 OK",
            r#"{"device_code":"dev-code-1","user_code":"WDJB-MJHT","verification_uri":"https://example.invalid/devicelogin","expires_in":60,"interval":1}"#.to_string(),
        ),
        ("/token", "authorization_code") => {
            let Some((challenge, redirect)) = s.codes.remove(field("code")) else {
                return error("invalid_grant", "unknown or used code");
            };
            let s256 = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(openssl::sha::sha256(field("code_verifier").as_bytes()));
            if s256 != challenge {
                return error("invalid_grant", "PKCE verification failed");
            }
            if field("redirect_uri") != redirect {
                return error("invalid_grant", "redirect_uri mismatch");
            }
            issue(&mut s, true)
        }
        ("/token", "refresh_token") => {
            let token = field("refresh_token").to_string();
            if !s.refresh.contains(&token) {
                return error("invalid_grant", "Token has been expired or revoked.");
            }
            let rotate = s.rotate;
            if rotate {
                s.refresh.retain(|t| *t != token);
            }
            issue(&mut s, rotate)
        }
        ("/token", "urn:ietf:params:oauth:grant-type:device_code") => {
            if field("device_code") != "dev-code-1" {
                return error("invalid_grant", "unknown device code");
            }
            if s.pending_polls > 0 {
                s.pending_polls -= 1;
                return error("authorization_pending", "waiting for the user");
            }
            issue(&mut s, true)
        }
        _ => error("unsupported_grant_type", "what is this"),
    }
}
