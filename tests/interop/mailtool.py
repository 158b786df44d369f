#!/usr/bin/env python3
"""An independent mail client for the interop matrix (tests/interop): Python's own
imaplib and poplib put mail into a server and read back what it serves, so that the
expected bytes never come from mailfetch's code.

  mailtool.py append  HOST PORT CA USER PASS FOLDER FLAGS FILE...
      IMAPS: APPEND each FILE (LF line ends, sent as CRLF) to FOLDER (created if
      missing) with FLAGS ("" or e.g. "\\Seen \\Flagged").
  mailtool.py imap-dump HOST PORT CA USER PASS FOLDER OUTDIR
      IMAPS: write OUTDIR/UID (BODY.PEEK[] with CRLF turned into LF) and
      OUTDIR/UID.flags for every message of FOLDER.
  mailtool.py imap-count HOST PORT CA USER PASS FOLDER...   STATUS MESSAGES, one per line
  mailtool.py pop3-dump HOST PORT CA USER PASS OUTDIR
      POP3S: write OUTDIR/N (RETR, dot-unstuffed, CRLF -> LF) and OUTDIR/N.uidl;
      in UTF8 mode (RFC 6856) where the server offers it.
  mailtool.py pop3-count HOST PORT CA USER PASS          STAT's message count

Everything goes over implicit TLS, verified against CA.  Exit status 0 on success;
errors on stderr.
"""

import imaplib
import os
import poplib
import ssl
import sys

# The corpus has a 200,000-byte line; the modules' defaults refuse lines over 2 KB / 1 MB.
poplib._MAXLINE = 1 << 24
imaplib._MAXLINE = 1 << 24


def ctx(ca):
    c = ssl.create_default_context(cafile=ca)
    c.check_hostname = False
    return c


def imap(host, port, ca, user, pw):
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx(ca), timeout=60)
    m.login(user, pw)
    return m


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ok(typ, data, what):
    if typ != "OK":
        raise SystemExit(f"mailtool: {what}: {typ} {data!r}")
    return data


def append(host, port, ca, user, pw, folder, flags, files):
    m = imap(host, port, ca, user, pw)
    if folder.upper() != "INBOX":
        typ, _ = m.status(quote(folder), "(MESSAGES)")
        if typ != "OK":
            ok(*m.create(quote(folder)), f"CREATE {folder}")
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        data = data.replace(b"\n", b"\r\n")
        fl = f"({flags})" if flags else None
        ok(*m.append(quote(folder), fl, None, data), f"APPEND {f} to {folder}")
    m.logout()


def imap_dump(host, port, ca, user, pw, folder, out):
    os.makedirs(out, exist_ok=True)
    m = imap(host, port, ca, user, pw)
    ok(*m.select(quote(folder), readonly=True), f"EXAMINE {folder}")
    uids = ok(*m.uid("SEARCH", None, "ALL"), "UID SEARCH")[0].split()
    for uid in uids:
        data = ok(*m.uid("FETCH", uid, "(FLAGS BODY.PEEK[])"), f"UID FETCH {uid}")
        body, flags = None, b""
        for part in data:
            if isinstance(part, tuple):
                body = part[1]
                flags += part[0]
            elif part:
                flags += part
        if body is None:
            raise SystemExit(f"mailtool: no body for UID {uid!r}")
        name = os.path.join(out, uid.decode())
        with open(name, "wb") as fh:
            fh.write(body.replace(b"\r\n", b"\n"))
        fl = b""
        if b"FLAGS (" in flags:
            fl = flags.split(b"FLAGS (", 1)[1].split(b")", 1)[0]
        with open(name + ".flags", "wb") as fh:
            fh.write(fl)
    m.logout()


def imap_count(host, port, ca, user, pw, folders):
    m = imap(host, port, ca, user, pw)
    for folder in folders:
        typ, data = m.status(quote(folder), "(MESSAGES)")
        if typ != "OK":
            print(-1)
            continue
        text = data[0].decode(errors="replace")
        print(int(text.rsplit("MESSAGES", 1)[1].strip(" )")))
    m.logout()


def pop3(host, port, ca, user, pw):
    p = poplib.POP3_SSL(host, int(port), context=ctx(ca), timeout=60)
    # RFC 6856: where the server offers UTF8, ask for the messages as stored (Courier
    # otherwise wraps a message with UTF-8 headers in a new multipart/mixed, with a
    # different boundary on every RETR).
    try:
        utf8 = "UTF8" in p.capa()
    except poplib.error_proto:
        utf8 = False
    if utf8:
        p.utf8()
    p.user(user)
    p.pass_(pw)
    return p


def pop3_dump(host, port, ca, user, pw, out):
    os.makedirs(out, exist_ok=True)
    p = pop3(host, port, ca, user, pw)
    n = p.stat()[0]
    uidls = {}
    try:
        for line in p.uidl()[1]:
            num, uid = line.split(b" ", 1)
            uidls[int(num)] = uid
    except poplib.error_proto:
        pass
    for i in range(1, n + 1):
        _, lines, _ = p.retr(i)
        name = os.path.join(out, "%06d" % i)
        with open(name, "wb") as fh:
            fh.write(b"".join(line + b"\n" for line in lines))
        with open(name + ".uidl", "wb") as fh:
            fh.write(uidls.get(i, b""))
    p.quit()


def pop3_count(host, port, ca, user, pw):
    p = pop3(host, port, ca, user, pw)
    print(p.stat()[0])
    p.quit()


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd, a = argv[1], argv[2:]
    if cmd == "append":
        append(*a[:7], a[7:])
    elif cmd == "imap-dump":
        imap_dump(*a)
    elif cmd == "imap-count":
        imap_count(*a[:5], a[5:])
    elif cmd == "pop3-dump":
        pop3_dump(*a)
    elif cmd == "pop3-count":
        pop3_count(*a)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
