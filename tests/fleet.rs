//! Many accounts on many machines (issue 17): a config split into `accounts.d/` files,
//! `--shard K/N` processes side by side against the private Dovecot, and the per-host cap
//! on connections across the accounts of a run.

#[path = "support/mod.rs"]
mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::client::{maildir_messages, Client};
use support::corpus::simple;
use support::dovecot::Dovecot;

fn write(path: &Path, text: &str, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn names_in(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn included_account_files_are_read_with_errors_at_their_own_lines() {
    let c = Client::new(
        "include = [\"accounts.d/*.toml\"]\n\n[defaults]\nhost = \"mail.example\"\n\n\
         [accounts.main]\nuser = \"m\"\npassword-env = \"PW\"\ntarget = \"mbox:/tmp/m\"\n",
    );
    let d = c.path("accounts.d");
    let target = |user: &str| format!("user = \"{user}\"\ntarget = \"mbox:/tmp/{user}\"\n");
    let account = |user: &str| format!("{}password-env = \"PW\"\n", target(user));
    write(
        &d.join("b.toml"),
        &format!("[accounts.bob]\n{}", account("b")),
        0o644,
    );
    write(
        &d.join("a.toml"),
        &format!(
            "[accounts.alice]\n{}\n[accounts.ann]\n{}",
            account("a"),
            account("n")
        ),
        0o644,
    );
    write(&d.join("notes.txt"), "not a config", 0o644);
    let out = c.ok(&["accounts"]);
    assert_eq!(
        names_in(&out.stdout),
        ["alice", "ann", "bob", "main"],
        "{out:?}"
    );

    // A TOML error is at its own file's line.
    write(
        &d.join("b.toml"),
        "[accounts.bob]\nuser = \"b\"\nport = x\n",
        0o644,
    );
    let out = c.run(&["accounts"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("{}:3:8:", d.join("b.toml").display())),
        "{out:?}"
    );

    // One name in two files: both places are named.
    write(
        &d.join("b.toml"),
        &format!("[accounts.main]\n{}", account("b")),
        0o644,
    );
    let out = c.run(&["accounts"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "{}:1:11: account main is defined twice",
            d.join("b.toml").display()
        )) && out
            .stderr
            .contains(&format!("{}:6:11", c.config().display())),
        "{out:?}"
    );

    // An included file others can write to is refused as the main file would be.
    write(
        &d.join("b.toml"),
        &format!("[accounts.bob]\n{}", account("b")),
        0o664,
    );
    let out = c.run(&["accounts"]);
    assert_eq!(out.code, 77, "{out:?}");
    assert!(
        out.stderr.contains("included here") && out.stderr.contains("chmod go-w"),
        "{out:?}"
    );

    // A literal password must be in a private file, whichever file it is in.
    write(
        &d.join("b.toml"),
        &format!(
            "[accounts.bob]\n{}password = \"s3cret-value\"\n",
            target("b")
        ),
        0o644,
    );
    let out = c.run(&["accounts"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(
        out.stderr.contains("chmod 600") && out.stderr.contains("b.toml"),
        "{out:?}"
    );
    assert!(!out.stderr.contains("s3cret"), "{out:?}");
    fs::set_permissions(d.join("b.toml"), fs::Permissions::from_mode(0o600)).unwrap();
    c.ok(&["accounts"]);

    // [defaults] and include belong in the main file only.
    write(&d.join("c.toml"), "[defaults]\nkeep = true\n", 0o644);
    let out = c.run(&["accounts"]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(
        out.stderr.contains("c.toml:1:1: include and [defaults]"),
        "{out:?}"
    );
}

/// `count` POP3 accounts on the shared Dovecot with `per` messages each, one file per
/// account under accounts.d/, delivering to a Maildir each; returns the client and
/// the accounts' names with their messages.
fn fleet(
    count: usize,
    per: usize,
    extra_defaults: &str,
) -> (Client, BTreeMap<String, Vec<Vec<u8>>>) {
    let d = Dovecot::shared();
    let c = Client::new(&format!(
        "include = [\"accounts.d/*.toml\"]\n\n[defaults]\nprofile = \"custom\"\n\
         protocol = \"pop3\"\nhost = \"{}\"\nport = {}\ntls = \"implicit\"\nca-file = \"{}\"\n\
         timeout = 30\n{extra_defaults}\n",
        d.tls_name(),
        d.pop3s(),
        d.ca_file().display()
    ));
    let mut accounts = BTreeMap::new();
    for i in 0..count {
        let user = d.new_user(&format!("fleet{i}"));
        let name = format!("user{i:03}");
        let mail: Vec<Vec<u8>> = (0..per)
            .map(|n| simple(&format!("{name}-{n}"), "fleet", "body\n"))
            .collect();
        d.seed(&user, &mail);
        write(
            &c.path(&format!("accounts.d/{name}.toml")),
            &format!(
                "[accounts.{name}]\nuser = \"{}\"\npassword = \"{}\"\ntarget = \"maildir:{}\"\n",
                user.name,
                user.password,
                c.path(&name).display()
            ),
            0o600,
        );
        accounts.insert(name, mail);
    }
    (c, accounts)
}

fn spawn(c: &Client, args: &[&str]) -> Child {
    c.command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mailfetch")
}

fn document(child: Child) -> (Value, String) {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    (doc, stdout.into_owned())
}

#[test]
fn shards_side_by_side_pull_every_account_exactly_once() {
    const SHARDS: usize = 4;
    let (c, accounts) = fleet(200, 3, "");
    let started = Instant::now();

    // Shard 1 is killed in its first run; its rerun finishes its accounts, once each.
    let mut first = spawn(&c, &["pull", "--shard", "1/4", "--jobs", "2"]);
    std::thread::sleep(Duration::from_millis(300));
    first.kill().unwrap();
    first.wait().unwrap();

    let runs: Vec<Child> = (1..=SHARDS)
        .map(|k| {
            spawn(
                &c,
                &[
                    "pull",
                    "--json",
                    "--jobs",
                    "4",
                    "--shard",
                    &format!("{k}/{SHARDS}"),
                ],
            )
        })
        .collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut fetched = 0;
    let mut files = Vec::new();
    for (k, run) in runs.into_iter().enumerate() {
        let (doc, text) = document(run);
        let file = c.path(&format!("shard-{}.json", k + 1));
        fs::write(&file, text).unwrap();
        files.push(file.display().to_string());
        let entries = doc["accounts"].as_array().unwrap();
        // A shard of 200 accounts in 4 holds about 50.
        assert!(
            (25..=75).contains(&entries.len()),
            "shard {}: {}",
            k + 1,
            entries.len()
        );
        for e in entries {
            assert_eq!(e["ok"], true, "{e}");
            *seen
                .entry(e["account"].as_str().unwrap().to_string())
                .or_default() += 1;
            fetched += e["fetched"].as_u64().unwrap();
        }
    }
    // The merged report adds up; without shard 1's document, its accounts remain.
    let mut args = vec!["report", "--json"];
    args.extend(files.iter().map(String::as_str));
    let merged: Value = serde_json::from_str(&c.ok(&args).stdout).unwrap();
    assert_eq!(merged["done"], 200, "{merged}");
    assert_eq!(
        (merged["failed"].as_u64(), merged["remaining"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(merged["fetched"].as_u64(), Some(fetched));
    let mut args = vec!["report", "--json"];
    args.extend(files[1..].iter().map(String::as_str));
    let partial: Value = serde_json::from_str(&c.ok(&args).stdout).unwrap();
    let first_shard = fs::read_to_string(&files[0]).unwrap();
    let first_shard: Value = serde_json::from_str(&first_shard).unwrap();
    assert_eq!(
        partial["remaining"].as_u64(),
        Some(first_shard["accounts"].as_array().unwrap().len() as u64)
    );
    let table = c.ok(&["report", &files[0]]).stdout;
    assert!(table.contains(" remaining "), "{table}");
    let all: BTreeSet<&String> = accounts.keys().collect();
    assert_eq!(seen.keys().collect::<BTreeSet<_>>(), all);
    assert!(seen.values().all(|&n| n == 1), "an account in two shards");
    // What the killed run delivered was not fetched again.
    assert!(fetched <= 600, "{fetched}");
    for (name, mail) in &accounts {
        let mut want = mail.clone();
        want.sort();
        let got = maildir_messages(&c.path(name));
        assert_eq!(got.len(), want.len(), "{name}: lost or doubled");
        assert!(got == want, "{name}: something else was delivered");
    }
    // The same shards again: nothing new anywhere.
    let again = c.ok(&["pull", "--json", "--shard", "3/4"]);
    let doc: Value = serde_json::from_str(&again.stdout).unwrap();
    assert!(doc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["fetched"] == 0));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );

    // Each shard verified side by side; the report says every copy is complete.
    let verifies: Vec<Child> = (1..=SHARDS)
        .map(|k| {
            spawn(
                &c,
                &["verify", "--json", "--shard", &format!("{k}/{SHARDS}")],
            )
        })
        .collect();
    for (k, run) in verifies.into_iter().enumerate() {
        let (doc, text) = document(run);
        assert_eq!(doc["command"], "verify");
        assert!(doc["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["complete"] == true && e["compared"] == 3));
        let file = c.path(&format!("verify-{}.json", k + 1));
        fs::write(&file, text).unwrap();
        files.push(file.display().to_string());
    }
    // A copy that lost a message: verify exits 1 and the report names it.
    let damaged = accounts.keys().next().unwrap();
    let victim = ["new", "cur"]
        .iter()
        .flat_map(|sub| fs::read_dir(c.path(&format!("{damaged}/{sub}"))).unwrap())
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::remove_file(victim).unwrap();
    let out = c.run(&["verify", "--json", damaged]);
    assert_eq!(out.code, 1, "{out:?}");
    let recheck = c.path("verify-again.json");
    fs::write(&recheck, &out.stdout).unwrap();
    files.push(recheck.display().to_string());
    let mut args = vec!["report", "--json"];
    args.extend(files.iter().map(String::as_str));
    let merged: Value = serde_json::from_str(&c.ok(&args).stdout).unwrap();
    assert_eq!(merged["done"], 200, "{merged}");
    assert_eq!(
        (
            merged["verified"].as_u64(),
            merged["verify_incomplete"].as_u64(),
            merged["verify_failed"].as_u64()
        ),
        (Some(199), Some(1), Some(0)),
        "{merged}"
    );
    let mut args = vec!["report"];
    args.extend(files.iter().map(String::as_str));
    let table = c.ok(&args).stdout;
    assert!(table.contains(&format!("{damaged}  done")), "{table}");
    assert!(table.contains("1 problem"), "{table}");
    assert!(
        table
            .trim_end()
            .ends_with("; verify: 199 complete, 1 incomplete, 0 failed"),
        "{table}"
    );
}

/// The TCP connections of process `pid` established to `port` on this machine now.
fn connections_to(pid: u32, port: u16) -> usize {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    let inodes: BTreeSet<String> = fds
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_string)
        })
        .collect();
    let remote = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|t| fs::read_to_string(t).ok())
        .flat_map(|t| t.lines().skip(1).map(str::to_string).collect::<Vec<_>>())
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 9 && f[2].ends_with(&remote) && f[3] == "01" && inodes.contains(f[9])
        })
        .count()
}

#[test]
fn a_host_cap_of_two_holds_across_sixteen_jobs() {
    let (c, accounts) = fleet(16, 2, "max-connections-per-host = 2");
    let mut child = spawn(&c, &["pull", "--jobs", "16"]);
    let pid = child.id();
    let port = Dovecot::shared().pop3s();
    let mut most = 0;
    while child.try_wait().unwrap().is_none() {
        most = most.max(connections_to(pid, port));
        std::thread::sleep(Duration::from_millis(1));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!((1..=2).contains(&most), "{most} connections at once");
    for name in accounts.keys() {
        assert_eq!(maildir_messages(&c.path(name)).len(), 2, "{name}");
    }
}

#[test]
fn json_events_tell_each_account_start_and_end_line_by_line() {
    let (c, accounts) = fleet(2, 3, "");
    // A third account whose login is refused.
    let mut bad = fs::read_to_string(c.path("accounts.d/user000.toml")).unwrap();
    bad = bad.replace("[accounts.user000]", "[accounts.refused]");
    let pw_line = bad
        .lines()
        .find(|l| l.starts_with("password"))
        .unwrap()
        .to_string();
    bad = bad.replace(&pw_line, "password = \"wrong\"");
    write(&c.path("accounts.d/refused.toml"), &bad, 0o600);
    let out = c.run(&["pull", "--json-events", "--jobs", "3"]);
    assert_eq!(out.code, 77, "{out:?}");
    let events: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let of = |account: &str, kind: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["account"] == account && e["event"] == kind)
            .collect()
    };
    for name in accounts.keys() {
        assert_eq!(of(name, "started").len(), 1, "{events:?}");
        let done = of(name, "finished");
        assert_eq!(done.len(), 1, "{events:?}");
        assert_eq!(done[0]["fetched"], 3);
        assert_eq!(done[0]["ok"], true);
        let progress = of(name, "progress");
        assert_eq!(progress[0]["planned"], 3, "{events:?}");
    }
    let failed = of("refused", "failed");
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(failed[0]["class"], "auth");
    assert_eq!(failed[0]["exit_code"], 77);
    assert!(out.stderr.contains("refused"), "{out:?}");

    // The run's document names the failed account; with the password right, a retry of the
    // failed runs it alone.
    let out = c.run(&["pull", "--json"]);
    assert_eq!(out.code, 77, "{out:?}");
    let doc = c.path("run.json");
    fs::write(&doc, &out.stdout).unwrap();
    let good = fs::read_to_string(c.path("accounts.d/user000.toml")).unwrap();
    let fixed = good
        .replace("[accounts.user000]", "[accounts.refused]")
        .replace("/user000", "/refused");
    write(&c.path("accounts.d/refused.toml"), &fixed, 0o600);
    let retry = c.ok(&[
        "pull",
        "--json",
        "--accounts-from",
        doc.to_str().unwrap(),
        "--failed",
    ]);
    let retry: Value = serde_json::from_str(&retry.stdout).unwrap();
    let entries = retry["accounts"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{retry}");
    assert_eq!(
        (&entries[0]["account"], &entries[0]["fetched"]),
        (&Value::from("refused"), &Value::from(3))
    );
    let retry_doc = c.path("retry.json");
    fs::write(&retry_doc, retry.to_string()).unwrap();
    let merged = c
        .ok(&["report", doc.to_str().unwrap(), retry_doc.to_str().unwrap()])
        .stdout;
    assert!(merged.contains("\nrefused  done "), "{merged}");
    assert!(
        merged.contains("\n3 done, 0 failed, 0 remaining; 3 messages, "),
        "{merged}"
    );
}

#[test]
fn two_machines_on_one_account_one_wins_the_other_exits_75_naming_its_host_and_pid() {
    let (c, _) = fleet(1, 1, "");
    // The first run's delivery takes 6 s, past the second's 3 s wait for the lock.
    let file = c.path("accounts.d/user000.toml");
    let text = fs::read_to_string(&file).unwrap();
    let target = text.lines().find(|l| l.starts_with("target")).unwrap();
    let slow = text.replace(target, "target = \"mda:sleep 6; cat > /dev/null\"");
    write(&file, &slow, 0o600);
    let mut first = c.command(&["pull"]);
    let first = first
        .env("MAILFETCH_TEST_HOSTNAME", "machine-a")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = first.id();
    std::thread::sleep(Duration::from_millis(1500));
    let mut second = c.command(&["pull"]);
    let out = second
        .env("MAILFETCH_TEST_HOSTNAME", "machine-b")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "account user000 is being fetched by another mailfetch (pid {pid} on machine-a)"
        )),
        "{stderr}"
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{first:?}");
}

/// The lines of deploy/FILE.
fn deploy(file: &str) -> String {
    fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(file),
    )
    .unwrap()
}

#[test]
fn the_shipped_deployments_run_commands_the_cli_takes_and_map_its_exit_codes() {
    // An account that cannot be reached: the arguments parse, the run fails with 69.
    let c = Client::new(
        "[accounts.far]\nhost = \"127.0.0.1\"\nport = 1\nuser = \"u\"\n\
         password-env = \"PW\"\ntarget = \"maildir:{dir}/far\"\ntimeout = 5\n",
    );
    let job = deploy("kubernetes/job.yaml");
    let args_line = job.lines().find(|l| l.trim().starts_with("args:")).unwrap();
    let args: Vec<&str> = args_line
        .split(['[', ']'])
        .nth(1)
        .unwrap()
        .split(',')
        .map(|a| a.trim().trim_matches('"'))
        .collect();
    for index in 0..4 {
        let out = c
            .command(&args)
            .env("MAILFETCH_SHARDS", "4")
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .env("PW", "x")
            .output()
            .unwrap();
        // The one account is in one shard: that pod fails with 69, the others have nothing.
        assert!(
            matches!(out.status.code(), Some(0 | 69)),
            "{args:?}: {out:?}"
        );
    }
    // The exit codes the Job maps are the ones the CLI documents.
    let help = c.ok(&["--help"]).stdout;
    for (code, what) in [
        (64, "usage"),
        (75, "temporary"),
        (77, "authentication"),
        (78, "configuration"),
    ] {
        assert!(
            help.contains(&format!("  {code}  {what}")),
            "{code}: {help}"
        );
    }
    assert!(job.contains("values: [64, 77, 78]") && job.contains("values: [75]"));
    assert!(job.contains("completionMode: Indexed"));
    let count = |key: &str| {
        job.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap()
    };
    assert_eq!(count("completions:"), count("parallelism:"));
    let shards_at = job.find("MAILFETCH_SHARDS").unwrap();
    assert!(job[shards_at..].contains(&format!("value: \"{}\"", count("completions:"))));

    // The systemd template's command, for instance 2-4.
    let unit = deploy("systemd/mailfetch@.service");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let script = exec
        .split_once("-c '")
        .unwrap()
        .1
        .trim_end_matches('\'')
        .replace("%i", "2-4")
        .replace("$$", "$")
        .replace("/usr/bin/mailfetch", env!("CARGO_BIN_EXE_mailfetch"))
        .replace("/var/lib/mailfetch", &c.dir.path().display().to_string());
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("MAILFETCH_CONFIG", c.config())
        .env("MAILFETCH_STATE_DIR", c.state_dir())
        .env("PW", "x")
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 69)),
        "{script}: {out:?}"
    );
    let report = fs::read_to_string(c.path("report-2-4.json")).unwrap();
    let doc: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(doc["command"], "pull");
    assert!(unit.contains("SuccessExitStatus=75"));

    // systemd's own check of the units, where systemd-analyze is installed.
    let analyze = Path::new("/usr/bin/systemd-analyze");
    if analyze.exists() {
        let dir = tempfile::tempdir().unwrap();
        for (file, name) in [
            ("systemd/mailfetch@.service", "mailfetch@1-4.service"),
            ("systemd/mailfetch@.timer", "mailfetch@1-4.timer"),
        ] {
            fs::write(dir.path().join(name), deploy(file)).unwrap();
        }
        let out = std::process::Command::new(analyze)
            .args(["verify", "--man=no"])
            .arg(dir.path().join("mailfetch@1-4.service"))
            .arg(dir.path().join("mailfetch@1-4.timer"))
            .output()
            .unwrap();
        assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    }
}

#[test]
fn import_writes_account_files_the_config_includes_and_keeps_passwords_private() {
    let c = Client::new("include = [\"accounts.d/*.toml\"]\n");
    let list = c.path("list.csv");
    fs::write(
        &list,
        "name,user,password,server,protocol,target\n\
         alice,alice@example.com,literal:pw-alice,mail.example.com:995,pop3,maildir:{m}/a\n\
         bob,bob@gmail.com,command:pass show bob,gmail,imap,maildir:{m}/b\n"
            .replace("{m}", &c.dir.path().display().to_string()),
    )
    .unwrap();
    let out = c.ok(&["import", list.to_str().unwrap()]);
    assert!(out.stdout.contains("wrote 2 account files"), "{out:?}");
    let d = c.path("accounts.d");
    let mode = |f: &str| fs::metadata(d.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("alice.toml"), mode("alice.password")), (0o644, 0o600));
    assert!(!fs::read_to_string(d.join("alice.toml"))
        .unwrap()
        .contains("pw-alice"));
    let out = c.ok(&["accounts"]);
    assert_eq!(names_in(&out.stdout), ["alice", "bob"], "{out:?}");
    // Again: nothing replaced without --force; a bad line writes nothing.
    assert_eq!(c.run(&["import", list.to_str().unwrap()]).code, 78);
    c.ok(&["import", "--force", list.to_str().unwrap()]);
    fs::write(
        &list,
        "name,user,password,server,protocol,target\ncarol,c,secret,h,,maildir:/m\n",
    )
    .unwrap();
    let out = c.run(&["import", list.to_str().unwrap()]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(
        out.stderr.contains("list.csv:2: account carol: password"),
        "{out:?}"
    );
    assert!(!d.join("carol.toml").exists());
}
