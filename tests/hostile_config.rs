//! A config or DNS answer that would send a secret somewhere else: each attack is replayed
//! against the real binary, which must refuse it with its exit code and one line, and send
//! nothing (a listener standing where the secret would have gone sees no connection).

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;
use support::client::Client;

const CLIENT_SECRET: &str = "GOCSPX-client-s3cret-never-sent";

/// A listener on `ip` that reports every byte sent to it (one message per connection).
fn trap(ip: &str) -> (u16, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind((ip, 0)).expect("bind trap");
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut got = Vec::new();
            let _ = stream.read_to_end(&mut got);
            let _ = tx.send(got);
        }
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
