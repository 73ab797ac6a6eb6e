//! The built `switchboard` binary, for tests of the real command line.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Path of the `switchboard` binary, built once per test run with the same cargo and profile
/// as the tests (`cargo test` builds only libraries for this crate, so the binary is built
/// here; cargo releases its build lock before running tests).
pub fn switchboard_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let mut cmd = Command::new(cargo);
            cmd.args([
                "build",
                "-p",
                "switchboard",
                "--bin",
                "switchboard",
                "--message-format=json",
            ]);
            if !cfg!(debug_assertions) {
                cmd.arg("--release");
            }
            let out = cmd
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .stderr(std::process::Stdio::inherit())
                .output()
                .expect("cargo runs");
            assert!(
                out.status.success(),
                "building the switchboard binary failed"
            );
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .rev()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
                .next()
                .expect("cargo reports the binary's path")
        })
        .clone()
}

/// `switchboard serve` as a child process on an ephemeral port, with its own data directory
/// (`dir/data`), the gateway token `admin_token` and JSON logs; killed when dropped. Its
/// address comes from its `listening` log line; the log is read (and dropped) on a thread, so
/// the pipe never fills.
#[derive(Debug)]
pub struct ServeProcess {
    pub child: std::process::Child,
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
}

impl ServeProcess {
    /// Starts the built binary with `env` besides its data directory, port and admin token.
    pub fn start(admin_token: &str, env: &[(&str, &str)]) -> ServeProcess {
        use std::io::{BufRead, BufReader};
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(switchboard_binary());
        cmd.arg("serve")
            .current_dir(dir.path())
            .env("SWITCHBOARD__SERVER__DATA_DIR", dir.path().join("data"))
            .env("SWITCHBOARD__SERVER__PORT", "0")
            .env("SWITCHBOARD__AUTH__ADMIN_TOKEN", admin_token)
            .env("SWITCHBOARD__LOG__FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel::<std::net::SocketAddr>();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if v["fields"]["message"] == "listening" {
                    let _ = tx.send(v["fields"]["addr"].as_str().unwrap().parse().unwrap());
                }
            }
        });
        let addr = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server logs its address");
        ServeProcess { child, addr, dir }
    }

    /// A field of its `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), in KiB.
    pub fn status_kib(&self, field: &str) -> u64 {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
