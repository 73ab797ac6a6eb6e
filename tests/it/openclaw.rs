//! The real OpenClaw clients against a live Switchboard (issue 15): `openclaw gateway call`,
//! `openclaw agent` through `OPENCLAW_GATEWAY_URL`, and the `openclaw tui` driven in a tmux pane
//! as a person would (it connects, streams an echo reply word by word, lists the session in its
//! picker, aborts a slow run with Esc, and never shows an error line).
//!
//! Runs where `SWITCHBOARD_OPENCLAW` names a runner (`scripts/openclaw-setup.sh` prints one; CI
//! sets it) and, for the TUI, where tmux is installed; elsewhere each test says "skipped" and
//! passes. Every CLI run gets a fresh `OPENCLAW_STATE_DIR` (the TUI remembers its last session
//! and the CLI its device identity there), so runs never see each other's state.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_api::Role;
use switchboard_tests::{TestServer, Tui, WsClient, tmux_missing};
use tokio::process::Command;

const CHUNK_DELAY: &str = "SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS";
const PING: &str = "SWITCHBOARD__SERVER__PING_INTERVAL_MS";
/// How long one CLI command may take (Node starts in 1–3 s).
const CLI_TIMEOUT: Duration = Duration::from_secs(45);
/// Lines the TUI prints when something went wrong (compared lowercased).
const ERROR_MARKS: [&str; 9] = [
    "error",
    "failed",
    "not connected",
    "disconnected",
    "event gap",
    "unknown method",
    "cannot read properties",
    "tick timeout",
    "no active run",
];

/// The OpenClaw runner, or `None` after printing why the test is skipped.
fn openclaw_runner() -> Option<PathBuf> {
    match std::env::var_os("SWITCHBOARD_OPENCLAW").filter(|r| !r.is_empty()) {
        Some(runner) => Some(PathBuf::from(runner)),
        None => {
            println!(
                "skipped: no OpenClaw CLI (set SWITCHBOARD_OPENCLAW to scripts/openclaw-setup.sh's runner; needs Node >= 24)"
            );
            None
        }
    }
}

/// Runs `runner args…` with `env` and a fresh state directory; its output (killed after
/// [`CLI_TIMEOUT`]).
async fn openclaw(runner: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let state = tempfile::tempdir().unwrap();
    let mut command = Command::new(runner);
    command
        .args(args)
        .env("OPENCLAW_STATE_DIR", state.path())
        .envs(
            env.iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        )
        .stdin(Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(CLI_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("openclaw {args:?} still running after {CLI_TIMEOUT:?}"))
        .unwrap()
}

/// The JSON object `--json` printed (after any banner lines).
fn json_of(what: &str, out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} exited with {}:\n{stdout}\n{stderr}",
        out.status
    );
    let start = stdout
        .find(['{', '['])
        .unwrap_or_else(|| panic!("{what}: no JSON in {stdout}\n{stderr}"));
    serde_json::from_str(stdout[start..].trim())
        .unwrap_or_else(|e| panic!("{what}: {e} in {stdout}\n{stderr}"))
}

#[tokio::test]
async fn the_real_openclaw_cli_calls_health_and_status() {
    let Some(runner) = openclaw_runner() else {
        return;
    };
    let server = TestServer::start(&[]).await;
    let token = server.token(Role::Operator).await;
    let url = format!("ws://{}/ws", server.addr);
    for method in ["health", "status"] {
        let out = openclaw(
            &runner,
            &[
                "gateway", "call", method, "--url", &url, "--token", &token, "--json",
            ],
            &[],
        )
        .await;
        let payload = json_of(method, &out);
        match method {
            "health" => assert_eq!(payload["status"], "ok"),
            _ => assert_eq!(payload["store"], "sqlite"),
        }
    }
}

#[tokio::test]
async fn openclaw_agent_prints_the_reply_through_the_gateway_url() {
    let Some(runner) = openclaw_runner() else {
        return;
    };
    let server = TestServer::start(&[(CHUNK_DELAY, "20")]).await;
    let token = server.token(Role::Operator).await;
    let url = format!("ws://{}/ws", server.addr);
    let out = openclaw(
        &runner,
        &["agent", "--message", "hello from the cli"],
        &[
            ("OPENCLAW_GATEWAY_URL", &url),
            ("OPENCLAW_GATEWAY_TOKEN", &token),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "openclaw agent exited with {}:\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.lines().any(|l| l.trim() == "hello from the cli"),
        "the reply is not printed on a line of its own:\n{stdout}\n{stderr}"
    );
    // The run went into the main session, which now holds the exchange.
    let mut ws = WsClient::connected(server.addr, Some(&token), "check").await;
    let history = ws
        .call("chat.history", json!({ "sessionKey": "agent:main:main" }))
        .await;
    assert_eq!(history["ok"], true, "{history}");
    let messages = history["payload"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{history}");
}

#[tokio::test]
async fn openclaw_gateway_call_chat_history_returns_the_transcript() {
    let Some(runner) = openclaw_runner() else {
        return;
    };
    let server = TestServer::start(&[]).await;
    let token = server.token(Role::Operator).await;
    let mut ws = WsClient::connected(server.addr, Some(&token), "writer").await;
    let sent = ws
        .call(
            "chat.send",
            json!({ "sessionKey": "agent:main:main", "message": "hello history" }),
        )
        .await;
    assert_eq!(sent["ok"], true, "{sent}");
    let session_id = sent["payload"]["sessionId"].clone();
    assert!(session_id.is_string(), "{sent}");

    let url = format!("ws://{}/ws", server.addr);
    let out = openclaw(
        &runner,
        &[
            "gateway",
            "call",
            "chat.history",
            "--params",
            r#"{"sessionKey":"agent:main:main"}"#,
            "--url",
            &url,
            "--token",
            &token,
            "--json",
        ],
        &[],
    )
    .await;
    let history = json_of("chat.history", &out);
    assert_eq!(history["sessionKey"], "agent:main:main", "{history}");
    assert_eq!(history["sessionId"], session_id, "{history}");
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{history}");
    assert_eq!(messages[0]["role"], "user", "{history}");
    assert_eq!(messages[0]["content"], "hello history", "{history}");
    assert_eq!(messages[1]["role"], "assistant", "{history}");
    assert_eq!(
        messages[1]["content"],
        json!([{ "type": "text", "text": "hello history" }]),
        "{history}"
    );
    for message in messages {
        assert!(message["timestamp"].is_u64(), "{message}");
    }
}

/// The TUI in a tmux pane against `server`, with its own state directory.
async fn start_tui(runner: &Path, server: &TestServer, token: &str) -> Tui {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let url = format!("ws://{}/ws", server.addr);
    Tui::start(
        dir,
        runner,
        &["tui", "--url", &url, "--token", token],
        &[("OPENCLAW_STATE_DIR", &state.display().to_string())],
        (160, 48),
    )
    .await
}

/// The first line of `screen` that looks like an error, if any. The start-up banner
/// (`OpenClaw 2026.9.6 (…) — <a random joke>`) is not one, whatever its joke says.
fn error_line(screen: &str) -> Option<&str> {
    screen.lines().find(|line| {
        let banner = line.starts_with("OpenClaw ") && line.contains(") — ");
        let line = line.to_lowercase();
        !banner && ERROR_MARKS.iter().any(|mark| line.contains(mark))
    })
}

/// The screen shows the TUI connected (`gateway connected`, then `connected`).
fn shows_connected(screen: &str) -> bool {
    screen.lines().any(|line| {
        line.contains("connected")
            && !line.contains("not connected")
            && !line.contains("disconnected")
    })
}

/// The chat log's lines, trimmed: what is above the editor's rule, without the status and
/// footer lines (`… | …`).
fn chat_lines(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .take_while(|l| !l.starts_with('─'))
        .filter(|l| !l.contains(" | "))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Waits until `done` holds for the screen, failing at once if an error line appears.
async fn wait(tui: &mut Tui, what: &str, secs: u64, mut done: impl FnMut(&str) -> bool) -> String {
    tui.wait_until(what, Duration::from_secs(secs), |screen| {
        if let Some(line) = error_line(screen) {
            panic!("an error line appeared while waiting for {what}: {line:?}\n{screen}");
        }
        done(screen)
    })
    .await
}

#[tokio::test]
async fn the_real_openclaw_tui_chats_through_switchboard() {
    let Some(runner) = openclaw_runner() else {
        return;
    };
    if let Some(why) = tmux_missing() {
        println!("skipped: the TUI test drives a tmux pane: {why}");
        return;
    }
    // Words 150 ms apart, so a reply is seen half-written; ticks every 2 s, so an idle client
    // that gets none closes with `tick timeout` within the test.
    let server = TestServer::start(&[(CHUNK_DELAY, "150"), (PING, "2000")]).await;
    let token = server.token(Role::Operator).await;
    let mut tui = start_tui(&runner, &server, &token).await;

    wait(&mut tui, "the TUI to say connected", 40, shows_connected).await;

    // A reply streams word by word: seen half-written, then whole. The echo reply repeats the
    // message, so the chat shows it on one line (ours) and then on two (the reply).
    let message = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima";
    tui.type_text(message).await;
    tui.press("Enter").await;
    let mut partial = None;
    wait(&mut tui, "the whole echo reply", 20, |screen| {
        let chat = chat_lines(screen);
        if partial.is_none()
            && let Some(line) = chat
                .iter()
                .find(|l| l.starts_with("alpha bravo") && l.len() < message.len())
        {
            partial = Some((*line).to_owned());
        }
        chat.iter().filter(|l| **l == message).count() >= 2
    })
    .await;
    assert!(
        partial.is_some(),
        "the reply was never seen half-written (screens: {:#?})",
        tui.screens()
    );

    // The session picker (Ctrl+P) lists the session: its title is the first message.
    tui.press("C-p").await;
    wait(
        &mut tui,
        "the session picker listing the session",
        15,
        |screen| {
            screen.contains("Filter:")
                && screen
                    .lines()
                    .any(|l| l.contains('→') && l.contains("alpha bravo charlie"))
        },
    )
    .await;
    tui.press("Escape").await;
    wait(&mut tui, "the picker to close", 10, |screen| {
        !screen.contains("Filter:")
    })
    .await;

    // A slow reply stops at Esc: the TUI says aborted, and the last word never comes.
    let slow = (1..=30)
        .map(|i| format!("s{i:02}"))
        .collect::<Vec<_>>()
        .join(" ");
    tui.type_text(&slow).await;
    tui.press("Enter").await;
    wait(&mut tui, "the slow reply to start", 15, |screen| {
        chat_lines(screen)
            .iter()
            .filter(|l| l.starts_with("s01 s02 s03"))
            .count()
            >= 2
    })
    .await;
    tui.press("Escape").await;
    // `run aborted` is the TUI's line for a `chat` event in state `aborted`; the status says
    // `aborted` when `chat.abort` answered that it stopped a run.
    wait(
        &mut tui,
        "the TUI to say the run was aborted",
        15,
        |screen| {
            screen.lines().any(|l| l.trim() == "run aborted")
                && screen.lines().any(|l| l.trim_end().ends_with("| aborted"))
        },
    )
    .await;
    // Idle past two tick intervals: ticks keep the TUI connected; the run stays stopped.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let screen = tui.capture().await;
    assert!(
        chat_lines(&screen)
            .iter()
            .filter(|l| l.contains("s30"))
            .count()
            < 2,
        "the aborted run went on to its last word:\n{screen}"
    );
    assert!(shows_connected(&screen), "no longer connected:\n{screen}");
    // The store agrees: the slow reply was kept cut short, after the whole first one.
    let mut ws = WsClient::connected(server.addr, Some(&token), "check").await;
    let history = ws
        .call("chat.history", json!({ "sessionKey": "agent:main:main" }))
        .await;
    let messages = history["payload"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{history}");
    assert_eq!(messages[1]["content"], message, "{history}");
    let cut = messages[3]["content"].as_str().unwrap();
    assert!(
        cut.starts_with("s01 s02 s03") && !cut.contains("s30"),
        "{history}"
    );
    for screen in tui.screens() {
        if let Some(line) = error_line(screen) {
            panic!("an error line appeared: {line:?}\n{screen}");
        }
    }
}
