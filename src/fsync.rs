//! Making a directory's entries durable: after a file is created in it, renamed into it or out
//! of it, the directory itself must be fsync'd, or a power loss may forget the change. Sinks,
//! the state journal, the token store and `init` all need it, and none of them should import
//! another for it.

use crate::error::{Error, Result};
use std::fs::File;
use std::path::Path;

/// fsync a directory, so that a rename or a new file in it survives a power loss.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::local(format!("cannot sync directory {}", dir.display()), e))
}
