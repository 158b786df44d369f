//! The OAuth2 keys of an account, resolved: `oauth2-token-command`, or a client id with the
//! provider's endpoints and scopes from the profile (each overridable, and required for a
//! custom server).

use super::profiles::{Profile, Protocol};
use super::AccountToml;
use crate::error::{Error, Result};
use crate::oauth2::{http::check_url, Client};
use crate::sasl::AuthMethod;
use crate::secret::Secret;
use std::ops::Range;
use toml::Spanned;

/// Where an OAuth2 account's access token comes from.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// `oauth2-token-command`: run with `sh -c`, its first line is a fresh access token.
    Command(String),
    /// mailfetch's own renewal from the refresh token `mailfetch auth` stored.
    Client(Client),
}

/// The token source of account `name`, or `None` for a password account. Checks that the
/// keys fit together: OAuth2 keys need an OAuth2 `auth`, `auth = "oauth2"` needs a token
/// command or a client id (not both), and a client needs endpoints and scopes.
pub(super) fn resolve(
    name: &str,
    protocol: Protocol,
    profile: &Profile,
    auth: AuthMethod,
    raw: &AccountToml,
    at: &str,
    here: &dyn Fn(Option<Range<usize>>) -> String,
) -> Result<Option<TokenSource>> {
    let keys: [(&str, &Option<Spanned<String>>); 7] = [
        ("oauth2-token-command", &raw.oauth2_token_command),
        ("oauth2-client-id", &raw.oauth2_client_id),
        ("oauth2-client-secret", &raw.oauth2_client_secret),
        ("oauth2-auth-url", &raw.oauth2_auth_url),
        ("oauth2-token-url", &raw.oauth2_token_url),
        ("oauth2-device-url", &raw.oauth2_device_url),
        ("oauth2-scope", &raw.oauth2_scope),
    ];
    let first = keys.iter().find_map(|(k, v)| v.as_ref().map(|v| (*k, v)));
    if !auth.is_oauth2() {
        return match first {
            Some((key, value)) => Err(Error::config(format!(
                "{}: account {name}: {key} needs auth = \"oauth2\"",
                here(Some(value.span()))
            ))),
            None => Ok(None),
        };
    }
    match (&raw.oauth2_token_command, &raw.oauth2_client_id) {
        (Some(_), Some(id)) => Err(Error::config(format!(
            "{}: account {name}: set either oauth2-token-command or oauth2-client-id, not both",
            here(Some(id.span()))
        ))),
        (Some(command), None) => {
            if let Some((key, value)) = keys[2..]
                .iter()
                .find_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
            {
                return Err(Error::config(format!(
                    "{}: account {name}: {key} is for oauth2-client-id; with \
                     oauth2-token-command the command does the OAuth2 work",
                    here(Some(value.span()))
                )));
            }
            Ok(Some(TokenSource::Command(command.get_ref().clone())))
        }
        (None, Some(id)) => Ok(Some(TokenSource::Client(client(
            name, protocol, profile, raw, id, here,
        )?))),
        // xoauth2/oauthbearer pinned without OAuth2 keys: the password source supplies the
        // token (as before `oauth2-token-command` existed).
        (None, None) if auth != AuthMethod::OAuth2 => Ok(None),
        (None, None) => Err(Error::config(format!(
            "{at}: account {name}: auth = \"oauth2\" needs oauth2-token-command = \"...\" (a \
             command printing an access token) or oauth2-client-id = \"...\" (your registered \
             app; then run `mailfetch auth {name}`)"
        ))),
    }
}

/// The built-in client: id and secret from the account, endpoints and scope from the
/// account or else the profile.
fn client(
    name: &str,
    protocol: Protocol,
    profile: &Profile,
    raw: &AccountToml,
    id: &Spanned<String>,
    here: &dyn Fn(Option<Range<usize>>) -> String,
) -> Result<Client> {
    let preset = profile.oauth2;
    let missing = |key: &str| {
        Error::config(format!(
            "{}: account {name}: profile {} has no OAuth2 endpoints; set {key}",
            here(Some(id.span())),
            profile.name
        ))
    };
    let url = |key: &str, value: &Option<Spanned<String>>, preset: Option<&'static str>| match value
    {
        Some(v) => check_url(v.get_ref())
            .map(|url| Some(url.into()))
            .map_err(|why| {
                Error::config(format!(
                    "{}: account {name}: {key} {why}",
                    here(Some(v.span()))
                ))
            }),
        None => Ok(preset.map(str::to_string)),
    };
    let auth_url = url(
        "oauth2-auth-url",
        &raw.oauth2_auth_url,
        preset.map(|p| p.auth_url),
    )?
    .ok_or_else(|| missing("oauth2-auth-url"))?;
    let token_url = url(
        "oauth2-token-url",
        &raw.oauth2_token_url,
        preset.map(|p| p.token_url),
    )?
    .ok_or_else(|| missing("oauth2-token-url"))?;
    let device_url = url(
        "oauth2-device-url",
        &raw.oauth2_device_url,
        preset.and_then(|p| p.device_url),
    )?;
    let scope = match &raw.oauth2_scope {
        Some(s) => s.get_ref().clone(),
        None => preset
            .map(|p| p.scope(protocol).to_string())
            .ok_or_else(|| missing("oauth2-scope"))?,
    };
    Ok(Client {
        id: id.get_ref().clone(),
        secret: raw
            .oauth2_client_secret
            .as_ref()
            .map(|s| Secret::new(s.get_ref().clone())),
        auth_url,
        token_url,
        device_url,
        scope,
        extra_auth_params: preset
            .map(|p| p.extra_auth_params)
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
}
