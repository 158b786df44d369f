//! One way for a test to write an `[accounts.NAME]` section: a builder that starts from an
//! account on the private Dovecot (or on a fake server's port) and changes keys by name, so
//! a test says "this account, but through the proxy, with a wrong password" instead of
//! patching a config string with `.replace("port = ...")`. Setting a key again replaces
//! it, removing one drops it; [`Account::toml`] writes the keys in the order they were
//! first set. `{dir}` in a value is left for [`super::client::Client`] to fill in.

use super::dovecot::{Dovecot, TestUser};

/// A value as TOML writes it.
pub trait TomlValue {
    /// The value's TOML text.
    fn toml(&self) -> String;
}

impl TomlValue for &str {
    fn toml(&self) -> String {
        format!("\"{}\"", self.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

impl TomlValue for String {
    fn toml(&self) -> String {
        self.as_str().toml()
    }
}

impl TomlValue for bool {
    fn toml(&self) -> String {
        self.to_string()
    }
}

macro_rules! toml_number {
    ($($t:ty),*) => {$(
        impl TomlValue for $t {
            fn toml(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
toml_number!(i32, i64, u16, u32, u64, usize);

/// The ports of the server an account on the test Dovecot reaches, by TLS mode.
#[derive(Clone, Copy, Debug)]
struct Ports {
    /// Implicit TLS (POP3S, IMAPS).
    implicit: u16,
    /// STARTTLS or none.
    plain: u16,
}

/// An `[accounts.NAME]` section being built.
#[derive(Clone, Debug)]
pub struct Account {
    name: String,
    /// Keys and their TOML values, in the order first set.
    keys: Vec<(String, String)>,
    /// Where `tls` moves the port to, for an account on the test Dovecot.
    ports: Option<Ports>,
    /// Lines appended verbatim.
    extra: String,
}

impl Account {
    /// A POP3 account `a` for `user` on the test Dovecot: implicit TLS trusting the test
    /// CA, into `maildir:{dir}/M`, timeout 20 s.
    pub fn pop3(d: &Dovecot, user: &TestUser) -> Account {
        let ports = Ports {
            implicit: d.pop3s(),
            plain: d.pop3(),
        };
        Account::dovecot(d, user, "pop3", ports, 20)
    }

    /// An IMAP account `a` for `user` on the test Dovecot: implicit TLS (IMAPS) trusting
    /// the test CA, into `maildir:{dir}/M`, timeout 30 s.
    pub fn imap(d: &Dovecot, user: &TestUser) -> Account {
        let ports = Ports {
            implicit: d.imaps(),
            plain: d.imap(),
        };
        Account::dovecot(d, user, "imap", ports, 30)
    }

    fn dovecot(
        d: &Dovecot,
        user: &TestUser,
        protocol: &str,
        ports: Ports,
        timeout: u32,
    ) -> Account {
        Account::new("a")
            .set("profile", "custom")
            .set("protocol", protocol)
            .set("host", d.tls_name())
            .set("port", ports.implicit)
            .set("tls", "implicit")
            .set("ca-file", d.ca_file().display().to_string())
            .set("user", user.name.as_str())
            .set("password", user.password.as_str())
            .set("target", "maildir:{dir}/M")
            .set("timeout", timeout)
            .with_ports(ports)
    }

    /// An account `a` for user `u`, password `p`, on a fake server at `127.0.0.1:port`
    /// speaking `protocol` in plaintext, into `maildir:{dir}/M`, timeout 5 s.
    pub fn fake(protocol: &str, port: u16) -> Account {
        Account::new("a")
            .set("profile", "custom")
            .set("protocol", protocol)
            .set("host", "127.0.0.1")
            .set("port", port)
            .set("tls", "none")
            .set("allow-plaintext-password", true)
            .set("user", "u")
            .set("password", "p")
            .set("target", "maildir:{dir}/M")
            .set("timeout", 5)
    }

    /// An empty section `[accounts.NAME]`.
    pub fn new(name: &str) -> Account {
        Account {
            name: name.to_string(),
            keys: Vec::new(),
            ports: None,
            extra: String::new(),
        }
    }

    fn with_ports(mut self, ports: Ports) -> Account {
        self.ports = Some(ports);
        self
    }

    /// The section's name.
    pub fn name(mut self, name: &str) -> Account {
        self.name = name.to_string();
        self
    }

    /// Set `key` (replacing it if set).
    pub fn set(mut self, key: &str, value: impl TomlValue) -> Account {
        let value = value.toml();
        match self.keys.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.keys.push((key.to_string(), value)),
        }
        self
    }

    /// Drop `key`.
    pub fn without(mut self, key: &str) -> Account {
        self.keys.retain(|(k, _)| k != key);
        self
    }

    /// Append `lines` (more keys) verbatim.
    pub fn extra(mut self, lines: &str) -> Account {
        self.extra.push_str(lines);
        if !lines.is_empty() && !lines.ends_with('\n') {
            self.extra.push('\n');
        }
        self
    }

    /// `tls` = implicit, starttls or none; on the test Dovecot this also picks the port
    /// that speaks it.
    pub fn tls(mut self, mode: &str) -> Account {
        if let Some(p) = self.ports {
            let port = if mode == "implicit" {
                p.implicit
            } else {
                p.plain
            };
            self = self.set("port", port);
        }
        self.set("tls", mode)
    }

    /// The server in plaintext (`tls = "none"` on the plain port), the password allowed.
    pub fn plaintext(self) -> Account {
        self.tls("none").set("allow-plaintext-password", true)
    }

    /// The server at `port` (a proxy in front of it, say): the port `tls` chose until now.
    pub fn port(self, port: u16) -> Account {
        self.set("port", port)
    }

    /// Where mail goes.
    pub fn target(self, target: &str) -> Account {
        self.set("target", target)
    }

    /// `keep`: leave the mail on the server.
    pub fn keep(self, keep: bool) -> Account {
        self.set("keep", keep)
    }

    /// `timeout` in seconds.
    pub fn timeout(self, seconds: u32) -> Account {
        self.set("timeout", seconds)
    }

    /// `password`.
    pub fn password(self, password: &str) -> Account {
        self.set("password", password)
    }

    /// The section as TOML.
    pub fn toml(&self) -> String {
        let mut out = format!("[accounts.{}]\n", self.name);
        for (k, v) in &self.keys {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out.push_str(&self.extra);
        out
    }
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.toml())
    }
}
