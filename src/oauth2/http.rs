//! The HTTP side of OAuth2: form POSTs to a provider's token and device endpoints (RFC 6749
//! section 4, RFC 8628), with ureq on native-tls, and the JSON they answer.
//!
//! Endpoints must be `https://`; plain `http://` is allowed only on the loopback address
//! 127.0.0.1 (a local token helper, and the tests' fake endpoint), where nothing crosses a
//! network. Error texts never carry the form (it holds codes, refresh tokens and client
//! secrets), only the URL and the provider's `error` and `error_description`.

use crate::error::{Class, Error, Result};
use std::time::Duration;

/// Whether `url` may carry OAuth2 traffic: https, or http on 127.0.0.1 / [::1].
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    let loopback = [
        "http://127.0.0.1:",
        "http://127.0.0.1/",
        "http://[::1]:",
        "http://[::1]/",
    ];
    let https = url.starts_with("https://") && url.len() > "https://".len();
    if https || loopback.iter().any(|p| url.starts_with(p)) {
        Ok(())
    } else {
        Err(format!(
            "{url:?} is not an https:// URL (plain http is allowed only on 127.0.0.1)"
        ))
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
        let printable = |s: &str| -> String {
            s.chars()
                .take(300)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect()
        };
        match (self.field("error"), self.field("error_description")) {
            (Some(e), Some(d)) => format!("{}: {}", printable(e), printable(d)),
            (Some(e), None) => printable(e),
            _ => format!("HTTP {}", self.status),
        }
    }
}

/// POST `form` (application/x-www-form-urlencoded) to `url` and read the JSON reply,
/// whatever its status (OAuth2 errors come as 400 with a JSON body).
pub fn post_form(url: &str, form: &[(&str, &str)], timeout: Duration) -> Result<Reply> {
    check_url(url).map_err(Error::config)?;
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::NativeTls)
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    // A proxy from the environment is used, but never for the loopback address.
    let loopback = !url.starts_with("https://");
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
        .post(url)
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
        assert!(check_url("http://[::1]:9/t").is_ok());
        assert!(check_url("http://login.example.com/token").is_err());
        assert!(check_url("http://127.0.0.1.evil.example/token").is_err());
        assert!(check_url("https://").is_err());
        assert!(check_url("ftp://x").is_err());
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
