//! What an OAuth2 token endpoint answers (src/oauth2: the JSON body as `http::post_form`
//! reads it, then `grant`), and the token file (`store::load`), on arbitrary bytes. Never
//! panics; a grant is only made from a 2xx reply with a non-empty `access_token`, with the
//! provider's `expires_in` (number or digits) or the default, and the refresh token when
//! one came; error messages carry no control characters of the provider's text and stay
//! short. Tokens saved to the file load back as they were; percent-encoding of query values
//! (`http::encode`, `decode`, `query_pairs`) round-trips.
//!
//! Input: the HTTP status (two bytes), an expiry time (eight), then NUL-separated: the body
//! (also written as a token file), a text to save and encode, and a refresh token if any.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::oauth2::{grant, http, store};
use mailfetch::secret::Secret;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        base.join(format!("mailfetch-fuzz-oauth2-{}", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((status, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let Some((expires_at, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let status = 100 + u16::from_le_bytes(*status) % 500;
    let expires_at = i64::from_le_bytes(*expires_at);
    let rest = String::from_utf8_lossy(rest);
    let mut parts = rest.split('\0');
    let body = parts.next().unwrap_or_default();
    let text = parts.next().unwrap_or_default();
    let refresh = parts.next();

    // As `http::post_form` reads a reply.
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    if json.is_object() {
        let access = json
            .get("access_token")
            .and_then(|v| v.as_str())
            .map(String::from);
        let refresh_sent = json
            .get("refresh_token")
            .and_then(|v| v.as_str())
            .map(String::from);
        let reply = http::Reply { status, json };
        let error_text = reply.error_text();
        assert!(error_text.chars().count() <= 601 + 9, "{error_text:?}");
        assert!(!error_text.chars().any(char::is_control), "{error_text:?}");
        let expires = reply.number("expires_in");
        match grant("acct", "https://token.example/", reply) {
            Ok(g) => {
                assert!((200..300).contains(&status));
                assert_eq!(Some(g.access.expose()), access.as_deref());
                assert!(!g.access.expose().is_empty());
                assert_eq!(g.expires_in, expires.unwrap_or(g.expires_in));
                assert_eq!(
                    g.refresh.as_ref().map(Secret::expose),
                    refresh_sent.as_deref().filter(|r| !r.is_empty())
                );
            }
            Err(e) => {
                assert!(!(200..300).contains(&status) || access.is_none_or(|a| a.is_empty()));
                // The provider's text is cut to 300 characters twice; the rest is ours.
                assert!(e.to_string().chars().count() < 1000, "{e}");
            }
        }
    }

    // The token file, as damaged or hostile as it comes.
    let dir = dir();
    std::fs::create_dir_all(dir).expect("dir");
    let path = store::path(dir, "acct");
    std::fs::write(&path, body).expect("write tokens");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let _ = store::load(&path);
    // What is saved loads back.
    let tokens = store::Tokens {
        client_id: text.to_string(),
        refresh: refresh.map(|r| Secret::new(r.to_string())),
        access: Some(Secret::new(body.to_string())),
        expires_at,
    };
    store::save(&path, &tokens).expect("save");
    let back = store::load(&path).expect("load").expect("a file");
    assert_eq!(back.client_id, tokens.client_id);
    assert_eq!(back.refresh.as_ref().map(Secret::expose), refresh);
    assert_eq!(back.access.as_ref().map(Secret::expose), Some(body));
    assert_eq!(back.expires_at, expires_at);

    // Query values as the authorization URL carries them, and as the redirect brings them.
    assert_eq!(http::decode(&http::encode(text)), text);
    let query = format!("code={}&state={}", http::encode(text), http::encode(body));
    assert_eq!(
        http::query_pairs(&query),
        vec![
            ("code".to_string(), text.to_string()),
            ("state".to_string(), body.to_string())
        ]
    );
    let _ = http::query_pairs(body);
});
