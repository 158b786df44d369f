//! Authorizing mailfetch once, as `mailfetch auth ACCOUNT` does it.
//!
//! - The authorization-code flow with PKCE (RFC 6749 section 4.1, RFC 7636, RFC 8252 for
//!   installed apps): mailfetch listens on a loopback port of 127.0.0.1, prints the
//!   provider's URL for the user to open, receives the browser's redirect with the code
//!   (checking `state`), and exchanges the code together with the PKCE verifier, so a code
//!   seen by someone else is useless to them.
//! - The device flow (RFC 8628), where the provider offers it (Microsoft): for a machine
//!   without a browser; the user enters a short code on another device.

use super::{grant, http, now, store, Client, Grant, HTTP_TIMEOUT};
use crate::error::{Class, Error, Result};
use crate::text::printable;
use base64::Engine;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How the user authorizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Open a URL in a browser; the provider redirects back to a loopback port.
    Browser,
    /// Enter a code at the provider's device page (RFC 8628).
    Device,
}

/// The longest HTTP request head read on the loopback port; the rest is not read.
const MAX_REQUEST: usize = 16 << 10;
/// How long one connection to the loopback port may take to send its request head: a
/// browser's idle preconnect, or another local program holding a connection open, delays
/// the real redirect by at most this much.
const REQUEST_TIME: Duration = Duration::from_secs(5);
/// The longest pause between device-flow polls, whatever the provider asks for.
const LONGEST_INTERVAL: Duration = Duration::from_secs(60);

/// Run the authorization for `account` (logging in as `user`) with `client`, print what the
/// user must do on `out`, wait up to `wait` for it, and keep the tokens in `state_dir`.
/// Returns the token file.
pub fn authorize(
    account: &str,
    user: &str,
    client: &Client,
    state_dir: &Path,
    flow: Flow,
    out: &mut dyn Write,
    wait: Duration,
) -> Result<PathBuf> {
    let granted = match flow {
        Flow::Browser => code_flow(account, user, client, out, wait)?,
        Flow::Device => device_flow(account, user, client, out, wait)?,
    };
    let refresh = granted.refresh.ok_or_else(|| {
        Error::new(
            Class::Auth,
            format!(
                "{} granted no refresh token, so mailfetch could not renew access by itself \
                 (the scope must include offline access: Microsoft's offline_access, Google's \
                 access_type=offline)",
                client.token_url
            ),
        )
    })?;
    let path = store::path(state_dir, account);
    store::save(
        &path,
        &store::Tokens {
            client_id: client.id.clone(),
            refresh: Some(refresh),
            access: Some(granted.access),
            expires_at: now() + granted.expires_in as i64,
        },
    )?;
    Ok(path)
}

/// `n` random bytes, base64url without padding.
fn random(n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    openssl::rand::rand_bytes(&mut bytes)
        .map_err(|e| Error::new(Class::LocalIo, format!("no random bytes: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// RFC 7636 section 4.2: the S256 challenge of `verifier`.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(openssl::sha::sha256(verifier.as_bytes()))
}

fn print(out: &mut dyn Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::local("writing instructions", e))
}

/// RFC 6749 section 4.1 with PKCE and a loopback redirect.
fn code_flow(
    account: &str,
    user: &str,
    client: &Client,
    out: &mut dyn Write,
    wait: Duration,
) -> Result<Grant> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::local("cannot listen on 127.0.0.1 for the redirect", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::local("cannot listen on 127.0.0.1 for the redirect", e))?
        .port();
    let redirect = format!("http://127.0.0.1:{port}/");
    let verifier = random(32)?;
    let state = random(16)?;
    let challenge = pkce_challenge(&verifier);
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &client.id),
        ("redirect_uri", &redirect),
        ("scope", &client.scope),
        ("state", &state),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("login_hint", user),
    ];
    params.extend(
        client
            .extra_auth_params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", http::encode(k), http::encode(v)))
        .collect();
    let join = if client.auth_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!("{}{join}{}", client.auth_url, query.join("&"));
    print(
        out,
        &format!(
            "To authorize mailfetch for account {account} ({user}), open this URL in a browser \
             and log in:\n\n{url}\n\nWaiting up to {} minutes for the browser to come back to \
             {redirect} ...\n",
            wait.as_secs().div_ceil(60)
        ),
    )?;
    let code = wait_for_code(&listener, &state, wait)?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    form.extend(client.credentials());
    let reply = http::post_form(&client.token_url, &form, HTTP_TIMEOUT)?;
    grant(account, &client.token_url, reply)
}

/// Serve the loopback port until the browser brings the code for `state`, or `wait` is
/// over (also when other connections keep coming: each is served for at most
/// [`REQUEST_TIME`], and the time is checked after each).
fn wait_for_code(listener: &TcpListener, state: &str, wait: Duration) -> Result<String> {
    let deadline = Instant::now() + wait;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::local("setting up the redirect port", e))?;
    loop {
        if Instant::now() >= deadline {
            return Err(Error::new(
                Class::Temporary,
                format!(
                    "the browser did not come back within {} minutes; run `mailfetch auth` \
                     again",
                    wait.as_secs().div_ceil(60)
                ),
            ));
        }
        match listener.accept() {
            Ok((stream, _)) => {
                if let Some(code) = answer_redirect(stream, state)? {
                    return Ok(code);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(Error::local("waiting for the browser", e)),
        }
    }
}

/// The request head of a connection to the loopback port, up to the blank line: at most
/// [`MAX_REQUEST`] bytes, in at most [`REQUEST_TIME`] all told (one byte every few seconds
/// does not hold the port longer). Whatever came, complete or not, is returned.
fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let until = Instant::now() + REQUEST_TIME;
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(REQUEST_TIME));
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let room = MAX_REQUEST - head.len();
        if left.is_zero() || room == 0 || stream.set_read_timeout(Some(left)).is_err() {
            return head;
        }
        let want = room.min(buf.len());
        match stream.read(&mut buf[..want]) {
            Ok(0) | Err(_) => return head,
            Ok(n) => {
                // Only the new bytes and the three before them can complete the blank line.
                let from = head.len().saturating_sub(3);
                head.extend_from_slice(&buf[..n]);
                if head[from..].windows(4).any(|w| w == b"\r\n\r\n") {
                    return head;
                }
            }
        }
    }
}

/// Answer one request on the loopback port: the code when it is the redirect for `state`,
/// `None` for anything else (a favicon, a stale tab), an error when the provider says the
/// user declined. Public only for the fuzz target `oauth2_redirect`.
#[doc(hidden)]
pub fn answer_redirect(mut stream: TcpStream, state: &str) -> Result<Option<String>> {
    let head = read_head(&mut stream);
    let head = String::from_utf8_lossy(&head);
    let target = head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params = http::query_pairs(query);
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let respond = |stream: &mut TcpStream, status: &str, text: &str| {
        let body =
            format!("<!doctype html><meta charset=utf-8><title>mailfetch</title><p>{text}</p>\n");
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    };
    if path != "/" || get("state") != Some(state) {
        respond(
            &mut stream,
            "404 Not Found",
            "Not the page mailfetch is waiting for.",
        );
        return Ok(None);
    }
    if let Some(error) = get("error") {
        let why = get("error_description").unwrap_or(error);
        let why: String = printable(why).chars().take(300).collect();
        respond(
            &mut stream,
            "200 OK",
            "mailfetch was not authorized. You can close this page.",
        );
        return Err(Error::new(
            Class::Auth,
            format!("the provider did not authorize mailfetch: {why}"),
        ));
    }
    match get("code").filter(|c| !c.is_empty()) {
        Some(code) => {
            respond(
                &mut stream,
                "200 OK",
                "mailfetch is authorized. You can close this page.",
            );
            Ok(Some(code.to_string()))
        }
        None => {
            respond(
                &mut stream,
                "400 Bad Request",
                "The redirect carried no code.",
            );
            Ok(None)
        }
    }
}

/// RFC 8628: ask for a device code, show it, poll the token endpoint until the user is done.
fn device_flow(
    account: &str,
    user: &str,
    client: &Client,
    out: &mut dyn Write,
    wait: Duration,
) -> Result<Grant> {
    let device_url = client.device_url.as_deref().ok_or_else(|| {
        Error::config(format!(
            "the provider of account {account} offers no device flow; run `mailfetch auth \
             {account}` without --device (or set oauth2-device-url)"
        ))
    })?;
    let mut form = vec![("scope", client.scope.as_str())];
    form.extend(client.credentials());
    let reply = http::post_form(device_url, &form, HTTP_TIMEOUT)?;
    let (Some(device_code), Some(user_code)) =
        (reply.field("device_code"), reply.field("user_code"))
    else {
        return Err(Error::new(
            Class::Unavailable,
            format!("{device_url} gave no device code ({})", reply.error_text()),
        ));
    };
    let device_code = device_code.to_string();
    // The provider's texts go to the user's terminal: no escapes, and a sane length.
    let page: String = printable(
        reply
            .field("verification_uri")
            .or_else(|| reply.field("verification_url"))
            .unwrap_or("the provider's device page"),
    )
    .chars()
    .take(300)
    .collect();
    let user_code: String = printable(user_code).chars().take(100).collect();
    let lifetime = Duration::from_secs(reply.number("expires_in").unwrap_or(900));
    let mut interval =
        Duration::from_secs(reply.number("interval").unwrap_or(5).max(1)).min(LONGEST_INTERVAL);
    print(
        out,
        &format!(
            "To authorize mailfetch for account {account} ({user}), open {page} on any device \
             and enter the code {user_code}\n\nWaiting ...\n"
        ),
    )?;
    let deadline = Instant::now() + lifetime.min(wait);
    loop {
        std::thread::sleep(interval);
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code.as_str()),
        ];
        form.extend(client.credentials());
        let reply = http::post_form(&client.token_url, &form, HTTP_TIMEOUT)?;
        match reply.field("error") {
            Some("authorization_pending") => {}
            Some("slow_down") => {
                interval = (interval + Duration::from_secs(5)).min(LONGEST_INTERVAL)
            }
            Some("access_denied") => {
                return Err(Error::new(
                    Class::Auth,
                    "the authorization was declined at the provider",
                ))
            }
            Some("expired_token") => {
                return Err(Error::new(
                    Class::Temporary,
                    "the device code expired before it was entered; run `mailfetch auth --device` again",
                ))
            }
            _ => return grant(account, &client.token_url, reply),
        }
        if Instant::now() >= deadline {
            return Err(Error::new(
                Class::Temporary,
                "the code was not entered in time; run `mailfetch auth --device` again",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    /// The server side of a loopback connection on which `client` has run.
    fn served(client: impl FnOnce(TcpStream) + Send + 'static) -> TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || client(TcpStream::connect(addr).unwrap()));
        listener.accept().unwrap().0
    }

    #[test]
    fn the_redirect_with_the_state_brings_the_code_and_other_requests_do_not() {
        let ok = served(|mut c| {
            c.write_all(b"GET /?state=s1&code=4%2F0A HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let _ = c.read_to_end(&mut Vec::new());
        });
        assert_eq!(answer_redirect(ok, "s1").unwrap().as_deref(), Some("4/0A"));
        for request in [
            &b"GET /?state=wrong&code=x HTTP/1.1\r\n\r\n"[..],
            b"GET /favicon.ico HTTP/1.1\r\n\r\n",
            b"\xff\xfe\x00garbage\r\n\r\n",
            b"",
        ] {
            let stream = served(move |mut c| {
                c.write_all(request).unwrap();
                let _ = c.shutdown(std::net::Shutdown::Write);
                let _ = c.read_to_end(&mut Vec::new());
            });
            assert_eq!(answer_redirect(stream, "s1").unwrap(), None);
        }
    }

    #[test]
    fn a_declined_authorization_is_one_printable_line() {
        let stream = served(|mut c| {
            c.write_all(
                b"GET /?state=s1&error=access_denied&error_description=no%1B%5B2J%0Athanks \
                  HTTP/1.1\r\n\r\n",
            )
            .unwrap();
            let _ = c.read_to_end(&mut Vec::new());
        });
        let e = answer_redirect(stream, "s1").unwrap_err();
        assert_eq!(e.class().exit_code(), 77);
        assert!(e.message().ends_with("no?[2J?thanks"), "{}", e.message());
    }

    #[test]
    fn connections_that_keep_coming_do_not_stretch_the_wait() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for _ in 0..50 {
                let Ok(mut c) = TcpStream::connect(addr) else {
                    return;
                };
                let _ = c.write_all(b"GET /?state=guess&code=x HTTP/1.1\r\n\r\n");
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let started = Instant::now();
        let e = wait_for_code(&listener, "s1", Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.class().exit_code(), 75);
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn an_endless_request_head_is_cut_at_the_limit() {
        let mut stream = served(|mut c| {
            let line = vec![b'a'; 4096];
            while c.write_all(&line).is_ok() {}
        });
        let head = read_head(&mut stream);
        assert_eq!(head.len(), MAX_REQUEST);
    }

    #[test]
    fn a_trickling_request_holds_the_port_only_for_the_request_time() {
        let mut stream = served(|mut c| {
            for _ in 0..100 {
                if c.write_all(b"G").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        let started = Instant::now();
        let head = read_head(&mut stream);
        assert!(started.elapsed() < REQUEST_TIME + Duration::from_secs(2));
        assert!(head.len() < 20, "{}", head.len());
    }

    #[test]
    fn verifiers_are_long_and_url_safe() {
        let v = random(32).unwrap();
        assert_eq!(v.len(), 43);
        assert!(v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(v, random(32).unwrap());
    }
}
