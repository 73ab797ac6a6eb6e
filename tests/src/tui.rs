//! A terminal program driven through tmux, as a person at a keyboard would: started detached in
//! a fixed-size pane, fed keys, read back with `capture-pane`. Each [`Tui`] has its own tmux
//! server (a socket in its own temporary directory), so tests never touch a user's tmux and
//! never see each other. Every distinct screen seen is kept, so a test can check the whole
//! history (e.g. that no error line ever appeared, or that a reply was seen half-written).
//!
//! When the test panics, the directory is kept and the last screen is written to `pane.txt`
//! there and printed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::process::Command;

/// How often a wait looks at the screen.
const POLL: Duration = Duration::from_millis(50);

/// Why a terminal test cannot run here (tmux missing), or `None` when it can.
pub fn tmux_missing() -> Option<String> {
    match std::process::Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => None,
        Ok(status) => Some(format!("`tmux -V` exited with {status}")),
        Err(e) => Some(format!("no tmux ({e})")),
    }
}

/// A program running in a detached tmux pane.
#[derive(Debug)]
pub struct Tui {
    dir: Option<TempDir>,
    socket: PathBuf,
    /// Every distinct screen captured so far, oldest first.
    screens: Vec<String>,
}

impl Tui {
    /// Starts `program args…` in a `width`×`height` pane with `env` set, in `dir` (which the
    /// `Tui` owns from now on and keeps on failure). When the program exits, the pane stays and
    /// shows `[exited with N]`.
    pub async fn start(
        dir: TempDir,
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        (width, height): (u16, u16),
    ) -> Tui {
        let socket = dir.path().join("tmux.sock");
        let mut line = String::from("exec 2>>");
        line.push_str(&quote(&dir.path().join("stderr.txt").display().to_string()));
        line.push_str("; ");
        line.push_str(&quote(&program.display().to_string()));
        for arg in args {
            line.push(' ');
            line.push_str(&quote(arg));
        }
        line.push_str("; echo \"[exited with $?]\"; sleep 3600");
        let mut command = Command::new("tmux");
        command
            .arg("-S")
            .arg(&socket)
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "tui"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()]);
        for (key, value) in env {
            command.arg("-e").arg(format!("{key}={value}"));
        }
        command.args(["sh", "-c", &line]);
        let out = command.output().await.expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tui {
            dir: Some(dir),
            socket,
            screens: Vec::new(),
        }
    }

    /// The directory given to [`Tui::start`].
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new("."), |d| d.path())
    }

    async fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .await
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` literally (no key names).
    pub async fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "tui", "-l", text]).await;
    }

    /// Presses keys by tmux name: `Enter`, `Escape`, `C-p`, `Up`…
    pub async fn press(&self, key: &str) {
        self.tmux(&["send-keys", "-t", "tui", key]).await;
    }

    /// The screen now (trailing blanks trimmed), remembered in [`Tui::screens`] when new.
    pub async fn capture(&mut self) -> String {
        let screen = self.tmux(&["capture-pane", "-p", "-t", "tui"]).await;
        let screen = screen
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            .trim_end()
            .to_owned();
        if self.screens.last() != Some(&screen) {
            self.screens.push(screen.clone());
        }
        screen
    }

    /// Every distinct screen seen so far, oldest first.
    pub fn screens(&self) -> &[String] {
        &self.screens
    }

    /// The last screen seen (empty before the first capture).
    pub fn last_screen(&self) -> &str {
        self.screens.last().map_or("", String::as_str)
    }

    /// Looks at the screen every 50 ms until `done` holds for it; the screen. Panics with the
    /// screen after `timeout`, saying it waited for `what`.
    pub async fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture().await;
            if done(&screen) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!("waited {timeout:?} for {what}; the screen:\n{screen}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// [`Tui::wait_until`] the screen contains `text`.
    pub async fn wait_for_text(&mut self, text: &str, timeout: Duration) -> String {
        self.wait_until(&format!("{text:?} on screen"), timeout, |s| {
            s.contains(text)
        })
        .await
    }

    /// What the program wrote to stderr so far (it is not on the screen).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir().join("stderr.txt")).unwrap_or_default()
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let dir = dir.keep();
            let pane = dir.join("pane.txt");
            let _ = std::fs::write(&pane, self.last_screen());
            let _ = std::fs::write(dir.join("screens.txt"), self.screens.join("\n\n-----\n\n"));
            println!(
                "the last screen (kept in {}; every screen in screens.txt, stderr in stderr.txt):\n{}\n--- stderr:\n{}",
                pane.display(),
                self.last_screen(),
                std::fs::read_to_string(dir.join("stderr.txt")).unwrap_or_default()
            );
        }
    }
}

/// `s` in single quotes for `sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
