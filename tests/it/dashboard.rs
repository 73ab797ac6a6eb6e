//! The dashboard (`/ui/`): how it is served — embedded files, redirects, security headers,
//! ETags, gzip, nothing off-site — over real HTTP; and what people see in it, in a real headless
//! Chromium: a viewer watching a reply grow and surviving a reload mid-stream, a viewer without
//! approve buttons while an operator approves from the page, an admin revoking a token whose
//! open page returns to sign-in. Every browser test asserts an empty console (no error, no
//! warning). Browser tests say `skipped:` where Chromium and chromedriver are not installed.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_api::Role;
use switchboard_tests::{Browser, OpenAiStub, Reply, TestServer, WsClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// How long a browser test waits for something the page should show.
const SHOW: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Serving, over HTTP

/// One HTTP response, its body as bytes.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` with `headers` over a fresh connection.
async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let response = Response {
        status,
        headers,
        body,
    };
    if let Some(len) = response.header("content-length") {
        assert_eq!(
            response.body.len(),
            len.parse::<usize>().unwrap(),
            "{path}: body length"
        );
    }
    response
}

fn assert_security_headers(r: &Response, what: &str) {
    assert_eq!(r.header("content-security-policy"), Some(CSP), "{what}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
}

/// Every file under `server/ui/` as (path relative to it, bytes).
fn ui_files() -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let rel = format!("{prefix}{name}");
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &format!("{rel}/"), out);
            } else {
                out.push((rel, std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../server/ui");
    let mut out = Vec::new();
    walk(&root, "", &mut out);
    out.sort();
    assert!(
        out.iter().any(|(p, _)| p == "index.html"),
        "server/ui/index.html exists"
    );
    out
}

fn content_type_for(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap() {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        other => panic!("{path}: unexpected extension .{other}"),
    }
}

#[tokio::test]
async fn the_root_and_bare_ui_redirect_permanently_to_ui_slash() {
    let server = TestServer::start(&[]).await;
    for path in ["/", "/ui"] {
        let r = get(server.addr, path, &[]).await;
        assert_eq!(r.status, 308, "{path}");
        assert_eq!(r.header("location"), Some("/ui/"), "{path}");
        assert_security_headers(&r, path);
    }
}

#[tokio::test]
async fn ui_slash_serves_the_page_with_strict_security_headers_and_revalidation() {
    let server = TestServer::start(&[]).await;
    let r = get(server.addr, "/ui/", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_security_headers(&r, "/ui/");
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let etag = r.header("etag").expect("an ETag");
    assert!(
        etag.len() == 66
            && etag.starts_with('"')
            && etag.ends_with('"')
            && etag[1..65].bytes().all(|b| b.is_ascii_hexdigit()),
        "a quoted SHA-256: {etag}"
    );
    let index =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../server/ui/index.html"))
            .unwrap();
    assert_eq!(r.body, index, "/ui/ is index.html");
    assert_eq!(get(server.addr, "/ui/index.html", &[]).await.body, index);
}

#[tokio::test]
async fn every_file_under_server_ui_is_served_with_its_bytes_and_content_type() {
    let server = TestServer::start(&[]).await;
    for (path, bytes) in ui_files() {
        let r = get(server.addr, &format!("/ui/{path}"), &[]).await;
        assert_eq!(r.status, 200, "/ui/{path}");
        assert_eq!(
            r.header("content-type"),
            Some(content_type_for(&path)),
            "/ui/{path}"
        );
        assert_eq!(
            r.header("content-encoding"),
            None,
            "/ui/{path}: not asked for gzip"
        );
        assert_security_headers(&r, &path);
        assert!(r.body == bytes, "/ui/{path}: the file's bytes");
    }
}

#[tokio::test]
async fn an_unchanged_file_answers_304_to_its_etag() {
    let server = TestServer::start(&[]).await;
    let first = get(server.addr, "/ui/app.js", &[]).await;
    let etag = first.header("etag").unwrap().to_owned();
    for presented in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"nope\", {etag}"),
        "*".to_owned(),
    ] {
        let r = get(server.addr, "/ui/app.js", &[("If-None-Match", &presented)]).await;
        assert_eq!(r.status, 304, "If-None-Match: {presented}");
        assert!(r.body.is_empty());
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        assert_security_headers(&r, "304");
    }
    let other = get(server.addr, "/ui/app.js", &[("If-None-Match", "\"0000\"")]).await;
    assert_eq!(other.status, 200, "another tag gets the file");
    assert_eq!(other.body, first.body);
    let index = get(server.addr, "/ui/", &[]).await;
    assert_ne!(
        index.header("etag"),
        Some(etag.as_str()),
        "one tag per file"
    );
}

#[tokio::test]
async fn files_are_gzipped_when_the_client_accepts_it_and_decode_to_the_same_bytes() {
    let server = TestServer::start(&[]).await;
    for path in ["/ui/", "/ui/app.js", "/ui/style.css"] {
        let plain = get(server.addr, path, &[]).await;
        let gz = get(
            server.addr,
            path,
            &[("Accept-Encoding", "gzip, deflate, br")],
        )
        .await;
        assert_eq!(gz.status, 200, "{path}");
        assert_eq!(gz.header("content-encoding"), Some("gzip"), "{path}");
        assert_eq!(gz.header("vary"), Some("Accept-Encoding"), "{path}");
        assert_eq!(gz.header("etag"), plain.header("etag"), "{path}");
        assert_eq!(
            gz.header("content-type"),
            plain.header("content-type"),
            "{path}"
        );
        assert_security_headers(&gz, path);
        assert!(gz.body.len() < plain.body.len(), "{path}: smaller");
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(gz.body.as_slice())
            .read_to_end(&mut decoded)
            .unwrap();
        assert!(decoded == plain.body, "{path}: decodes to the file");
        let refused = get(server.addr, path, &[("Accept-Encoding", "gzip;q=0, br")]).await;
        assert_eq!(refused.header("content-encoding"), None, "{path}: gzip;q=0");
    }
}

#[tokio::test]
async fn unknown_paths_under_ui_are_404_with_the_security_headers() {
    let server = TestServer::start(&[]).await;
    for path in [
        "/ui/nope.js",
        "/ui/js/",
        "/ui/js",
        "/ui/index.html.bak",
        "/ui/../Cargo.toml",
        "/ui/%2e%2e/Cargo.toml",
        "/ui//index.html",
        "/index.html",
    ] {
        let r = get(server.addr, path, &[]).await;
        assert_eq!(r.status, 404, "{path}");
        if path.starts_with("/ui/") {
            assert_security_headers(&r, path);
        }
    }
}

#[test]
fn the_page_loads_nothing_off_site_and_has_no_inline_script_or_style() {
    for (path, bytes) in ui_files() {
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        // SVG's XML namespace is a name, not a place the browser goes.
        let text = text
            .replace("http://www.w3.org/2000/svg", "")
            .replace("http://www.w3.org/1999/xlink", "");
        for scheme in ["http://", "https://", "//cdn", "@import url("] {
            assert!(!text.contains(scheme), "{path} refers to {scheme}…");
        }
        if path.ends_with(".html") {
            let lower = text.to_ascii_lowercase();
            for (i, _) in lower.match_indices("<script") {
                let tag = &lower[i..i + lower[i..].find('>').unwrap()];
                assert!(tag.contains(" src="), "{path}: inline script {tag}>");
            }
            assert!(!lower.contains("<style"), "{path}: a <style> element");
            assert!(!lower.contains(" style="), "{path}: a style attribute");
            assert!(!lower.contains("javascript:"), "{path}: a javascript: URL");
            for handler in [
                " onclick=",
                " onload=",
                " onsubmit=",
                " onerror=",
                " oninput=",
            ] {
                assert!(!lower.contains(handler), "{path}: inline handler {handler}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// In the browser

/// `Browser::start`, or `None` after the skip message.
async fn browser() -> Option<Browser> {
    Browser::start().await
}

/// Opens the dashboard at `route` (e.g. `#/sessions`), signs in with `token` and waits until
/// the page is live as `role`.
async fn sign_in(b: &Browser, server: &TestServer, route: &str, token: &str, role: &str) {
    b.goto(&format!("{}/ui/{route}", server.http_url())).await;
    b.wait_for("body[data-state=signin] [data-testid=token]", SHOW)
        .await;
    b.type_into("[data-testid=token]", token).await;
    b.click("[data-testid=signin]").await;
    b.wait_for(&format!("body[data-state=live][data-role={role}]"), SHOW)
        .await;
    b.wait_js(
        &format!("document.querySelector('[data-testid=whoami]').textContent.includes('{role}')"),
        SHOW,
    )
    .await;
}

/// No console error or warning, and no error caught in the page's own listeners (which it
/// counts in `body[data-bugs]` rather than throwing).
async fn assert_quiet_console(b: &Browser, who: &str) {
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "{who}'s console: {errors:#?}");
    let bugs = b
        .js(
            "return [document.body.getAttribute('data-bugs'), document.body.getAttribute('data-last-bug')];",
            vec![],
        )
        .await;
    assert_eq!(bugs[0], Value::Null, "{who}'s page caught errors: {bugs}");
}

/// The selector of the message of `role` in run `run`.
fn message(role: &str, run: &str) -> String {
    format!("[data-testid=message][data-role={role}][data-run-id=\"{run}\"]")
}

#[tokio::test]
async fn a_viewer_watches_a_reply_grow_word_by_word_and_a_reload_mid_stream_shows_it_once() {
    let Some(b) = browser().await else { return };
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "100")]).await;
    let viewer = server.token(Role::Viewer).await;

    // The root leads to the page; a viewer signs in and sees the overview.
    b.goto(&format!("{}/", server.http_url())).await;
    assert!(
        b.url().await.contains("/ui/"),
        "redirected: {}",
        b.url().await
    );
    b.wait_for("body[data-state=signin]", SHOW).await;
    assert_eq!(b.text_of("[data-testid=signin-reason]").await, "");
    b.screenshot("signin").await;
    b.type_into("[data-testid=token]", &viewer).await;
    b.click("[data-testid=signin]").await;
    b.wait_for("body[data-state=live][data-role=viewer]", SHOW)
        .await;
    b.wait_for("[data-testid=overview]", SHOW).await;
    b.wait_js(
        "document.querySelector('[data-testid=stat-version]').textContent.trim().length > 0",
        SHOW,
    )
    .await;
    assert!(
        !b.visible("[data-testid=nav-admin]").await,
        "no admin link for a viewer"
    );
    b.screenshot("overview-empty").await;

    // The sessions view shows a session as soon as an operator starts one.
    b.click("[data-testid=nav-sessions]").await;
    b.wait_present("[data-testid=sessions-table]", SHOW).await;
    let text = "Switchboard streams every reply to everyone watching the session, one word at a \
                time. A viewer who reloads the page in the middle of a reply picks the stream up \
                where it was: nothing is lost and nothing is shown twice, because the page resumes \
                from the last event it rendered.";
    assert!(text.split(' ').count() >= 40);
    let operator = server.token(Role::Operator).await;
    let mut op = WsClient::connected(server.addr, Some(&operator), "op").await;
    let send = op
        .send_req("chat.send", json!({ "agentId": "main", "message": text }))
        .await;
    let row = b
        .wait_for("[data-testid=session-row][data-session-id]", SHOW)
        .await;
    let session = row.attr("data-session-id").await.unwrap().unwrap();
    b.wait_for(
        &format!("[data-testid=session-row][data-session-id=\"{session}\"] [data-testid=running]"),
        SHOW,
    )
    .await;
    b.screenshot("sessions").await;

    // Opening it shows the reply growing word by word.
    b.click(&format!(
        "[data-testid=session-row][data-session-id=\"{session}\"]"
    ))
    .await;
    b.wait_for("[data-testid=transcript]", SHOW).await;
    assert!(
        b.url().await.ends_with(&format!("#/sessions/{session}")),
        "{}",
        b.url().await
    );
    let reply = b
        .wait_for("[data-testid=message][data-role=assistant]", SHOW)
        .await;
    let run = reply.attr("data-run-id").await.unwrap().expect("a run id");
    let mut seen: Vec<usize> = Vec::new();
    let deadline = Instant::now() + SHOW;
    while seen.len() < 4 {
        let now = b
            .text_of(&format!(
                "{} [data-testid=message-text]",
                message("assistant", &run)
            ))
            .await;
        let now = now.trim();
        assert!(
            text.starts_with(now),
            "the reply so far is a prefix of the message: {now:?}"
        );
        if seen.last() != Some(&now.len()) {
            assert!(
                seen.last().is_none_or(|&last| last < now.len()),
                "the reply only grows"
            );
            seen.push(now.len());
        }
        assert!(
            now.len() < text.len(),
            "the run ended before the page saw it grow: {seen:?}"
        );
        assert!(
            Instant::now() < deadline,
            "the reply did not grow: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    b.screenshot("session-streaming").await;

    // A reload mid-stream shows the whole reply once, live to the end.
    b.reload().await;
    b.wait_for("body[data-state=live]", SHOW).await;
    b.wait_for("[data-testid=transcript]", SHOW).await;
    let assistant = message("assistant", &run);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let replies = b
            .texts(&format!("{assistant} [data-testid=message-text]"))
            .await;
        assert!(replies.len() <= 1, "the reply shown twice: {replies:?}");
        if replies.first().map(|t| t.trim()) == Some(text) {
            break;
        }
        if let Some(now) = replies.first() {
            assert!(
                text.starts_with(now.trim()),
                "a prefix of the message: {now:?}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "the whole reply never showed: {replies:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res = op.response(&send).await;
    assert_eq!(res["payload"]["content"], text, "{res}");
    // Settled: still exactly one reply and one user message for the run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b.texts(&format!("{assistant} [data-testid=message-text]"))
            .await
            .len(),
        1
    );
    let users = b
        .texts(&format!(
            "{} [data-testid=message-text]",
            message("user", &run)
        ))
        .await;
    assert_eq!(users.iter().map(|t| t.trim()).collect::<Vec<_>>(), [text]);
    assert_eq!(
        b.count("[data-testid=message]").await,
        2,
        "one user message, one reply"
    );
    b.screenshot("session").await;

    // The overview counts the session and the events of its run.
    b.click("[data-testid=nav-overview]").await;
    b.wait_js(
        "document.querySelector('[data-testid=stat-sessions]').textContent.includes('1')",
        SHOW,
    )
    .await;
    // One more short run while the overview is open, so its feed has something to show.
    let thanks = op
        .call(
            "chat.send",
            json!({ "sessionId": session, "message": "Thanks, that is all." }),
        )
        .await;
    assert_eq!(thanks["ok"], true, "{thanks}");
    b.poll_js(
        "!document.querySelector('[data-testid=overview]').textContent.includes('No events yet')",
        Duration::from_secs(3),
    )
    .await;
    b.doc_screenshot("overview", "dashboard-overview.png").await;

    assert_quiet_console(&b, "the viewer").await;
}

/// A gateway whose agent `gpt` (on `stub`) may call `exec` (allowing `echo`), which needs
/// approval.
async fn gateway_with_exec(stub: &OpenAiStub) -> TestServer {
    let base = stub.base_url();
    TestServer::start(&[
        ("SWITCHBOARD__AGENTS__GPT__KIND", "openai"),
        ("SWITCHBOARD__AGENTS__GPT__BASE_URL", base.as_str()),
        ("SWITCHBOARD__AGENTS__GPT__MODEL", "testmodel"),
        ("SWITCHBOARD__AGENTS__GPT__API_KEY_ENV", "CARGO_PKG_NAME"),
        ("SWITCHBOARD__AGENTS__GPT__TOOLS", "exec"),
        ("SWITCHBOARD__TOOLS__EXEC__ALLOWED_COMMANDS", "echo"),
        ("SWITCHBOARD__PRICING__TESTMODEL__INPUT_PER_MILLION", "3"),
        ("SWITCHBOARD__PRICING__TESTMODEL__OUTPUT_PER_MILLION", "15"),
    ])
    .await
}

/// What the model says once `exec` has run.
const REPLY: &str = "The build machine says hi.";

#[tokio::test]
async fn a_viewer_sees_no_approve_button_while_an_operator_approves_from_the_page() {
    let Some(viewer_page) = browser().await else {
        return;
    };
    let Some(operator_page) = browser().await else {
        return;
    };
    let stub = OpenAiStub::start(vec![
        Reply::tool_calls(
            &[(
                "call_x",
                "exec",
                &["{\"command\":\"echo\",\"args\":[\"hi\"]}"],
            )],
            (5, 5),
        ),
        Reply::text(&["The build ", "machine says ", "hi."], (42, 6)),
    ])
    .await;
    let server = gateway_with_exec(&stub).await;
    let viewer = server.token(Role::Viewer).await;
    let operator = server.token(Role::Operator).await;
    let mut watcher = WsClient::connected(server.addr, Some(&viewer), "watcher").await;
    watcher.call("subscribe", json!({ "topic": "*" })).await;

    // An operator's client starts a run that waits for approval.
    let mut op = WsClient::connected(server.addr, Some(&operator), "op").await;
    let send = op
        .send_req(
            "chat.send",
            json!({ "agentId": "gpt", "message": "Ask the build machine to say hi." }),
        )
        .await;
    let requested = loop {
        let e = watcher.next_json().await.unwrap();
        if e["event"] == "approval.requested" {
            break e;
        }
    };
    let approval = requested["payload"]["approvalId"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = watcher.call("approvals.list", json!({})).await;
    let pending = &listed["payload"]["approvals"][0];
    assert_eq!(pending["approvalId"], approval.as_str(), "{listed}");
    let session = pending["sessionId"].as_str().unwrap().to_owned();
    let card = format!("[data-testid=approval][data-approval-id=\"{approval}\"]");

    // The viewer sees it, read-only, in the approvals view and in the session.
    sign_in(&viewer_page, &server, "#/approvals", &viewer, "viewer").await;
    viewer_page.wait_for("[data-testid=approvals]", SHOW).await;
    viewer_page.wait_for(&card, SHOW).await;
    assert!(viewer_page.text_of(&card).await.contains("exec"));
    for control in ["approve", "deny", "deny-reason"] {
        assert_eq!(
            viewer_page.count(&format!("[data-testid={control}]")).await,
            0,
            "a viewer has no {control} control"
        );
    }
    viewer_page.screenshot("approvals-viewer").await;
    viewer_page
        .goto(&format!("{}/ui/#/sessions/{session}", server.http_url()))
        .await;
    viewer_page
        .wait_for(&format!("[data-testid=transcript] {card}"), SHOW)
        .await;
    assert_eq!(viewer_page.count("[data-testid=approve]").await, 0);

    // The operator approves it from the session's page.
    sign_in(
        &operator_page,
        &server,
        &format!("#/sessions/{session}"),
        &operator,
        "operator",
    )
    .await;
    operator_page
        .wait_for(&format!("{card} [data-testid=approve]"), SHOW)
        .await;
    operator_page.screenshot("approval-operator").await;
    operator_page
        .click(&format!("{card} [data-testid=approve]"))
        .await;
    let resolved = loop {
        let e = watcher.next_json().await.unwrap();
        if e["event"] == "approval.resolved" {
            break e;
        }
    };
    assert_eq!(resolved["payload"]["approvalId"], approval.as_str());
    assert_eq!(resolved["payload"]["approved"], true, "{resolved}");
    let res = op.response(&send).await;
    assert_eq!(res["payload"]["content"], REPLY, "{res}");

    // Both pages show the run going on: the approval decided, the reply there; no controls.
    for (page, who) in [(&viewer_page, "viewer"), (&operator_page, "operator")] {
        page.wait_js(
            &format!(
                "(document.querySelector('[data-testid=message][data-role=assistant] \
                 [data-testid=message-text]') || {{}}).textContent === '{REPLY}'"
            ),
            SHOW,
        )
        .await;
        page.wait_js(
            &format!("document.querySelector('{card}').textContent.includes('approved')"),
            SHOW,
        )
        .await;
        page.wait_gone(&format!("{card} [data-testid=approve]"), SHOW)
            .await;
        page.wait_js(
            "document.querySelector('[data-testid=run-status]').textContent.trim() === 'completed'",
            SHOW,
        )
        .await;
        page.screenshot(&format!("session-approved-{who}")).await;
    }
    operator_page
        .doc_screenshot("session", "dashboard-session.png")
        .await;
    assert_eq!(viewer_page.count("[data-testid=approve]").await, 0);
    let stored = op.call("approvals.list", json!({})).await;
    assert_eq!(stored["payload"]["approvals"], json!([]), "{stored}");

    assert_quiet_console(&viewer_page, "the viewer").await;
    assert_quiet_console(&operator_page, "the operator").await;
}

#[tokio::test]
async fn an_admin_revokes_a_token_and_its_open_page_returns_to_sign_in_with_the_reason() {
    let Some(victim_page) = browser().await else {
        return;
    };
    let Some(admin_page) = browser().await else {
        return;
    };
    let server = TestServer::start(&[]).await;
    let victim = server
        .state
        .verifier
        .create("wallboard", Role::Viewer, None)
        .await
        .unwrap();

    sign_in(&victim_page, &server, "#/sessions", &victim.token, "viewer").await;
    victim_page
        .wait_present("[data-testid=sessions-table]", SHOW)
        .await;
    assert!(!victim_page.visible("[data-testid=nav-admin]").await);

    sign_in(
        &admin_page,
        &server,
        "#/overview",
        &server.admin_token,
        "admin",
    )
    .await;
    admin_page.click("[data-testid=nav-admin]").await;
    assert!(admin_page.url().await.ends_with("#/admin"));
    admin_page
        .wait_for(
            "[data-testid=connections] [data-testid=connection-row]",
            SHOW,
        )
        .await;
    admin_page.wait_for("[data-testid=audit]", SHOW).await;
    let row = format!("[data-testid=token-row][data-token-id=\"{}\"]", victim.id);
    admin_page.wait_for(&row, SHOW).await;
    assert!(admin_page.text_of(&row).await.contains("wallboard"));
    admin_page.screenshot("admin").await;
    admin_page
        .click(&format!("{row} [data-testid=revoke]"))
        .await;

    // The revoked token's page is back at sign-in, saying why; its token is forgotten.
    victim_page.wait_for("body[data-state=signin]", SHOW).await;
    victim_page
        .wait_js(
            "document.querySelector('[data-testid=signin-reason]').textContent.includes('revoked')",
            SHOW,
        )
        .await;
    assert!(!victim_page.visible("[data-testid=transcript]").await);
    assert_eq!(
        victim_page
            .js("return window.sessionStorage.getItem('sb.token');", vec![])
            .await,
        Value::Null,
        "the revoked token is not kept"
    );
    victim_page.screenshot("signin-revoked").await;
    // A reload stays at sign-in.
    victim_page.reload().await;
    victim_page.wait_for("body[data-state=signin]", SHOW).await;

    // The admin's page shows the token revoked.
    admin_page
        .wait_js(
            &format!(
                "document.querySelector('{row}').textContent.toLowerCase().includes('revoked')"
            ),
            SHOW,
        )
        .await;
    admin_page
        .wait_gone(&format!("{row} [data-testid=revoke]"), SHOW)
        .await;

    assert_quiet_console(&victim_page, "the revoked viewer").await;
    assert_quiet_console(&admin_page, "the admin").await;
}
