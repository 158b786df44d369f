//! Logging in, once for every protocol: the one login type ([`Login`]), the one policy that
//! chooses how to log in from what is configured, what the server offers and whether the
//! connection is encrypted ([`choose`], with its one table of what each method exposes,
//! [`Method::exposure`]), the fallback from a refused method to the next ([`try_in_turn`]),
//! and the SASL client mechanisms (RFC 4422). POP3 AUTH (RFC 5034) and IMAP AUTHENTICATE
//! run the same steps; the protocol modules keep only the wire encoding of each. The
//! SMTP/LMTP sink logs in nowhere (a server on the same machine or a trusted network, see
//! `sink::smtp`), so POP3 and IMAP are the [`Carrier`]s; SMTP AUTH (EHLO's `AUTH` line)
//! would be one more.

use crate::error::{Class, Error, Result};
use crate::net::Trace;
use crate::secret::{Credential, Secret};
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

/// Who logs in, and how: the one login type of every protocol, for every login of a run
/// (IMAP logs in again after the server dropped the session).
pub struct Login {
    /// User name.
    pub user: String,
    /// Configured method.
    pub method: AuthMethod,
    /// Whether a password may cross an unencrypted connection.
    pub allow_plaintext: bool,
    /// Where each login takes its secret: an OAuth2 access token may have expired by the
    /// time of a reconnect, and one the server refuses is renewed once.
    pub credential: Box<dyn Credential>,
}

impl Login {
    /// Connect and log in with `connect`, given the credential's current secret; when the
    /// server refuses it (an authentication failure, exit 77) and the credential can offer a
    /// fresh one, once more with that. An error renewing the secret (a revoked refresh
    /// token) is what is reported then, since it says what to do.
    pub fn with_secret<T>(
        &mut self,
        mut connect: impl FnMut(&Login, &Secret) -> Result<T>,
    ) -> Result<T> {
        let secret = self.credential.current()?;
        match connect(self, &secret) {
            Err(e) if e.class() == Class::Auth => match self.credential.refused()? {
                Some(fresh) => connect(self, &fresh),
                None => Err(e),
            },
            other => other,
        }
    }
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

/// One way of logging in that a protocol module runs on the wire: what [`choose`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The protocol's own password command: POP3 USER/PASS (RFC 1939 section 7), IMAP LOGIN
    /// (RFC 3501 section 6.2.3).
    UserPass,
    /// POP3 APOP (RFC 1939 section 7).
    Apop,
    /// SASL: POP3 AUTH (RFC 5034), IMAP AUTHENTICATE (RFC 3501 section 6.2.2).
    Sasl(Mechanism),
}

/// What a method puts on the wire that an eavesdropper could use, were the connection
/// unencrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exposure {
    /// A digest of the password and a challenge (APOP, CRAM-MD5): not the password itself,
    /// but whoever chose the challenge (a man in the middle among them) can crack it
    /// offline.
    Digest,
    /// The password or a bearer token, readable.
    Readable,
}

impl Method {
    /// The one table of what each method exposes. Every method exposes something, so
    /// without TLS none is used unless `allow-plaintext-password` is set; when it is,
    /// `auto` tries the digests first.
    pub fn exposure(self) -> Exposure {
        match self {
            Method::Apop | Method::Sasl(Mechanism::CramMd5) => Exposure::Digest,
            Method::UserPass
            | Method::Sasl(
                Mechanism::Plain | Mechanism::Login | Mechanism::XOAuth2 | Mechanism::OAuthBearer,
            ) => Exposure::Readable,
        }
    }

    /// The name for the trace.
    pub fn name(self) -> &'static str {
        match self {
            Method::UserPass => "user",
            Method::Apop => "APOP",
            Method::Sasl(m) => m.name(),
        }
    }
}

/// `auth = "auto"`: the password methods in order of preference over TLS, where every one
/// protects the password in transit and the simplest that works is best. Without TLS (when
/// allowed) the same order sorted by [`Method::exposure`], digests first. OAuth2 is never
/// chosen here: it needs a token, which only an OAuth2 `auth` provides.
const AUTO: [Method; 5] = [
    Method::Sasl(Mechanism::Plain),
    Method::UserPass,
    Method::Sasl(Mechanism::Login),
    Method::Sasl(Mechanism::CramMd5),
    Method::Apop,
];

/// The protocol a login crosses: how it names what it offers, and which methods it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// POP3: USER/PASS, APOP, and SASL named in CAPA's `SASL` line.
    Pop3,
    /// IMAP: LOGIN (unless `LOGINDISABLED`), and SASL named as `AUTH=` capabilities.
    Imap,
}

impl Carrier {
    /// The protocol's own password command, for messages.
    fn command(self) -> &'static str {
        match self {
            Carrier::Pop3 => "USER",
            Carrier::Imap => "LOGIN",
        }
    }

    /// How the protocol names a SASL mechanism among its capabilities, for messages.
    fn prefix(self) -> &'static str {
        match self {
            Carrier::Pop3 => "",
            Carrier::Imap => "AUTH=",
        }
    }

    /// Why the password command is known to be unavailable, for messages: IMAP says so
    /// (`LOGINDISABLED`); a POP3 CAPA without USER proves nothing (see [`Offer::plain_command`]).
    fn no_command(self) -> Option<&'static str> {
        match self {
            Carrier::Pop3 => None,
            Carrier::Imap => Some("LOGINDISABLED"),
        }
    }
}

/// What a server offers for logging in, as far as the chooser needs to know.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The protocol.
    pub carrier: Carrier,
    /// The SASL mechanisms it offers (POP3 CAPA `SASL`, IMAP `AUTH=`) that we know.
    pub sasl: Vec<Mechanism>,
    /// Whether the protocol's own password command is available: IMAP LOGIN (not
    /// `LOGINDISABLED`); POP3 USER/PASS, which every server we know of has, when CAPA lists
    /// it, tells nothing, or USER is configured.
    pub plain_command: bool,
    /// Whether APOP can be used (a POP3 greeting with a timestamp).
    pub apop: bool,
    /// Whether `sasl` is really known (a POP3 server without CAPA tells nothing): then a
    /// configured mechanism is tried rather than refused.
    pub known: bool,
}

impl Offer {
    fn has(&self, m: Mechanism) -> bool {
        self.sasl.contains(&m)
    }

    /// Whether the server offers `method`.
    fn offers(&self, method: Method) -> bool {
        match method {
            Method::UserPass => self.plain_command,
            Method::Apop => self.apop,
            Method::Sasl(m) => self.has(m),
        }
    }

    /// Everything offered, for messages: `PLAIN LOGIN USER`.
    pub fn describe(&self) -> String {
        let prefix = self.carrier.prefix();
        let mut all: Vec<String> = self
            .sasl
            .iter()
            .map(|m| format!("{prefix}{}", m.name()))
            .collect();
        if self.plain_command {
            all.push(self.carrier.command().to_string());
        }
        if self.apop {
            all.push("APOP".to_string());
        }
        all.join(" ")
    }
}

/// The one login policy, for every protocol: the methods to try for `login`'s configured
/// method, in order (a later one only when the server refused the one before with an
/// authentication failure, see [`try_in_turn`]), given what the server at `peer` offers and
/// whether the connection is `encrypted`.
///
/// - Over an unencrypted connection nothing that exposes the secret is sent unless
///   `allow-plaintext-password` is set: not the password, and not a digest of it either
///   ([`Method::exposure`]).
/// - `auto` over TLS: SASL PLAIN, else the protocol's password command (POP3 USER, IMAP
///   LOGIN), else LOGIN, CRAM-MD5, APOP; a server that refuses the first (Mailutils without
///   an APOP secret, a server whose AUTHENTICATE is broken) gets the next password method.
/// - `auto` in plaintext (allowed): the digests first (CRAM-MD5, APOP), which at least keep
///   the password itself off the wire, then the password methods.
/// - A configured method is used alone; one the server does not offer, or the protocol does
///   not have, is a configuration error (exit 78) naming what it offers.
pub fn choose(login: &Login, offer: &Offer, encrypted: bool, peer: &str) -> Result<Vec<Method>> {
    let chosen = pick(login, offer, encrypted, peer);
    let no_command = offer.carrier.no_command().filter(|_| !offer.plain_command);
    if let (AuthMethod::Auto, Some(why)) = (login.method, no_command) {
        return chosen.map_err(|e| {
            e.context(format!(
                "{peer} does not allow {} here ({why}){}",
                offer.carrier.command(),
                if encrypted {
                    ""
                } else {
                    "; try tls = \"starttls\""
                }
            ))
        });
    }
    chosen
}

/// [`choose`], before its note on a missing password command.
fn pick(login: &Login, offer: &Offer, encrypted: bool, peer: &str) -> Result<Vec<Method>> {
    let user = &login.user;
    let refuse = || {
        Error::config(format!(
            "refusing to send the password for {user} (or a digest of it) unencrypted to \
             {peer}: use tls = \"implicit\" or \"starttls\", or set \
             allow-plaintext-password = true"
        ))
    };
    let plaintext_ok = encrypted || login.allow_plaintext;
    let command = offer.carrier.command();
    let chosen = match login.method {
        AuthMethod::Auto => {
            if !plaintext_ok {
                return Err(refuse());
            }
            let mut order: Vec<Method> = AUTO.into_iter().filter(|&m| offer.offers(m)).collect();
            if !encrypted {
                order.sort_by_key(|m| m.exposure());
            }
            // Two at most: each refusal costs the server's login delay, and may count
            // against a lockout.
            order.truncate(2);
            if order.is_empty() {
                return Err(Error::config(format!(
                    "{peer} offers no login method mailfetch can use (it offers: {})",
                    offer.describe()
                )));
            }
            return Ok(order);
        }
        AuthMethod::Apop if offer.carrier != Carrier::Pop3 => {
            return Err(Error::config(
                "auth = \"apop\" is a POP3 method; IMAP logs in with \"user\" (LOGIN), \
                 \"plain\" or another SASL mechanism",
            ))
        }
        AuthMethod::OAuth2 => match AuthMethod::oauth2_mechanism(|m| offer.has(m)) {
            Some(m) => Method::Sasl(m),
            None => {
                return Err(Error::config(format!(
                    "auth = \"oauth2\" is configured but {peer} offers neither {p}OAUTHBEARER \
                     nor {p}XOAUTH2 (it offers: {})",
                    offer.describe(),
                    p = offer.carrier.prefix()
                )))
            }
        },
        AuthMethod::Sasl(m) if offer.known && !offer.has(m) => {
            return Err(Error::config(format!(
                "auth = \"{}\" is configured but {peer} does not offer it (it offers: {})",
                m.name().to_ascii_lowercase(),
                offer.describe()
            )))
        }
        AuthMethod::Sasl(m) => Method::Sasl(m),
        AuthMethod::Apop if !offer.apop => {
            return Err(Error::config(format!(
                "auth = \"apop\" but {peer}'s greeting has no APOP timestamp"
            )))
        }
        AuthMethod::Apop => Method::Apop,
        AuthMethod::UserPass if !offer.plain_command => {
            return Err(Error::config(format!(
                "auth = \"user\" but {peer} does not allow {command} here (it offers: {})",
                offer.describe()
            )))
        }
        AuthMethod::UserPass => Method::UserPass,
    };
    if !plaintext_ok {
        return Err(refuse());
    }
    Ok(vec![chosen])
}

/// Log in with each of `methods` in turn ([`choose`]'s order): `attempt` runs one on the
/// wire, and the next is tried only when the server refused the one before with an
/// authentication failure (exit 77). The trace says which was refused and which logged in.
pub fn try_in_turn(
    methods: &[Method],
    trace: &Trace,
    mut attempt: impl FnMut(Method) -> Result<()>,
) -> Result<()> {
    for (i, &method) in methods.iter().enumerate() {
        match (attempt(method), methods.get(i + 1)) {
            (Ok(()), _) => {
                trace.note(&format!("logged in with {}", method.name()));
                return Ok(());
            }
            (Err(e), Some(next)) if e.class() == Class::Auth => {
                trace.note(&format!(
                    "{} was refused; trying {}",
                    method.name(),
                    next.name()
                ));
            }
            (Err(e), _) => return Err(e),
        }
    }
    Err(Error::new(
        Class::Internal,
        "internal: no login method was chosen",
    ))
}

/// The error for a login the server refused with an authentication failure: one that
/// blames the credentials ([`blames_credentials`]) gets "check user and password" or a
/// provider's advice further up; any other is quoted and blames nothing.
pub fn refused(code: Option<&str>, text: &str, message: String) -> Error {
    if blames_credentials(code, text) {
        Error::credentials_refused(message)
    } else {
        Error::new(Class::Auth, message)
    }
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
            carrier: Carrier::Pop3,
            sasl: sasl.to_vec(),
            plain_command,
            apop,
            known: true,
        }
    }

    fn login(method: AuthMethod, allow_plaintext: bool) -> Login {
        Login {
            user: "u".into(),
            method,
            allow_plaintext,
            credential: Box::new(crate::secret::Fixed(Secret::new("pw".into()))),
        }
    }

    fn chosen(method: AuthMethod, o: &Offer, tls: bool, allow: bool) -> Result<Vec<Method>> {
        choose(&login(method, allow), o, tls, "h:110")
    }

    #[test]
    fn auto_over_tls_prefers_plain_and_falls_back_to_the_password_command() {
        let o = offer(&[Mechanism::Plain, Mechanism::CramMd5], true, true);
        assert_eq!(
            chosen(AuthMethod::Auto, &o, true, false).unwrap(),
            [Method::Sasl(Mechanism::Plain), Method::UserPass]
        );
        let o = offer(&[], true, true);
        assert_eq!(
            chosen(AuthMethod::Auto, &o, true, false).unwrap(),
            [Method::UserPass, Method::Apop]
        );
    }

    #[test]
    fn auto_in_allowed_plaintext_tries_apop_then_user_pass() {
        // Mailutils and solid-pop3d: an APOP timestamp, but no APOP secret for the user.
        let o = offer(&[], true, true);
        assert_eq!(
            chosen(AuthMethod::Auto, &o, false, true).unwrap(),
            [Method::Apop, Method::UserPass]
        );
    }

    #[test]
    fn auto_in_allowed_plaintext_puts_the_digests_before_any_password() {
        let all = [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5];
        let o = offer(&all, true, true);
        assert_eq!(
            chosen(AuthMethod::Auto, &o, false, true).unwrap(),
            [Method::Sasl(Mechanism::CramMd5), Method::Apop]
        );
        let o = offer(&[Mechanism::Login, Mechanism::CramMd5], false, false);
        assert_eq!(
            chosen(AuthMethod::Auto, &o, false, true).unwrap(),
            [
                Method::Sasl(Mechanism::CramMd5),
                Method::Sasl(Mechanism::Login)
            ]
        );
        assert_eq!(
            chosen(AuthMethod::Auto, &o, true, false).unwrap(),
            [
                Method::Sasl(Mechanism::Login),
                Method::Sasl(Mechanism::CramMd5)
            ]
        );
    }

    #[test]
    fn only_apop_and_cram_md5_are_digests_every_other_method_is_readable() {
        for m in Mechanism::ALL {
            let expected = if m == Mechanism::CramMd5 {
                Exposure::Digest
            } else {
                Exposure::Readable
            };
            assert_eq!(Method::Sasl(m).exposure(), expected, "{m:?}");
        }
        assert_eq!(Method::Apop.exposure(), Exposure::Digest);
        assert_eq!(Method::UserPass.exposure(), Exposure::Readable);
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
    fn imap_names_its_offer_as_capabilities_and_has_no_apop() {
        let o = Offer {
            carrier: Carrier::Imap,
            ..offer(&[Mechanism::XOAuth2], true, false)
        };
        let e = chosen(AuthMethod::OAuth2, &o, true, false).unwrap();
        assert_eq!(e, [Method::Sasl(Mechanism::XOAuth2)]);
        let e = chosen(AuthMethod::Sasl(Mechanism::Plain), &o, true, false).unwrap_err();
        assert!(
            e.message().contains("(it offers: AUTH=XOAUTH2 LOGIN)"),
            "{}",
            e.message()
        );
        let e = chosen(AuthMethod::Apop, &o, true, true).unwrap_err();
        assert!(e.message().contains("is a POP3 method"), "{}", e.message());
    }

    #[test]
    fn auto_without_the_password_command_says_why() {
        let o = Offer {
            carrier: Carrier::Imap,
            ..offer(&[], false, false)
        };
        let e = chosen(AuthMethod::Auto, &o, false, false).unwrap_err();
        assert!(
            e.message().starts_with(
                "h:110 does not allow LOGIN here (LOGINDISABLED); try tls = \"starttls\": \
                 refusing to send"
            ),
            "{}",
            e.message()
        );
        let e = chosen(AuthMethod::Auto, &o, true, false).unwrap_err();
        assert!(
            e.message().contains("offers no login method"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn a_refused_method_hands_over_to_the_next_only_on_an_authentication_failure() {
        let methods = [Method::Apop, Method::UserPass];
        let mut tried = Vec::new();
        let out = try_in_turn(&methods, &Trace::off(), |m| {
            tried.push(m);
            match m {
                Method::Apop => Err(Error::new(Class::Auth, "no APOP secret")),
                _ => Ok(()),
            }
        });
        assert!(out.is_ok());
        assert_eq!(tried, methods);
        let mut tried = 0;
        let out = try_in_turn(&methods, &Trace::off(), |_| {
            tried += 1;
            Err(Error::new(Class::Temporary, "dropped"))
        });
        assert_eq!(out.unwrap_err().class(), Class::Temporary);
        assert_eq!(tried, 1, "only a refusal moves on to the next method");
        let out = try_in_turn(&methods, &Trace::off(), |_| {
            Err(Error::new(Class::Auth, "refused"))
        });
        assert_eq!(
            out.unwrap_err().message(),
            "refused",
            "the last refusal is reported"
        );
    }

    /// Tokens "a", "b", ... ; `refused` gives the next one, once.
    struct Tokens {
        next: char,
        renewed: bool,
    }

    impl Credential for Tokens {
        fn current(&mut self) -> Result<Secret> {
            Ok(Secret::new(self.next.to_string()))
        }
        fn refused(&mut self) -> Result<Option<Secret>> {
            if self.renewed {
                return Ok(None);
            }
            self.renewed = true;
            self.next = (self.next as u8 + 1) as char;
            self.current().map(Some)
        }
    }

    fn token_login() -> Login {
        Login {
            credential: Box::new(Tokens {
                next: 'a',
                renewed: false,
            }),
            ..login(AuthMethod::OAuth2, false)
        }
    }

    #[test]
    fn a_refused_token_is_renewed_once_and_retried() {
        let mut l = token_login();
        let mut tried = Vec::new();
        let out = l.with_secret(|login, s| {
            assert_eq!(login.user, "u");
            tried.push(s.expose().to_string());
            if s.expose() == "a" {
                Err(Error::new(Class::Auth, "refused"))
            } else {
                Ok(s.expose().to_string())
            }
        });
        assert_eq!(out.unwrap(), "b");
        assert_eq!(tried, ["a", "b"]);
        let mut tried = 0;
        let out: Result<()> = l.with_secret(|_, _| {
            tried += 1;
            Err(Error::new(Class::Auth, "refused again"))
        });
        assert_eq!(out.unwrap_err().message(), "refused again");
        assert_eq!(tried, 1, "renewed only once per run");
    }

    #[test]
    fn other_failures_are_not_retried() {
        let mut l = token_login();
        let mut tried = 0;
        let out: Result<()> = l.with_secret(|_, _| {
            tried += 1;
            Err(Error::new(Class::Temporary, "timeout"))
        });
        assert!(out.is_err());
        assert_eq!(tried, 1);
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
