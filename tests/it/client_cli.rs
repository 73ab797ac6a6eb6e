//! `switchboard call` and `switchboard watch` (the built binary) against a real server, and
//! `kill -9` of a real `switchboard serve` in the middle of a run.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_api::Role;
use switchboard_tests::{TestServer, WsClient, switchboard_binary};

fn ws_url(server: &TestServer) -> String {
    format!("ws://{}/ws", server.addr)
}

#[tokio::test]
async fn call_prints_each_event_then_the_result_and_fails_on_an_error() {
    let server = TestServer::start(&[]).await;
    let token = server.token(Role::Operator).await;
    let url = ws_url(&server);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(switchboard_binary())
            .args([
                "call",
                "chat.send",
                r#"{"message":"hi there"}"#,
                "--url",
                &url,
                "--token",
                &token,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (result, events) = lines.split_last().unwrap();
    assert_eq!(result["payload"]["content"], "hi there");
    assert_eq!(events.len(), 5, "started, 2 × chat, usage, completed");
    assert!(events.iter().all(|e| e["type"] == "event"));

    let url = ws_url(&server);
    let token = server.token(Role::Viewer).await;
    let out = tokio::task::spawn_blocking(move || {
        Command::new(switchboard_binary())
            .args(["call", "tokens.list", "--url", &url, "--token", &token])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["error"]["code"], "FORBIDDEN");
}

/// Spawns `switchboard watch`; its stdout lines arrive on the channel.
#[allow(clippy::zombie_processes)] // killed and waited for by the caller
fn spawn_watch(url: &str, token: &str, topic: &str) -> (Child, mpsc::Receiver<Value>) {
    let mut child = Command::new(switchboard_binary())
        .args([
            "watch",
            topic,
            "--url",
            url,
            "--token",
            token,
            "--user-id",
            "watcher",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_resumes_after_a_dropped_connection_without_gap_or_duplicate() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "15")]).await;
    let admin = server.token(Role::Admin).await;
    let mut op =
        WsClient::connected(server.addr, Some(&server.token(Role::Operator).await), "op").await;
    let (mut child, lines) = spawn_watch(&ws_url(&server), &admin, "*");
    // Wait until the watcher is subscribed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.state.hub.subscription_count() == 0 {
        assert!(Instant::now() < deadline, "watch did not subscribe");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let words = (0..80)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let call = op.send_req("chat.send", json!({ "message": words })).await;
    let mut printed = Vec::new();
    let mut kicked = false;
    let mut admin_ws = WsClient::connected(server.addr, Some(&admin), "admin").await;
    loop {
        let line = tokio::task::block_in_place(|| lines.recv_timeout(Duration::from_secs(20)))
            .expect("watch prints");
        let done = line["event"] == "agent" && line["payload"]["status"] == "completed";
        printed.push(line);
        if !kicked && printed.len() >= 20 {
            let list = admin_ws.call("connections.list", json!({})).await;
            let id = list["payload"]["connections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["userId"] == "watcher")
                .unwrap_or_else(|| panic!("{list}"))["id"]
                .clone();
            assert_eq!(
                admin_ws
                    .call("connections.kick", json!({ "connectionId": id }))
                    .await["ok"],
                true
            );
            kicked = true;
        }
        if done {
            break;
        }
    }
    assert!(op.response(&call).await["ok"] == true);
    child.kill().unwrap();
    child.wait().unwrap();
    let seqs: Vec<i64> = printed
        .iter()
        .filter_map(|l| l["payload"]["sessionSeq"].as_i64())
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    assert_eq!(
        seqs.len(),
        83,
        "started, 80 × chat, usage, completed: all of them"
    );
}

/// `switchboard serve` as a child on an ephemeral port; returns it and its address.
#[allow(clippy::zombie_processes)] // killed and waited for by the caller
fn spawn_serve(dir: &std::path::Path) -> (Child, std::net::SocketAddr) {
    let log = dir.join(format!("serve-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let child = Command::new(switchboard_binary())
        .arg("serve")
        .current_dir(dir)
        .env("SWITCHBOARD__SERVER__DATA_DIR", dir.join("data"))
        .env("SWITCHBOARD__SERVER__PORT", "0")
        .env("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "40")
        .env("SWITCHBOARD__LOG__FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("\"listening\"")) {
            let v: Value = serde_json::from_str(line).unwrap();
            return (
                child,
                v["fields"]["addr"].as_str().unwrap().parse().unwrap(),
            );
        }
        assert!(Instant::now() < deadline, "server did not start: {text}");
        std::thread::sleep(Duration::from_millis(30));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_in_the_middle_of_a_run_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let token_out = Command::new(switchboard_binary())
        .args(["token", "create", "--role", "operator", "--name", "op"])
        .current_dir(dir.path())
        .env("SWITCHBOARD__SERVER__DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    let token = String::from_utf8(token_out.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let (mut child, addr) = spawn_serve(dir.path());
    let mut op = WsClient::connected(addr, Some(&token), "op").await;
    let acked = op
        .call(
            "chat.send",
            json!({ "message": "acknowledged before the crash" }),
        )
        .await;
    assert_eq!(acked["ok"], true);
    let session = acked["payload"]["sessionId"].as_str().unwrap().to_owned();
    let words = (0..100)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    op.send_req(
        "chat.send",
        json!({ "sessionId": session, "message": words }),
    )
    .await;
    let mut chats = 0;
    while chats < 5 {
        if op.next_json().await.unwrap()["event"] == "chat" {
            chats += 1;
        }
    }
    // A message queued behind the running run is durable once its `queued` event is out.
    op.send_req(
        "chat.send",
        json!({ "sessionId": session, "message": "queued before the crash" }),
    )
    .await;
    loop {
        let e = op.next_json().await.unwrap();
        if e["event"] == "agent" && e["payload"]["status"] == "queued" {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let (mut child, addr) = spawn_serve(dir.path());
    let mut op = WsClient::connected(addr, Some(&token), "op").await;
    let history = op
        .call("chat.history", json!({ "sessionId": session }))
        .await;
    let messages = history["payload"]["messages"].as_array().unwrap();
    let contents: Vec<&str> = messages
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        &contents[..4],
        [
            "acknowledged before the crash",
            "acknowledged before the crash",
            words.as_str(),
            "queued before the crash"
        ]
    );
    let got = op
        .call("sessions.get", json!({ "sessionId": session }))
        .await;
    assert_eq!(got["payload"]["running"], false);
    // The interrupted run is marked failed, and its session's log says so.
    let sub = op
        .call(
            "subscribe",
            json!({ "topic": format!("session:{session}"), "afterSeq": 0 }),
        )
        .await;
    let replayed = sub["payload"]["replayed"].as_u64().unwrap();
    let mut events = std::mem::take(&mut op.events);
    while (events.len() as u64) < replayed {
        events.push(op.next_json().await.unwrap());
    }
    let last = events.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["payload"]["status"].as_str()),
        (Some("agent"), Some("failed")),
        "{replayed} {:?}",
        &events[events.len().saturating_sub(3)..]
    );
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["payload"]["sessionSeq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=replayed as i64).collect::<Vec<_>>(),
        "the log is gap-free across the crash"
    );
    // The session stays usable.
    let again = op
        .call(
            "chat.send",
            json!({ "sessionId": session, "message": "after" }),
        )
        .await;
    assert_eq!(again["payload"]["content"], "after");
    child.kill().unwrap();
    child.wait().unwrap();
}
