//! `exec`: runs a program from the allowlist — no shell — with a time limit and an output
//! limit, streaming its output in pieces as it comes.
//!
//! A child gets none of the server's environment (the admin token, model API keys) except the
//! variables `tools.exec.env` names (default `PATH`), runs in a fixed working directory
//! (`tools.exec.workdir`, default `<server.data_dir>/exec`), reads nothing (stdin is
//! `/dev/null`), and has its stdout and stderr read at the same time, each kept up to
//! `max_output_bytes` and drained past it, so a chatty stream never blocks the other. It is
//! killed when the time limit passes or the run goes away.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::agent::RunOutput;

/// The environment variables a child sees when `tools.exec.env` is left out.
pub(super) const DEFAULT_ENV: &[&str] = &["PATH"];

/// The name of the default working directory under `server.data_dir`.
pub(super) const DEFAULT_WORKDIR: &str = "exec";

/// What an `exec` tool may do.
#[derive(Debug, Clone)]
pub(super) struct ExecPolicy {
    /// Programs it may run.
    pub(super) allowed_commands: Vec<String>,
    /// Variables passed from the server's environment.
    pub(super) env: Vec<String>,
    /// The children's working directory (created when missing).
    pub(super) workdir: PathBuf,
}

/// Runs `exec` on `{command, args?}`; `tool.output` events carry stdout as it arrives.
pub(super) async fn run(
    input: &Value,
    policy: &ExecPolicy,
    timeout: Duration,
    max_bytes: usize,
    stream: Option<(&RunOutput, &str)>,
) -> Result<Value, String> {
    let command = input
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !policy.allowed_commands.iter().any(|c| c == command) {
        return Err(format!(
            "command `{command}` is not in tools.exec.allowed_commands"
        ));
    }
    let args: Vec<&str> = input
        .get("args")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let workdir = prepare_workdir(&policy.workdir).await?;
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(&args)
        .env_clear()
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in &policy.env {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{command}`: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let work = async {
        let (out, err) = tokio::join!(
            read_bounded(stdout, max_bytes, stream),
            read_bounded(stderr, max_bytes, None),
        );
        let (out, out_cut) = out?;
        let (err, err_cut) = err?;
        let status = child.wait().await.map_err(|e| e.to_string())?;
        Ok::<Value, String>(json!({
            "exitCode": status.code(),
            "stdout": String::from_utf8_lossy(&out),
            "stderr": String::from_utf8_lossy(&err),
            "truncated": out_cut || err_cut,
        }))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "`{command}` did not finish within {} s and was killed",
            timeout.as_secs()
        )),
    }
}

/// `dir`, created when missing.
async fn prepare_workdir(dir: &Path) -> Result<&Path, String> {
    tokio::fs::create_dir_all(dir).await.map_err(|e| {
        format!(
            "cannot create the working directory {} (tools.exec.workdir): {e}",
            dir.display()
        )
    })?;
    Ok(dir)
}

/// Reads `pipe` to its end, keeping the first `max_bytes` (each piece sent as a `tool.output`
/// event as it comes when `stream` is given) and discarding the rest, so the writer never blocks
/// on a full pipe. Returns what was kept and whether anything was cut.
async fn read_bounded(
    mut pipe: impl AsyncRead + Unpin,
    max_bytes: usize,
    stream: Option<(&RunOutput, &str)>,
) -> Result<(Vec<u8>, bool), String> {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = [0u8; 4096];
    loop {
        let n = pipe.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok((kept, truncated));
        }
        let room = max_bytes.saturating_sub(kept.len());
        let piece = &buf[..n.min(room)];
        if n > room {
            truncated = true;
        }
        if piece.is_empty() {
            continue;
        }
        if let Some((output, call_id)) = stream {
            output
                .tool_output(call_id, "exec", &String::from_utf8_lossy(piece))
                .await
                .map_err(|e| e.to_string())?;
        }
        kept.extend_from_slice(piece);
    }
}
