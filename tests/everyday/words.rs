//! A user's mistakes answered in the user's words (issue 16): the exact line and exit code
//! for TLS on a plain-text port and the converse, a misspelt key, an unquoted host, a first
//! run without a config; and fetchmail's and mpop's short flags.

use crate::support::account::Account;
use crate::support::client::{maildir_messages, Client};
use crate::support::dovecot::Dovecot;

/// The one error line of a failed run, and its exit code.
fn failure(c: &Client, args: &[&str]) -> (i32, String) {
    let out = c.run(args);
    (out.code, out.stderr.trim_end().to_string())
}

#[test]
fn implicit_tls_on_the_plain_pop3_and_imap_ports_is_named_with_the_setting_to_use() {
    let d = Dovecot::shared();
    let user = d.new_user("words-tls");
    for (account, plain) in [
        (Account::pop3(d, &user), d.pop3()),
        (Account::imap(d, &user), d.imap()),
    ] {
        let c = Client::new(&account.port(plain).toml());
        let (code, stderr) = failure(&c, &["pull"]);
        assert_eq!(
            stderr,
            format!(
                "mailfetch: a: port {plain} does not speak TLS; did you mean tls = \"starttls\"?"
            )
        );
        assert_eq!(code, 78);
    }
}

#[test]
fn starttls_on_the_implicit_tls_port_says_the_port_may_expect_tls_at_once() {
    let d = Dovecot::shared();
    let user = d.new_user("words-stls");
    let account = Account::pop3(d, &user).tls("starttls").port(d.pop3s());
    let c = Client::new(&account.timeout(2).toml());
    let (code, stderr) = failure(&c, &["pull"]);
    assert!(
        stderr.starts_with("mailfetch: a: ")
            && stderr.ends_with(&format!(
                "no greeting; port {} may expect TLS from the first byte (as 993 and 995 do): \
                 did you mean tls = \"implicit\"?",
                d.pop3s()
            )),
        "{stderr}"
    );
    assert_eq!(code, 75);
}

#[test]
fn a_misspelt_key_is_named_with_the_key_it_is_closest_to() {
    let c = Client::new(
        "[accounts.a]\nprofile = \"gmail\"\nuser = \"me@gmail.com\"\n\
         pasword-command = \"pass show mail\"\ntarget = \"maildir:{dir}/M\"\n",
    );
    let (code, stderr) = failure(&c, &["pull"]);
    assert_eq!(
        stderr,
        format!(
            "mailfetch: {}:4:1: unknown key `pasword-command`; did you mean `password-command`?",
            c.config().display()
        )
    );
    assert_eq!(code, 78);
}

#[test]
fn an_unquoted_host_is_told_what_to_write() {
    let c = Client::new(
        "[accounts.a]\nprofile = \"custom\"\nprotocol = \"pop3\"\nhost = 127.0.0.1\n\
         user = \"me\"\npassword-command = \"true\"\ntarget = \"maildir:{dir}/M\"\n",
    );
    let (code, stderr) = failure(&c, &["pull"]);
    assert!(
        stderr.starts_with(&format!("mailfetch: {}:4:", c.config().display()))
            && stderr.ends_with("text goes in quotes: host = \"127.0.0.1\""),
        "{stderr}"
    );
    assert_eq!(code, 78);
}

#[test]
fn a_first_run_without_a_config_names_mailfetch_init() {
    let c = Client::new("");
    std::fs::remove_file(c.config()).unwrap();
    let (code, stderr) = failure(&c, &["pull"]);
    assert!(
        stderr.starts_with(&format!(
            "mailfetch: cannot read config {}: ",
            c.config().display()
        )) && stderr.ends_with(
            "; run `mailfetch init` to create one (or write it by hand, see man \
                 mailfetch), or pass --config FILE"
        ),
        "{stderr}"
    );
    assert_eq!(code, 78);
}

#[test]
fn fetchmail_short_flags_k_keep_a_fetch_all_again_and_k_upper_delete() {
    let d = Dovecot::shared();
    let user = d.new_user("words-flags");
    let messages: Vec<Vec<u8>> = (1..=3)
        .map(|i| {
            crate::dated(
                &format!("flags-{i}"),
                "Mon, 02 Jan 2023 10:00:00 +0000",
                300,
            )
        })
        .collect();
    d.seed(&user, &messages);
    let c = Client::new(&Account::pop3(d, &user).keep(false).toml());
    let maildir = c.path("M");
    c.ok(&["pull", "-k"]);
    assert_eq!(maildir_messages(&maildir).len(), 3);
    assert_eq!(d.count(&user, "INBOX"), 3, "-k keeps");
    c.ok(&["pull", "-k", "-a"]);
    assert_eq!(maildir_messages(&maildir).len(), 6, "-a fetches them again");
    assert_eq!(d.count(&user, "INBOX"), 3);
    let out = c.ok(&["pull", "-K"]);
    assert!(out.stdout.contains("a: no new mail, 3 deleted"), "{out:?}");
    assert_eq!(d.count(&user, "INBOX"), 0, "-K deletes what was delivered");
    // One phrase for nothing new, in pull and check alike.
    assert_eq!(c.ok(&["check"]).stdout, "a: no new mail\n");
    assert_eq!(c.ok(&["pull"]).stdout, "a: no new mail\n");
}
