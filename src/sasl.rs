//! SASL client mechanisms (RFC 4422), independent of the protocol that carries them: POP3
//! AUTH (RFC 5034) and IMAP AUTHENTICATE use the same steps, so they live here once.

use crate::error::{Error, Result};
use crate::secret::Secret;
use base64::Engine;
use hmac::{Hmac, Mac};
use md5::Md5;

/// A SASL mechanism we can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616: user and password in one message (only over TLS unless allowed).
    Plain,
    /// The de-facto LOGIN mechanism: user, then password.
    Login,
    /// RFC 2195: challenge-response; the password never crosses the wire.
    CramMd5,
    /// Google/Microsoft XOAUTH2 with a bearer token.
    XOAuth2,
    /// RFC 7628 OAUTHBEARER.
    OAuthBearer,
}

impl Mechanism {
    /// Every mechanism we can run.
    pub const ALL: [Mechanism; 5] = [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::XOAuth2,
        Mechanism::OAuthBearer,
    ];

    /// The mechanisms we can run among those a server advertises (`offers` by name).
    pub fn offered(offers: impl Fn(&str) -> bool) -> Vec<Mechanism> {
        Mechanism::ALL
            .into_iter()
            .filter(|m| offers(m.name()))
            .collect()
    }

    /// The name as servers advertise it.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// Who logs in, and how: one login of a POP3 or IMAP session (IMAP's reconnects renew the
/// secret through `imap::Auth`).
pub struct Login<'a> {
    /// User name.
    pub user: &'a str,
    /// Password or token.
    pub secret: &'a Secret,
    /// Configured method.
    pub method: AuthMethod,
    /// Whether a password may cross an unencrypted connection.
    pub allow_plaintext: bool,
}

/// How to log in, as configured (`auth = "..."`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// Chosen by [`choose`] from what the server offers.
    Auto,
    /// POP3 USER/PASS (RFC 1939); IMAP LOGIN.
    UserPass,
    /// POP3 APOP (RFC 1939 section 7).
    Apop,
    /// A SASL mechanism.
    Sasl(Mechanism),
    /// An OAuth2 access token with OAUTHBEARER or XOAUTH2, whichever the server offers
    /// (see [`AuthMethod::oauth2_mechanism`]).
    OAuth2,
}

impl AuthMethod {
    /// Parse the config value.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "auto" => AuthMethod::Auto,
            "user" | "login-command" | "pass" => AuthMethod::UserPass,
            "apop" => AuthMethod::Apop,
            "plain" => AuthMethod::Sasl(Mechanism::Plain),
            "login" => AuthMethod::Sasl(Mechanism::Login),
            "cram-md5" => AuthMethod::Sasl(Mechanism::CramMd5),
            "xoauth2" => AuthMethod::Sasl(Mechanism::XOAuth2),
            "oauthbearer" => AuthMethod::Sasl(Mechanism::OAuthBearer),
            "oauth2" => AuthMethod::OAuth2,
            _ => return None,
        })
    }

    /// The names `parse` accepts, for error messages.
    pub const NAMES: &'static str =
        "auto, user, apop, plain, login, cram-md5, xoauth2, oauthbearer, oauth2";

    /// Whether the secret is an OAuth2 access token rather than a password.
    pub fn is_oauth2(self) -> bool {
        matches!(
            self,
            AuthMethod::OAuth2 | AuthMethod::Sasl(Mechanism::XOAuth2 | Mechanism::OAuthBearer)
        )
    }

    /// For `auth = "oauth2"`: OAUTHBEARER (RFC 7628, the standard) when `offered`, else
    /// XOAUTH2 (Google's and Microsoft's older twin); `None` if the server offers neither.
    pub fn oauth2_mechanism(offered: impl Fn(Mechanism) -> bool) -> Option<Mechanism> {
        [Mechanism::OAuthBearer, Mechanism::XOAuth2]
            .into_iter()
            .find(|&m| offered(m))
    }
}

/// What a server offers for logging in, as far as the chooser needs to know.
#[derive(Debug, Clone, Default)]
pub struct Offer {
    /// The SASL mechanisms it offers (POP3 CAPA `SASL`, IMAP `AUTH=`) that we know.
    pub sasl: Vec<Mechanism>,
    /// Whether the protocol's own password command is available: POP3 USER/PASS, IMAP LOGIN
    /// (not `LOGINDISABLED`).
    pub plain_command: bool,
    /// Whether APOP can be used (a POP3 greeting with a timestamp).
    pub apop: bool,
    /// Whether `sasl` is really known (a POP3 server without CAPA tells nothing): then a
    /// configured mechanism is tried rather than refused.
    pub known: bool,
    /// How the protocol names a SASL mechanism in its capabilities, for messages: `AUTH=`
    /// for IMAP, nothing for POP3.
    pub prefix: &'static str,
}

impl Offer {
    fn has(&self, m: Mechanism) -> bool {
        self.sasl.contains(&m)
    }

    /// Everything offered, for messages: `PLAIN LOGIN USER`.
    pub fn describe(&self, command: &str) -> String {
        let mut all: Vec<String> = self
            .sasl
            .iter()
            .map(|m| format!("{}{}", self.prefix, m.name()))
            .collect();
        if self.plain_command {
            all.push(command.to_string());
        }
        if self.apop {
            all.push("APOP".to_string());
        }
        all.join(" ")
    }
}

impl AuthMethod {
    /// Whether this method puts the password, or something an eavesdropper can attack the
    /// password with (a digest of a challenge they saw: APOP, CRAM-MD5), or a bearer token
    /// on the wire.
    fn exposes_secret(self) -> bool {
        !matches!(self, AuthMethod::Auto)
    }

    /// The name for messages and the trace.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Auto => "auto",
            AuthMethod::UserPass => "user",
            AuthMethod::Apop => "APOP",
            AuthMethod::Sasl(m) => m.name(),
            AuthMethod::OAuth2 => "oauth2",
        }
    }
}

/// The one login policy, for POP3, IMAP and SMTP alike: the methods to try for the
/// configured `method`, in order (a later one only when the server refused the one before
/// with an authentication failure, and only for `auto`).
///
/// - Over an unencrypted connection nothing that exposes the secret is sent unless
///   `allow-plaintext-password` is set: not the password, and not a digest of it either
///   (APOP and CRAM-MD5 answers can be cracked offline by whoever chose the challenge, a
///   man in the middle among them).
/// - `auto` over TLS: SASL PLAIN, else the protocol's password command (POP3 USER, IMAP
///   LOGIN), else LOGIN, CRAM-MD5, APOP; a server that refuses the first (Mailutils without
///   an APOP secret, a server whose AUTHENTICATE is broken) gets the next password method.
/// - `auto` in plaintext (allowed): the digests first (CRAM-MD5, APOP), which at least keep
///   the password itself off the wire, then the password methods.
/// - A configured method is used alone; one the server does not offer is a configuration
///   error (exit 78) naming what it offers.
pub fn choose(
    method: AuthMethod,
    offer: &Offer,
    encrypted: bool,
    allow_plaintext: bool,
    peer: &str,
    user: &str,
    command: &str,
) -> Result<Vec<AuthMethod>> {
    let unsafe_plaintext = |m: AuthMethod| !encrypted && !allow_plaintext && m.exposes_secret();
    let refuse = || {
        Error::config(format!(
            "refusing to send the password for {user} (or a digest of it) unencrypted to \
             {peer}: use tls = \"implicit\" or \"starttls\", or set \
             allow-plaintext-password = true"
        ))
    };
    let offered = |m: Mechanism| !offer.known || offer.has(m);
    let chosen = match method {
        AuthMethod::Auto => {
            if !encrypted && !allow_plaintext {
                return Err(refuse());
            }
            let digests = [
                (
                    offer.has(Mechanism::CramMd5),
                    AuthMethod::Sasl(Mechanism::CramMd5),
                ),
                (offer.apop, AuthMethod::Apop),
            ];
            let passwords = [
                (
                    offer.has(Mechanism::Plain),
                    AuthMethod::Sasl(Mechanism::Plain),
                ),
                (offer.plain_command, AuthMethod::UserPass),
                (
                    offer.has(Mechanism::Login),
                    AuthMethod::Sasl(Mechanism::Login),
                ),
            ];
            let order: Vec<(bool, AuthMethod)> = if encrypted {
                passwords.into_iter().chain(digests).collect()
            } else {
                digests.into_iter().chain(passwords).collect()
            };
            // Two at most: each refusal costs the server's login delay, and may count
            // against a lockout.
            let mut all: Vec<AuthMethod> = order
                .into_iter()
                .filter(|(ok, _)| *ok)
                .map(|(_, m)| m)
                .collect();
            all.truncate(2);
            if all.is_empty() {
                return Err(Error::config(format!(
                    "{peer} offers no login method mailfetch can use (it offers: {})",
                    offer.describe(command)
                )));
            }
            return Ok(all);
        }
        AuthMethod::OAuth2 => match AuthMethod::oauth2_mechanism(|m| offer.has(m)) {
            Some(m) => AuthMethod::Sasl(m),
            None => {
                return Err(Error::config(format!(
                    "auth = \"oauth2\" is configured but {peer} offers neither {p}OAUTHBEARER \
                     nor {p}XOAUTH2 (it offers: {})",
                    offer.describe(command),
                    p = offer.prefix
                )))
            }
        },
        AuthMethod::Sasl(m) if !offered(m) => {
            return Err(Error::config(format!(
                "auth = \"{}\" is configured but {peer} does not offer it (it offers: {})",
                m.name().to_ascii_lowercase(),
                offer.describe(command)
            )))
        }
        AuthMethod::Apop if !offer.apop => {
            return Err(Error::config(format!(
                "auth = \"apop\" but {peer}'s greeting has no APOP timestamp"
            )))
        }
        AuthMethod::UserPass if !offer.plain_command => {
            return Err(Error::config(format!(
                "auth = \"user\" but {peer} does not allow {command} here (it offers: {})",
                offer.describe(command)
            )))
        }
        m => m,
    };
    if unsafe_plaintext(chosen) {
        return Err(refuse());
    }
    Ok(vec![chosen])
}

/// One SASL exchange in progress.
pub struct Exchange<'a> {
    mech: Mechanism,
    user: &'a str,
    secret: &'a Secret,
    step: usize,
}

impl<'a> Exchange<'a> {
    /// Start `mech` for `user` with `secret` (a password, or an access token for OAuth).
    pub fn new(mech: Mechanism, user: &'a str, secret: &'a Secret) -> Self {
        Exchange {
            mech,
            user,
            secret,
            step: 0,
        }
    }

    /// The initial response, sent with the AUTH command itself where the mechanism has one.
    pub fn initial(&mut self) -> Option<Vec<u8>> {
        match self.mech {
            Mechanism::Plain => {
                self.step = 1;
                let mut v = Vec::new();
                v.push(0);
                v.extend_from_slice(self.user.as_bytes());
                v.push(0);
                v.extend_from_slice(self.secret.expose().as_bytes());
                Some(v)
            }
            Mechanism::XOAuth2 => {
                self.step = 1;
                Some(
                    format!(
                        "user={}\x01auth=Bearer {}\x01\x01",
                        self.user,
                        self.secret.expose()
                    )
                    .into_bytes(),
                )
            }
            Mechanism::OAuthBearer => {
                self.step = 1;
                Some(
                    format!(
                        "n,a={},\x01auth=Bearer {}\x01\x01",
                        self.user.replace('=', "=3D").replace(',', "=2C"),
                        self.secret.expose()
                    )
                    .into_bytes(),
                )
            }
            Mechanism::Login | Mechanism::CramMd5 => None,
        }
    }

    /// Answer a server challenge (already base64-decoded).
    pub fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>> {
        self.step += 1;
        match (self.mech, self.step) {
            (Mechanism::Login, 1) => Ok(self.user.as_bytes().to_vec()),
            (Mechanism::Login, 2) => Ok(self.secret.expose().as_bytes().to_vec()),
            (Mechanism::CramMd5, 1) => {
                let mut mac = Hmac::<Md5>::new_from_slice(self.secret.expose().as_bytes())
                    .map_err(|_| Error::protocol("CRAM-MD5 key"))?;
                mac.update(challenge);
                let digest = mac.finalize().into_bytes();
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                Ok(format!("{} {hex}", self.user).into_bytes())
            }
            // XOAUTH2 and OAUTHBEARER servers send an error JSON as a challenge; the answer is
            // an empty line, after which the server fails the exchange.
            (Mechanism::XOAuth2 | Mechanism::OAuthBearer, _) => Ok(Vec::new()),
            _ => Err(Error::protocol(format!(
                "unexpected extra {} challenge from the server",
                self.mech.name()
            ))),
        }
    }
}

/// Base64 as SASL uses it.
pub fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decode a base64 challenge.
pub fn decode(text: &[u8]) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim_ascii())
        .map_err(|_| Error::protocol("the server sent a SASL challenge that is not base64"))
}

/// The APOP digest (RFC 1939 section 7): MD5 of the greeting's timestamp and the password.
pub fn apop_digest(timestamp: &str, secret: &Secret) -> String {
    use md5::Digest;
    let mut h = Md5::new();
    h.update(timestamp.as_bytes());
    h.update(secret.expose().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a server's refusal of a login blames the user name or password, by its response
/// code (RFC 3206's `[AUTH]` for POP3, RFC 5530's `[AUTHENTICATIONFAILED]` and
/// `[AUTHORIZATIONFAILED]` for IMAP) or, without one, by its words. Only such a refusal gets
/// "check user and password" or a provider's app-password advice; a server that refuses for
/// a reason of its own (solid-pop3d's "message is damaged", `[SYS/PERM]`, `[CONTACTADMIN]`,
/// `[EXPIRED]`) is quoted and nothing is blamed. `text` is the server's text after any code.
pub fn blames_credentials(code: Option<&str>, text: &str) -> bool {
    if let Some(code) = code {
        return ["AUTH", "AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED"]
            .iter()
            .any(|blaming| code.eq_ignore_ascii_case(blaming));
    }
    let text = text.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "credential",
        "authenticat",
        "login",
        "logon",
        "log in",
        "user",
        "invalid",
        "incorrect",
        "wrong",
        "denied",
    ]
    .iter()
    .any(|word| text.contains(word))
}

/// Splits a leading response code (`[AUTH] rest` or `[SYS/TEMP] rest`) off a POP3 `-ERR`
/// text, as RFC 2449 section 8 frames them.
pub fn split_code(text: &str) -> (Option<&str>, &str) {
    if let Some(rest) = text.strip_prefix('[') {
        if let Some((code, after)) = rest.split_once(']') {
            let code = code.split_once('/').map_or(code, |(top, _)| top);
            return (Some(code), after.trim_start());
        }
    }
    (None, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cram_md5_matches_rfc_2195_example() {
        let secret = Secret::new("tanstaaftanstaaf".into());
        let mut ex = Exchange::new(Mechanism::CramMd5, "tim", &secret);
        assert!(ex.initial().is_none());
        let answer = ex
            .respond(b"<1896.697170952@postoffice.reston.mci.net>")
            .unwrap();
        assert_eq!(answer, b"tim b913a602c7eda7a495b4e6e7334d3890".to_vec());
    }

    #[test]
    fn apop_matches_rfc_1939_example() {
        let secret = Secret::new("tanstaaf".into());
        assert_eq!(
            apop_digest("<1896.697170952@dbc.mtview.ca.us>", &secret),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
    }

    #[test]
    fn oauth2_prefers_oauthbearer_and_falls_back_to_xoauth2() {
        assert_eq!(AuthMethod::parse("OAuth2"), Some(AuthMethod::OAuth2));
        assert_eq!(
            AuthMethod::oauth2_mechanism(|_| true),
            Some(Mechanism::OAuthBearer)
        );
        assert_eq!(
            AuthMethod::oauth2_mechanism(|m| m == Mechanism::XOAuth2),
            Some(Mechanism::XOAuth2)
        );
        assert_eq!(
            AuthMethod::oauth2_mechanism(|m| m == Mechanism::Plain),
            None
        );
    }

    #[test]
    fn oauth_initial_responses_carry_user_and_bearer_token() {
        let token = Secret::new("ya29.tok".into());
        let mut x = Exchange::new(Mechanism::XOAuth2, "me@x.org", &token);
        assert_eq!(
            x.initial().unwrap(),
            b"user=me@x.org\x01auth=Bearer ya29.tok\x01\x01".to_vec()
        );
        let mut o = Exchange::new(Mechanism::OAuthBearer, "a,b=c", &token);
        assert_eq!(
            o.initial().unwrap(),
            b"n,a=a=2Cb=3Dc,\x01auth=Bearer ya29.tok\x01\x01".to_vec()
        );
        // The error challenge is answered with an empty response.
        assert_eq!(
            o.respond(b"{\"status\":\"401\"}").unwrap(),
            Vec::<u8>::new()
        );
    }

    fn offer(sasl: &[Mechanism], plain_command: bool, apop: bool) -> Offer {
        Offer {
            sasl: sasl.to_vec(),
            plain_command,
            apop,
            known: true,
            prefix: "",
        }
    }

    fn chosen(method: AuthMethod, o: &Offer, tls: bool, allow: bool) -> Result<Vec<AuthMethod>> {
        choose(method, o, tls, allow, "h:110", "u", "USER")
    }

    #[test]
    fn auto_over_tls_prefers_plain_and_falls_back_to_the_password_command() {
        let o = offer(&[Mechanism::Plain, Mechanism::CramMd5], true, true);
        assert_eq!(
            chosen(AuthMethod::Auto, &o, true, false).unwrap(),
            [AuthMethod::Sasl(Mechanism::Plain), AuthMethod::UserPass]
        );
        let o = offer(&[], true, true);
        assert_eq!(
            chosen(AuthMethod::Auto, &o, true, false).unwrap(),
            [AuthMethod::UserPass, AuthMethod::Apop]
        );
    }

    #[test]
    fn auto_in_allowed_plaintext_tries_apop_then_user_pass() {
        // Mailutils and solid-pop3d: an APOP timestamp, but no APOP secret for the user.
        let o = offer(&[], true, true);
        assert_eq!(
            chosen(AuthMethod::Auto, &o, false, true).unwrap(),
            [AuthMethod::Apop, AuthMethod::UserPass]
        );
    }

    #[test]
    fn nothing_secret_crosses_plaintext_without_allow_plaintext_password() {
        let o = offer(&[Mechanism::CramMd5, Mechanism::Plain], true, true);
        for m in [
            AuthMethod::Auto,
            AuthMethod::Apop,
            AuthMethod::Sasl(Mechanism::CramMd5),
            AuthMethod::Sasl(Mechanism::Plain),
            AuthMethod::UserPass,
        ] {
            let e = chosen(m, &o, false, false).unwrap_err();
            assert_eq!(e.class(), crate::error::Class::Config, "{m:?}");
            assert!(e.message().contains("or a digest of it"), "{}", e.message());
        }
    }

    #[test]
    fn a_configured_method_the_server_lacks_is_a_config_error() {
        let o = offer(&[Mechanism::Plain], false, false);
        let e = chosen(AuthMethod::Sasl(Mechanism::CramMd5), &o, true, false).unwrap_err();
        assert!(e.message().contains("it offers: PLAIN"), "{}", e.message());
        assert!(chosen(AuthMethod::Apop, &o, true, false).is_err());
        assert!(chosen(AuthMethod::UserPass, &o, true, false).is_err());
    }

    #[test]
    fn plain_initial_response_is_nul_separated() {
        let secret = Secret::new("pw".into());
        let mut ex = Exchange::new(Mechanism::Plain, "u", &secret);
        assert_eq!(ex.initial().unwrap(), b"\0u\0pw".to_vec());
    }

    #[test]
    fn only_a_code_or_words_that_name_them_blame_the_credentials() {
        assert!(blames_credentials(Some("AUTH"), "Authentication failed."));
        assert!(blames_credentials(Some("AUTHENTICATIONFAILED"), "nope"));
        assert!(blames_credentials(None, "Login failed."));
        assert!(blames_credentials(
            None,
            "Authentication failed (bad password?)"
        ));
        assert!(blames_credentials(None, "invalid user name or password"));
        assert!(!blames_credentials(None, "message is damaged"));
        assert!(!blames_credentials(
            Some("SYS"),
            "mailbox is corrupt, login refused"
        ));
        assert!(!blames_credentials(
            Some("CONTACTADMIN"),
            "account suspended"
        ));
        assert!(!blames_credentials(Some("EXPIRED"), "password expired"));
    }

    #[test]
    fn pop3_response_codes_are_split_off_with_their_top_level() {
        assert_eq!(split_code("[AUTH] bad"), (Some("AUTH"), "bad"));
        assert_eq!(split_code("[SYS/PERM] broken"), (Some("SYS"), "broken"));
        assert_eq!(split_code("no code"), (None, "no code"));
        assert_eq!(split_code("[unterminated"), (None, "[unterminated"));
    }
}
