//! The journal's text: how a record is written as a checksummed line, and how a line is read
//! back into a record. Kept apart from the file (`journal`) so that the one promise a format
//! must keep, that what is written reads back as it was and that no bytes make the reader
//! panic, is tested here on generated records and arbitrary bytes. The records themselves
//! are described in the module doc of `state`.
//!
//! Reading is the hot path of a load (100,000 lines for a mailbox of 100,000): fields are
//! found with `memchr` and borrowed from the line unless they hold an escape.

use super::ids::{Entry, Kind};
use crate::identity::Validity;
use std::borrow::Cow;

/// The first word of a journal's first line; the second is its format.
const MAGIC: &str = "mailfetch-state";
/// The format this build writes. It goes up whenever a record is added or changes meaning
/// that an older build would misread; a journal of a higher format is refused (exit 74,
/// naming it), and one of a lower format is read and rewritten in this one. Format 1 grew
/// fingerprints, times and `H`/`S` records while it stayed 1; 2 is the same records plus
/// fingerprints by text digest for messages without a Message-ID, and the promise above.
pub(super) const FORMAT: u32 = 2;
/// The first line of a journal of this build.
pub(super) const HEADER: &str = "mailfetch-state 2";
/// The record that ends a batch.
pub(super) const END: &str = "E";

/// The format a journal's first record names, if it is a journal's first record.
pub(super) fn format(record: &str) -> Option<u32> {
    record
        .strip_prefix(MAGIC)
        .and_then(|f| f.strip_prefix(' '))
        .and_then(|f| f.parse::<u32>().ok())
        .filter(|&f| f >= 1)
}

/// The CRC-32 (IEEE) of `data`, as every journal line carries it. `crc32fast` folds with
/// the CPU's carry-less multiply: loading a journal checks every line, megabytes of them.
pub(super) fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// The line of `record`: its checksum, a space, the record, a newline.
pub(super) fn line(record: &str) -> String {
    format!("{:08x} {record}\n", crc32(record.as_bytes()))
}

/// The record of a whole `line` (with its newline) whose checksum holds; `None` for a line
/// that is damaged, torn, or not text.
pub(super) fn parse_line(raw: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(raw).ok()?;
    let text = text.strip_suffix('\n')?;
    let (crc, record) = match text.as_bytes().get(..9).and_then(hex8) {
        // As writers write them: eight hex digits and a space.
        Some(crc) => (crc, &text[9..]),
        None => {
            let (crc, record) = text.split_once(' ')?;
            (u32::from_str_radix(crc, 16).ok()?, record)
        }
    };
    (crc32(record.as_bytes()) == crc).then_some(record)
}

/// The value of eight hex digits and a space, as `u32::from_str_radix` reads them.
fn hex8(field: &[u8]) -> Option<u32> {
    let (&b' ', digits) = field.split_last()? else {
        return None;
    };
    digits.iter().try_fold(0u32, |v, &b| {
        let d = (b as char).to_digit(16)?;
        Some(v << 4 | d)
    })
}

/// Escape a field: bytes outside 0x21..0x7E and `%` become `%XX`.
pub(super) fn escape(field: &str) -> String {
    crate::percent::encode(field, |c| !c.is_ascii_graphic())
}

/// Undo [`escape`]; `None` for a malformed escape.
pub(super) fn unescape(field: &str) -> Option<String> {
    crate::percent::decode(field)
}

/// A field as recorded, unescaped, borrowed when it holds no escape; `plain`: the record
/// holds none (its fields are then borrowed unchecked).
pub(super) fn field(field: &str, plain: bool) -> Option<Cow<'_, str>> {
    if plain || !field.contains('%') {
        Some(Cow::Borrowed(field))
    } else {
        unescape(field).map(Cow::Owned)
    }
}

/// The space-separated fields of a record, as `str::split(' ')` gives them, but found with
/// `memchr` and not collected. (A byte at a time was slower, even for short fields.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fields<'a>(Option<&'a str>);

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.0?;
        match memchr::memchr(b' ', rest.as_bytes()) {
            Some(i) => {
                self.0 = Some(&rest[i + 1..]);
                Some(&rest[..i])
            }
            None => {
                self.0 = None;
                Some(rest)
            }
        }
    }
}

/// The seconds of `at=SECONDS`, as `i64::from_str` reads them: plain digits at once.
fn parse_time(t: &str) -> Option<i64> {
    if (1..=18).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()) {
        return Some(t.bytes().fold(0, |v, b| v * 10 + i64::from(b - b'0')));
    }
    t.parse().ok()
}

/// The record letter of a delivery of `kind`.
fn letter(kind: Kind) -> &'static str {
    match kind {
        Kind::Message => "+",
        Kind::HeadersOnly => "H",
        Kind::PassedOver => "S",
    }
}

/// A `+`, `H` or `S` record: what was delivered of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Delivery<'a> {
    pub mailbox: Cow<'a, str>,
    pub validity: Validity,
    pub id: Cow<'a, str>,
    /// Only ever read for [`Kind::Message`], and only one that starts with a digit (it
    /// starts with the message's size, see `crate::fingerprint`).
    pub fingerprint: Option<Cow<'a, str>>,
    pub at: Option<i64>,
    pub kind: Kind,
}

impl Delivery<'_> {
    /// What the record says of its message.
    pub fn entry(&self) -> Entry<'_> {
        Entry {
            fingerprint: self.fingerprint.as_deref(),
            at: self.at,
            kind: self.kind,
        }
    }
}

/// A record after its checksum, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Record<'a> {
    /// `+`, `H` or `S`.
    Delivery(Delivery<'a>),
    /// `V MAILBOX VALIDITY`: the mailbox's validity is now this one.
    Validity {
        mailbox: Cow<'a, str>,
        validity: Validity,
    },
    /// `B ...`: a batch begins. Its fields (after the `B`) are the journal's to read, each
    /// through [`field`] with `plain`.
    Batch { fields: Fields<'a>, plain: bool },
    /// `E`: the batch is finished.
    End,
}

/// Read `record` (a line's text after its checksum). The error is why it is damaged, for the
/// message that names its line.
pub(super) fn decode(record: &str) -> Result<Record<'_>, &'static str> {
    let mut fields = Fields(Some(record));
    // Most records hold no escape: their fields are then borrowed as they are, unchecked.
    let plain = memchr::memchr(b'%', record.as_bytes()).is_none();
    let bad = "bad record";
    let validity = |va: &str| Validity::parse(va).ok_or("bad validity");
    match fields.next().unwrap_or_default() {
        letter @ ("+" | "H" | "S") => {
            let mut next = || fields.next().and_then(|f| field(f, plain));
            let (Some(mailbox), Some(va), Some(id)) = (next(), next(), next()) else {
                return Err(bad);
            };
            let kind = match letter {
                "+" => Kind::Message,
                "H" => Kind::HeadersOnly,
                _ => Kind::PassedOver,
            };
            let mut d = Delivery {
                mailbox,
                validity: validity(&va)?,
                id,
                fingerprint: None,
                at: None,
                kind,
            };
            // Optional fields, each added in a later version: a fingerprint (untagged,
            // fifth; it starts with the size), then `at=SECONDS`. Older lines have fewer;
            // unknown `name=value` fields are skipped.
            for (i, f) in fields.enumerate() {
                if let Some(t) = f.strip_prefix("at=") {
                    d.at = Some(parse_time(t).ok_or("bad time")?);
                } else if i == 0
                    && kind == Kind::Message
                    && f.starts_with(|c: char| c.is_ascii_digit())
                {
                    d.fingerprint = Some(field(f, plain).ok_or(bad)?);
                }
            }
            Ok(Record::Delivery(d))
        }
        "V" => {
            let mut next = || fields.next().and_then(|f| field(f, plain));
            let (Some(mailbox), Some(va)) = (next(), next()) else {
                return Err(bad);
            };
            Ok(Record::Validity {
                mailbox,
                validity: validity(&va)?,
            })
        }
        "B" => Ok(Record::Batch { fields, plain }),
        "E" => Ok(Record::End),
        _ => Err("unknown record"),
    }
}

/// What every record of one mailbox starts with after its letter, `MAILBOX VALIDITY`,
/// escaped once for all the records of a write.
pub(super) struct Head(String);

impl Head {
    pub fn new(mailbox: &str, validity: Validity) -> Head {
        Head(format!("{} {validity}", escape(mailbox)))
    }

    /// `MAILBOX VALIDITY`, escaped.
    pub fn fields(&self) -> &str {
        &self.0
    }

    /// `V MAILBOX VALIDITY`.
    pub fn validity(&self) -> String {
        format!("V {}", self.0)
    }

    /// The record of a delivery of `id`: `+ MAILBOX VALIDITY ID [FINGERPRINT] [at=SECONDS]`,
    /// or `H`/`S MAILBOX VALIDITY ID [at=SECONDS]`.
    pub fn delivery(&self, id: &str, e: &Entry) -> String {
        let mut r = format!("{} {} {}", letter(e.kind), self.0, escape(id));
        if let (Some(f), Kind::Message) = (e.fingerprint, e.kind) {
            r.push(' ');
            r.push_str(&escape(f));
        }
        if let Some(at) = e.at {
            r.push_str(&format!(" at={at}"));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    /// Any text: mostly the characters that need escaping (space, `%`, controls, non-ASCII),
    /// the empty text included.
    fn text() -> impl Strategy<Value = String> {
        let c = prop_oneof![
            Just(' '),
            Just('%'),
            Just('\n'),
            Just('\0'),
            Just('='),
            proptest::char::range('!', '~'),
            any::<char>(),
        ];
        proptest::collection::vec(c, 0..12).prop_map(|cs| cs.into_iter().collect())
    }

    fn validity() -> impl Strategy<Value = Validity> {
        prop_oneof![
            Just(Validity::Permanent),
            any::<u32>().prop_map(Validity::Uid)
        ]
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Message),
            Just(Kind::HeadersOnly),
            Just(Kind::PassedOver)
        ]
    }

    /// A delivery as the journal records one: a fingerprint only for a message, and only as
    /// fingerprints are (starting with the size).
    fn delivery() -> impl Strategy<Value = Delivery<'static>> {
        let fingerprint = (any::<u64>(), text()).prop_map(|(size, rest)| format!("{size}{rest}"));
        (
            text(),
            validity(),
            text(),
            proptest::option::of(fingerprint),
            proptest::option::of(any::<i64>()),
            kind(),
        )
            .prop_map(|(mailbox, validity, id, fingerprint, at, kind)| Delivery {
                mailbox: Cow::Owned(mailbox),
                validity,
                id: Cow::Owned(id),
                fingerprint: fingerprint
                    .filter(|_| kind == Kind::Message)
                    .map(Cow::Owned),
                at,
                kind,
            })
    }

    /// The record read back from the line written for `record`.
    fn read_back(record: &str) -> Record<'_> {
        let line = line(record);
        assert!(
            line.ends_with('\n') && line.matches('\n').count() == 1,
            "{line:?}"
        );
        assert_eq!(parse_line(line.as_bytes()), Some(record), "{line:?}");
        decode(record).unwrap_or_else(|why| panic!("{record:?}: {why}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn a_delivery_reads_back_as_written(d in delivery()) {
            let record = Head::new(&d.mailbox, d.validity).delivery(&d.id, &d.entry());
            prop_assert_eq!(read_back(&record), Record::Delivery(d));
        }

        #[test]
        fn a_validity_reads_back_as_written(mailbox in text(), validity in validity()) {
            let record = Head::new(&mailbox, validity).validity();
            let want = Record::Validity { mailbox: Cow::Owned(mailbox), validity };
            prop_assert_eq!(read_back(&record), want);
        }

        #[test]
        fn a_batch_line_hands_its_fields_over_unescaped(
            mailbox in text(),
            validity in validity(),
            intent in text(),
        ) {
            let head = Head::new(&mailbox, validity);
            let record = format!("B forward {} {}", head.fields(), escape(&intent));
            let Record::Batch { mut fields, plain } = read_back(&record) else {
                panic!("{record:?}");
            };
            let mut next = || fields.next().and_then(|f| field(f, plain)).map(Cow::into_owned);
            prop_assert_eq!(next(), Some("forward".to_string()));
            prop_assert_eq!(next(), Some(mailbox));
            prop_assert_eq!(next().and_then(|v| Validity::parse(&v)), Some(validity));
            prop_assert_eq!(next(), Some(intent));
            prop_assert_eq!(next(), None);
        }

        #[test]
        fn no_bytes_make_the_reader_panic(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_line(&raw);
            // Past the checksum too: the same bytes as a record, and as a line that holds.
            let text = String::from_utf8_lossy(&raw);
            let _ = format(&text);
            if let Ok(Record::Batch { fields, plain }) = decode(&text) {
                fields.for_each(|f| { let _ = field(f, plain); });
            }
            let line = line(&text);
            if let Some(record) = parse_line(line.as_bytes()) {
                let _ = decode(record);
            }
        }

        #[test]
        fn records_made_of_journal_tokens_never_panic_the_reader(
            tokens in proptest::collection::vec(
                prop_oneof![
                    Just("+"), Just("H"), Just("S"), Just("V"), Just("B"), Just("E"),
                    Just("-"), Just("%"), Just("%2"), Just("%zz"), Just("%FF"), Just("7"),
                    Just("at="), Just("at=-1"), Just("at=99999999999999999999"), Just(""),
                    Just("forward"), Just("rollback"), Just("4294967296"), Just("10:<a@b>"),
                ],
                0..8,
            )
        ) {
            let record = tokens.join(" ");
            match decode(&record) {
                Ok(Record::Delivery(d)) => prop_assert!(record.starts_with(letter(d.kind))),
                Ok(Record::Validity { .. }) => prop_assert!(record.starts_with('V')),
                Ok(Record::Batch { fields, plain }) => {
                    prop_assert!(record.starts_with('B'));
                    fields.for_each(|f| { let _ = field(f, plain); });
                }
                Ok(Record::End) => prop_assert!(record.starts_with('E')),
                Err(_) => {}
            }
        }
    }

    #[test]
    fn records_of_older_and_hand_made_journals_read_as_before() {
        // Upper-case and longer checksums, as no writer writes them but as they were read.
        let upper = format!("{:08X} + INBOX - a\n", crc32(b"+ INBOX - a"));
        assert_eq!(parse_line(upper.as_bytes()), Some("+ INBOX - a"));
        let longer = format!("0{:08x} E\n", crc32(b"E"));
        assert_eq!(parse_line(longer.as_bytes()), Some("E"));
        assert_eq!(parse_line(b"00000000 E\n"), None, "bad checksum");
        assert_eq!(parse_line(line("E").trim_end().as_bytes()), None, "torn");
        // A line without fingerprint or time, a signed time, an unknown field skipped.
        let Ok(Record::Delivery(d)) = decode("+ F 4 17 x=1 at=+7") else {
            panic!()
        };
        assert_eq!(
            (d.validity, &*d.id, d.fingerprint, d.at),
            (Validity::Uid(4), "17", None, Some(7))
        );
        assert_eq!(decode("+ F 4 17 at=1x"), Err("bad time"));
        assert_eq!(decode("+ F x 17"), Err("bad validity"));
        assert_eq!(decode("+ F 4"), Err("bad record"));
        assert_eq!(decode("+ F 4 %zz"), Err("bad record"));
        assert_eq!(decode("Q"), Err("unknown record"));
        assert_eq!(format("mailfetch-state 1"), Some(1));
        assert_eq!(format("mailfetch-state 0"), None);
        assert_eq!(format("mailfetch-stat 1"), None);
    }
}
