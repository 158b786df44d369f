//! The questions `init` asks at the terminal: a flag's value wins, an empty answer takes the
//! default, and without a terminal a missing answer is a usage error naming the flag, so that
//! scripts and people take the same path.

use crate::error::{Class, Error, Result};
use std::io::BufRead;

/// Where the answers come from: the terminal, or nowhere (flags only).
pub struct Asker {
    /// Whether there is a terminal to ask.
    pub interactive: bool,
}

impl Asker {
    /// The flag's value, else the answer to `question` (with `default` on an empty answer),
    /// else the default; without a terminal and without a default, a usage error naming `flag`.
    pub fn get(
        &self,
        given: &Option<String>,
        question: &str,
        default: Option<&str>,
        flag: &str,
    ) -> Result<String> {
        if let Some(v) = given {
            return Ok(v.clone());
        }
        if !self.interactive {
            return default.map(str::to_string).ok_or_else(|| {
                Error::new(
                    Class::Usage,
                    format!("init: {flag} is needed (no terminal to ask)"),
                )
            });
        }
        loop {
            match default {
                Some(d) => eprint!("{question} [{d}]: "),
                None => eprint!("{question}: "),
            }
            let mut line = String::new();
            let n = std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::local("reading the answer", e))?;
            if n == 0 {
                return Err(Error::new(Class::Usage, "init: no answer (end of input)"));
            }
            let answer = line.trim();
            match (answer.is_empty(), default) {
                (false, _) => return Ok(answer.to_string()),
                (true, Some(d)) => return Ok(d.to_string()),
                (true, None) => continue,
            }
        }
    }

    /// The answer to `question`, asked even when a flag gave one (the user chose to change it).
    pub fn ask(&self, question: &str, default: Option<&str>) -> Result<String> {
        self.get(&None, question, default, "")
    }

    /// A yes/no question; without a terminal, no.
    pub fn yes(&self, question: &str) -> Result<bool> {
        if !self.interactive {
            return Ok(false);
        }
        let answer = self.ask(&format!("{question} (y/n)"), Some("n"))?;
        Ok(answer.eq_ignore_ascii_case("y") || answer.eq_ignore_ascii_case("yes"))
    }

    /// One of `choices` (`(key, what it does)`), by its key or its first letter; asked again
    /// until the answer is one of them.
    pub fn choose(
        &self,
        question: &str,
        choices: &[(&'static str, String)],
        default: &str,
    ) -> Result<&'static str> {
        for (key, what) in choices {
            eprintln!("  {key}) {what}");
        }
        loop {
            let answer = self.ask(question, Some(default))?.to_ascii_lowercase();
            let hit = choices.iter().find(|(key, _)| {
                *key == answer || (answer.len() == 1 && key.starts_with(answer.as_str()))
            });
            match hit {
                Some((key, _)) => return Ok(key),
                None => eprintln!(
                    "init: answer one of {}",
                    choices
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    }
}
