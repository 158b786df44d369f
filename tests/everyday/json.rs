//! `--json`: one JSON document on stdout, human text unchanged without it.

use crate::support::account::Account;
use crate::support::client::Client;
use crate::support::corpus::simple;
use crate::support::dovecot::Dovecot;
use serde_json::Value;

fn doc(stdout: &str) -> Value {
    assert_eq!(
        stdout.lines().count(),
        1,
        "one document on one line: {stdout:?}"
    );
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout:?}"))
}

#[test]
fn pull_check_and_accounts_print_one_json_document_each() {
    let d = Dovecot::shared();
    let user = d.new_user("json");
    d.seed(
        &user,
        (0..3).map(|i| simple(&format!("json-{i}"), "s", "body\n")),
    );
    let good = Account::pop3(d, &user).name("good").toml();
    let bad = Account::pop3(d, &user)
        .name("bad")
        .target("maildir:{dir}/B")
        .password("wrong");
    let c = Client::new(&format!("{good}{bad}"));

    let check = doc(&c.run(&["check", "--json", "good"]).stdout);
    assert_eq!(check["command"], "check");
    assert_eq!(check["accounts"][0]["pending"], 3);

    let out = c.run(&["pull", "--json"]);
    assert_eq!(out.code, 77, "the failed account's code: {out:?}");
    assert!(out.stderr.contains("mailfetch: bad: "), "{out:?}");
    let pull = doc(&out.stdout);
    assert_eq!(pull["command"], "pull");
    assert_eq!(pull["exit_code"], 77);
    let accounts = pull["accounts"].as_array().unwrap();
    let names: Vec<&str> = accounts
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bad", "good"], "config order");
    assert_eq!(accounts[0]["ok"], false);
    assert_eq!(accounts[0]["exit_code"], 77);
    assert!(accounts[0]["error"].as_str().unwrap().contains("refused"));
    assert_eq!(accounts[1]["ok"], true);
    assert_eq!(accounts[1]["fetched"], 3);
    assert!(accounts[1]["bytes"].as_u64().unwrap() > 0);
    assert!(accounts[1].get("error").is_none());

    let list = doc(&c.ok(&["accounts", "--json"]).stdout);
    let good = &list["accounts"][1];
    assert_eq!(good["name"], "good");
    assert_eq!(good["protocol"], "pop3");
    assert_eq!(good["port"], d.pop3s());
    assert_eq!(good["keep"], true);
    assert_eq!(good["folders"], serde_json::json!(["INBOX"]));
    assert!(good["state_file"].as_str().unwrap().ends_with("good.state"));
}

#[test]
fn human_output_is_unchanged_without_json() {
    let d = Dovecot::shared();
    let user = d.new_user("jsonless");
    d.seed(&user, [simple("jsonless-1", "s", "body\n")]);
    let c = Client::new(&Account::pop3(d, &user).toml());
    let out = c.ok(&["pull"]);
    assert!(out.stdout.starts_with("a: 1 new message ("), "{out:?}");
    assert!(!out.stdout.contains('{'));
}

#[test]
fn a_config_error_still_gives_a_json_document() {
    let c = Client::new("[accounts.a]\nprofile = \"gmial\"\n");
    let out = c.run(&["pull", "--json"]);
    assert_eq!(out.code, 78);
    let failure = doc(&out.stdout);
    assert_eq!(failure["command"], "pull");
    assert_eq!(failure["exit_code"], 78);
    assert!(failure["error"].as_str().unwrap().contains("gmial"));
    assert!(
        out.stderr.contains("gmial"),
        "and the one-line error on stderr"
    );
}
