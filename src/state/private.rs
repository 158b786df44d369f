//! The state directory is trusted only while it is private.
//!
//! Everything in it decides what mailfetch does next: the journal says what was delivered and
//! which renames a crash left unfinished, the lock holds a pid. Anyone who can write there
//! can make mailfetch forget or re-deliver mail, or, through a symbolic link, make it write
//! its pid over another file or rename a file of theirs over one of yours. So:
//!
//! - the directory is created 0700, and refused (exit 77, one line naming it and what is
//!   wrong) when it is not a directory, is owned by another user, or is writable by group or
//!   others: mailfetch cannot tell what such a user changed;
//! - its files are created 0600 and opened with `O_NOFOLLOW` (a link where a state file
//!   should be is refused the same way), and a file that is written anew is created with
//!   `O_EXCL`, never opened through whatever lies at its name.

use crate::error::{Class, Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Create `dir` (mode 0700, parents too) if missing, and make sure it is private: a directory
/// of ours that no one else can write to.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::local(format!("cannot create state dir {}", dir.display()), e))?;
    let meta = fs::metadata(dir)
        .map_err(|e| Error::local(format!("cannot read state dir {}", dir.display()), e))?;
    // SAFETY: geteuid cannot fail and touches no memory.
    let me = unsafe { libc::geteuid() };
    let mode = meta.permissions().mode() & 0o7777;
    let wrong = if !meta.is_dir() {
        Some("is not a directory".to_string())
    } else if meta.uid() != me {
        Some(format!(
            "is owned by another user (uid {}, not {me})",
            meta.uid()
        ))
    } else if mode & 0o022 != 0 {
        Some(format!(
            "is writable by group or others (mode {mode:04o}); run chmod go-w on it"
        ))
    } else {
        None
    };
    match wrong {
        Some(what) => Err(Error::new(
            Class::Auth,
            format!(
                "state dir {} {what}: mailfetch does not trust state others can change",
                dir.display()
            ),
        )),
        None => Ok(()),
    }
}

/// Open the state file `path` with `options`, never through a symbolic link, creating it
/// (if `options` say so) with mode 0600. `what` says what the file is, for the error.
pub fn open(path: &Path, options: &mut OpenOptions, what: &str) -> Result<File> {
    options
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o600)
        .open(path)
        .map_err(|e| refused(path, what, e))
}

/// Create the state file `path` anew, mode 0600: whatever was at its name (a file left by a
/// crash, or a link) is removed first, and the new file is created with `O_EXCL`.
pub fn create(path: &Path, what: &str) -> Result<File> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(refused(path, what, e)),
    }
    open(path, OpenOptions::new().write(true).create_new(true), what)
}

/// The error for a failed open of `path`: a symbolic link is refused as unsafe (exit 77),
/// anything else is a local I/O error.
pub(super) fn refused(path: &Path, what: &str, e: io::Error) -> Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return Error::new(
            Class::Auth,
            format!(
                "{what} {} is a symbolic link: mailfetch does not follow links in its state \
                 dir; remove it",
                path.display()
            ),
        );
    }
    Error::local(format!("cannot open {what} {}", path.display()), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_state_dir_is_private() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("a/b");
        ensure_dir(&dir).unwrap();
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn a_state_dir_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o775)).unwrap();
        let err = ensure_dir(dir.path()).err().unwrap();
        assert_eq!(err.class(), Class::Auth);
        assert!(err
            .message()
            .contains("writable by group or others (mode 0775)"));
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        ensure_dir(dir.path()).unwrap();
    }

    #[test]
    fn state_files_are_not_opened_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("a.lock");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = open(
            &link,
            OpenOptions::new().write(true).create(true),
            "lock file",
        )
        .err()
        .unwrap();
        assert_eq!(err.class(), Class::Auth);
        assert!(err.message().contains("is a symbolic link"));
        let made = create(&link, "state").unwrap();
        drop(made);
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        let mode = fs::symlink_metadata(&link).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
