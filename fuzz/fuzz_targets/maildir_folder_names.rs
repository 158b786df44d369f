//! The Maildir++ folder-name mapping (src/sink/maildir.rs): any remote folder name becomes
//! one safe path component that maps back to the same name, and parsing arbitrary directory
//! names never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::sink::{folder_to_maildir, maildir_to_folder};

fuzz_target!(|input: (&str, char, &str)| {
    let (name, delimiter, dir) = input;
    let _ = maildir_to_folder(dir, delimiter);
    for delim in [Some(delimiter), None] {
        let local = folder_to_maildir(name, delim);
        if name.eq_ignore_ascii_case("INBOX") {
            assert_eq!(local, "");
            continue;
        }
        assert!(local.starts_with('.'), "{local:?}");
        assert!(local != "." && local != "..", "{name:?} -> {local:?}");
        assert!(!local.contains('/') && !local.contains('\0'), "{local:?}");
        assert!(!local.chars().any(char::is_control), "{local:?}");
        // Without a delimiter the name is one component, which joins back to itself with
        // any delimiter.
        let back = maildir_to_folder(&local, delimiter).expect("our own mapping parses");
        assert_eq!(back, name, "{name:?} via {local:?}");
    }
});
