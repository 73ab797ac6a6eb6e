//! Hostile input to tools and from model servers: `calc` expressions built to exhaust the stack,
//! `exec` children that must not see the server's secrets or hang on a chatty stderr, `http.get`
//! aimed at loopback or redirected off its allowlist, and a model server that sends a huge
//! tool-call index or an endless SSE line. The inputs that crashed the process before are sent
//! to the real binary, so that a crash fails one test instead of the whole test binary.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_api::Role;
use switchboard_tests::binary::ServeProcess;
use switchboard_tests::{OpenAiStub, Reply, TestServer, WsClient};

const ADMIN_SECRET: &str = "hostile-tools-admin-secret-7f3a";
const MODEL_KEY: &str = "sk-hostile-tools-model-key-91c2";

/// `switchboard serve` as a child process, with this module's admin token.
struct Serve(ServeProcess);

impl std::ops::Deref for Serve {
    type Target = ServeProcess;
    fn deref(&self) -> &ServeProcess {
        &self.0
    }
}

impl Serve {
    /// Starts the binary with `env` besides its data directory, port and admin token.
    fn start(env: &[(&str, &str)]) -> Serve {
        Serve(ServeProcess::start(ADMIN_SECRET, env))
    }

    /// An operator connection, through a token the admin creates.
    async fn operator(&self) -> WsClient {
        let mut admin = WsClient::connected(self.addr, Some(ADMIN_SECRET), "admin").await;
        let created = admin
            .call(
                "tokens.create",
                json!({ "name": "hostile-op", "role": "operator" }),
            )
            .await;
        let token = created["payload"]["token"].as_str().unwrap().to_owned();
        WsClient::connected(self.addr, Some(&token), "op").await
    }

    /// Whether the process is still running.
    fn alive(&mut self) -> bool {
        self.0.is_running()
    }
}

/// Environment for agent `gpt` on `stub` (its API key from the variable `key_env`), exec
/// without approval.
fn gpt_env(stub: &OpenAiStub, key_env: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SWITCHBOARD__AGENTS__GPT__KIND", "openai".to_owned()),
        ("SWITCHBOARD__AGENTS__GPT__BASE_URL", stub.base_url()),
        ("SWITCHBOARD__AGENTS__GPT__MODEL", "testmodel".to_owned()),
        ("SWITCHBOARD__AGENTS__GPT__API_KEY_ENV", key_env.to_owned()),
        (
            "SWITCHBOARD__AGENTS__GPT__TOOLS",
            "calc,exec,http.get".to_owned(),
        ),
        (
            "SWITCHBOARD__AGENTS__GPT__REQUEST_TIMEOUT_S",
            "10".to_owned(),
        ),
        (
            "SWITCHBOARD__TOOLS__EXEC__REQUIRE_APPROVAL",
            "false".to_owned(),
        ),
    ]
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// An in-process gateway with agent `gpt` on `stub` and `extra` settings.
async fn gateway(stub: &OpenAiStub, extra: &[(&str, &str)]) -> TestServer {
    let env = gpt_env(stub, "CARGO_PKG_NAME");
    let mut env = as_refs(&env);
    env.extend_from_slice(extra);
    TestServer::start(&env).await
}

async fn operator(server: &TestServer) -> WsClient {
    let token = server.token(Role::Operator).await;
    WsClient::connected(server.addr, Some(&token), "op").await
}

fn events_named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

/// The first `tool.result` among `events`.
fn tool_result(events: &[Value]) -> Value {
    events_named(events, "tool.result")
        .first()
        .map(|e| e["payload"].clone())
        .unwrap_or_else(|| panic!("no tool.result in {events:?}"))
}

/// The error of the last `agent` event (the run's end).
fn run_error(events: &[Value]) -> String {
    let ended = events_named(events, "agent").into_iter().last().unwrap();
    assert_eq!(ended["payload"]["status"], "failed", "{ended}");
    ended["payload"]["error"].as_str().unwrap().to_owned()
}

/// Asks the echo agent to run `/tool calc` on `expr`; returns the `tool.result` payload.
async fn echo_calc(c: &mut WsClient, expr: &str) -> Value {
    c.events.clear();
    let message = format!("/tool calc {}", json!({ "expr": expr }));
    let res = c
        .call(
            "chat.send",
            json!({ "agentId": "main", "message": message }),
        )
        .await;
    assert_eq!(res["ok"], true, "the run itself succeeds: {res}");
    tool_result(&c.events)
}

async fn assert_healthy(addr: SocketAddr, token: Option<&str>) {
    let mut fresh = WsClient::connected(addr, token, "after").await;
    let health = fresh.call("health", json!({})).await;
    assert_eq!(health["payload"]["status"], "ok", "{health}");
}

#[tokio::test]
async fn calc_of_60_000_minus_signs_is_a_clear_tool_error_and_the_server_lives() {
    let mut server = Serve::start(&[]);
    let mut c = server.operator().await;
    let expr = format!("{}1", "-".repeat(60_000));
    let result = echo_calc(&mut c, &expr).await;
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(
        result["output"],
        "the expression is 60001 bytes long; at most 4096 are allowed"
    );
    assert_eq!(c.call("health", json!({})).await["payload"]["status"], "ok");
    assert_healthy(server.addr, Some(ADMIN_SECRET)).await;
    assert!(server.alive());
}

#[tokio::test]
async fn calc_of_60_000_nested_parentheses_is_a_clear_tool_error_and_the_server_lives() {
    let mut server = Serve::start(&[("SWITCHBOARD__LIMITS__MAX_MESSAGE_BYTES", "262144")]);
    let mut c = server.operator().await;
    let expr = format!("{}1{}", "(".repeat(60_000), ")".repeat(60_000));
    let result = echo_calc(&mut c, &expr).await;
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(
        result["output"],
        "the expression is 120001 bytes long; at most 4096 are allowed"
    );
    assert_eq!(c.call("health", json!({})).await["payload"]["status"], "ok");
    assert_healthy(server.addr, Some(ADMIN_SECRET)).await;
    assert!(server.alive());
}

#[tokio::test]
async fn calc_nesting_deeper_than_64_levels_is_a_clear_tool_error() {
    let server = TestServer::start(&[]).await;
    let mut c = operator(&server).await;
    let at_bound = echo_calc(&mut c, &format!("{}1", "-".repeat(64))).await;
    assert_eq!(
        (at_bound["isError"].as_bool(), &at_bound["output"]),
        (Some(false), &json!({ "value": 1 }))
    );
    for expr in [
        format!("{}1", "-".repeat(65)),
        format!("{}1{}", "(".repeat(65), ")".repeat(65)),
        format!("{}1{}", "-(".repeat(33), ")".repeat(33)),
        format!("{}1", "-".repeat(4000)),
    ] {
        let result = echo_calc(&mut c, &expr).await;
        assert_eq!(result["isError"], true, "{result}");
        assert_eq!(result["output"], "expression nests deeper than 64 levels");
    }
}

/// Runs `calls` (`(id, tool, arguments)`) through agent `gpt` on `server` and returns the
/// `tool.result` payloads in order.
async fn run_tools(c: &mut WsClient, stub_len: usize) -> Vec<Value> {
    c.events.clear();
    let res = c
        .call("chat.send", json!({ "agentId": "gpt", "message": "go" }))
        .await;
    assert_eq!(res["payload"]["content"], "done", "{res}");
    let results: Vec<Value> = events_named(&c.events, "tool.result")
        .into_iter()
        .map(|e| e["payload"].clone())
        .collect();
    assert_eq!(results.len(), stub_len);
    results
}

fn tool_script(calls: &[(&str, &str, String)]) -> Vec<Reply> {
    let calls: Vec<(&str, &str, [&str; 1])> = calls
        .iter()
        .map(|(id, tool, args)| (*id, *tool, [args.as_str()]))
        .collect();
    let calls: Vec<(&str, &str, &[&str])> = calls
        .iter()
        .map(|(id, tool, args)| (*id, *tool, &args[..]))
        .collect();
    vec![
        Reply::tool_calls(&calls, (1, 1)),
        Reply::text(&["done"], (1, 1)),
    ]
}

#[tokio::test]
async fn an_exec_child_sees_only_the_variables_tools_exec_env_lists() {
    let stub = OpenAiStub::start(tool_script(&[(
        "e1",
        "exec",
        json!({ "command": "env" }).to_string(),
    )]))
    .await;
    let env = gpt_env(&stub, "HOSTILE_TOOLS_MODEL_KEY");
    let mut env = as_refs(&env);
    env.extend([
        ("HOSTILE_TOOLS_MODEL_KEY", MODEL_KEY),
        ("HOSTILE_TOOLS_VISIBLE", "shown-to-children"),
        ("HOSTILE_TOOLS_HIDDEN", "kept-from-children"),
        ("SWITCHBOARD__TOOLS__EXEC__ALLOWED_COMMANDS", "env"),
        (
            "SWITCHBOARD__TOOLS__EXEC__ENV",
            "PATH,HOSTILE_TOOLS_VISIBLE",
        ),
    ]);
    let server = Serve::start(&env);
    let mut c = server.operator().await;
    let results = run_tools(&mut c, 1).await;
    assert_eq!(results[0]["isError"], false, "{}", results[0]);
    let stdout = results[0]["output"]["stdout"].as_str().unwrap();
    assert!(
        stdout.contains("HOSTILE_TOOLS_VISIBLE=shown-to-children"),
        "{stdout}"
    );
    assert!(stdout.contains("PATH="), "{stdout}");
    for secret in [
        ADMIN_SECRET,
        MODEL_KEY,
        "SWITCHBOARD__",
        "HOSTILE_TOOLS_MODEL_KEY",
        "kept-from-children",
    ] {
        assert!(!stdout.contains(secret), "{secret} leaked: {stdout}");
    }
    assert_eq!(
        stdout.lines().count(),
        2,
        "nothing but the listed variables: {stdout}"
    );
    assert_eq!(
        stub.authorizations()[0].as_deref(),
        Some(format!("Bearer {MODEL_KEY}").as_str()),
        "the key was in the server's environment"
    );
}

#[tokio::test]
async fn an_exec_child_runs_in_the_data_directorys_exec_directory() {
    let stub = OpenAiStub::start(tool_script(&[(
        "e1",
        "exec",
        json!({ "command": "pwd" }).to_string(),
    )]))
    .await;
    let env = gpt_env(&stub, "HOSTILE_TOOLS_MODEL_KEY");
    let mut env = as_refs(&env);
    env.extend([
        ("HOSTILE_TOOLS_MODEL_KEY", MODEL_KEY),
        ("SWITCHBOARD__TOOLS__EXEC__ALLOWED_COMMANDS", "pwd"),
    ]);
    let server = Serve::start(&env);
    let mut c = server.operator().await;
    let results = run_tools(&mut c, 1).await;
    let expected = std::fs::canonicalize(server.dir.path().join("data/exec")).unwrap();
    assert_eq!(
        results[0]["output"]["stdout"],
        format!("{}\n", expected.display())
    );
}

#[tokio::test]
async fn an_exec_child_runs_in_the_configured_workdir() {
    let workdir = tempfile::tempdir().unwrap();
    let inner = workdir.path().join("made/for/exec");
    let stub = OpenAiStub::start(tool_script(&[(
        "e1",
        "exec",
        json!({ "command": "pwd" }).to_string(),
    )]))
    .await;
    let inner_text = inner.display().to_string();
    let server = gateway(
        &stub,
        &[
            ("SWITCHBOARD__TOOLS__EXEC__ALLOWED_COMMANDS", "pwd"),
            ("SWITCHBOARD__TOOLS__EXEC__WORKDIR", &inner_text),
        ],
    )
    .await;
    let mut c = operator(&server).await;
    let results = run_tools(&mut c, 1).await;
    let expected = std::fs::canonicalize(&inner).expect("created when missing");
    assert_eq!(
        results[0]["output"]["stdout"],
        format!("{}\n", expected.display())
    );
}

#[tokio::test]
async fn an_exec_child_that_floods_stderr_before_stdout_finishes_promptly() {
    let script = "yes e | head -c 200000 >&2; echo done";
    let stub = OpenAiStub::start(tool_script(&[(
        "e1",
        "exec",
        json!({ "command": "sh", "args": ["-c", script] }).to_string(),
    )]))
    .await;
    let server = gateway(
        &stub,
        &[
            ("SWITCHBOARD__TOOLS__EXEC__ALLOWED_COMMANDS", "sh"),
            ("SWITCHBOARD__TOOLS__EXEC__TIMEOUT_S", "20"),
        ],
    )
    .await;
    let mut c = operator(&server).await;
    let started = Instant::now();
    let results = run_tools(&mut c, 1).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let output = &results[0]["output"];
    assert_eq!(results[0]["isError"], false, "{}", results[0]);
    assert_eq!(output["stdout"], "done\n");
    assert_eq!(output["exitCode"], 0);
    assert_eq!(
        output["stderr"].as_str().unwrap().len(),
        65_536,
        "stderr is kept up to max_output_bytes"
    );
    assert_eq!(output["truncated"], true);
}

/// One `http.get` of `url` through agent `gpt` with `extra` settings; the `tool.result`.
async fn http_get(url: &str, extra: &[(&str, &str)]) -> Value {
    let stub = OpenAiStub::start(tool_script(&[(
        "g1",
        "http_get",
        json!({ "url": url }).to_string(),
    )]))
    .await;
    let server = gateway(&stub, extra).await;
    let mut c = operator(&server).await;
    run_tools(&mut c, 1).await.remove(0)
}

#[tokio::test]
async fn http_get_refuses_a_loopback_address_by_default() {
    let page = OpenAiStub::start(vec![]).await;
    let result = http_get(
        &format!("http://{}/hello", page.addr),
        &[("SWITCHBOARD__TOOLS__HTTP_GET__ALLOWED_HOSTS", "127.0.0.1")],
    )
    .await;
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(
        result["output"],
        "refused: 127.0.0.1 is a loopback address (tools.\"http.get\".allow_private is false)"
    );
}

#[tokio::test]
async fn http_get_refuses_a_name_that_resolves_to_loopback_by_default() {
    let page = OpenAiStub::start(vec![]).await;
    let result = http_get(
        &format!("http://localhost:{}/hello", page.addr.port()),
        &[("SWITCHBOARD__TOOLS__HTTP_GET__ALLOWED_HOSTS", "localhost")],
    )
    .await;
    assert_eq!(result["isError"], true, "{result}");
    let message = result["output"].as_str().unwrap();
    assert!(
        message.starts_with("refused: ") && message.contains("is a loopback address"),
        "{message}"
    );
}

#[tokio::test]
async fn http_get_reaches_a_private_address_when_allow_private_is_set() {
    let page = OpenAiStub::start(vec![]).await;
    let result = http_get(
        &format!("http://{}/hello", page.addr),
        &[
            ("SWITCHBOARD__TOOLS__HTTP_GET__ALLOWED_HOSTS", "127.0.0.1"),
            ("SWITCHBOARD__TOOLS__HTTP_GET__ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(
        (&result["output"]["status"], &result["output"]["body"]),
        (&json!(200), &json!("hello from the stub"))
    );
}

/// Every hop is checked like the first: here the first hop (127.0.0.1, allowed) redirects to
/// `localhost`, which is not in `allowed_hosts` — refused at the hop, though it is the same
/// server.
#[tokio::test]
async fn http_get_refuses_a_redirect_off_the_allowlist_at_the_hop() {
    let page = OpenAiStub::start(vec![]).await;
    let target = format!("http://localhost:{}/hello", page.addr.port());
    page.redirect_to(&target);
    let result = http_get(
        &format!("http://{}/redirect", page.addr),
        &[
            ("SWITCHBOARD__TOOLS__HTTP_GET__ALLOWED_HOSTS", "127.0.0.1"),
            ("SWITCHBOARD__TOOLS__HTTP_GET__ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(
        result["output"],
        format!(
            "redirect 1 to {target} refused: host localhost is not in tools.\"http.get\".allowed_hosts"
        )
    );
}

#[tokio::test]
async fn http_get_follows_an_allowed_redirect() {
    let page = OpenAiStub::start(vec![]).await;
    page.redirect_to("/hello");
    let result = http_get(
        &format!("http://{}/redirect", page.addr),
        &[
            ("SWITCHBOARD__TOOLS__HTTP_GET__ALLOWED_HOSTS", "127.0.0.1"),
            ("SWITCHBOARD__TOOLS__HTTP_GET__ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    assert_eq!(result["output"]["body"], "hello from the stub", "{result}");
}

#[tokio::test]
async fn http_get_follows_at_most_five_redirects() {
    let page = OpenAiStub::start(vec![]).await;
    page.redirect_to("/redirect");
    let result = http_get(
        &format!("http://{}/redirect", page.addr),
        &[
            ("SWITCHBOARD__TOOLS__HTTP_GET__ALLOWED_HOSTS", "127.0.0.1"),
            ("SWITCHBOARD__TOOLS__HTTP_GET__ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(result["output"], "more than 5 redirects");
}

/// One SSE chunk carrying a tool call with `index`.
fn tool_call_at(index: u64) -> Vec<u8> {
    let chunk = json!({ "choices": [{ "index": 0, "delta": { "tool_calls": [
        { "index": index, "id": "big", "type": "function", "function": { "name": "calc", "arguments": "{}" } }
    ] } }] });
    format!("data: {chunk}\n\ndata: [DONE]\n\n").into_bytes()
}

/// Sends "first" (answered by the hostile reply), then "second" in the same session (answered
/// by a good reply); returns the first run's error.
async fn hostile_then_good(c: &mut WsClient) -> String {
    c.events.clear();
    let res = c
        .call("chat.send", json!({ "agentId": "gpt", "message": "first" }))
        .await;
    assert!(res["error"].is_object(), "the run fails: {res}");
    let error = run_error(&c.events);
    let session = events_named(&c.events, "agent")[0]["payload"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = c
        .call(
            "chat.send",
            json!({ "agentId": "gpt", "sessionId": session, "message": "second" }),
        )
        .await;
    assert_eq!(
        res["payload"]["content"], "fine",
        "the session still works: {res}"
    );
    error
}

#[tokio::test]
async fn a_huge_tool_call_index_fails_the_run_clearly_and_the_server_stays_healthy() {
    let stub = OpenAiStub::start(vec![
        Reply::Raw {
            pieces: vec![tool_call_at(4_000_000_000)],
            pause: Duration::ZERO,
        },
        Reply::text(&["fine"], (1, 1)),
    ])
    .await;
    let env = gpt_env(&stub, "HOSTILE_TOOLS_MODEL_KEY");
    let mut env = as_refs(&env);
    env.push(("HOSTILE_TOOLS_MODEL_KEY", MODEL_KEY));
    let mut server = Serve::start(&env);
    let mut c = server.operator().await;
    let error = hostile_then_good(&mut c).await;
    assert_eq!(
        error,
        "the model server sent tool call index 4000000000; at most 128 tool calls are allowed (indices 0 to 127)"
    );
    assert_eq!(stub.requests().len(), 2, "a broken protocol is not retried");
    assert_healthy(server.addr, Some(ADMIN_SECRET)).await;
    assert!(server.alive());
}

#[tokio::test]
async fn a_tool_call_index_of_128_fails_the_run_and_127_is_accepted() {
    let stub = OpenAiStub::start(vec![
        Reply::Raw {
            pieces: vec![tool_call_at(128)],
            pause: Duration::ZERO,
        },
        Reply::text(&["fine"], (1, 1)),
        Reply::Raw {
            pieces: vec![tool_call_at(127)],
            pause: Duration::ZERO,
        },
        Reply::text(&["done"], (1, 1)),
    ])
    .await;
    let server = gateway(&stub, &[]).await;
    let mut c = operator(&server).await;
    let error = hostile_then_good(&mut c).await;
    assert!(
        error.contains("tool call index 128; at most 128"),
        "{error}"
    );
    let results = run_tools(&mut c, 128).await;
    assert_eq!(results[127]["output"], "input.expr is required");
}

#[tokio::test]
async fn an_sse_line_of_2_mib_without_a_newline_fails_the_run_clearly() {
    let line = [
        b"data: {\"choices\":[{\"delta\":{\"content\":\"".as_slice(),
        &[b'a'; 2 << 20],
    ]
    .concat();
    let pieces: Vec<Vec<u8>> = line.chunks(16 * 1024).map(<[u8]>::to_vec).collect();
    let stub = OpenAiStub::start(vec![
        Reply::Raw {
            pieces,
            pause: Duration::ZERO,
        },
        Reply::text(&["fine"], (1, 1)),
    ])
    .await;
    let server = gateway(&stub, &[]).await;
    let mut c = operator(&server).await;
    let error = hostile_then_good(&mut c).await;
    assert_eq!(error, "the model server sent an SSE line over 1 MiB");
    assert_eq!(stub.requests().len(), 2, "a broken protocol is not retried");
    assert_healthy(server.addr, None).await;
}

#[test]
fn tool_hardening_settings_are_validated() {
    use switchboard_config::Config;
    let load = |vars: &[(&str, &str)]| {
        Config::load_from(None, vars.iter().map(|(k, v)| (*k, *v))).map_err(|e| e.to_string())
    };
    let config = load(&[
        ("SWITCHBOARD__TOOLS__HTTP_GET__ALLOW_PRIVATE", "true"),
        ("SWITCHBOARD__TOOLS__EXEC__ENV", "PATH,LANG"),
        ("SWITCHBOARD__TOOLS__EXEC__WORKDIR", "/srv/exec"),
    ])
    .unwrap();
    assert!(config.tools["http_get"].allow_private);
    assert_eq!(
        config.tools["exec"].env.as_deref(),
        Some(&["PATH".to_owned(), "LANG".to_owned()][..])
    );
    for (vars, expected) in [
        (
            [("SWITCHBOARD__TOOLS__EXEC__ALLOW_PRIVATE", "true")],
            "tools.exec.allow_private: only http.get reaches the network",
        ),
        (
            [("SWITCHBOARD__TOOLS__HTTP_GET__ENV", "PATH")],
            "tools.http_get.env: only exec runs programs",
        ),
        (
            [("SWITCHBOARD__TOOLS__EXEC__ENV", "PATH,A=B")],
            "tools.exec.env: \"A=B\" is not an environment variable name",
        ),
        (
            [("SWITCHBOARD__TOOLS__EXEC__WORKDIR", " ")],
            "tools.exec.workdir: must not be empty",
        ),
    ] {
        assert_eq!(load(&vars).unwrap_err(), expected);
    }
}
