//! `mailfetch init`: scripted with flags, and once interactively through a pseudo-terminal.

use crate::support::client::{maildir_messages, Client};
use crate::support::corpus::simple;
use crate::support::dovecot::Dovecot;
use crate::support::fake_dns::fake_dns;
use crate::support::fake_oauth::{FakeOAuth, CLIENT_ID};
use crate::support::fake_pop3::{Bearer, FakePop3, Mail, Script};
use crate::support::tls::{ServerCert, TlsFront};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

/// A client with no config file yet.
fn empty_client() -> Client {
    let c = Client::new("");
    std::fs::remove_file(c.config()).unwrap();
    c
}

#[test]
fn init_with_flags_tests_the_login_writes_a_private_config_and_never_overwrites() {
    let d = Dovecot::shared();
    let user = d.new_user("init");
    d.seed(&user, [simple("init-1", "s", "b\n")]);
    let c = empty_client();
    let port = d.pop3s().to_string();
    let ca = d.ca_file().display().to_string();
    let target = format!("maildir:{}", c.path("M").display());
    let args = |extra: &[&str]| {
        let mut a = vec![
            "init",
            "--address",
            "someone@localhost",
            "--profile",
            "custom",
            "--protocol",
            "pop3",
            "--host",
            "localhost",
            "--port",
            &port,
            "--tls",
            "implicit",
            "--ca-file",
            &ca,
            "--user",
            &user.name,
            "--password-env",
            "MF_INIT_PW",
            "--target",
            &target,
            "--account",
            "work",
        ];
        // A flag in `extra` replaces the same flag above.
        for pair in extra.chunks(2) {
            if let Some(at) = a.iter().position(|f| *f == pair[0]) {
                a.drain(at..at + 2);
            }
        }
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |extra: &[&str], pw: &str| {
        let out = c
            .command(&[])
            .args(args(extra))
            .env("MF_INIT_PW", pw)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, text) = run(&[], "wrong");
    assert_eq!(code, 77, "the login is tried first: {text}");
    assert!(!c.config().exists(), "nothing written after a failed login");

    let (code, text) = run(&[], &user.password);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("account work added to") && text.contains("login to localhost"),
        "{text}"
    );
    let mode = std::fs::metadata(c.config()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let written = std::fs::read_to_string(c.config()).unwrap();
    assert!(
        written.contains("password-env = \"MF_INIT_PW\""),
        "{written}"
    );
    let out = c
        .command(&["pull"])
        .env("MF_INIT_PW", &user.password)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(maildir_messages(&c.path("M")).len(), 1);

    let (code, text) = run(&["--target", "mbox:/elsewhere"], &user.password);
    assert_eq!(code, 64, "an existing account is not replaced: {text}");
    assert!(text.contains("--force"), "{text}");
    assert_eq!(std::fs::read_to_string(c.config()).unwrap(), written);
    let (code, text) = run(&["--account", "other", "--force", "--no-test"], "");
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(&["--user", "changed", "--force", "--no-test"], "");
    assert_eq!(code, 0, "{text}");
    let after = std::fs::read_to_string(c.config()).unwrap();
    assert_eq!(after.matches("[accounts.work]").count(), 1, "{after}");
    assert!(
        after.contains("[accounts.other]") && after.contains("user = \"changed\""),
        "{after}"
    );

    let out = empty_client().run(&["init", "--no-test"]);
    assert_eq!(out.code, 64, "no address and no terminal: {out:?}");
    assert!(out.stderr.contains("--address"), "{out:?}");
}

/// Run `mailfetch init EXTRA...` for `c` in a pseudo-terminal (script(1)), typing `answers`
/// (one per line), with `env`; the exit code and the screen. An answer `@TEXT` types nothing
/// but waits until the screen shows TEXT once more (a password prompt reads the terminal
/// raw, so what is typed before it appears would be lost).
fn init_at_a_terminal(
    c: &Client,
    extra: &str,
    answers: &[String],
    env: &[(&str, &str)],
) -> (i32, String) {
    let command = format!(
        "{} --config {} --state-dir {} init {extra}",
        env!("CARGO_BIN_EXE_mailfetch"),
        c.config().display(),
        c.state_dir().display(),
    );
    let mut child = std::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    let screen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let shown = screen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = std::io::Read::read(&mut stdout, &mut buf) {
            shown
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut waited: std::collections::HashMap<&str, usize> = Default::default();
    for answer in answers {
        if let Some(text) = answer.strip_prefix('@') {
            let n = waited.entry(text).or_default();
            *n += 1;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while screen.lock().unwrap().matches(text).count() < *n {
                let now = screen.lock().unwrap().clone();
                assert!(
                    std::time::Instant::now() < deadline,
                    "no {text:?} on the screen: {now}"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            continue;
        }
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
    }
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let screen = screen.lock().unwrap().clone();
    (status.code().unwrap_or(-1), screen)
}

/// The answers up to the server's port for `user@localhost` on IMAP at `host`:`port`.
fn server_answers(user: &str, host: &str, port: u16) -> Vec<String> {
    // Address, profile (custom, guessed), protocol, no DNS lookup, host, TLS, port.
    [
        &format!("{user}@localhost"),
        "",
        "imap",
        "n",
        host,
        "",
        &port.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The answers after the server: account name, login name, the password from `MF_PW`, target.
fn account_answers(c: &Client, user: &str) -> Vec<String> {
    [
        "home".to_string(),
        user.to_string(),
        "env".to_string(),
        "MF_PW".to_string(),
        format!("maildir:{}", c.path("M").display()),
    ]
    .to_vec()
}

#[test]
fn init_shows_an_untrusted_certificate_pins_it_and_pull_works_with_the_pin() {
    let d = Dovecot::shared();
    let user = d.new_user("initpin");
    d.seed(&user, [simple("pin-1", "s", "b\n")]);
    let c = empty_client();
    let mut answers = server_answers(&user.name, "localhost", d.imaps());
    answers.push("pin".into());
    answers.extend(account_answers(&c, &user.name));
    let (code, screen) = init_at_a_terminal(&c, "", &answers, &[("MF_PW", &user.password)]);
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("found localhost:")
            && screen.contains("  certificate: ")
            && screen.contains("  expires:"),
        "what was found is shown: {screen}"
    );
    assert!(screen.contains("trusted:     NO"), "{screen}");
    assert!(
        screen.contains("trust this certificate (pin sha256:"),
        "{screen}"
    );
    assert!(
        screen.find("trust this certificate") < screen.find("Login name"),
        "the certificate comes before the login: {screen}"
    );
    assert!(screen.contains("account home added to"), "{screen}");
    let written = std::fs::read_to_string(c.config()).unwrap();
    assert!(written.contains("tls-fingerprint = \"sha256:"), "{written}");
    assert!(!written.contains("ca-file"), "{written}");
    let out = c
        .command(&["pull"])
        .env("MF_PW", &user.password)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(maildir_messages(&c.path("M")).len(), 1);
}

#[test]
fn init_without_a_terminal_refuses_an_untrusted_certificate_and_names_the_pin_flag() {
    let d = Dovecot::shared();
    let c = empty_client();
    let port = d.imaps().to_string();
    let out = c.run(&[
        "init",
        "--address",
        "x@localhost",
        "--protocol",
        "imap",
        "--host",
        "localhost",
        "--port",
        &port,
        "--password-env",
        "NONE",
        "--target",
        "maildir:/nonexistent",
    ]);
    assert_eq!(out.code, 69, "{out:?}");
    assert!(
        out.stderr.contains("is not trusted") && out.stderr.contains("--tls-fingerprint sha256:"),
        "{out:?}"
    );
    assert!(!c.config().exists());
}

#[test]
fn init_keeps_the_answers_after_a_wrong_password_and_retries_and_warns_about_cron() {
    let d = Dovecot::shared();
    let user = d.new_user("initretry");
    let c = empty_client();
    let mut answers = server_answers(&user.name, "localhost", d.imaps());
    answers.extend([
        "home".to_string(),
        user.name.clone(),
        "ask".to_string(),
        format!("maildir:{}", c.path("M").display()),
        "@Password for".to_string(),
        "wrong-password".to_string(),
        "@What now".to_string(),
        "retry".to_string(),
        "@Password for".to_string(),
        user.password.clone(),
    ]);
    let extra = format!("--ca-file {}", d.ca_file().display());
    let (code, screen) = init_at_a_terminal(&c, &extra, &answers, &[]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("your answers are kept"), "{screen}");
    assert!(
        screen.contains("`mailfetch pull` from cron or a systemd timer will fail"),
        "{screen}"
    );
    assert_eq!(
        screen.matches("Email address").count(),
        1,
        "asked once: {screen}"
    );
    assert_eq!(
        screen.matches("Login name").count(),
        1,
        "asked once: {screen}"
    );
    assert!(screen.contains("account home added to"), "{screen}");
    let written = std::fs::read_to_string(c.config()).unwrap();
    assert!(!written.contains("password"), "{written}");
}

#[test]
fn init_keeps_a_password_file_0600_that_works_from_cron() {
    let d = Dovecot::shared();
    let user = d.new_user("initfile");
    let c = empty_client();
    let mut answers = server_answers(&user.name, "localhost", d.imaps());
    answers.extend([
        "home".to_string(),
        user.name.clone(),
        "file".to_string(),
        String::new(),
        "@Password (kept in".to_string(),
        user.password.clone(),
        format!("maildir:{}", c.path("M").display()),
    ]);
    let extra = format!("--ca-file {}", d.ca_file().display());
    let (code, screen) = init_at_a_terminal(&c, &extra, &answers, &[]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("works from cron"), "{screen}");
    assert!(!screen.contains(&user.password), "{screen}");
    let file = c.config().parent().unwrap().join("home.password");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let written = std::fs::read_to_string(c.config()).unwrap();
    assert!(
        written.contains(&format!(
            "password-command = \"cat -- '{}'\"",
            file.display()
        )),
        "{written}"
    );
    let out = c.command(&["pull"]).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "no terminal needed: {out:?}");
}

#[test]
fn init_after_a_dns_failure_changes_only_the_host() {
    let d = Dovecot::shared();
    let user = d.new_user("initdns");
    let c = empty_client();
    let mut answers = server_answers(&user.name, "no-such-host.invalid", d.imaps());
    answers.extend([
        "change".to_string(),
        "host".to_string(),
        "localhost".to_string(),
    ]);
    answers.extend(account_answers(&c, &user.name));
    let extra = format!("--ca-file {}", d.ca_file().display());
    let (code, screen) = init_at_a_terminal(&c, &extra, &answers, &[("MF_PW", &user.password)]);
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("no-such-host.invalid") && screen.contains("your answers are kept"),
        "{screen}"
    );
    assert_eq!(
        screen.matches("Server port").count(),
        1,
        "asked once: {screen}"
    );
    assert!(screen.contains("login to localhost:"), "{screen}");
    let written = std::fs::read_to_string(c.config()).unwrap();
    assert!(written.contains("host = \"localhost\""), "{written}");
}

#[test]
fn init_saves_anyway_and_says_what_will_fail() {
    let d = Dovecot::shared();
    let user = d.new_user("initsave");
    let c = empty_client();
    let mut answers = server_answers(&user.name, "no-such-host.invalid", d.imaps());
    answers.push("save".into());
    answers.extend(account_answers(&c, &user.name));
    let (code, screen) = init_at_a_terminal(&c, "", &answers, &[]);
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("account home added to")
            && screen.contains("without a working login")
            && screen.contains("`mailfetch pull home` will fail"),
        "{screen}"
    );
    let written = std::fs::read_to_string(c.config()).unwrap();
    assert!(
        written.contains("host = \"no-such-host.invalid\""),
        "{written}"
    );
}

#[test]
fn init_with_auth_oauth2_runs_the_authorization_and_the_login_test() {
    let provider = FakeOAuth::start();
    let server = FakePop3::start(
        vec![Mail::new("u1", b"Subject: m1\n\nbody\n")],
        Script {
            bearer: Some(Bearer {
                mechanisms: vec!["OAUTHBEARER"],
                accept: provider.checker(),
            }),
            ..Script::default()
        },
    );
    let cert = ServerCert::issued_for(&["localhost"]);
    let front = TlsFront::start(&cert, server.port());
    let c = empty_client();
    let u = provider.url();
    let out = c.run(&[
        "init",
        "--address",
        "alice@localhost",
        "--profile",
        "custom",
        "--protocol",
        "pop3",
        "--host",
        "localhost",
        "--port",
        &front.port().to_string(),
        "--tls",
        "implicit",
        "--ca-file",
        &cert.ca_file().display().to_string(),
        "--user",
        "alice",
        "--account",
        "t",
        "--auth",
        "oauth2",
        "--oauth2-client-id",
        CLIENT_ID,
        "--oauth2-auth-url",
        &format!("{u}/authorize"),
        "--oauth2-token-url",
        &format!("{u}/token"),
        "--oauth2-device-url",
        &format!("{u}/device"),
        "--oauth2-scope",
        "mail offline_access",
        "--device",
        "--target",
        &format!("maildir:{}", c.path("M").display()),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let text = out.stdout.clone() + &out.stderr;
    assert!(
        text.contains("WDJB-MJHT"),
        "the device code is shown: {out:?}"
    );
    assert!(
        text.contains("account t added to") && text.contains("login to localhost"),
        "{out:?}"
    );
    let written = std::fs::read_to_string(c.config()).unwrap();
    assert!(
        written.contains("auth = \"oauth2\"")
            && written.contains(&format!("oauth2-client-id = \"{CLIENT_ID}\"")),
        "{written}"
    );
    assert!(server.bearer_logins().iter().any(|l| l.accepted));
    c.ok(&["pull"]);
    assert_eq!(maildir_messages(&c.path("M")).len(), 1);
}

#[test]
fn init_for_outlook_takes_the_oauth2_path_and_asks_no_password() {
    let c = empty_client();
    let out = c.run(&["init", "--address", "me@outlook.com", "--no-test"]);
    assert_eq!(out.code, 64, "{out:?}");
    assert!(
        out.stderr.contains("accepts only OAuth2")
            && out.stderr.contains("--oauth2-client-id is needed"),
        "the provider's note, then the missing client id: {out:?}"
    );
    assert!(!c.config().exists());
    let out = c.run(&[
        "init",
        "--address",
        "me@outlook.com",
        "--oauth2-client-id",
        "my-app",
        "--no-test",
        "--target",
        "maildir:/tmp/unused",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let written = std::fs::read_to_string(c.config()).unwrap();
    assert!(
        written.contains("profile = \"outlook\"")
            && written.contains("auth = \"oauth2\"")
            && written.contains("oauth2-client-id = \"my-app\"")
            && !written.contains("password"),
        "{written}"
    );
    assert!(
        !out.stdout.contains("from cron") && !out.stderr.contains("from cron"),
        "{out:?}"
    );
}

#[test]
fn init_without_a_terminal_or_a_password_source_says_cron_will_fail() {
    let c = empty_client();
    let out = c.run(&[
        "init",
        "--address",
        "me@example.org",
        "--no-srv",
        "--no-test",
        "--target",
        "maildir:/tmp/unused",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let text = out.stdout + &out.stderr;
    assert!(
        text.contains("`mailfetch pull` from cron or a systemd timer will fail")
            && text.contains("set password-command"),
        "{text}"
    );
}

#[test]
fn init_asks_at_a_terminal_and_guesses_the_provider() {
    let d = Dovecot::shared();
    let user = d.new_user("initpty");
    let c = empty_client();
    let command = format!(
        "{} --config {} --state-dir {} init --ca-file {}",
        env!("CARGO_BIN_EXE_mailfetch"),
        c.config().display(),
        c.state_dir().display(),
        d.ca_file().display()
    );
    // Address, profile (custom, guessed), protocol, no DNS lookup, host, TLS, port, account
    // name, login name, password source and its variable, target.
    let answers = format!(
        "{name}@mail.example\n\nimap\nn\nlocalhost\n\n{port}\nhome\n{name}\nenv\nMF_PTY_PW\n\
         maildir:{dir}/M\n",
        name = user.name,
        port = d.imaps(),
        dir = c.dir.path().display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("MF_PTY_PW", &user.password)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answers.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(screen.contains("Profile ("), "{screen}");
    assert!(screen.contains("[custom]"), "guessed: {screen}");
    assert!(
        screen.contains("Server host [imap.mail.example]"),
        "{screen}"
    );
    assert!(screen.contains("(SRV records)? (y/n)"), "{screen}");
    assert!(screen.contains("account home added to"), "{screen}");
    let written = std::fs::read_to_string(c.config()).unwrap();
    assert!(
        written.contains("[accounts.home]")
            && written.contains("protocol = \"imap\"")
            && written.contains("password-env = \"MF_PTY_PW\""),
        "{written}"
    );
}

#[test]
fn init_proposes_the_server_rfc_6186_srv_records_name() {
    let d = Dovecot::shared();
    let user = d.new_user("initsrv");
    let c = empty_client();
    // The test server's name is localhost, so the address is at localhost: a host outside
    // the address's domain would need a yes at a terminal (tests/hostile_config.rs).
    let resolver = fake_dns("_imaps._tcp.localhost", d.tls_name(), d.imaps());
    let target = format!("maildir:{}", c.path("M").display());
    let out = c
        .command(&[])
        .args([
            "init",
            "--address",
            "someone@localhost",
            "--protocol",
            "imap",
            "--srv",
            "--ca-file",
            &d.ca_file().display().to_string(),
            "--user",
            &user.name,
            "--password-env",
            "MF_SRV_PW",
            "--target",
            &target,
        ])
        .env("MF_SRV_PW", &user.password)
        .env("MAILFETCH_RESOLVER", resolver.to_string())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SRV _imaps._tcp.localhost"), "{text}");
    let written = std::fs::read_to_string(c.config()).unwrap();
    assert!(
        written.contains(&format!("host = \"{}\"", d.tls_name()))
            && written.contains(&format!("port = {}", d.imaps()))
            && written.contains("tls = \"implicit\""),
        "{written}"
    );

    // --no-srv (and a resolver that does not answer) leave the usual guess.
    let c = empty_client();
    let out = c
        .command(&[])
        .args([
            "init",
            "--address",
            "someone@example.test",
            "--protocol",
            "pop3",
            "--no-srv",
            "--no-test",
            "--target",
            &target,
        ])
        .env("MAILFETCH_RESOLVER", "127.0.0.1:9")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let written = std::fs::read_to_string(c.config()).unwrap();
    assert!(written.contains("host = \"pop.example.test\""), "{written}");
}
