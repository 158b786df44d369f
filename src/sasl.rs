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

/// How to log in, as configured (`auth = "..."`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// The strongest method the server offers (see each protocol's choice).
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

    #[test]
    fn plain_initial_response_is_nul_separated() {
        let secret = Secret::new("pw".into());
        let mut ex = Exchange::new(Mechanism::Plain, "u", &secret);
        assert_eq!(ex.initial().unwrap(), b"\0u\0pw".to_vec());
    }
}
