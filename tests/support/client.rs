//! Running the real `mailfetch` binary in tests: a private config (mode 0600) and state
//! directory per test, and helpers to read what a run delivered.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one run printed and returned.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// A config, a state directory and a place for targets, all in one temp dir.
pub struct Client {
    pub dir: tempfile::TempDir,
}

impl Client {
    /// A client whose config is `toml` (`{dir}` is replaced by the temp dir's path).
    pub fn new(toml: &str) -> Client {
        let dir = tempfile::Builder::new()
            .prefix("mailfetch-test-")
            .tempdir()
            .expect("temp dir");
        let c = Client { dir };
        c.set_config(toml);
        c
    }

    /// Replace the config.
    pub fn set_config(&self, toml: &str) {
        let text = toml.replace("{dir}", &self.dir.path().display().to_string());
        fs::write(self.config(), text).expect("write config");
        fs::set_permissions(self.config(), fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A path inside the temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The command for `mailfetch --config .. --state-dir .. ARGS`, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailfetch"));
        cmd.arg("--config")
            .arg(self.config())
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(args)
            .env_remove("MAILFETCH_CONFIG")
            .env_remove("MAILFETCH_STATE_DIR")
            .stdin(Stdio::null());
        cmd
    }

    /// Run `mailfetch ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Outcome {
        let out = self.command(args).output().expect("run mailfetch");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Run and require exit 0.
    pub fn ok(&self, args: &[&str]) -> Outcome {
        let o = self.run(args);
        assert_eq!(o.code, 0, "mailfetch {args:?} failed: {o:?}");
        o
    }

    /// Run to completion, watching the child's peak RSS: returns the exit code and the
    /// peak in kB (see [`peak_rss_kb`]).
    pub fn run_measured(&self, args: &[&str]) -> (i32, u64) {
        let mut child = self.command(args).spawn().expect("spawn mailfetch");
        let mut peak = 0;
        loop {
            peak = peak_rss_kb(child.id()).unwrap_or(peak);
            if let Some(code) = child.try_wait().expect("wait") {
                return (code.code().unwrap_or(-1), peak);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// The peak RSS (kB, VmHWM) of running process `pid`, read while it runs: wait4's
/// ru_maxrss would include the test process's own memory, inherited across fork and exec.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Every message file of a Maildir (new/ and cur/ of the root), as bytes, sorted.
pub fn maildir_messages(root: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = fs::read_dir(root.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            out.push(fs::read(e.path()).expect("read message"));
        }
    }
    out.sort();
    out
}

/// The number of files in a Maildir's tmp/.
pub fn maildir_tmp_count(root: &Path) -> usize {
    fs::read_dir(root.join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
}
