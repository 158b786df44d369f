//! Parallel accounts: `pull --jobs N` gives the same result as a serial pull.

use crate::support::account::Account;
use crate::support::client::{maildir_messages, Client};
use crate::support::corpus::{corpus, simple};
use crate::support::dovecot::Dovecot;
use crate::support::mbox::read_mbox_with_python;

#[test]
fn parallel_pull_of_four_accounts_gives_the_same_result_as_serial() {
    let d = Dovecot::shared();
    let mut config = String::new();
    let mut names = Vec::new();
    for (i, name) in ["a1", "c2", "e3", "g4"].into_iter().enumerate() {
        let user = d.new_user(&format!("par{i}"));
        let mut mail: Vec<Vec<u8>> = corpus().into_iter().map(|(_, m)| m).collect();
        mail.extend((0..25).map(|n| simple(&format!("par-{i}-{n}"), "s", "body\n")));
        d.seed(&user, &mail);
        let target = if i % 2 == 0 {
            format!("maildir:{{dir}}/{name}")
        } else {
            format!("mbox:{{dir}}/{name}.mbox")
        };
        config.push_str(&Account::pop3(d, &user).name(name).target(&target).toml());
        names.push((name, mail.len()));
        if i == 0 {
            // Failing accounts between the good ones: the first in config order decides.
            let refused = Account::pop3(d, &user).name("b-refused").password("wrong");
            config.push_str(&refused.target("maildir:{dir}/b").toml());
            let down = Account::pop3(d, &user).name("d-down").port(1);
            config.push_str(&down.target("maildir:{dir}/d").toml());
        }
    }
    let serial = Client::new(&config);
    let parallel = Client::new(&config);
    let s = serial.run(&["pull", "--jobs", "1"]);
    let p = parallel.run(&["pull", "--jobs", "4"]);
    assert_eq!(s.code, 77, "{s:?}");
    assert_eq!(p.code, s.code, "{p:?}");
    for (name, count) in &names {
        let (a, b) = if name.starts_with(['a', 'e']) {
            (
                maildir_messages(&serial.path(name)),
                maildir_messages(&parallel.path(name)),
            )
        } else {
            (
                read_mbox_with_python(serial.path(&format!("{name}.mbox"))),
                read_mbox_with_python(parallel.path(&format!("{name}.mbox"))),
            )
        };
        assert_eq!(a.len(), *count, "{name}");
        assert!(a == b, "{name}: parallel delivered something else");
    }
    // Whole lines only, each prefixed with its account, whatever the interleaving.
    let mut lines: Vec<&str> = p.stdout.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 4, "{p:?}");
    for (line, (name, count)) in lines.iter().zip(&names) {
        assert!(
            line.starts_with(&format!("{name}: {count} new messages (")),
            "{line}"
        );
    }
    let errors: Vec<&str> = p.stderr.lines().collect();
    assert_eq!(errors.len(), 2, "{p:?}");
    assert!(errors
        .iter()
        .all(|l| l.starts_with("mailfetch: b-refused: ") || l.starts_with("mailfetch: d-down: ")));
    // A second parallel run finds nothing new anywhere.
    let again = parallel.run(&["pull", "-j", "4", "a1", "c2", "e3", "g4"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.stdout.matches("no new mail").count(), 4, "{again:?}");
}
