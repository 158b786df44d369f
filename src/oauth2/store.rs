//! The token file: `STATE_DIR/ACCOUNT.oauth2`, JSON with the refresh token and the current
//! access token with its expiry. It is written whole to a new file created with mode 0600
//! (never readable by others, not even for a moment), synced, and renamed over the old one,
//! so a crash leaves the old file or the new one. A token file that others can read is
//! refused, like a config file holding a password.

use crate::error::{Error, Result};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What is kept for an account.
pub struct Tokens {
    /// The client the tokens were issued to (a different `oauth2-client-id` needs a new
    /// authorization).
    pub client_id: String,
    /// The long-lived refresh token.
    pub refresh: Option<Secret>,
    /// The current access token...
    pub access: Option<Secret>,
    /// ...and when it expires (seconds since the epoch).
    pub expires_at: i64,
}

/// The file's JSON.
#[derive(Serialize, Deserialize)]
struct Stored {
    client_id: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_at: i64,
}

/// Where `account`'s tokens are kept.
pub fn path(state_dir: &Path, account: &str) -> PathBuf {
    state_dir.join(format!("{account}.oauth2"))
}

/// The tokens at `path`, or `None` if there is no file.
pub fn load(path: &Path) -> Result<Option<Tokens>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::local(format!("cannot read {}", path.display()), e)),
    };
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0o600);
    if mode & 0o077 != 0 {
        return Err(Error::config(format!(
            "{} holds OAuth2 tokens but is readable by others (mode {:03o}); run: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    let stored: Stored = serde_json::from_str(&text).map_err(|e| {
        Error::config(format!(
            "{} is damaged ({e}); authorize again with `mailfetch auth ACCOUNT`",
            path.display()
        ))
    })?;
    Ok(Some(Tokens {
        client_id: stored.client_id,
        refresh: stored.refresh_token.map(Secret::new),
        access: stored.access_token.map(Secret::new),
        expires_at: stored.expires_at,
    }))
}

/// Replace the tokens at `path` atomically, mode 0600 from the start.
pub fn save(path: &Path, tokens: &Tokens) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::local(format!("cannot create {}", dir.display()), e))?;
    let stored = Stored {
        client_id: tokens.client_id.clone(),
        refresh_token: tokens.refresh.as_ref().map(|s| s.expose().to_string()),
        access_token: tokens.access.as_ref().map(|s| s.expose().to_string()),
        expires_at: tokens.expires_at,
    };
    let text = serde_json::to_string_pretty(&stored).expect("tokens serialize");
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("tokens");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::local(format!("cannot write {}", path.display()), e));
    }
    crate::fsync::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_saved_0600_and_loaded_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(&dir.path().join("state"), "acct");
        assert!(load(&p).unwrap().is_none());
        let t = Tokens {
            client_id: "cid".into(),
            refresh: Some(Secret::new("r1".into())),
            access: Some(Secret::new("a1".into())),
            expires_at: 42,
        };
        save(&p, &t).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = load(&p).unwrap().unwrap();
        assert_eq!(back.refresh.unwrap().expose(), "r1");
        assert_eq!((back.client_id.as_str(), back.expires_at), ("cid", 42));
        let leftovers: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&p).err().unwrap();
        assert!(e.message().contains("chmod 600") && !e.message().contains("r1"));
    }
}
