//! The `--verbose` protocol trace: what was said on the wire, on stderr, with secrets redacted.
//!
//! Protocol clients never print a command themselves; they hand the trace both the line and,
//! for commands that carry a secret, the redacted form to show. Message bodies are never traced.

use std::sync::Arc;

/// Where trace lines go; cheap to clone. Disabled traces cost one branch per line.
#[derive(Clone, Default)]
pub struct Trace {
    prefix: Option<Arc<str>>,
}

impl Trace {
    /// A trace that prints nothing.
    pub fn off() -> Self {
        Trace { prefix: None }
    }

    /// A trace printing to stderr, each line prefixed by `label` (the account name).
    pub fn to_stderr(label: &str) -> Self {
        Trace {
            prefix: Some(Arc::from(label)),
        }
    }

    /// Whether anything is printed.
    pub fn enabled(&self) -> bool {
        self.prefix.is_some()
    }

    /// A line we sent (pass the redacted form for commands carrying secrets).
    pub fn sent(&self, line: &str) {
        self.emit("C:", line);
    }

    /// A line the server sent.
    pub fn received(&self, line: &[u8]) {
        if self.enabled() {
            let text = String::from_utf8_lossy(line);
            self.emit("S:", text.trim_end_matches(['\r', '\n']));
        }
    }

    /// A remark of ours (connection events).
    pub fn note(&self, what: &str) {
        self.emit("--", what);
    }

    fn emit(&self, dir: &str, text: &str) {
        if let Some(prefix) = &self.prefix {
            // What the server sent is shown, never obeyed: no escape reaches the terminal.
            let text = crate::text::printable(text.trim_end_matches(['\r', '\n']));
            eprintln!("{prefix}: {dir} {text}");
        }
    }
}
