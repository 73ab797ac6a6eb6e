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
