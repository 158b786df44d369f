//! SASL (src/sasl.rs) against a hostile server: base64 challenges of arbitrary bytes, as
//! many as the server likes, for each mechanism. Decoding never panics and accepts only
//! canonical base64 (what it decodes encodes back to the same text); every response is what
//! the mechanism sends at that step and no longer than the credentials make it; an exchange
//! that goes on too long is refused.
//!
//! Input: a byte for the mechanism, then lines: the user, the secret, the challenges (each
//! as sent, base64).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailfetch::sasl::{self, Exchange, Mechanism};
use mailfetch::secret::Secret;

const MECHANISMS: [Mechanism; 5] = [
    Mechanism::Plain,
    Mechanism::Login,
    Mechanism::CramMd5,
    Mechanism::XOAuth2,
    Mechanism::OAuthBearer,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut lines = rest.split(|&b| b == b'\n');
    let user = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let secret = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let (user, challenges) = (user.as_str(), lines);
    let mech = MECHANISMS[usize::from(pick) % MECHANISMS.len()];
    let secret = Secret::new(secret);
    let mut exchange = Exchange::new(mech, user, &secret);
    // Nothing a mechanism sends is longer than its framing (at most 40 bytes: CRAM-MD5's
    // digest and space) and the credentials (user escaped for OAUTHBEARER: at most three
    // bytes for one).
    let bound = 3 * user.len() + secret.expose().len() + 40;

    let initial = exchange.initial();
    match (mech, &initial) {
        (Mechanism::Plain, Some(v)) => {
            let mut want = vec![0];
            want.extend_from_slice(user.as_bytes());
            want.push(0);
            want.extend_from_slice(secret.expose().as_bytes());
            assert_eq!(*v, want);
        }
        (Mechanism::XOAuth2 | Mechanism::OAuthBearer, Some(v)) => {
            assert!(v.ends_with(b"\x01\x01") && v.len() <= bound);
        }
        (Mechanism::Login | Mechanism::CramMd5, None) => {}
        _ => panic!("{mech:?} initial response {initial:?}"),
    }
    // What the initial response counted as, as a step.
    let mut steps = usize::from(initial.is_some());
    for wire in challenges {
        let Ok(challenge) = sasl::decode(wire) else {
            continue;
        };
        assert_eq!(sasl::encode(&challenge).as_bytes(), wire.trim_ascii());
        steps += 1;
        let response = exchange.respond(&challenge);
        match (mech, steps, &response) {
            (Mechanism::Login, 1, Ok(r)) => assert_eq!(r, user.as_bytes()),
            (Mechanism::Login, 2, Ok(r)) => assert_eq!(r, secret.expose().as_bytes()),
            (Mechanism::CramMd5, 1, Ok(r)) => {
                let (who, digest) = r.split_at(r.len() - 33);
                assert_eq!(who, user.as_bytes());
                assert_eq!(digest[0], b' ');
                assert!(digest[1..].iter().all(|b| b"0123456789abcdef".contains(b)));
            }
            (Mechanism::XOAuth2 | Mechanism::OAuthBearer, _, Ok(r)) => assert!(r.is_empty()),
            (_, _, Err(e)) => {
                assert!(e.to_string().contains("unexpected extra"), "{e}");
                assert!(steps > 2 || mech == Mechanism::Plain || mech == Mechanism::CramMd5);
            }
            _ => panic!(
                "{mech:?} step {steps}: {response:?}",
                response = response.is_ok()
            ),
        }
        if let Ok(r) = &response {
            assert!(r.len() <= bound);
            // What the protocol sends back: base64 that decodes to the response.
            assert_eq!(
                sasl::decode(sasl::encode(r).as_bytes()).ok().as_ref(),
                Some(r)
            );
        }
    }
});
