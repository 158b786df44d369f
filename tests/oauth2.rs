//! OAuth2 end to end: `mailfetch auth` (authorization code with PKCE through a loopback
//! redirect, and the device flow) against a fake provider on loopback
//! (tests/support/fake_oauth.rs), then pulls whose logins send the access token with
//! OAUTHBEARER or XOAUTH2, renewed before expiry, after a refusal, and at an IMAP reconnect;
//! a revoked refresh token is exit 77 saying what to run.
//!
//! The SASL payloads are taken apart and judged by the servers: the fake POP3 server
//! (tests/support/fake_pop3.rs, behind a TLS front) and, for IMAP, an OAuth2-terminating
//! proxy in front of the real Dovecot (tests/support/oauth_imap.rs, whose module doc says
//! why not Dovecot's oauth2 passdb).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use support::account::Account;
use support::client::{maildir_messages, Client};
use support::corpus::simple;
use support::dovecot::Dovecot;
use support::fake_oauth::{authorize, FakeOAuth};
use support::fake_pop3::{Bearer, FakePop3, Mail, Script};
use support::oauth_imap::{OAuthImap, Setup};
use support::tls::{ServerCert, TlsFront};

/// A fake POP3 server taking bearer tokens (judged by `provider`) with `mechanisms`, behind
/// a TLS front, and an account `t` for it with `keys`.
struct Pop3Fixture {
    server: FakePop3,
    _front: TlsFront,
    _cert: ServerCert,
    client: Client,
}

fn pop3_fixture(provider: &FakeOAuth, mechanisms: &[&'static str], keys: &str) -> Pop3Fixture {
    let mails: Vec<Mail> = (1..=3)
        .map(|i| {
            Mail::new(
                &format!("u{i}"),
                format!("Subject: m{i}\n\nbody {i}\n").as_bytes(),
            )
        })
        .collect();
    let server = FakePop3::start(
        mails,
        Script {
            bearer: Some(Bearer {
                mechanisms: mechanisms.to_vec(),
                accept: provider.checker(),
            }),
            ..Script::default()
        },
    );
    let cert = ServerCert::issued_for(&["localhost"]);
    let front = TlsFront::start(&cert, server.port());
    let account = bearer("pop3", front.port())
        .name("t")
        .set("host", "localhost")
        .tls("implicit")
        .without("allow-plaintext-password")
        .set("ca-file", cert.ca_file().display().to_string());
    let client = Client::new(&account.extra(keys).toml());
    Pop3Fixture {
        server,
        _front: front,
        _cert: cert,
        client,
    }
}

#[test]
fn auth_runs_the_pkce_code_flow_and_keeps_the_refresh_token_0600() {
    let provider = FakeOAuth::start();
    let fx = pop3_fixture(
        &provider,
        &["XOAUTH2", "OAUTHBEARER"],
        &provider.account_keys(),
    );
    let out = authorize(&fx.client, &provider, "t", &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("t: authorized"), "{out:?}");
    let file = fx.client.state_dir().join("t.oauth2");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("1//fake-refresh-0001"));
    let exchange = provider.grants("authorization_code");
    assert_eq!(exchange.len(), 1);
    let verifier = &exchange[0].form["code_verifier"];
    assert!(verifier.len() >= 43, "{verifier}");
    assert!(!exchange[0].form.contains_key("client_secret"));
    // The stored, fresh access token is used as it is: no refresh.
    let out = fx.client.ok(&["pull"]);
    assert!(out.stdout.contains("t: 3 new messages"), "{out:?}");
    assert_eq!(maildir_messages(&fx.client.path("M")).len(), 3);
    assert!(provider.grants("refresh_token").is_empty());
    let logins = fx.server.bearer_logins();
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(
        logins[0].mechanism, "OAUTHBEARER",
        "the standard one is preferred"
    );
    assert!(logins[0].initial_response && logins[0].accepted);
    assert_eq!(logins[0].user, "alice");
    assert_eq!(logins[0].token, "ya29.fake-access-0001-c0ffee");
}

#[test]
fn xoauth2_is_used_when_the_server_offers_only_it() {
    let provider = FakeOAuth::start();
    let fx = pop3_fixture(&provider, &["XOAUTH2"], &provider.account_keys());
    assert_eq!(authorize(&fx.client, &provider, "t", &[]).code, 0);
    fx.client.ok(&["pull"]);
    let logins = fx.server.bearer_logins();
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].mechanism, "XOAUTH2");
    assert!(logins[0].accepted);
}

#[test]
fn access_token_near_expiry_is_renewed_before_login() {
    let provider = FakeOAuth::start();
    provider.set_lifetime(60);
    let fx = pop3_fixture(&provider, &["OAUTHBEARER"], &provider.account_keys());
    assert_eq!(authorize(&fx.client, &provider, "t", &[]).code, 0);
    fx.client.ok(&["pull"]);
    let refreshes = provider.grants("refresh_token");
    assert_eq!(refreshes.len(), 1);
    assert_eq!(
        refreshes[0].form["refresh_token"],
        "1//fake-refresh-0001-5ecret"
    );
    let logins = fx.server.bearer_logins();
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].token, "ya29.fake-access-0002-c0ffee");
}

#[test]
fn token_refused_by_the_server_is_renewed_once_and_retried() {
    let provider = FakeOAuth::start();
    let fx = pop3_fixture(&provider, &["OAUTHBEARER"], &provider.account_keys());
    assert_eq!(authorize(&fx.client, &provider, "t", &[]).code, 0);
    provider.revoke_access_token("ya29.fake-access-0001-c0ffee");
    let out = fx.client.ok(&["pull"]);
    assert!(out.stdout.contains("t: 3 new messages"), "{out:?}");
    let logins = fx.server.bearer_logins();
    let seen: Vec<(&str, bool)> = logins
        .iter()
        .map(|l| (l.token.as_str(), l.accepted))
        .collect();
    assert_eq!(
        seen,
        [
            ("ya29.fake-access-0001-c0ffee", false),
            ("ya29.fake-access-0002-c0ffee", true)
        ]
    );
    assert_eq!(fx.server.sessions(), 2);
}

#[test]
fn revoked_refresh_token_is_exit_77_and_says_to_authorize_again() {
    let provider = FakeOAuth::start();
    let fx = pop3_fixture(&provider, &["OAUTHBEARER"], &provider.account_keys());
    assert_eq!(authorize(&fx.client, &provider, "t", &[]).code, 0);
    provider.revoke_refresh_tokens();
    // The access token is still good: nothing needs the refresh token yet.
    fx.client.ok(&["pull"]);
    // Refused by the server, and the refresh token revoked: 77, with what to run.
    provider.revoke_access_token("ya29.fake-access-0001-c0ffee");
    let out = fx.client.run(&["pull"]);
    assert_eq!(out.code, 77, "{out:?}");
    assert!(out.stderr.contains("revoked"), "{out:?}");
    assert!(out.stderr.contains("mailfetch auth t"), "{out:?}");
    assert_eq!(out.stderr.matches("mailfetch auth t").count(), 1, "{out:?}");
    // The same when the access token has expired and must be renewed before a login.
    provider.set_lifetime(1);
    assert_eq!(authorize(&fx.client, &provider, "t", &[]).code, 0);
    provider.revoke_refresh_tokens();
    let out = fx.client.run(&["pull"]);
    assert_eq!(out.code, 77, "{out:?}");
    assert!(out.stderr.contains("mailfetch auth t"), "{out:?}");
}

#[test]
fn rotated_refresh_token_replaces_the_stored_one() {
    let provider = FakeOAuth::start();
    provider.rotate_refresh_tokens();
    provider.set_lifetime(60);
    let fx = pop3_fixture(&provider, &["XOAUTH2"], &provider.account_keys());
    assert_eq!(authorize(&fx.client, &provider, "t", &[]).code, 0);
    fx.client.ok(&["pull"]);
    fx.client.ok(&["pull"]);
    let used: Vec<String> = provider
        .grants("refresh_token")
        .iter()
        .map(|r| r.form["refresh_token"].clone())
        .collect();
    assert_eq!(
        used,
        ["1//fake-refresh-0001-5ecret", "1//fake-refresh-0002-5ecret"]
    );
    let file = fx.client.state_dir().join("t.oauth2");
    assert!(std::fs::read_to_string(file)
        .unwrap()
        .contains("1//fake-refresh-0003-5ecret"));
}

#[test]
fn device_flow_shows_the_code_and_polls_until_it_is_entered() {
    let provider = FakeOAuth::start();
    provider.set_pending_polls(1);
    let fx = pop3_fixture(&provider, &["OAUTHBEARER"], &provider.account_keys());
    let out = fx.client.run(&["auth", "t", "--device"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("https://example.invalid/devicelogin")
            && out.stdout.contains("WDJB-MJHT"),
        "{out:?}"
    );
    assert_eq!(
        provider
            .grants("urn:ietf:params:oauth:grant-type:device_code")
            .len(),
        2
    );
    fx.client.ok(&["pull"]);
    assert!(fx.server.bearer_logins()[0].accepted);
}

#[test]
fn token_command_is_run_again_once_after_a_refusal() {
    let provider = FakeOAuth::start();
    let mails = vec![Mail::new("u1", b"Subject: x\n\nbody\n")];
    let server = FakePop3::start(
        mails,
        Script {
            bearer: Some(Bearer {
                mechanisms: vec!["XOAUTH2"],
                accept: Arc::new(|user, token| user == "alice" && token == "cmd-token-2"),
            }),
            ..Script::default()
        },
    );
    let c = Client::new("");
    let counter = c.path("runs");
    let runs = counter.display();
    let account = bearer("pop3", server.port())
        .name("t")
        .set("auth", "oauth2")
        .set(
            "oauth2-token-command",
            format!("echo x >> {runs}; echo cmd-token-$(wc -l < {runs})"),
        );
    c.set_config(&account.toml());
    c.ok(&["pull"]);
    let tokens: Vec<String> = server
        .bearer_logins()
        .into_iter()
        .map(|l| l.token)
        .collect();
    assert_eq!(tokens, ["cmd-token-1", "cmd-token-2"]);
    assert!(provider.requests().is_empty());
    // `mailfetch auth` has nothing to do for such an account.
    let out = c.run(&["auth", "t"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(out.stderr.contains("oauth2-token-command"), "{out:?}");
}

#[test]
fn pinned_mechanism_the_server_lacks_is_a_config_error_78() {
    let provider = FakeOAuth::start();
    let keys = "auth = \"oauthbearer\"\noauth2-token-command = \"echo t\"\n";
    let fx = pop3_fixture(&provider, &["XOAUTH2"], keys);
    let out = fx.client.run(&["pull"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(
        out.stderr.contains("does not offer it (it offers: XOAUTH2"),
        "{out:?}"
    );
    let fx = pop3_fixture(
        &provider,
        &[],
        "auth = \"oauth2\"\noauth2-token-command = \"echo t\"\n",
    );
    let out = fx.client.run(&["pull"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(
        out.stderr.contains("neither OAUTHBEARER nor XOAUTH2"),
        "{out:?}"
    );
    assert!(fx.server.bearer_logins().is_empty());
    // IMAP: Dovecot offers no bearer mechanism.
    let d = Dovecot::shared();
    let user = d.new_user("o2pin");
    let account = Account::imap(d, &user)
        .name("i")
        .without("password")
        .without("timeout")
        .target("maildir:{dir}/I")
        .set("auth", "oauth2")
        .set("oauth2-token-command", "echo t");
    let c = Client::new(&account.toml());
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(
        out.stderr
            .contains("neither AUTH=OAUTHBEARER nor AUTH=XOAUTH2"),
        "{out:?}"
    );
}

/// An IMAP account `i` reaching Dovecot through the OAuth2 proxy.
fn imap_client(proxy: &OAuthImap, user: &str, keys: &str) -> Client {
    let account = bearer("imap", proxy.port()).name("i").set("user", user);
    Client::new(
        &account
            .target("maildir:{dir}/I")
            .timeout(10)
            .extra(keys)
            .toml(),
    )
}

/// An account of alice's without a password on a fake `protocol` server at
/// 127.0.0.1:`port`, in plaintext.
fn bearer(protocol: &str, port: u16) -> Account {
    Account::fake(protocol, port)
        .set("user", "alice")
        .without("password")
}

#[test]
fn imap_uses_sasl_ir_and_an_expired_token_is_renewed_at_the_reconnect() {
    let d = Dovecot::shared();
    let user = d.new_user("o2imap");
    let mail: Vec<Vec<u8>> = (0..6)
        .map(|i| simple(&format!("o2-{i}"), "s", "b\n"))
        .collect();
    d.seed(&user, &mail);
    let provider = FakeOAuth::start();
    // Tokens live 2 s: less than mailfetch's renewal margin, and over by the time the
    // reconnect after the BYE (2 s later) logs in again.
    provider.set_lifetime(2);
    let proxy = OAuthImap::start(
        d,
        &user,
        Setup {
            accept: provider.checker(),
            bye_once: Some(Arc::new(|_| {})),
        },
    );
    let c = imap_client(&proxy, &user.name, &provider.account_keys());
    assert_eq!(authorize(&c, &provider, "i", &[]).code, 0);
    let out = c.ok(&["pull", "--verbose"]);
    assert!(proxy.said_bye(), "the proxy ended the first session");
    assert!(out.stderr.contains("reconnecting"), "{out:?}");
    assert_eq!(maildir_messages(&c.path("I")).len(), mail.len());
    let logins = proxy.logins();
    assert_eq!(logins.len(), 2, "{logins:?}");
    assert!(logins.iter().all(|l| l.accepted && l.initial_response));
    assert!(logins.iter().all(|l| l.mechanism == "OAUTHBEARER"));
    assert_ne!(
        logins[0].token, logins[1].token,
        "a fresh token at the reconnect"
    );
    assert_eq!(provider.grants("refresh_token").len(), 2);
    assert!(
        out.stderr.contains("AUTHENTICATE OAUTHBEARER <redacted>"),
        "{out:?}"
    );
}

#[test]
fn imap_token_revoked_mid_session_is_renewed_once_after_the_refusal() {
    let d = Dovecot::shared();
    let user = d.new_user("o2revoke");
    d.seed(&user, [simple("o2r", "s", "b\n")]);
    let provider = Arc::new(FakeOAuth::start());
    let revoker = provider.clone();
    let proxy = OAuthImap::start(
        d,
        &user,
        Setup {
            accept: provider.checker(),
            bye_once: Some(Arc::new(move |token| revoker.revoke_access_token(token))),
        },
    );
    let c = imap_client(&proxy, &user.name, &provider.account_keys());
    assert_eq!(authorize(&c, &provider, "i", &[]).code, 0);
    c.ok(&["pull"]);
    assert_eq!(maildir_messages(&c.path("I")).len(), 1);
    let seen: Vec<(String, bool)> = proxy
        .logins()
        .into_iter()
        .map(|l| (l.token, l.accepted))
        .collect();
    assert_eq!(
        seen,
        [
            ("ya29.fake-access-0001-c0ffee".to_string(), true),
            ("ya29.fake-access-0001-c0ffee".to_string(), false),
            ("ya29.fake-access-0002-c0ffee".to_string(), true),
        ]
    );
}

#[test]
fn a_long_token_follows_the_pop3_auth_command_instead_of_riding_on_it() {
    // RFC 5034: the AUTH line stays within 255 octets, and Microsoft's tokens are longer.
    let long = format!("eyJ0eXAi{}", "x".repeat(1500));
    let expected = long.clone();
    let server = FakePop3::start(
        vec![Mail::new("u1", b"Subject: x\n\nbody\n")],
        Script {
            bearer: Some(Bearer {
                mechanisms: vec!["XOAUTH2"],
                accept: Arc::new(move |_, token| token == expected),
            }),
            ..Script::default()
        },
    );
    let account = bearer("pop3", server.port())
        .name("t")
        .set("auth", "oauth2")
        .set("oauth2-token-command", format!("echo {long}"));
    let c = Client::new(&account.toml());
    let out = c.ok(&["pull", "--verbose"]);
    let logins = server.bearer_logins();
    assert_eq!(logins.len(), 1);
    assert!(
        logins[0].accepted && !logins[0].initial_response,
        "{logins:?}"
    );
    assert!(server.all_commands().contains(&"AUTH XOAUTH2".to_string()));
    assert!(!out.stderr.contains(&long), "{out:?}");
}
