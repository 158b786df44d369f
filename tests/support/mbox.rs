//! Read an mbox with a reader we did not write: Python's stdlib
//! `mailbox.mbox`, via `tests/support/mbox_check.py` (needs `python3`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Path of `tests/support/mbox_check.py` in this checkout.
pub fn mbox_check_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mbox_check.py")
}

/// Every message of the mbox at `path`, in file order: without the
/// `From ` line, without the one separator blank line, and with one level of
/// mboxrd `>From ` quoting undone (`^>+From ` loses one `>`).  Panics if
/// python3 fails.
///
/// Note what mbox itself cannot preserve: a message that lacked a final
/// newline comes back with one if the writer had to add it before the
/// separator line.
pub fn read_mbox_with_python(path: impl AsRef<Path>) -> Vec<Vec<u8>> {
    let path = path.as_ref();
    let out = Command::new("python3")
        .arg(mbox_check_script())
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 (needed to check mbox files): {e}"));
    assert!(
        out.status.success(),
        "mbox_check.py {} failed ({}): {}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rest = &out.stdout[..];
    let mut messages = Vec::new();
    while !rest.is_empty() {
        let nl = rest.iter().position(|&b| b == b'\n').expect("length line");
        let len: usize = std::str::from_utf8(&rest[..nl])
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("numeric length line from mbox_check.py");
        rest = &rest[nl + 1..];
        assert!(rest.len() >= len, "truncated output from mbox_check.py");
        messages.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    messages
}
