#!/usr/bin/env python3
"""mbox_check.py MBOX -- an independent mbox reader for mailfetch's tests.

Parses MBOX with Python's stdlib mailbox.mbox (a reader we did not write)
and writes every message to stdout, in file order, as
    b"<length>\\n" + <message bytes>
where the message bytes are what the mbox stores for it:
  * without the "From " envelope line;
  * without the single blank line that separates it from the next message
    (mailbox.mbox already drops exactly one such line, also at the end of
    the file; we do not strip anything more);
  * mboxrd-unquoted: mailbox.mbox does NOT undo ">From " quoting, so one
    '>' is removed from every line matching ^>+From .
Line ends are left as stored (LF).  Exit status 2 on usage errors, 1 if the
file cannot be read.
"""
import mailbox
import re
import sys

QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: mbox_check.py MBOX\n")
        return 2
    try:
        box = mailbox.mbox(argv[1], create=False)
        keys = sorted(box.keys())
        out = sys.stdout.buffer
        for key in keys:
            data = QUOTED.sub(rb"\1", box.get_bytes(key))
            out.write(b"%d\n" % len(data))
            out.write(data)
        out.flush()
    except (OSError, mailbox.Error) as e:
        sys.stderr.write("mbox_check.py: %s: %s\n" % (argv[1], e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
