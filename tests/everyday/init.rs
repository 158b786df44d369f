//! `mailfetch init`: scripted with flags, and once interactively through a pseudo-terminal.

use crate::support::client::{maildir_messages, Client};
use crate::support::corpus::simple;
use crate::support::dovecot::Dovecot;
use crate::support::fake_dns::fake_dns;
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
