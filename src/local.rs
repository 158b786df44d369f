//! Local stores read back as messages, for `mailfetch upload` and `mailfetch verify --local`.
//!
//! - A Maildir: the messages in `cur/` and `new/` of the folder at the path (its Maildir++
//!   subfolders are folders of their own and are not included), oldest first. The info
//!   letters after `:2,` become flags (`S` seen, `R` answered, `F` flagged, `D` draft; `T`,
//!   trashed, is not carried over), and the file's modification time is the message's date,
//!   which is how mailfetch's own Maildir writer keeps the INTERNALDATE.
//! - An mbox file, read as mboxrd: a line `From ` at the start of the file or after a blank
//!   line starts a message, and its date is that line's; `>From ` quoting loses one `>`; the
//!   blank line before the next `From ` line belongs to the separator. `Status: R` means
//!   seen and `X-Status:` `A`, `F`, `T` answered, flagged, draft, as mutt and others write
//!   them.
//!
//! Which of the two a path is, is decided by what is there ([`Store::open`]).

use crate::error::{Class, Error, Result};
use crate::source::Flags;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// The kinds of local store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Maildir folder.
    Maildir,
    /// An mbox file.
    Mbox,
}

impl Kind {
    /// `Maildir` or `mbox`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Maildir => "Maildir",
            Kind::Mbox => "mbox",
        }
    }
}

/// A local store to read.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    kind: Kind,
}

/// One message of a local store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMessage {
    /// Where it is, for messages: the file, or `mbox message N (line L)`.
    pub place: String,
    /// Its flags.
    pub flags: Flags,
    /// Its date (seconds since the epoch), if the store keeps one.
    pub date: Option<i64>,
    /// Its size in bytes as handed out.
    pub size: u64,
}

/// The flags of a Maildir file name's info (`...:2,FRS`).
fn maildir_flags(name: &str) -> Flags {
    let mut flags = Flags::default();
    let info = name
        .rsplit_once(":2,")
        .or_else(|| name.rsplit_once("!2,"))
        .map_or("", |(_, info)| info);
    for c in info.chars() {
        match c {
            'S' => flags.seen = true,
            'R' => flags.answered = true,
            'F' => flags.flagged = true,
            'D' => flags.draft = true,
            _ => {}
        }
    }
    flags
}

/// The date of an mbox `From ` line: `From SENDER Thu Jan  1 00:00:00 1970` (UTC, as
/// asctime writes it; a trailing time zone or `remote from` is ignored).
fn from_line_date(line: &str) -> Option<i64> {
    let words: Vec<&str> = line.split_whitespace().collect();
    // From SENDER WEEKDAY MONTH DAY TIME YEAR ...
    let (month, day, time, year) = (words.get(3)?, words.get(4)?, words.get(5)?, words.get(6)?);
    let text = format!("{month} {day} {time} {year}");
    chrono::NaiveDateTime::parse_from_str(&text, "%b %d %H:%M:%S %Y")
        .ok()
        .map(|d| d.and_utc().timestamp())
}

/// Flags from the `Status:` and `X-Status:` fields of an mbox message's header.
fn status_flags(header: &[u8]) -> Flags {
    let mut flags = Flags::default();
    for line in header.split(|&b| b == b'\n') {
        if line.is_empty() || line == b"\r" {
            break;
        }
        let text = String::from_utf8_lossy(line);
        let Some((name, value)) = text.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("Status") {
            flags.seen |= value.contains('R');
        } else if name.eq_ignore_ascii_case("X-Status") {
            flags.answered |= value.contains('A');
            flags.flagged |= value.contains('F');
            flags.draft |= value.contains('T');
        }
    }
    flags
}

/// Whether `line` is a quoted `From ` line (`>From `, `>>From `...).
fn quoted_from(line: &[u8]) -> bool {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    quotes > 0 && line[quotes..].starts_with(b"From ")
}

impl Store {
    /// The store at `path`: a directory with `cur/` or `new/` is a Maildir, a file that is
    /// empty or starts with `From ` is an mbox; anything else is a usage error.
    pub fn open(path: &Path) -> Result<Store> {
        let meta = fs::metadata(path).map_err(|e| {
            Error::new(Class::Usage, format!("cannot read {}: {e}", path.display()))
        })?;
        let kind = if meta.is_dir() {
            if !path.join("cur").is_dir() && !path.join("new").is_dir() {
                return Err(Error::new(
                    Class::Usage,
                    format!(
                        "{} is a directory without cur/ or new/, so not a Maildir",
                        path.display()
                    ),
                ));
            }
            Kind::Maildir
        } else {
            let mut start = [0u8; 5];
            let n = File::open(path)
                .and_then(|mut f| f.read(&mut start))
                .map_err(|e| Error::local(format!("cannot read {}", path.display()), e))?;
            if n != 0 && &start[..n] != b"From " {
                return Err(Error::new(
                    Class::Usage,
                    format!(
                        "{} is neither a Maildir nor an mbox file (an mbox starts with \"From \")",
                        path.display()
                    ),
                ));
            }
            Kind::Mbox
        };
        Ok(Store {
            path: path.to_path_buf(),
            kind,
        })
    }

    /// Which kind of store it is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// `PATH (Maildir)`, for messages.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.path.display(), self.kind.name())
    }

    /// Hand every message to `each`, in order, with its text; returns how many there were.
    pub fn for_each(
        &self,
        each: &mut dyn FnMut(&LocalMessage, &mut dyn Read) -> Result<()>,
    ) -> Result<usize> {
        match self.kind {
            Kind::Maildir => self.maildir(each),
            Kind::Mbox => self.mbox(each),
        }
    }

    fn maildir(
        &self,
        each: &mut dyn FnMut(&LocalMessage, &mut dyn Read) -> Result<()>,
    ) -> Result<usize> {
        let mut files = Vec::new();
        for sub in ["cur", "new"] {
            let dir = self.path.join(sub);
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::local(format!("cannot read {}", dir.display()), e)),
            };
            for entry in entries {
                let entry =
                    entry.map_err(|e| Error::local(format!("cannot read {}", dir.display()), e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let meta = entry.metadata().map_err(|e| {
                    Error::local(format!("cannot read {}", entry.path().display()), e)
                })?;
                if name.starts_with('.') || !meta.is_file() {
                    continue;
                }
                let date = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_secs() as i64);
                let flags = if sub == "cur" {
                    maildir_flags(&name)
                } else {
                    Flags::default()
                };
                files.push((date, entry.path(), flags, meta.len()));
            }
        }
        files.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (date, path, flags, size) in &files {
            let mut file = File::open(path)
                .map_err(|e| Error::local(format!("cannot read {}", path.display()), e))?;
            let message = LocalMessage {
                place: path.display().to_string(),
                flags: *flags,
                date: *date,
                size: *size,
            };
            each(&message, &mut file)?;
        }
        Ok(files.len())
    }

    fn mbox(
        &self,
        each: &mut dyn FnMut(&LocalMessage, &mut dyn Read) -> Result<()>,
    ) -> Result<usize> {
        let file = File::open(&self.path)
            .map_err(|e| Error::local(format!("cannot read {}", self.path.display()), e))?;
        let mut reader = BufReader::with_capacity(256 << 10, file);
        let mut line = Vec::new();
        let mut text: Vec<u8> = Vec::new();
        let mut current: Option<(usize, Option<i64>)> = None;
        let (mut count, mut line_no) = (0, 0);
        let mut finish = |current: Option<(usize, Option<i64>)>,
                          text: &mut Vec<u8>,
                          count: &mut usize|
         -> Result<()> {
            let Some((start, date)) = current else {
                return Ok(());
            };
            // The blank line before the next separator is the separator's.
            if text.ends_with(b"\n\n") || text.as_slice() == b"\n" {
                text.pop();
            }
            *count += 1;
            let header_end = memchr::memmem::find(text, b"\n\n").map_or(text.len(), |i| i + 1);
            let message = LocalMessage {
                place: format!("{} message {count} (line {start})", self.path.display()),
                flags: status_flags(&text[..header_end]),
                date,
                size: text.len() as u64,
            };
            let result = each(&message, &mut text.as_slice());
            text.clear();
            result
        };
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| Error::local(format!("cannot read {}", self.path.display()), e))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            // After an empty message, `text` is the blank line that ends its entry.
            let separator = line.starts_with(b"From ")
                && (current.is_none()
                    || text.is_empty()
                    || text.as_slice() == b"\n"
                    || text.ends_with(b"\n\n"));
            if separator {
                finish(current.take(), &mut text, &mut count)?;
                let date = from_line_date(&String::from_utf8_lossy(&line));
                current = Some((line_no, date));
                continue;
            }
            if current.is_none() {
                return Err(Error::new(
                    Class::Usage,
                    format!(
                        "{} line {line_no}: not an mbox (no From line first)",
                        self.path.display()
                    ),
                ));
            }
            if quoted_from(&line) {
                text.extend_from_slice(&line[1..]);
            } else {
                text.extend_from_slice(&line);
            }
        }
        finish(current.take(), &mut text, &mut count)?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(store: &Store) -> Vec<(LocalMessage, Vec<u8>)> {
        let mut out = Vec::new();
        store
            .for_each(&mut |m, body| {
                let mut text = Vec::new();
                body.read_to_end(&mut text).unwrap();
                out.push((m.clone(), text));
                Ok(())
            })
            .unwrap();
        out
    }

    #[test]
    fn mboxrd_messages_come_back_unquoted_with_date_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box");
        fs::write(
            &path,
            "From a@b Thu Jan  1 00:00:00 1970\nStatus: RO\nX-Status: AF\nSubject: one\n\n\
             >From here\n>>From there\nFrom the middle is quoted by writers, this one was not\n\n\
             From c@d Sat Mar  1 10:00:00 2003\nSubject: two\n\nbody\n\n\n",
        )
        .unwrap();
        let store = Store::open(&path).unwrap();
        assert_eq!(store.kind(), Kind::Mbox);
        let got = read_all(&store);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].1,
            b"Status: RO\nX-Status: AF\nSubject: one\n\nFrom here\n>From there\n\
              From the middle is quoted by writers, this one was not\n"
        );
        let f = got[0].0.flags;
        assert!(f.seen && f.answered && f.flagged && !f.draft);
        assert_eq!(got[0].0.date, Some(0));
        assert_eq!(got[1].1, b"Subject: two\n\nbody\n\n");
        assert_eq!(got[1].0.date, Some(1_046_512_800));
    }

    #[test]
    fn an_empty_message_does_not_swallow_the_next() {
        // Found by the fuzz target local_mbox: mailfetch's own writer makes an empty message
        // its From line and a blank line, and the next From line was read as its body.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box");
        fs::write(
            &path,
            "From a@b Thu Jan  1 00:00:00 1970\n\nFrom c@d Thu Jan  1 00:00:01 1970\nSubject: two\n\n",
        )
        .unwrap();
        let got = read_all(&Store::open(&path).unwrap());
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, b"");
        assert_eq!(got[1].1, b"Subject: two\n");
        assert_eq!(got[1].0.date, Some(1));
    }

    #[test]
    fn maildir_info_letters_become_flags_and_mtime_the_date() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
        }
        fs::write(dir.path().join("cur/1.a:2,FRS"), "Subject: a\n\n").unwrap();
        fs::write(dir.path().join("new/2.b"), "Subject: b\n\n").unwrap();
        fs::write(dir.path().join("tmp/3.c"), "Subject: half\n").unwrap();
        let when = UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        File::options()
            .write(true)
            .open(dir.path().join("cur/1.a:2,FRS"))
            .unwrap()
            .set_modified(when)
            .unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.kind(), Kind::Maildir);
        let got = read_all(&store);
        assert_eq!(got.len(), 2, "tmp/ is not read");
        assert_eq!(got[0].1, b"Subject: a\n\n");
        assert_eq!(got[0].0.date, Some(1_000_000_000));
        let f = got[0].0.flags;
        assert!(f.seen && f.answered && f.flagged && !f.draft);
        assert!(!got[1].0.flags.any());
    }

    #[test]
    fn other_files_are_refused_as_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        fs::write(&path, "hello\n").unwrap();
        assert_eq!(Store::open(&path).unwrap_err().class(), Class::Usage);
        assert_eq!(Store::open(dir.path()).unwrap_err().class(), Class::Usage);
    }
}
