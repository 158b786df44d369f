//! Secrets never appear in output: a representative set of commands, each with `--verbose`
//! (the protocol trace) and some with `--json`, over POP3 and IMAP against Dovecot with
//! every login method, with success and with a refused login, and OAuth2 (authorization,
//! pulls over POP3 and IMAP, a refused token renewed, a revoked refresh token); then every
//! byte they printed, stdout and stderr, is searched for the passwords, the tokens, the
//! client secret, and the base64 SASL payloads that carry them.

mod support;

use base64::Engine;
use std::sync::Arc;
use support::account::Account;
use support::client::{Client, Outcome};
use support::corpus::simple;
use support::dovecot::Dovecot;
use support::fake_oauth::{authorize, FakeOAuth};
use support::fake_pop3::{Bearer, FakePop3, Mail, Script};
use support::oauth_imap::{OAuthImap, Setup};

const PASSWORD: &str = "Sekr1t-pw-7d3e-never-shown";
const WRONG: &str = "Wr0ng-pw-91ac-never-shown";
const CLIENT_SECRET: &str = "GOCSPX-client-s3cret-never-shown";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What must never be printed: each secret, and the base64 payloads that carry it.
fn forbidden(user: &str, secrets: &[String]) -> Vec<String> {
    let mut all = Vec::new();
    for s in secrets {
        all.push(s.clone());
        all.push(b64(format!("\0{user}\0{s}").as_bytes()));
        all.push(b64(
            format!("user={user}\x01auth=Bearer {s}\x01\x01").as_bytes()
        ));
        all.push(b64(
            format!("n,a={user},\x01auth=Bearer {s}\x01\x01").as_bytes()
        ));
        all.push(b64(s.as_bytes()));
    }
    all
}

/// Run `mailfetch ARGS`, require exit `want`, and keep what it printed.
fn run(log: &mut Vec<(String, Outcome)>, what: &str, c: &Client, args: &[&str], want: i32) {
    let o = c.run(args);
    assert_eq!(o.code, want, "{what}: {o:?}");
    log.push((what.to_string(), o));
}

fn check(outcomes: &[(String, Outcome)], forbidden: &[String]) {
    for (what, o) in outcomes {
        for secret in forbidden {
            assert!(
                !o.stdout.contains(secret.as_str()) && !o.stderr.contains(secret.as_str()),
                "{what} printed a secret ({secret:?}): {o:?}"
            );
        }
    }
}

#[test]
fn no_password_or_token_is_ever_printed_even_with_verbose() {
    let d = Dovecot::shared();
    let user = d.new_user_with_password("secrets", PASSWORD);
    d.seed(
        &user,
        [simple("s1", "one", "body\n"), simple("s2", "two", "body\n")],
    );
    let mut config = String::new();
    for (name, tls, auth) in [
        ("p-auto", "implicit", "auto"),
        ("p-user", "starttls", "user"),
        ("p-plain", "implicit", "plain"),
        ("p-login", "implicit", "login"),
        ("p-cram", "none", "cram-md5"),
        ("p-apop", "none", "apop"),
    ] {
        let extra = format!("auth = \"{auth}\"\nkeep = true\nallow-plaintext-password = true");
        config.push_str(
            &Account::pop3(d, &user)
                .name(name)
                .tls(tls)
                .target(&format!("maildir:{{dir}}/{name}"))
                .extra(&extra)
                .toml(),
        );
    }
    for (name, tls, auth) in [
        ("i-login", "implicit", "user"),
        ("i-plain", "starttls", "plain"),
        ("i-cram", "none", "cram-md5"),
    ] {
        let account = Account::imap(d, &user)
            .name(name)
            .tls(tls)
            .without("timeout")
            .set("auth", auth)
            .set("allow-plaintext-password", true);
        config.push_str(&account.target(&format!("maildir:{{dir}}/{name}")).toml());
    }
    let c = Client::new(&config);
    let mut outcomes = Vec::new();
    run(&mut outcomes, "pull", &c, &["pull", "--verbose"], 0);
    run(
        &mut outcomes,
        "pull --json",
        &c,
        &["pull", "--verbose", "--json", "--all"],
        0,
    );
    run(&mut outcomes, "check", &c, &["check", "--verbose"], 0);
    run(
        &mut outcomes,
        "folders",
        &c,
        &["folders", "i-plain", "--verbose"],
        0,
    );
    run(&mut outcomes, "accounts", &c, &["accounts", "--verbose"], 0);
    run(
        &mut outcomes,
        "accounts --json",
        &c,
        &["accounts", "--json"],
        0,
    );
    run(
        &mut outcomes,
        "certinfo",
        &c,
        &["certinfo", "p-user", "--verbose"],
        0,
    );
    // Refused logins, every method.
    let bad = Client::new(&config.replace(PASSWORD, WRONG));
    run(
        &mut outcomes,
        "wrong password",
        &bad,
        &["pull", "--verbose"],
        77,
    );
    run(
        &mut outcomes,
        "wrong password --json",
        &bad,
        &["pull", "--json", "p-auto", "i-login"],
        77,
    );
    run(
        &mut outcomes,
        "wrong password folders",
        &bad,
        &["folders", "i-login", "--verbose"],
        77,
    );
    let refused = &outcomes.last().unwrap().1;
    assert!(
        refused.stderr.contains("check user and password"),
        "IMAP gets the hint too: {refused:?}"
    );

    // OAuth2: authorization, pulls over POP3 (fake server) and IMAP (proxy to Dovecot), a
    // refused access token renewed, and a revoked refresh token.
    let provider = Arc::new(FakeOAuth::start());
    let server = FakePop3::start(
        vec![Mail::new("o1", b"Subject: o\n\nbody\n")],
        Script {
            bearer: Some(Bearer {
                mechanisms: vec!["XOAUTH2", "OAUTHBEARER"],
                accept: provider.checker(),
            }),
            ..Script::default()
        },
    );
    let proxy = OAuthImap::start(
        d,
        &user,
        Setup {
            accept: provider.checker(),
            bye_once: None,
        },
    );
    let keys = provider.account_keys() + &format!("oauth2-client-secret = \"{CLIENT_SECRET}\"\n");
    let bearer = |name: &str, protocol: &str, port: u16| {
        Account::fake(protocol, port)
            .name(name)
            .set("user", user.name.as_str())
            .without("password")
            .without("timeout")
            .target(&format!("maildir:{{dir}}/{name}"))
            .extra(&keys)
    };
    let oauth = Client::new(&format!(
        "{}\n{}",
        bearer("op", "pop3", server.port()),
        bearer("oi", "imap", proxy.port())
    ));
    outcomes.push((
        "auth op".into(),
        authorize(&oauth, &provider, "op", &["--verbose"]),
    ));
    outcomes.push((
        "auth oi".into(),
        authorize(&oauth, &provider, "oi", &["--verbose"]),
    ));
    run(
        &mut outcomes,
        "oauth pull",
        &oauth,
        &["pull", "--verbose"],
        0,
    );
    for token in provider.issued_tokens() {
        provider.revoke_access_token(&token);
    }
    run(
        &mut outcomes,
        "oauth renewed",
        &oauth,
        &["pull", "--verbose", "--all"],
        0,
    );
    for token in provider.issued_tokens() {
        provider.revoke_access_token(&token);
    }
    provider.revoke_refresh_tokens();
    run(
        &mut outcomes,
        "oauth revoked",
        &oauth,
        &["pull", "--verbose", "--json"],
        77,
    );
    assert!(proxy.logins().iter().any(|l| l.accepted));
    assert!(server.bearer_logins().iter().any(|l| l.accepted));

    let mut secrets = vec![
        PASSWORD.to_string(),
        WRONG.to_string(),
        CLIENT_SECRET.to_string(),
    ];
    secrets.extend(provider.issued_tokens());
    assert!(secrets.len() > 6, "tokens were issued: {secrets:?}");
    // The authorization codes are secrets too (they are in the fake provider's log).
    secrets.extend(
        provider
            .grants("authorization_code")
            .iter()
            .map(|r| r.form["code_verifier"].clone()),
    );
    check(&outcomes, &forbidden(&user.name, &secrets));
}
