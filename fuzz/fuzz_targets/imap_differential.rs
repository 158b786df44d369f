//! Our IMAP response parser beside imap-codec (a complete, fuzzed IMAP codec): every
//! response imap-codec accepts of the kinds mailfetch acts on must be parsed by ours to the
//! same values (message numbers, UIDs, sizes, body bytes, SEARCH results, EXISTS and
//! EXPUNGE counts, tags and states). Ours may accept more (it is lenient where real servers
//! deviate); it may not read anything differently.
#![no_main]

use imap_codec::decode::Decoder;
use imap_codec::imap_types::core::NString;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::{Data, Response as Theirs, Status as TheirStatus};
use imap_codec::ResponseCodec;
use libfuzzer_sys::fuzz_target;
use mailfetch::imap::wire::{drain_for_fuzzing, Response, Status, Untagged};

fuzz_target!(|data: &[u8]| {
    let Ok((rest, theirs)) = ResponseCodec::default().decode(data) else {
        return;
    };
    let consumed = &data[..data.len() - rest.len()];
    let ours = drain_for_fuzzing(consumed);
    match theirs {
        Theirs::Data(Data::Fetch { seq, items }) => {
            let Some(Response::Untagged(Untagged::Fetch(n, d))) = ours.first() else {
                panic!("imap-codec read a FETCH, we read {ours:?}");
            };
            assert_eq!(*n, seq.get());
            for item in items.as_ref() {
                match item {
                    MessageDataItem::Uid(u) => assert_eq!(d.uid, Some(u.get())),
                    MessageDataItem::Rfc822Size(s) => assert_eq!(d.size, Some(u64::from(*s))),
                    // A streamed body is dropped by the fuzz driver; one read whole must match.
                    MessageDataItem::BodyExt {
                        section: None,
                        origin,
                        data: NString(Some(body)),
                    } => {
                        if let Some(b) = &d.body {
                            assert_eq!(b.origin, origin.map(u64::from));
                            assert_eq!(b.data.as_deref(), Some(body.as_ref()));
                        }
                    }
                    _ => {}
                }
            }
        }
        Theirs::Data(Data::Search(uids)) => {
            let theirs: Vec<u32> = uids.iter().map(|u| u.get()).collect();
            assert_eq!(
                ours.first(),
                Some(&Response::Untagged(Untagged::Search(theirs)))
            );
        }
        Theirs::Data(Data::Exists(n)) => {
            assert_eq!(ours.first(), Some(&Response::Untagged(Untagged::Exists(n))));
        }
        Theirs::Data(Data::Expunge(n)) => {
            assert_eq!(
                ours.first(),
                Some(&Response::Untagged(Untagged::Expunge(n.get())))
            );
        }
        Theirs::Status(status) => {
            let (want, tag) = match status {
                TheirStatus::Ok { tag: Some(t), .. } => (Status::Ok, t),
                TheirStatus::No { tag: Some(t), .. } => (Status::No, t),
                TheirStatus::Bad { tag: Some(t), .. } => (Status::Bad, t),
                _ => return,
            };
            let Some(Response::Tagged(ours_tag, c)) = ours.first() else {
                panic!("imap-codec read a tagged status, we read {ours:?}");
            };
            assert_eq!(ours_tag.as_str(), tag.inner());
            assert_eq!(c.status, want);
        }
        _ => {}
    }
});
