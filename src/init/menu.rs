//! After a failure (DNS, connection, TLS, login) `init` keeps the answers and offers: retry,
//! change one answer (only that one is asked again), save anyway, or quit.

use super::{Answers, Init, Trust};
use crate::config::profiles;
use crate::error::{Error, Result};

/// One answer the user can change after a failure.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Address,
    Profile,
    Protocol,
    Host,
    Port,
    Tls,
    Trust,
    Name,
    User,
    Login,
    Target,
}

impl Field {
    /// Every field, in the order asked.
    pub const ALL: [Field; 11] = [
        Field::Address,
        Field::Profile,
        Field::Protocol,
        Field::Host,
        Field::Port,
        Field::Tls,
        Field::Trust,
        Field::Name,
        Field::User,
        Field::Login,
        Field::Target,
    ];

    /// The name the user types to change it.
    pub fn key(self) -> &'static str {
        match self {
            Field::Address => "address",
            Field::Profile => "profile",
            Field::Protocol => "protocol",
            Field::Host => "host",
            Field::Port => "port",
            Field::Tls => "tls",
            Field::Trust => "trust",
            Field::Name => "name",
            Field::User => "user",
            Field::Login => "login",
            Field::Target => "target",
        }
    }
}

/// What the user picked after a failure.
pub enum Next {
    Retry,
    Change(Field),
    Save,
    Quit,
}

impl Init<'_> {
    /// After `e`: retry, change one of `fields`, save anyway or quit. Without a terminal,
    /// quit.
    pub(super) fn after_failure(
        &self,
        e: &Error,
        a: &mut Answers,
        fields: &[Field],
    ) -> Result<Next> {
        if !self.ask.interactive {
            return Ok(Next::Quit);
        }
        eprintln!("init: {}", e.message());
        eprintln!("init: your answers are kept. What now?");
        let choice = self.ask.choose(
            "What now",
            &[
                ("retry", "try again".to_string()),
                ("change", "change an answer".to_string()),
                (
                    "save",
                    "save the account anyway (pull will fail the same way until this is fixed)"
                        .to_string(),
                ),
                ("quit", "quit, writing nothing".to_string()),
            ],
            "retry",
        )?;
        Ok(match choice {
            "retry" => Next::Retry,
            "change" => Next::Change(self.change(a, fields)?),
            "save" => Next::Save,
            _ => Next::Quit,
        })
    }

    /// Ask again the one answer the user names (by number or name); returns which.
    fn change(&self, a: &mut Answers, fields: &[Field]) -> Result<Field> {
        for (i, f) in fields.iter().enumerate() {
            eprintln!("  {}) {:<9} {}", i + 1, f.key(), a.show(*f));
        }
        let field = loop {
            let answer = self.ask.ask("Change which (number or name)", None)?;
            let hit = answer
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| fields.get(i))
                .or_else(|| {
                    fields
                        .iter()
                        .find(|f| f.key() == answer.to_ascii_lowercase())
                });
            match hit {
                Some(f) => break *f,
                None => eprintln!("init: {answer:?} is none of them"),
            }
        };
        match field {
            Field::Address => {
                a.address = self.ask.ask("Email address", Some(&a.address.clone()))?
            }
            Field::Profile => {
                let domain = a.domain().to_string();
                a.profile = self.profile(None, &domain)?;
                self.server(a, false)?;
            }
            Field::Protocol => {
                a.protocol = self.protocol(None, a.profile)?;
                if !a.profile.own_server {
                    self.server(a, false)?;
                } else {
                    self.port(a, None, None)?;
                }
            }
            Field::Host | Field::Port | Field::Tls => {
                // Another server than the profile's makes the account a custom one.
                a.profile = profiles::custom();
                match field {
                    Field::Host => {
                        a.host = self.ask.ask("Server host", Some(&a.host.clone()))?;
                    }
                    Field::Tls => {
                        let current = a.tls.as_str();
                        self.tls(a, None, Some(current))?;
                        self.port(a, None, None)?;
                    }
                    _ => self.port(a, None, Some(a.port))?,
                }
            }
            Field::Trust => {
                a.trust = Trust::default();
                let ca = self
                    .ask
                    .ask("CA file (PEM; empty for the system's CAs)", Some(""))?;
                if !ca.is_empty() {
                    a.trust.ca_file = Some(ca);
                }
            }
            Field::Name => self.name(a, None)?,
            Field::User => a.user = self.ask.ask("Login name", Some(&a.user.clone()))?,
            Field::Login => a.auth = self.login(a, false)?,
            Field::Target => {
                a.target = self.ask.ask(
                    "Where mail goes (maildir:PATH or mbox:PATH)",
                    Some(&a.target.clone()),
                )?
            }
        }
        Ok(field)
    }
}
