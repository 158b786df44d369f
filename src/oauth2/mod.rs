//! OAuth2 for mail (RFC 6749, with PKCE RFC 7636 and the device flow RFC 8628): getting the
//! access token that XOAUTH2 and OAUTHBEARER send instead of a password.
//!
//! `mailfetch auth ACCOUNT` runs the authorization once ([`authorize`], see [`flow`]): the
//! user logs in at the provider in a browser, mailfetch receives a code on a loopback port
//! and exchanges it for a refresh token, which is kept in the account's token file
//! ([`store`], mode 0600, replaced atomically). From then on every login asks [`Renewing`]
//! for an access token: the stored one while it has more than [`RENEW_BEFORE`] left, else a
//! fresh one from the token endpoint (the refresh token kept, or replaced when the provider
//! rotates it); and when the server refuses a token it believed valid (revoked early), one
//! fresh token is tried before giving up. A refresh token the provider refuses
//! (`invalid_grant`: revoked, expired, password changed) is an authentication failure, exit
//! 77, that says to run `mailfetch auth ACCOUNT` again.
//!
//! The client id (and for Google the "secret" that installed apps carry) is the user's own
//! registered app; mailfetch ships none. Endpoints and scopes come from the provider profile.

pub mod flow;
pub mod http;
pub mod store;

use crate::error::{Class, Error, Result};
use crate::secret::{Credential, Secret};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use flow::{authorize, Flow};

/// An access token with less than this left is renewed before a login.
pub const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);
/// The lifetime assumed when a token endpoint does not say (`expires_in`).
const DEFAULT_LIFETIME: u64 = 3600;
/// The longest lifetime believed: a provider's `expires_in` of 2^63 would overflow the
/// expiry time.
const LONGEST_LIFETIME: u64 = 366 * 24 * 3600;
/// Limit for one request to a token endpoint.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The user's registered OAuth2 client and the provider's endpoints.
#[derive(Debug, Clone)]
pub struct Client {
    /// `oauth2-client-id`.
    pub id: String,
    /// `oauth2-client-secret`, for providers that want one even from installed apps.
    pub secret: Option<Secret>,
    /// The authorization endpoint (the page the user opens).
    pub auth_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// The device authorization endpoint, where the provider offers the device flow.
    pub device_url: Option<String>,
    /// The scopes asked for, space-separated.
    pub scope: String,
    /// Extra query parameters of the authorization URL (Google: `access_type=offline`).
    pub extra_auth_params: Vec<(String, String)>,
}

impl Client {
    /// `client_id` and, if there is one, `client_secret`, as form fields.
    fn credentials(&self) -> Vec<(&str, &str)> {
        let mut form = vec![("client_id", self.id.as_str())];
        if let Some(secret) = &self.secret {
            form.push(("client_secret", secret.expose()));
        }
        form
    }
}

/// What a token endpoint granted.
pub struct Grant {
    /// The access token.
    pub access: Secret,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// A refresh token, when one was issued (or rotated).
    pub refresh: Option<Secret>,
}

/// Seconds since the epoch.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Read a token endpoint's reply: a grant, or the error it means for `account`. Public
/// only for the fuzz target `oauth2_token_reply`.
#[doc(hidden)]
pub fn grant(account: &str, url: &str, reply: http::Reply) -> Result<Grant> {
    if (200..300).contains(&reply.status) {
        if let Some(access) = reply.field("access_token").filter(|t| !t.is_empty()) {
            return Ok(Grant {
                access: Secret::new(access.to_string()),
                expires_in: reply
                    .number("expires_in")
                    .unwrap_or(DEFAULT_LIFETIME)
                    .min(LONGEST_LIFETIME),
                refresh: reply
                    .field("refresh_token")
                    .filter(|t| !t.is_empty())
                    .map(|t| Secret::new(t.to_string())),
            });
        }
    }
    let text = reply.error_text();
    Err(match reply.field("error") {
        Some("invalid_grant") => Error::new(
            Class::Auth,
            format!(
                "{url} refused the stored authorization ({text}): it was revoked or has expired; \
                 authorize again with `mailfetch auth {account}`"
            ),
        ),
        Some("invalid_client" | "unauthorized_client") => Error::new(
            Class::Auth,
            format!(
                "{url} refused the client ({text}): check oauth2-client-id and \
                 oauth2-client-secret"
            ),
        ),
        Some("invalid_scope") => Error::config(format!(
            "{url} refused the scope ({text}): check oauth2-scope"
        )),
        _ => Error::new(
            Class::Unavailable,
            format!("{url} did not grant a token ({text})"),
        ),
    })
}

/// Access tokens for one account, renewed from its stored refresh token: the
/// [`Credential`] of a built-in OAuth2 account.
pub struct Renewing {
    account: String,
    client: Client,
    path: PathBuf,
    tokens: Option<store::Tokens>,
    renewed_after_refusal: bool,
}

impl Renewing {
    /// Tokens of `account` issued to `client`, kept in `state_dir`.
    pub fn new(account: &str, client: &Client, state_dir: &Path) -> Renewing {
        Renewing {
            account: account.to_string(),
            client: client.clone(),
            path: store::path(state_dir, account),
            tokens: None,
            renewed_after_refusal: false,
        }
    }

    /// The stored tokens, read once.
    fn tokens(&mut self) -> Result<&mut store::Tokens> {
        if self.tokens.is_none() {
            let tokens = store::load(&self.path)?.ok_or_else(|| {
                Error::config(format!(
                    "account {} uses OAuth2 but has not been authorized yet: run \
                     `mailfetch auth {}` (it keeps the tokens in {})",
                    self.account,
                    self.account,
                    self.path.display()
                ))
            })?;
            if tokens.client_id != self.client.id {
                return Err(Error::config(format!(
                    "the stored authorization of account {} was made for another \
                     oauth2-client-id; run `mailfetch auth {}` again",
                    self.account, self.account
                )));
            }
            self.tokens = Some(tokens);
        }
        Ok(self.tokens.as_mut().expect("just loaded"))
    }

    /// Ask the token endpoint for a new access token (RFC 6749 section 6) and store it.
    fn refresh(&mut self) -> Result<Secret> {
        let (account, client) = (self.account.clone(), self.client.clone());
        let path = self.path.clone();
        let tokens = self.tokens()?;
        let refresh = tokens.refresh.clone().ok_or_else(|| {
            Error::new(
                Class::Auth,
                format!(
                    "no refresh token is stored for account {account}; authorize again with \
                     `mailfetch auth {account}`"
                ),
            )
        })?;
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose()),
        ];
        form.extend(client.credentials());
        let reply = http::post_form(&client.token_url, &form, HTTP_TIMEOUT)?;
        let granted = grant(&account, &client.token_url, reply)?;
        tokens.access = Some(granted.access.clone());
        tokens.expires_at = now() + granted.expires_in as i64;
        if let Some(rotated) = granted.refresh {
            tokens.refresh = Some(rotated);
        }
        store::save(&path, tokens)?;
        Ok(granted.access)
    }
}

impl Credential for Renewing {
    fn current(&mut self) -> Result<Secret> {
        let tokens = self.tokens()?;
        let left = tokens.expires_at - now();
        match &tokens.access {
            Some(access) if left > RENEW_BEFORE.as_secs() as i64 => Ok(access.clone()),
            _ => self.refresh(),
        }
    }

    fn refused(&mut self) -> Result<Option<Secret>> {
        if self.renewed_after_refusal {
            return Ok(None);
        }
        self.renewed_after_refusal = true;
        self.refresh().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, json: &str) -> http::Reply {
        http::Reply {
            status,
            json: serde_json::from_str(json).unwrap(),
        }
    }

    #[test]
    fn a_grant_takes_its_lifetime_and_rotated_refresh_token() {
        let g = grant(
            "a",
            "u",
            reply(
                200,
                r#"{"access_token":"at","expires_in":"120","refresh_token":"rt2"}"#,
            ),
        )
        .unwrap();
        assert_eq!(
            (g.access.expose(), g.expires_in, g.refresh.unwrap().expose()),
            ("at", 120, "rt2")
        );
        let g = grant("a", "u", reply(200, r#"{"access_token":"at"}"#)).unwrap();
        assert_eq!(g.expires_in, DEFAULT_LIFETIME);
        assert!(g.refresh.is_none());
    }

    #[test]
    fn a_hostile_lifetime_is_cut_to_a_year_and_a_day() {
        let g = grant(
            "a",
            "u",
            reply(
                200,
                r#"{"access_token":"at","expires_in":9223372036854775807}"#,
            ),
        )
        .unwrap();
        assert_eq!(g.expires_in, LONGEST_LIFETIME);
        assert!(now() + g.expires_in as i64 > now());
    }

    #[test]
    fn a_refused_refresh_token_is_exit_77_saying_what_to_run() {
        let e = grant(
            "work",
            "https://t/token",
            reply(
                400,
                r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
            ),
        )
        .err()
        .unwrap();
        assert_eq!(e.class().exit_code(), 77);
        assert!(
            e.message().contains("mailfetch auth work") && e.message().contains("revoked"),
            "{}",
            e.message()
        );
        let e = grant("w", "u", reply(401, r#"{"error":"invalid_client"}"#))
            .err()
            .unwrap();
        assert!(e.message().contains("oauth2-client-id"));
        let e = grant("w", "u", reply(500, "{}")).err().unwrap();
        assert_eq!(e.class().exit_code(), 69);
    }

    #[test]
    fn stored_token_is_used_until_near_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let client = Client {
            id: "cid".into(),
            secret: None,
            auth_url: "https://a/auth".into(),
            // Nothing listens here: a refresh attempt fails, which the test sees.
            token_url: "http://127.0.0.1:9/token".into(),
            device_url: None,
            scope: "s".into(),
            extra_auth_params: Vec::new(),
        };
        let path = store::path(dir.path(), "acct");
        let mut tokens = store::Tokens {
            client_id: "cid".into(),
            refresh: Some(Secret::new("rt".into())),
            access: Some(Secret::new("fresh".into())),
            expires_at: now() + 3600,
        };
        store::save(&path, &tokens).unwrap();
        let mut r = Renewing::new("acct", &client, dir.path());
        assert_eq!(r.current().unwrap().expose(), "fresh");
        tokens.expires_at = now() + 60;
        store::save(&path, &tokens).unwrap();
        let mut r = Renewing::new("acct", &client, dir.path());
        let e = r.current().err().unwrap();
        assert!(e.message().contains("127.0.0.1:9"), "{}", e.message());
        let mut other = client.clone();
        other.id = "other".into();
        let e = Renewing::new("acct", &other, dir.path())
            .current()
            .err()
            .unwrap();
        assert!(e.message().contains("another oauth2-client-id"));
        let e = Renewing::new("none", &client, dir.path())
            .current()
            .err()
            .unwrap();
        assert_eq!(e.class().exit_code(), 78);
        assert!(e.message().contains("mailfetch auth none"));
    }
}
