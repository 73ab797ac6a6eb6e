//! The built binary: `token create → list → revoke`, exit code 2 on a bad configuration, and
//! no token secret in the database file or the log.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_tests::switchboard_binary;

fn switchboard(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(switchboard_binary())
        .args(args)
        .current_dir(dir)
        .env("SWITCHBOARD__SERVER__DATA_DIR", dir.join("data"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn token_create_prints_the_token_alone_then_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let created = stdout(&switchboard(
        dir.path(),
        &[
            "token",
            "create",
            "--role",
            "operator",
            "--name",
            "ci-bot",
            "--expires",
            "30d",
        ],
    ));
    let token = created.trim_end_matches('\n');
    assert!(
        !token.contains('\n'),
        "stdout is the token alone: {created:?}"
    );
    assert!(token.starts_with("sb_") && token.len() == 84, "{token}");
    let id = token.split('_').nth(1).unwrap();

    let listed = stdout(&switchboard(dir.path(), &["token", "list"]));
    let header = listed.lines().next().unwrap();
    for column in [
        "ID",
        "NAME",
        "ROLE",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "REVOKED",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let row = listed
        .lines()
        .find(|l| l.starts_with(id))
        .expect("the token is listed");
    assert!(
        row.contains("ci-bot") && row.contains("operator") && row.ends_with("no"),
        "{row}"
    );
    let secret = token.rsplit('_').next().unwrap();
    assert!(
        !listed.contains(secret) && !listed.contains("argon2"),
        "{listed}"
    );

    stdout(&switchboard(dir.path(), &["token", "revoke", id]));
    let listed = stdout(&switchboard(dir.path(), &["token", "list"]));
    let row = listed.lines().find(|l| l.starts_with(id)).unwrap();
    assert!(!row.ends_with(" no"), "revoked shows its time: {row}");

    let unknown = switchboard(dir.path(), &["token", "revoke", "0000000000000000"]);
    assert_eq!(unknown.status.code(), Some(1));
    let bad_role = switchboard(
        dir.path(),
        &["token", "create", "--role", "root", "--name", "x"],
    );
    assert_eq!(bad_role.status.code(), Some(2));
}

#[test]
fn every_command_exits_2_on_a_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[server]\nport = 99999\n",
    )
    .unwrap();
    for args in [
        &["serve"][..],
        &["migrate"],
        &["token", "list"],
        &["config", "check"],
    ] {
        let out = switchboard(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("server.port"),
            "{args:?}"
        );
    }
}

#[test]
fn migrate_creates_the_sqlite_store_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = switchboard(dir.path(), &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("data/switchboard.db").exists());
    let again = switchboard(dir.path(), &["migrate"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("up to date"));
}

/// Starts `switchboard serve` on an ephemeral port; returns the child and the address it
/// logged. The caller signals and waits for it.
#[allow(clippy::zombie_processes)]
fn spawn_serve(dir: &Path, extra_env: &[(&str, &str)]) -> (std::process::Child, String) {
    let mut cmd = Command::new(switchboard_binary());
    cmd.arg("serve")
        .current_dir(dir)
        .env("SWITCHBOARD__SERVER__DATA_DIR", dir.join("data"))
        .env("SWITCHBOARD__SERVER__PORT", "0")
        .env("SWITCHBOARD__LOG__FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("serve.log")).unwrap());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains("\"listening\"")) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            return (child, v["fields"]["addr"].as_str().unwrap().to_owned());
        }
        assert!(Instant::now() < deadline, "server did not start: {log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm(child: &std::process::Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn wait_exit(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn serve_prints_the_first_admin_token_once_and_no_secret_reaches_the_db_or_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let created = stdout(&switchboard(
        dir.path(),
        &["token", "create", "--role", "viewer", "--name", "v"],
    ));
    let (mut child, addr) = spawn_serve(dir.path(), &[]);
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let (status, body) = switchboard_tests::http::get(addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, _) = switchboard_tests::http::get(addr, "/readyz").await;
    assert_eq!(status, 200);
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
    let mut banner = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut banner)
        .unwrap();
    let admin = banner
        .split_whitespace()
        .find(|w| w.starts_with("sb_"))
        .expect("the banner shows the new admin token")
        .to_owned();

    // A second start creates no second admin token.
    let (mut again, _) = spawn_serve(dir.path(), &[]);
    sigterm(&again);
    assert!(wait_exit(&mut again, Duration::from_secs(10)).success());
    let mut second = String::new();
    again
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut second)
        .unwrap();
    assert!(!second.contains("sb_"), "{second}");

    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("data")).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let stored = String::from_utf8_lossy(&stored);
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    for token in [created.trim(), admin.as_str()] {
        let secret = token.rsplit('_').next().unwrap();
        assert!(
            !stored.contains(secret),
            "secret found in the database files"
        );
        assert!(!log.contains(secret), "secret found in the log");
    }
    assert!(stored.contains("$argon2id$"));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _) = spawn_serve(dir.path(), &[]);
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.lines().any(|l| l.contains("\"stopped\"")), "{log}");
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|_| panic!("not JSON: {line}"));
    }
}

// Scoped tokens (SPEC §18) from the command line.

/// `switchboard ARGS` in `dir` with `env` added.
fn switchboard_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    Command::new(switchboard_binary())
        .args(args)
        .current_dir(dir)
        .env("SWITCHBOARD__SERVER__DATA_DIR", dir.join("data"))
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn token_create_with_agent_and_session_flags_is_listed_with_its_scope() {
    let dir = tempfile::tempdir().unwrap();
    let token = stdout(&switchboard(
        dir.path(),
        &[
            "token",
            "create",
            "--role",
            "viewer",
            "--name",
            "support-viewer",
            "--agent",
            "support",
            "--session",
            "ses_x",
        ],
    ));
    let id = token.trim().split('_').nth(1).unwrap().to_owned();
    stdout(&switchboard(
        dir.path(),
        &[
            "token",
            "create",
            "--role",
            "operator",
            "--name",
            "everywhere",
        ],
    ));

    let listed = stdout(&switchboard(dir.path(), &["token", "list"]));
    assert!(listed.lines().next().unwrap().contains("SCOPE"), "{listed}");
    let row = listed.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(
        row.contains("support-viewer") && row.contains("agent:support,session:ses_x"),
        "{row}"
    );
    let row = listed.lines().find(|l| l.contains("everywhere")).unwrap();
    assert!(
        !row.contains("agent:") && !row.contains("session:"),
        "{row}"
    );
}

#[test]
fn token_create_refuses_a_scoped_admin_token_and_a_share_url_for_two_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let admin = switchboard(
        dir.path(),
        &[
            "token", "create", "--role", "admin", "--name", "a", "--agent", "main",
        ],
    );
    assert_eq!(admin.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&admin.stderr).contains("admin tokens cannot be scoped"),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );
    let two = switchboard(
        dir.path(),
        &[
            "token",
            "create",
            "--role",
            "viewer",
            "--name",
            "v",
            "--session",
            "a",
            "--session",
            "b",
            "--share-url",
        ],
    );
    assert_eq!(two.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&two.stderr).contains("exactly one --session"));
    let listed = stdout(&switchboard(dir.path(), &["token", "list"]));
    assert_eq!(listed.lines().count(), 1, "nothing was created: {listed}");

    // Without a session there is nothing to link to: the token alone.
    let bare = stdout(&switchboard(
        dir.path(),
        &[
            "token",
            "create",
            "--role",
            "viewer",
            "--name",
            "v",
            "--agent",
            "main",
            "--share-url",
        ],
    ));
    assert!(
        bare.trim().starts_with("sb_") && bare.trim().len() == 84,
        "{bare}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn share_url_prints_a_link_to_the_sessions_dashboard_view_with_a_working_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = switchboard_tests::TestServer::start_in(&dir.path().join("data"), &[]).await;
    let mut admin =
        switchboard_tests::WsClient::connected(server.addr, Some(&server.admin_token), "admin")
            .await;
    let sent = admin
        .call(
            "chat.send",
            serde_json::json!({ "agentId": "main", "message": "shared" }),
        )
        .await;
    let session = sent["payload"]["sessionId"].as_str().unwrap().to_owned();

    let port = server.addr.port().to_string();
    let out = switchboard_with(
        dir.path(),
        &[("SWITCHBOARD__SERVER__PORT", &port)],
        &[
            "token",
            "create",
            "--role",
            "viewer",
            "--name",
            "customer",
            "--session",
            &session,
            "--expires",
            "1h",
            "--share-url",
        ],
    );
    let url = stdout(&out);
    let url = url.trim();
    let prefix = format!("http://127.0.0.1:{port}/ui/#/sessions/{session}?token=");
    assert!(url.starts_with(&prefix) && !url.contains('\n'), "{url}");
    let token = &url[prefix.len()..];

    let (status, _) = switchboard_tests::http::get(server.addr, "/ui/").await;
    assert_eq!(status, 200, "the dashboard the link opens is served");
    let mut viewer =
        switchboard_tests::WsClient::connected(server.addr, Some(token), "customer").await;
    let got = viewer
        .call("sessions.get", serde_json::json!({ "sessionId": session }))
        .await;
    assert_eq!(got["ok"], true, "the linked session is readable: {got}");

    let based = switchboard_with(
        dir.path(),
        &[],
        &[
            "token",
            "create",
            "--role",
            "viewer",
            "--name",
            "c2",
            "--session",
            &session,
            "--share-url",
            "--base-url",
            "https://gw.example.com/",
        ],
    );
    let url = stdout(&based);
    assert!(
        url.trim().starts_with(&format!(
            "https://gw.example.com/ui/#/sessions/{session}?token=sb_"
        )),
        "{url}"
    );
}
