//! The edge-case corpus: messages as a local store holds them (LF line
//! ends), each with a unique Message-ID `<corpus-NAME@mailfetch.test>`.
//!
//! Deliberately awkward: mbox `From ` / `>From ` lines, POP3 dot-stuffing
//! material, no final newline, raw latin-1 bytes, raw UTF-8 headers, a
//! 200 KB line, a header-only message, an empty body, a ~3 MB base64
//! attachment, a lone CR inside a line, trailing blank lines.  No message
//! contains CRLF, and no line ends in a lone CR, so "LF vs CRLF" is the only
//! transformation a server may apply.

use std::sync::OnceLock;

/// `(name, bytes)` of every corpus message, in a fixed order.
pub fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    cached().to_vec()
}

/// The corpus, built once per test binary.
pub fn cached() -> &'static [(&'static str, Vec<u8>)] {
    static CORPUS: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    CORPUS.get_or_init(build)
}

fn build() -> Vec<(&'static str, Vec<u8>)> {
    let mut v: Vec<(&'static str, Vec<u8>)> = Vec::new();

    v.push((
        "plain-short",
        simple(
            "plain-short",
            "Hello",
            "Hi Bob,\n\nlunch at noon?\n\nAlice\n",
        ),
    ));

    v.push((
        "plain-reply",
        cat(&[
            &headers_with(
                "plain-reply",
                "Re: Hello",
                "In-Reply-To: <corpus-plain-short@mailfetch.test>\n\
                 References: <corpus-plain-short@mailfetch.test>\n",
            ),
            b"\n",
            b"Noon is fine.\n\n> Hi Bob,\n>\n> lunch at noon?\n",
        ]),
    ));

    v.push((
        "from-lines",
        simple(
            "from-lines",
            "Lines that look like mbox separators",
            "First line.\n\
             From the start of a line, like an mbox separator.\n\
             >From quoted once.\n\
             >>From quoted twice.\n\
             >>>From quoted three times.\n\
             From\n\
             Fromage is not a separator.\n \
             From with a leading space.\n\
             \n\
             From here to eternity\n\
             >From\n\
             Last line.\n\
             From the end\n",
        ),
    ));

    v.push((
        "dot-lines",
        simple(
            "dot-lines",
            "Lines that need POP3 dot-stuffing",
            ".\n\
             A lone dot came first, then:\n\
             .\n\
             ..\n\
             ...\n\
             .hidden text after one dot\n\
             ..two dots and text\n\
             . dot space\n\
             end\n\
             .\n",
        ),
    ));

    v.push((
        "no-final-newline",
        simple(
            "no-final-newline",
            "No final newline",
            "The last line\nhas no newline at the end",
        ),
    ));

    v.push((
        "latin1-8bit",
        cat(&[
            &headers_with(
                "latin1-8bit",
                "=?ISO-8859-1?Q?Gr=FC=DFe?=",
                "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n",
            ),
            b"\n",
            b"Gr\xfc\xdfe aus K\xf6ln!\n\xc9t\xe9 \xe0 la plage, \xa3100, \xa9 \xb5 \xbd \xff\n\
              Ende: \xe4\xf6\xfc\xc4\xd6\xdc\xdf\n",
        ]),
    ));

    v.push((
        "utf8-header-body",
        cat(&[
            b"From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.org>\n",
            "To: Zoë Ünal <zoe@example.net>\n".as_bytes(),
            "Subject: Grüße – 日本語 ✓ 🚀\n".as_bytes(),
            b"Date: Mon, 02 Jan 2023 10:00:00 +0000\n",
            b"Message-ID: <corpus-utf8-header-body@mailfetch.test>\n",
            b"MIME-Version: 1.0\n",
            b"Content-Type: text/plain; charset=utf-8\n",
            b"Content-Transfer-Encoding: 8bit\n",
            b"\n",
            "Grüße aus Köln! Ελληνικά, русский, 中文, emoji 🎉👍.\n".as_bytes(),
            "Combining: e\u{301} vs \u{e9}; zero width:\u{200b}|\n".as_bytes(),
        ]),
    ));

    v.push(("long-line-200k", {
        let mut body = Vec::with_capacity(200 * 1024 + 1);
        let pattern = b"0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ ";
        while body.len() < 200 * 1024 {
            body.push(pattern[body.len() % pattern.len()]);
        }
        body.push(b'\n');
        cat(&[
            &headers("long-line-200k", "A single 200 KB line"),
            b"\n",
            &body,
        ])
    }));

    // No blank line, no body: the message ends after the last header line.
    v.push((
        "header-only",
        headers("header-only", "Only headers, no body"),
    ));

    // Header section, the blank separator line, nothing after it.
    v.push((
        "empty-body",
        cat(&[&headers("empty-body", "Empty body"), b"\n"]),
    ));

    v.push(("base64-3mb", base64_attachment()));

    v.push((
        "cr-in-line",
        simple(
            "cr-in-line",
            "A carriage return inside a line",
            "This line has a carriage return\rin the middle.\nTwo of them:\r\rhere.\nNormal last line.\n",
        ),
    ));

    v.push((
        "trailing-blank-lines",
        simple(
            "trailing-blank-lines",
            "Ends with blank lines",
            "Text, then two blank lines.\n\n\n",
        ),
    ));

    v.push((
        "multipart-alternative",
        cat(&[
            &headers_with(
                "multipart-alternative",
                "Newsletter",
                "Content-Type: multipart/alternative; boundary=\"=-alt-1\"\n",
            ),
            b"\n\
              This is a multi-part message in MIME format.\n\
              \n\
              --=-alt-1\n\
              Content-Type: text/plain; charset=us-ascii\n\
              \n\
              Plain version.\n\
              \n\
              --=-alt-1\n\
              Content-Type: text/html; charset=us-ascii\n\
              \n\
              <html><body><p>HTML version.</p></body></html>\n\
              \n\
              --=-alt-1--\n",
        ]),
    ));

    v.push((
        "folded-headers",
        cat(&[
            &headers_with(
                "folded-headers",
                "A subject that is long enough\n that it was folded onto\n\ta second and third line",
                "X-Long: aaaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee ffffffffff\n gggggggggg hhhhhhhhhh\n",
            ),
            b"\n",
            b"Body after folded headers.\n",
        ]),
    ));

    v.push((
        "plain-last",
        simple("plain-last", "Goodbye", "See you.\n-- \nAlice\n"),
    ));

    v
}

/// One corpus message by name (panics if unknown).
pub fn corpus_message(name: &str) -> Vec<u8> {
    cached()
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no corpus message {name:?}"))
        .1
        .clone()
}

/// The Message-ID (without angle brackets) of a corpus message.
pub fn message_id(name: &str) -> String {
    format!("corpus-{name}@mailfetch.test")
}

/// A small ordinary message with Message-ID `<corpus-ID@mailfetch.test>`;
/// `body` uses LF line ends.  Handy for tests that need N distinct messages:
/// `simple(&format!("t1-{i}"), "subject", "body\n")`.
pub fn simple(id: &str, subject: &str, body: &str) -> Vec<u8> {
    cat(&[&headers(id, subject), b"\n", body.as_bytes()])
}

/// A message of at least `bytes` bytes: a plain header, then base64-like lines of 80
/// characters (the shape of a large attachment).
pub fn large(id: &str, bytes: usize) -> Vec<u8> {
    let mut m = simple(id, "a large attachment", "");
    let line =
        b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\n";
    while m.len() < bytes {
        m.extend_from_slice(line);
    }
    m
}

/// Header section (each line LF-terminated, no blank line after it).
pub fn headers(id: &str, subject: &str) -> Vec<u8> {
    headers_with(id, subject, "Content-Type: text/plain; charset=us-ascii\n")
}

fn headers_with(id: &str, subject: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: Alice Example <alice@example.org>\n\
         To: Bob Example <bob@example.net>\n\
         Subject: {subject}\n\
         Date: Mon, 02 Jan 2023 10:00:00 +0000\n\
         Message-ID: <{}>\n\
         MIME-Version: 1.0\n\
         {extra}",
        message_id(id)
    )
    .into_bytes()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// multipart/mixed with ~2.25 MB of pseudo-random bytes as base64
/// (76-character lines): about 3 MB in total.
fn base64_attachment() -> Vec<u8> {
    let mut raw = Vec::with_capacity(2_250_000);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while raw.len() < 2_250_000 {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        raw.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    raw.truncate(2_250_000);
    let b64 = base64(&raw);
    let mut body = Vec::with_capacity(b64.len() + b64.len() / 76 + 1024);
    body.extend_from_slice(
        b"This is a multi-part message in MIME format.\n\
          \n\
          --=-mixed-3mb\n\
          Content-Type: text/plain; charset=us-ascii\n\
          \n\
          The attachment is 2250000 pseudo-random bytes.\n\
          \n\
          --=-mixed-3mb\n\
          Content-Type: application/octet-stream; name=\"random.bin\"\n\
          Content-Disposition: attachment; filename=\"random.bin\"\n\
          Content-Transfer-Encoding: base64\n\
          \n",
    );
    for chunk in b64.chunks(76) {
        body.extend_from_slice(chunk);
        body.push(b'\n');
    }
    body.extend_from_slice(b"\n--=-mixed-3mb--\n");
    cat(&[
        &headers_with(
            "base64-3mb",
            "A 3 MB attachment",
            "Content-Type: multipart/mixed; boundary=\"=-mixed-3mb\"\n",
        ),
        b"\n",
        &body,
    ])
}

fn base64(data: &[u8]) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(A[(n >> 18) as usize & 63]);
        out.push(A[(n >> 12) as usize & 63]);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63]
        } else {
            b'='
        });
    }
    out
}
