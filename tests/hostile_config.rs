//! A config or DNS answer that would send a secret somewhere else: each attack is replayed
//! against the real binary, which must refuse it with its exit code and one line, and send
//! nothing (a listener standing where the secret would have gone sees no connection). And
//! the children mailfetch starts (MDA, password and token commands) must not inherit any
//! account's password from the environment; a config someone else could have written is
//! not obeyed, and a TOML error never shows a password.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;
use support::client::Client;
use support::fake_dns::fake_dns;
use support::fake_pop3::{Bearer, FakePop3, Mail, Script};
use support::listen::serve_on;

const CLIENT_SECRET: &str = "GOCSPX-client-s3cret-never-sent";

/// A listener on `ip` that reports every byte sent to it (one message per connection).
fn trap(ip: &str) -> (u16, mpsc::Receiver<Vec<u8>>) {
    let (tx, rx) = mpsc::channel();
    let port = serve_on(ip, move |mut stream| {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut got = Vec::new();
        let _ = stream.read_to_end(&mut got);
        let _ = tx.send(got);
    });
    (port, rx)
}

#[test]
fn oauth2_url_with_a_loopback_user_name_before_another_host_is_refused_unsent() {
    // 127.0.0.1:@127.0.0.2 starts like a loopback URL; its host is 127.0.0.2 (here a
    // stand-in for any host: the user name "127.0.0.1" hid it from a prefix check).
    let (port, sent) = trap("127.0.0.2");
    let url = format!("http://127.0.0.1:@127.0.0.2:{port}/token");
    let c = Client::new(&format!(
        "[accounts.t]\nprofile = \"custom\"\nprotocol = \"imap\"\nhost = \"localhost\"\n\
         user = \"alice\"\ntarget = \"maildir:{{dir}}/M\"\nauth = \"oauth2\"\n\
         oauth2-client-id = \"cid\"\noauth2-client-secret = \"{CLIENT_SECRET}\"\n\
         oauth2-auth-url = \"https://login.example.com/auth\"\n\
         oauth2-token-url = \"{url}\"\noauth2-device-url = \"{url}\"\n\
         oauth2-scope = \"mail\"\n"
    ));
    // The device flow posts the client secret to the device URL first thing.
    let out = c.run(&["auth", "t", "--device", "--wait", "1"]);
    assert_eq!(out.code, 78, "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(
        lines[0].contains("config.toml:")
            && lines[0].contains("oauth2-token-url")
            && lines[0].contains("user name or password"),
        "{out:?}"
    );
    assert!(!out.stderr.contains(CLIENT_SECRET), "{out:?}");
    assert!(
        sent.recv_timeout(Duration::from_millis(500)).is_err(),
        "something was sent to the other host"
    );
}

/// A client with no config file yet.
fn empty_client() -> Client {
    let c = Client::new("");
    std::fs::remove_file(c.config()).unwrap();
    c
}

#[test]
fn srv_answer_naming_a_host_outside_the_domain_is_refused_without_a_terminal() {
    // A forged answer for example.test names localhost, where the trap waits for the login
    // test (and the password it would send).
    let (port, sent) = trap("127.0.0.1");
    let resolver = fake_dns("_imaps._tcp.example.test", "localhost", port);
    let c = empty_client();
    let target = format!("maildir:{}", c.path("M").display());
    let out = c
        .command(&[])
        .args([
            "init",
            "--address",
            "someone@example.test",
            "--protocol",
            "imap",
            "--srv",
            "--user",
            "someone",
            "--password-env",
            "MF_SRV_PW",
            "--target",
            &target,
        ])
        .env("MF_SRV_PW", "pw-for-example-test-only")
        .env("MAILFETCH_RESOLVER", resolver.to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.contains("names host localhost for example.test, outside that domain")
            && last.contains("--host localhost"),
        "{stderr}"
    );
    assert!(!c.config().exists(), "nothing is written");
    assert!(
        sent.recv_timeout(Duration::from_millis(500)).is_err(),
        "the login test went to the host the DNS named"
    );
}

/// `mailfetch ARGS` at a pseudo-terminal (script(1)) fed `answers`: exit status and screen.
fn at_terminal(c: &Client, args: &str, env: (&str, &str), answers: &str) -> (bool, String) {
    let command = format!(
        "{} --config {} --state-dir {} {args}",
        env!("CARGO_BIN_EXE_mailfetch"),
        c.config().display(),
        c.state_dir().display(),
    );
    let mut child = std::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env(env.0, env.1)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(answers.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn srv_answer_naming_a_host_outside_the_domain_is_used_only_after_a_yes() {
    let resolver = fake_dns("_imaps._tcp.example.test", "mail.elsewhere.test", 993);
    let args = |c: &Client| {
        format!(
            "init --address someone@example.test --profile custom --protocol imap --srv \
             --account a --user someone --password-env X --no-test --target maildir:{}/M",
            c.dir.path().display()
        )
    };
    let env = ("MAILFETCH_RESOLVER", resolver.to_string());
    // The question, then host, TLS and port left at their defaults.
    let c = empty_client();
    let (ok, screen) = at_terminal(&c, &args(&c), (env.0, &env.1), "n\n\n\n\n");
    assert!(ok, "{screen}");
    assert!(
        screen.contains(
            "The DNS names host mail.elsewhere.test for example.test, outside that domain; use it?"
        ),
        "{screen}"
    );
    let written = std::fs::read_to_string(c.config()).unwrap();
    assert!(
        written.contains("host = \"imap.example.test\""),
        "{written}"
    );

    let c = empty_client();
    let (ok, screen) = at_terminal(&c, &args(&c), (env.0, &env.1), "y\n\n\n\n");
    assert!(ok, "{screen}");
    let written = std::fs::read_to_string(c.config()).unwrap();
    assert!(
        written.contains("host = \"mail.elsewhere.test\"") && written.contains("port = 993"),
        "{written}"
    );
}

#[test]
fn children_do_not_inherit_any_accounts_password_env() {
    let mails = || vec![Mail::new("u1", b"Subject: x\n\nbody\n")];
    let plain = FakePop3::start(mails(), Script::default());
    let bearer = FakePop3::start(
        mails(),
        Script {
            bearer: Some(Bearer {
                mechanisms: vec!["XOAUTH2"],
                accept: std::sync::Arc::new(|_, token| token == "tok"),
            }),
            ..Script::default()
        },
    );
    let server = |name: &str, port: u16| {
        format!(
            "[accounts.{name}]\nprofile = \"custom\"\nprotocol = \"pop3\"\n\
             host = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\
             allow-plaintext-password = true\nuser = \"alice\"\ntimeout = 5\n"
        )
    };
    // Each child writes its environment to a file: a password command and an MDA of
    // account a, a token command of account t; b and c hold their passwords in variables.
    let c = Client::new(&format!(
        "{a}password-command = \"env > {{dir}}/password-command.env; echo pw\"\n\
         target = \"mda:env > {{dir}}/mda.env; cat > /dev/null\"\n\n\
         {t}auth = \"oauth2\"\n\
         oauth2-token-command = \"env > {{dir}}/token-command.env; echo tok\"\n\
         target = \"maildir:{{dir}}/T\"\n\n\
         {b}password-env = \"MF_B_SECRET\"\ntarget = \"maildir:{{dir}}/B\"\n\n\
         {cc}password-env = \"MF_C_SECRET\"\ntarget = \"maildir:{{dir}}/C\"\n",
        a = server("a", plain.port()),
        t = server("t", bearer.port()),
        b = server("b", 9),
        cc = server("c", 9),
    ));
    let out = c
        .command(&["pull", "a", "t"])
        .env("MF_B_SECRET", "b-secret-in-env-4711")
        .env("MF_C_SECRET", "c-secret-in-env-0815")
        .env("MF_HARMLESS", "still-here")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for child in ["password-command", "mda", "token-command"] {
        let env = std::fs::read_to_string(c.path(&format!("{child}.env")))
            .unwrap_or_else(|e| panic!("{child} did not run: {e}"));
        assert!(env.contains("MF_HARMLESS=still-here"), "{child}: {env}");
        for secret in ["MF_B_SECRET", "b-secret", "MF_C_SECRET", "c-secret"] {
            assert!(!env.contains(secret), "{child} saw {secret}: {env}");
        }
    }
}

/// A config for a fake POP3 server whose password command would leave a mark: run, it
/// creates `pwned` in the test's directory.
fn marking_config(server: &FakePop3) -> Client {
    Client::new(&format!(
        "[accounts.a]\nprofile = \"custom\"\nprotocol = \"pop3\"\nhost = \"127.0.0.1\"\n\
         port = {}\ntls = \"none\"\nallow-plaintext-password = true\nuser = \"alice\"\n\
         timeout = 5\npassword-command = \"touch {{dir}}/pwned; echo pw\"\n\
         target = \"maildir:{{dir}}/M\"\n",
        server.port()
    ))
}

#[test]
fn config_writable_by_group_or_others_is_refused_with_77_and_nothing_runs() {
    let server = FakePop3::start(
        vec![Mail::new("u1", b"Subject: x\n\nb\n")],
        Script::default(),
    );
    for mode in [0o620, 0o602, 0o666] {
        let c = marking_config(&server);
        std::fs::set_permissions(c.config(), std::fs::Permissions::from_mode(mode)).unwrap();
        let out = c.run(&["pull"]);
        assert_eq!(out.code, 77, "{mode:o}: {out:?}");
        let config = c.config().display().to_string();
        assert_eq!(
            out.stderr.trim_end(),
            format!("mailfetch: config {config} is writable by group/others (chmod go-w {config})"),
            "{mode:o}"
        );
        assert!(!c.path("pwned").exists(), "{mode:o}: the command ran");
    }
    assert_eq!(server.sessions(), 0, "the server was contacted");
}

#[test]
fn config_owned_by_another_user_is_refused_with_77_and_nothing_runs() {
    let server = FakePop3::start(
        vec![Mail::new("u1", b"Subject: x\n\nb\n")],
        Script::default(),
    );
    let c = marking_config(&server);
    // Only root can give a file away; the other user here is nobody (65534).
    if std::os::unix::fs::chown(c.config(), Some(65534), None).is_err() {
        eprintln!("skipped: giving the config to another user needs root");
        return;
    }
    let out = c.run(&["pull"]);
    assert_eq!(out.code, 77, "{out:?}");
    assert_eq!(
        out.stderr.trim_end(),
        format!(
            "mailfetch: config {} is owned by uid 65534, not you",
            c.config().display()
        )
    );
    assert!(!c.path("pwned").exists(), "the command ran");
    assert_eq!(server.sessions(), 0, "the server was contacted");
}

#[test]
fn toml_error_on_a_password_line_does_not_echo_the_password() {
    let c = Client::new(
        "[accounts.a]\nprofile = \"gmail\"\nuser = \"u\"\npassword = 98765432101\n\
         target = \"maildir:{dir}/M\"\n",
    );
    let out = c.run(&["check"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(out.stderr.contains("config.toml:4:12: password"), "{out:?}");
    assert!(
        !out.stdout.contains("98765432101") && !out.stderr.contains("98765432101"),
        "{out:?}"
    );
}
