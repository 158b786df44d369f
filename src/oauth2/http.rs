//! The HTTP side of OAuth2: form POSTs to a provider's token and device endpoints (RFC 6749
//! section 4, RFC 8628), with ureq on native-tls, and the JSON they answer.
//!
//! Endpoints must be `https://`; plain `http://` is allowed only when the host is a loopback
//! address (127.0.0.0/8, ::1) or `localhost` (a local token helper, and the tests' fake
//! endpoint), where nothing crosses a network. The check parses the URL as browsers do
//! (WHATWG, the `url` crate) and looks at its host, never at a text prefix:
//! `http://127.0.0.1:@evil.example/` has the host evil.example. A user name or password in
//! the URL is refused outright, and what is requested is the URL as parsed and written back
//! out, so the HTTP client cannot read a different host from it. Error texts never carry the
//! form (it holds codes, refresh tokens and client secrets), only the URL and the
//! provider's `error` and `error_description`.

use crate::error::{Class, Error, Result};
use crate::text::printable;
use std::net::IpAddr;
use std::time::Duration;
use url::{Host, Url};

/// `url` parsed, if it may carry OAuth2 traffic: https to any host, http only to a loopback
/// host; no user name or password in it. The error says why not (without echoing a
/// user name or password the URL held).
pub fn check_url(url: &str) -> std::result::Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("{url:?} is not a URL ({e})"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "has a user name or password in it (before an @); an endpoint URL must not \
             (client credentials go in oauth2-client-id and oauth2-client-secret)"
                .to_string(),
        );
    }
    let loopback = match parsed.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(name)) => name == "localhost",
        None => false,
    };
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(format!(
            "{url:?} is not an https:// URL (plain http is allowed only to a loopback host: \
             127.0.0.1, [::1] or localhost)"
        )),
    }
}

/// What an endpoint answered: the HTTP status and the JSON object it sent.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body, parsed (an empty object if it was not JSON).
    pub json: serde_json::Value,
}

impl Reply {
    /// A string field of the reply.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.json.get(name).and_then(|v| v.as_str())
    }

    /// A number field (some providers send `expires_in` as a string).
    pub fn number(&self, name: &str) -> Option<u64> {
        match self.json.get(name)? {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// `error: description` of an error reply, for messages.
    pub fn error_text(&self) -> String {
        let short = |s: &str| -> String { printable(s).chars().take(300).collect() };
        match (self.field("error"), self.field("error_description")) {
            (Some(e), Some(d)) => format!("{}: {}", short(e), short(d)),
            (Some(e), None) => short(e),
            _ => format!("HTTP {}", self.status),
        }
    }
}

/// POST `form` (application/x-www-form-urlencoded) to `url` and read the JSON reply,
/// whatever its status (OAuth2 errors come as 400 with a JSON body).
pub fn post_form(url: &str, form: &[(&str, &str)], timeout: Duration) -> Result<Reply> {
    let checked = check_url(url).map_err(|why| Error::config(format!("OAuth2 endpoint {why}")))?;
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::NativeTls)
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    // A proxy from the environment is used, but never for a loopback host.
    let loopback = checked.scheme() == "http";
    let proxy = if loopback {
        None
    } else {
        ureq::Proxy::try_from_env()
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .proxy(proxy)
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .user_agent(concat!("mailfetch/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let response = agent
        .post(checked.as_str())
        .header("Accept", "application/json")
        .send_form(form.iter().copied())
        .map_err(|e| {
            let class = match e {
                ureq::Error::Timeout(_) | ureq::Error::Io(_) => Class::Temporary,
                _ => Class::Unavailable,
            };
            Error::new(class, format!("cannot reach {url}: {e}"))
        })?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(|e| {
            Error::new(
                Class::Temporary,
                format!("reading the answer of {url}: {e}"),
            )
        })?;
    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    if !json.is_object() {
        return Err(Error::protocol(format!(
            "{url} answered HTTP {status} without a JSON object"
        )));
    }
    Ok(Reply { status, json })
}

/// Percent-encode `text` for a URL query or form (RFC 3986 unreserved characters stay).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decode a percent-encoded query value (`+` is a space).
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push(high << 4 | low);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `name=value` pairs of a query string, decoded.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_allowed() {
        assert!(check_url("https://oauth2.googleapis.com/token").is_ok());
        assert!(check_url("http://127.0.0.1:8080/token").is_ok());
        assert!(check_url("http://127.3.4.5/token").is_ok());
        assert!(check_url("http://[::1]:9/t").is_ok());
        assert!(check_url("http://LocalHost:9/t").is_ok());
        assert!(check_url("http://login.example.com/token").is_err());
        assert!(check_url("http://127.0.0.1.evil.example/token").is_err());
        assert!(check_url("http://localhost.evil.example/token").is_err());
        assert!(check_url("http://[::ffff:10.0.0.1]/token").is_err());
        assert!(check_url("https://").is_err());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("file:///etc/passwd").is_err());
    }

    #[test]
    fn the_host_is_checked_not_a_prefix_of_the_text() {
        for hostile in [
            "http://127.0.0.1:@127.0.0.2:27080/token",
            "http://127.0.0.1:@evil.example/token",
            "http://127.0.0.1@evil.example/token",
            "http://localhost:x@evil.example/token",
            "https://user:p4ss@login.example.com/token",
        ] {
            let why = check_url(hostile).expect_err(hostile);
            assert!(why.contains("user name or password"), "{hostile}: {why}");
            assert!(!why.contains("p4ss") && !why.contains("evil"), "{why}");
        }
    }

    #[test]
    fn the_url_requested_names_the_host_that_was_checked() {
        for (text, host) in [
            ("http://127.0.0.1\\@evil.example/t", "127.0.0.1"),
            ("http://0x7f.1:9/t", "127.0.0.1"),
            ("https://LOGIN.example.com/t?x=1", "login.example.com"),
        ] {
            let url = check_url(text).expect(text);
            let uri: ureq::http::Uri = url.as_str().parse().expect("written by url");
            assert_eq!(uri.host(), Some(host), "{text} -> {url}");
            assert_eq!(url.host_str(), Some(host), "{text}");
        }
    }

    #[test]
    fn query_values_round_trip() {
        let v = "a b&c=d/é%";
        assert_eq!(decode(&encode(v)), v);
        assert_eq!(
            query_pairs("code=4%2F0A&state=xy&scope=a+b&x"),
            [
                ("code".to_string(), "4/0A".to_string()),
                ("state".into(), "xy".into()),
                ("scope".into(), "a b".into()),
                ("x".into(), String::new())
            ]
        );
        assert_eq!(decode("%zz%4"), "%zz%4");
    }
}
