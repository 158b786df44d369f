//! Built-in provider presets: server, port and TLS mode per protocol, the preferred protocol,
//! and what a user must know to log in (app passwords, OAuth2, enabling POP).
//!
//! What a provider does differently is a property of its profile ([`Profile::gmail_extensions`],
//! [`Profile::own_server`], [`Profile::login`], [`Profile::domains`]), never a comparison of
//! its name elsewhere: a new provider is one entry here.

use crate::net::TlsMode;

/// POP3 or IMAP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// POP3 (RFC 1939): the inbox only.
    Pop3,
    /// IMAP (RFC 9051/3501): folders and flags.
    Imap,
}

impl Protocol {
    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Pop3 => "pop3",
            Protocol::Imap => "imap",
        }
    }

    /// The standard port for this protocol with `tls`.
    pub fn default_port(self, tls: TlsMode) -> u16 {
        match (self, tls) {
            (Protocol::Pop3, TlsMode::Implicit) => 995,
            (Protocol::Pop3, _) => 110,
            (Protocol::Imap, TlsMode::Implicit) => 993,
            (Protocol::Imap, _) => 143,
        }
    }
}

/// A server as a profile names it.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    /// Host name.
    pub host: &'static str,
    /// Port.
    pub port: u16,
    /// TLS mode.
    pub tls: TlsMode,
}

/// A provider preset.
#[derive(Debug)]
pub struct Profile {
    /// The name used in `profile = "..."`.
    pub name: &'static str,
    /// POP3 server, if the provider offers POP3.
    pub pop3: Option<Server>,
    /// IMAP server, if the provider offers IMAP.
    pub imap: Option<Server>,
    /// The protocol used when the account does not say.
    pub preferred: Protocol,
    /// What the user should know.
    pub note: &'static str,
    /// What to do when the server refuses the password.
    pub auth_hint: &'static str,
    /// The provider's OAuth2 endpoints and scopes, for `auth = "oauth2"` with a client id.
    pub oauth2: Option<OAuth2Preset>,
    /// How the provider lets a mail client log in.
    pub login: Login,
    /// The provider is Gmail: its labels show as IMAP folders, and `folders = "*"` follows
    /// Gmail's rule (see `imap::folders`) even where the server does not offer X-GM-EXT-1.
    pub gmail_extensions: bool,
    /// The user names the server (host, and port and TLS where not the defaults): the
    /// profile has no servers, no provider note and no provider name to offer (`custom`).
    pub own_server: bool,
    /// The mail domains of the provider's addresses, for `init` to propose the profile; an
    /// entry ending in `.` matches every domain it begins (`gmx.` for gmx.net, gmx.de, ...).
    pub domains: &'static [&'static str],
}

/// How a provider lets a mail client log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// A password (an app password where the provider wants one), or OAuth2 where the profile
    /// has endpoints and the user registered an app.
    Password,
    /// OAuth2 is what usually works; a password only where an administrator still allows it
    /// (Office 365 tenants).
    OAuth2Usually,
    /// OAuth2 only: the provider refuses every password (Outlook.com since 2024-09).
    OAuth2Only,
}

/// A provider's OAuth2 endpoints and the scopes mail access needs.
#[derive(Debug, Clone, Copy)]
pub struct OAuth2Preset {
    /// The authorization endpoint (the page the user opens).
    pub auth_url: &'static str,
    /// The token endpoint.
    pub token_url: &'static str,
    /// The device authorization endpoint, if the provider allows the mail scopes there.
    pub device_url: Option<&'static str>,
    /// Scopes for POP3.
    pub pop3_scope: &'static str,
    /// Scopes for IMAP.
    pub imap_scope: &'static str,
    /// Extra parameters of the authorization URL.
    pub extra_auth_params: &'static [(&'static str, &'static str)],
}

impl OAuth2Preset {
    /// The scopes for `protocol`.
    pub fn scope(&self, protocol: Protocol) -> &'static str {
        match protocol {
            Protocol::Pop3 => self.pop3_scope,
            Protocol::Imap => self.imap_scope,
        }
    }
}

/// Google: the one mail scope; a refresh token only with `access_type=offline` (and again
/// on a repeated authorization only with `prompt=consent`). Google's device flow does not
/// allow the mail scope.
const GOOGLE: OAuth2Preset = OAuth2Preset {
    auth_url: "https://accounts.google.com/o/oauth2/v2/auth",
    token_url: "https://oauth2.googleapis.com/token",
    device_url: None,
    pop3_scope: "https://mail.google.com/",
    imap_scope: "https://mail.google.com/",
    extra_auth_params: &[("access_type", "offline"), ("prompt", "consent")],
};

/// Microsoft identity platform (Outlook.com and Office 365, the `common` tenant): one scope
/// per protocol, and offline_access for a refresh token.
const MICROSOFT: OAuth2Preset = OAuth2Preset {
    auth_url: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
    device_url: Some("https://login.microsoftonline.com/common/oauth2/v2.0/devicecode"),
    pop3_scope: "https://outlook.office.com/POP.AccessAsUser.All offline_access",
    imap_scope: "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
    extra_auth_params: &[],
};

impl Profile {
    /// The server for `protocol`.
    pub fn server(&self, protocol: Protocol) -> Option<Server> {
        match protocol {
            Protocol::Pop3 => self.pop3,
            Protocol::Imap => self.imap,
        }
    }
}

const fn tls(host: &'static str, port: u16) -> Option<Server> {
    Some(Server {
        host,
        port,
        tls: TlsMode::Implicit,
    })
}

/// Every built-in profile.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "gmail",
        pop3: tls("pop.gmail.com", 995),
        imap: tls("imap.gmail.com", 993),
        preferred: Protocol::Imap,
        note: "Gmail needs an app password (https://myaccount.google.com/apppasswords, with 2-step \
               verification on) or OAuth2; enable POP or IMAP in Gmail's settings first \
               (Settings > See all settings > Forwarding and POP/IMAP)",
        auth_hint: "Gmail refused the password: use an app password (https://myaccount.google.com/apppasswords) \
                    or auth = \"oauth2\", see man mailfetch",
        oauth2: Some(GOOGLE),
        login: Login::Password,
        gmail_extensions: true,
        own_server: false,
        domains: &["gmail.com", "googlemail.com"],
    },
    Profile {
        name: "outlook",
        pop3: tls("outlook.office365.com", 995),
        imap: tls("outlook.office365.com", 993),
        preferred: Protocol::Imap,
        note: "Outlook.com accepts only OAuth2 since 2024-09",
        auth_hint: "Outlook.com refused the login: password login is disabled since 2024-09, use auth = \"oauth2\", \
                    see man mailfetch",
        oauth2: Some(MICROSOFT),
        login: Login::OAuth2Only,
        gmail_extensions: false,
        own_server: false,
        domains: &["outlook.com", "hotmail.com", "live.com"],
    },
    Profile {
        name: "office365",
        pop3: tls("outlook.office365.com", 995),
        imap: tls("outlook.office365.com", 993),
        preferred: Protocol::Imap,
        note: "Office 365 needs OAuth2 unless the tenant still allows basic authentication",
        auth_hint: "Office 365 refused the login: basic authentication is usually disabled, use auth = \"oauth2\" \
                    (and ask the admin to enable POP/IMAP for the mailbox), see man mailfetch",
        oauth2: Some(MICROSOFT),
        login: Login::OAuth2Usually,
        gmail_extensions: false,
        own_server: false,
        domains: &[],
    },
    Profile {
        name: "yahoo",
        pop3: tls("pop.mail.yahoo.com", 995),
        imap: tls("imap.mail.yahoo.com", 993),
        preferred: Protocol::Imap,
        note: "Yahoo needs an app password (Account security > Generate app password)",
        auth_hint: "Yahoo refused the password: generate an app password in Account security",
        oauth2: None,
        login: Login::Password,
        gmail_extensions: false,
        own_server: false,
        domains: &["yahoo.com"],
    },
    Profile {
        name: "icloud",
        pop3: None,
        imap: tls("imap.mail.me.com", 993),
        preferred: Protocol::Imap,
        note: "iCloud has no POP3; it needs an app-specific password (appleid.apple.com)",
        auth_hint: "iCloud refused the password: create an app-specific password at appleid.apple.com",
        oauth2: None,
        login: Login::Password,
        gmail_extensions: false,
        own_server: false,
        domains: &["icloud.com", "me.com"],
    },
    Profile {
        name: "fastmail",
        pop3: tls("pop.fastmail.com", 995),
        imap: tls("imap.fastmail.com", 993),
        preferred: Protocol::Imap,
        note: "Fastmail needs an app password (Settings > Privacy & Security)",
        auth_hint: "Fastmail refused the password: create an app password in Settings > Privacy & Security",
        oauth2: None,
        login: Login::Password,
        gmail_extensions: false,
        own_server: false,
        domains: &["fastmail.com"],
    },
    Profile {
        name: "gmx",
        pop3: tls("pop.gmx.net", 995),
        imap: tls("imap.gmx.net", 993),
        preferred: Protocol::Imap,
        note: "GMX: enable POP3/IMAP access in the web mailer's settings first",
        auth_hint: "GMX refused the password: enable POP3/IMAP access in the GMX settings",
        oauth2: None,
        login: Login::Password,
        gmail_extensions: false,
        own_server: false,
        domains: &["gmx."],
    },
    Profile {
        name: "aol",
        pop3: tls("pop.aol.com", 995),
        imap: tls("imap.aol.com", 993),
        preferred: Protocol::Imap,
        note: "AOL needs an app password (Account security > Generate app password)",
        auth_hint: "AOL refused the password: generate an app password in Account security",
        oauth2: None,
        login: Login::Password,
        gmail_extensions: false,
        own_server: false,
        domains: &["aol.com"],
    },
    Profile {
        name: "custom",
        pop3: None,
        imap: None,
        preferred: Protocol::Pop3,
        note: "your own server: set host (and port, tls if not the defaults)",
        auth_hint: "check user and password",
        oauth2: None,
        login: Login::Password,
        gmail_extensions: false,
        own_server: true,
        domains: &[],
    },
];

/// The profile named `name`.
pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The profile of a server the user names (`custom`).
pub fn custom() -> &'static Profile {
    PROFILES
        .iter()
        .find(|p| p.own_server)
        .expect("one profile names no server")
}

/// The profile for an address's `domain`: the provider's whose [`Profile::domains`] hold
/// it, else [`custom`].
pub fn for_domain(domain: &str) -> &'static Profile {
    let domain = domain.to_ascii_lowercase();
    let holds = |d: &&str| match d.strip_suffix('.') {
        Some(_) => domain.starts_with(*d),
        None => domain == *d,
    };
    PROFILES
        .iter()
        .find(|p| p.domains.iter().any(holds))
        .unwrap_or_else(custom)
}

/// The names of all profiles, for messages.
pub fn names() -> String {
    PROFILES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_profile_names_no_server_and_it_has_none() {
        let own: Vec<&str> = PROFILES
            .iter()
            .filter(|p| p.own_server)
            .map(|p| p.name)
            .collect();
        assert_eq!(own, ["custom"]);
        assert!(custom().pop3.is_none() && custom().imap.is_none());
        assert!(PROFILES
            .iter()
            .filter(|p| !p.own_server)
            .all(|p| p.server(p.preferred).is_some()));
    }

    #[test]
    fn no_domain_proposes_two_profiles() {
        for p in PROFILES {
            for d in p.domains {
                assert_eq!(for_domain(d).name, p.name, "{d}");
            }
        }
        assert_eq!(for_domain("GMX.de").name, "gmx");
        assert_eq!(for_domain("gmx").name, "custom");
    }
}
