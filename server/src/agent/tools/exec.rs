//! `exec`: runs a program from the allowlist — no shell — with a time limit and an output
//! limit, streaming its output in pieces as it comes.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use crate::agent::RunOutput;

/// Runs `exec` on `{command, args?}`; `tool.output` events carry the output as it arrives.
pub(super) async fn run(
    input: &Value,
    allowed_commands: &[String],
    timeout: Duration,
    max_bytes: usize,
    stream: Option<(&RunOutput, &str)>,
) -> Result<Value, String> {
    let command = input
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !allowed_commands.iter().any(|c| c == command) {
        return Err(format!(
            "command `{command}` is not in tools.exec.allowed_commands"
        ));
    }
    let args: Vec<&str> = input
        .get("args")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut child = tokio::process::Command::new(command)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{command}`: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let work = async {
        let mut out = Vec::new();
        let mut truncated = false;
        let mut buf = [0u8; 4096];
        loop {
            let n = stdout.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            let room = max_bytes.saturating_sub(out.len());
            let piece = &buf[..n.min(room)];
            if let (Some((output, call_id)), false) = (stream, piece.is_empty()) {
                let fields = crate::agent::fields(json!({
                    "toolCallId": call_id, "tool": "exec", "output": String::from_utf8_lossy(piece)
                }));
                output
                    .emit("tool.output", fields)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            out.extend_from_slice(piece);
            if n > room {
                truncated = true;
            }
        }
        let mut err = Vec::new();
        let _ = (&mut stderr)
            .take(max_bytes as u64)
            .read_to_end(&mut err)
            .await;
        let status = child.wait().await.map_err(|e| e.to_string())?;
        Ok::<Value, String>(json!({
            "exitCode": status.code(),
            "stdout": String::from_utf8_lossy(&out),
            "stderr": String::from_utf8_lossy(&err),
            "truncated": truncated,
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
