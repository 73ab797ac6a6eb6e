//! The `openai` agent against a local stub OpenAI-compatible server speaking the real wire
//! format: streaming, fragmented tool calls, usage and cost, failures and retries, abort,
//! approvals (approved, denied, timed out), `exec`'s allowlist and `http.get`.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_api::Role;
use switchboard_tests::{OpenAiStub, Reply, TestServer, WsClient};

/// A gateway with agent `gpt` on the stub (model `testmodel`: 1 per input token, 2 per output
/// token), tools calc, clock, exec (allowing `echo`) and http.get (allowing 127.0.0.1).
async fn gateway(stub: &OpenAiStub, extra: &[(&str, &str)]) -> TestServer {
    let base = stub.base_url();
    let mut env = vec![
        ("SWITCHBOARD__AGENTS__GPT__KIND", "openai"),
        ("SWITCHBOARD__AGENTS__GPT__BASE_URL", base.as_str()),
        ("SWITCHBOARD__AGENTS__GPT__MODEL", "testmodel"),
        ("SWITCHBOARD__AGENTS__GPT__API_KEY_ENV", "CARGO_PKG_NAME"),
        ("SWITCHBOARD__AGENTS__GPT__SYSTEM_PROMPT", "Be brief."),
        (
            "SWITCHBOARD__AGENTS__GPT__TOOLS",
            "calc,clock,exec,http.get",
        ),
        ("SWITCHBOARD__AGENTS__GPT__REQUEST_TIMEOUT_S", "5"),
        (
            "SWITCHBOARD__PRICING__TESTMODEL__INPUT_PER_MILLION",
            "1000000",
        ),
        (
            "SWITCHBOARD__PRICING__TESTMODEL__OUTPUT_PER_MILLION",
            "2000000",
        ),
        ("SWITCHBOARD__TOOLS__EXEC__ALLOWED_COMMANDS", "echo"),
        ("SWITCHBOARD__TOOLS__HTTP_GET__ALLOWED_HOSTS", "127.0.0.1"),
    ];
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

#[tokio::test]
async fn text_streams_as_chat_events_with_usage_and_cost() {
    let stub = OpenAiStub::start(vec![Reply::text(&["Hel", "lo ", "world"], (10, 3))]).await;
    let server = gateway(&stub, &[]).await;
    let mut c = operator(&server).await;
    let res = c
        .call(
            "chat.send",
            json!({ "agentId": "gpt", "message": "greet me" }),
        )
        .await;
    assert_eq!(res["payload"]["content"], "Hello world", "{res}");
    assert_eq!(
        res["payload"]["usage"],
        json!({ "input_tokens": 10, "output_tokens": 3, "cost": 16.0 })
    );
    let deltas: Vec<&str> = events_named(&c.events, "chat")
        .iter()
        .map(|e| e["payload"]["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, ["Hel", "lo ", "world"]);
    assert_eq!(events_named(&c.events, "usage")[0]["payload"]["cost"], 16.0);
    let request = &stub.requests()[0];
    assert_eq!(
        (request["model"].as_str(), request["stream"].as_bool()),
        (Some("testmodel"), Some(true))
    );
    assert_eq!(request["stream_options"]["include_usage"], true);
    assert_eq!(
        request["messages"],
        json!([{ "role": "system", "content": "Be brief." }, { "role": "user", "content": "greet me" }])
    );
    assert_eq!(request["tools"].as_array().unwrap().len(), 4);
    assert!(
        request["tools"].to_string().contains("\"http_get\""),
        "dots are not allowed in function names"
    );
    assert_eq!(
        stub.authorizations()[0].as_deref(),
        Some("Bearer switchboard-tests"),
        "the key from api_key_env"
    );
    let session = res["payload"]["sessionId"].as_str().unwrap();
    let got = c
        .call("sessions.get", json!({ "sessionId": session }))
        .await;
    assert_eq!(
        got["payload"]["usage"],
        json!({ "input_tokens": 10, "output_tokens": 3, "cost": 16.0 })
    );
}

#[tokio::test]
async fn fragmented_tool_calls_are_reassembled_run_and_fed_back() {
    let stub = OpenAiStub::start(vec![
        Reply::tool_calls(
            &[
                ("call_a", "calc", &["{\"ex", "pr\":\"2", "+2\"}"]),
                ("call_b", "clock", &[]),
            ],
            (20, 5),
        ),
        Reply::text(&["It is ", "4."], (30, 2)),
    ])
    .await;
    let server = gateway(&stub, &[]).await;
    let mut c = operator(&server).await;
    let res = c
        .call(
            "chat.send",
            json!({ "agentId": "gpt", "message": "what is 2+2, and the time?" }),
        )
        .await;
    assert_eq!(res["payload"]["content"], "It is 4.");
    assert_eq!(
        res["payload"]["usage"]["input_tokens"], 50,
        "a usage total sums every model call"
    );
    assert_eq!(res["payload"]["usage"]["output_tokens"], 7);
    let calls = events_named(&c.events, "tool.call");
    let results = events_named(&c.events, "tool.result");
    assert_eq!(calls[0]["payload"]["input"], json!({ "expr": "2+2" }));
    assert_eq!(
        (
            calls[0]["payload"]["tool"].as_str(),
            calls[1]["payload"]["tool"].as_str()
        ),
        (Some("calc"), Some("clock"))
    );
    assert_eq!(results[0]["payload"]["output"], json!({ "value": 4 }));
    assert_eq!(results[0]["payload"]["toolCallId"], "call_a");
    let second = &stub.requests()[1]["messages"];
    let n = second.as_array().unwrap().len();
    assert_eq!(
        second[n - 3]["tool_calls"][0]["function"]["arguments"],
        "{\"expr\":\"2+2\"}"
    );
    assert_eq!(
        (
            second[n - 2]["role"].as_str(),
            second[n - 2]["tool_call_id"].as_str()
        ),
        (Some("tool"), Some("call_a"))
    );
    assert_eq!(second[n - 2]["content"], "{\"value\":4}");
    assert_eq!(second[n - 1]["tool_call_id"], "call_b");
}

#[tokio::test]
async fn a_stream_cut_in_the_middle_fails_the_run_and_keeps_the_partial_text() {
    let stub = OpenAiStub::start(vec![Reply::cut(&["par", "tial "])]).await;
    let server = gateway(&stub, &[]).await;
    let mut c = operator(&server).await;
    let res = c
        .call("chat.send", json!({ "agentId": "gpt", "message": "go" }))
        .await;
    assert_eq!(
        (
            res["error"]["code"].as_str(),
            res["error"]["retryable"].as_bool()
        ),
        (Some("UNAVAILABLE"), Some(true)),
        "{res}"
    );
    let failed = events_named(&c.events, "agent")
        .into_iter()
        .last()
        .unwrap()
        .clone();
    assert_eq!(failed["payload"]["status"], "failed");
    assert!(
        failed["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("ended early"),
        "{failed}"
    );
    let session = failed["payload"]["sessionId"].as_str().unwrap();
    let history = c
        .call("chat.history", json!({ "sessionId": session }))
        .await;
    assert_eq!(history["payload"]["messages"][1]["content"], "partial ");
    assert_eq!(stub.requests().len(), 1, "no retry after the first token");
}

#[tokio::test]
async fn a_429_then_success_is_retried_and_errors_are_clear() {
    let stub = OpenAiStub::start(vec![
        Reply::Status(429, "{\"error\":\"slow down\"}".into()),
        Reply::text(&["ok"], (1, 1)),
        Reply::Status(400, "{\"error\":{\"message\":\"bad model\"}}".into()),
        Reply::Status(503, "busy".into()),
        Reply::Status(503, "busy".into()),
        Reply::Status(503, "busy".into()),
        Reply::Stream {
            chunks: vec![json!("not a chunk")],
            done: true,
            pause: Duration::ZERO,
        },
    ])
    .await;
    let server = gateway(&stub, &[]).await;
    let mut c = operator(&server).await;
    let res = c
        .call("chat.send", json!({ "agentId": "gpt", "message": "one" }))
        .await;
    assert_eq!(res["payload"]["content"], "ok");
    assert_eq!(stub.requests().len(), 2);

    let res = c
        .call("chat.send", json!({ "agentId": "gpt", "message": "two" }))
        .await;
    assert_eq!(res["error"]["code"], "UNAVAILABLE");
    let failed = events_named(&c.events, "agent")
        .into_iter()
        .last()
        .unwrap()
        .clone();
    assert!(
        failed["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 400"),
        "{failed}"
    );
    assert_eq!(stub.requests().len(), 3, "a 400 is not retried");

    c.events.clear();
    let res = c
        .call("chat.send", json!({ "agentId": "gpt", "message": "three" }))
        .await;
    assert_eq!(res["error"]["code"], "UNAVAILABLE");
    assert_eq!(
        stub.requests().len(),
        6,
        "5xx retried, bounded: three attempts"
    );

    c.events.clear();
    let res = c
        .call("chat.send", json!({ "agentId": "gpt", "message": "four" }))
        .await;
    assert_eq!(res["error"]["code"], "UNAVAILABLE");
    let failed = events_named(&c.events, "agent")
        .into_iter()
        .last()
        .unwrap()
        .clone();
    assert!(
        failed["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("malformed stream chunk"),
        "{failed}"
    );
    let all = serde_json::to_string(&c.events).unwrap();
    assert!(!all.contains("Bearer"), "no secret in events");
}

#[tokio::test]
async fn a_refused_connection_fails_the_run_clearly() {
    let stub = OpenAiStub::start(vec![]).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let base = format!("http://{closed}/v1");
    let server = gateway(&stub, &[("SWITCHBOARD__AGENTS__GPT__BASE_URL", &base)]).await;
    let mut c = operator(&server).await;
    let res = c
        .call(
            "chat.send",
            json!({ "agentId": "gpt", "message": "hello?" }),
        )
        .await;
    assert_eq!(res["error"]["code"], "UNAVAILABLE", "{res}");
    let failed = events_named(&c.events, "agent")
        .into_iter()
        .last()
        .unwrap()
        .clone();
    assert!(
        failed["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{failed}"
    );
}

#[tokio::test]
async fn a_slow_stream_is_aborted_by_chat_abort() {
    let pieces: Vec<String> = (0..50).map(|i| format!("p{i} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let stub = OpenAiStub::start(vec![
        Reply::text(&pieces, (5, 50)).paced(Duration::from_millis(100)),
    ])
    .await;
    let server = gateway(&stub, &[]).await;
    let mut c = operator(&server).await;
    let mut other = operator(&server).await;
    let id = c
        .send_req(
            "chat.send",
            json!({ "agentId": "gpt", "message": "long please" }),
        )
        .await;
    let session = loop {
        let e = c.next_json().await.unwrap();
        if e["event"] == "chat" {
            break e["payload"]["sessionId"].as_str().unwrap().to_owned();
        }
    };
    assert_eq!(
        other
            .call("chat.abort", json!({ "sessionId": session }))
            .await["payload"]["aborted"],
        true
    );
    let res = c.response(&id).await;
    assert_eq!(res["payload"]["stopReason"], "aborted");
    let partial = res["payload"]["content"].as_str().unwrap().to_owned();
    assert!(
        partial.starts_with("p0 ") && partial.len() < pieces.concat().len(),
        "{partial}"
    );
}

/// Runs `exec` through the model and lets `decide` act on the approval request.
async fn exec_with_approval(
    extra: &[(&str, &str)],
    decide: Option<(bool, &str)>,
) -> (Value, Vec<Value>, OpenAiStub, TestServer) {
    let stub = OpenAiStub::start(vec![
        Reply::tool_calls(
            &[(
                "call_x",
                "exec",
                &["{\"command\":\"echo\",\"args\":[\"hi\"]}"],
            )],
            (5, 5),
        ),
        Reply::text(&["done"], (5, 1)),
    ])
    .await;
    let server = gateway(&stub, extra).await;
    let mut c = operator(&server).await;
    let mut viewer = WsClient::connected(server.addr, None, "viewer").await;
    viewer.call("subscribe", json!({ "topic": "*" })).await;
    let id = c
        .send_req(
            "chat.send",
            json!({ "agentId": "gpt", "message": "say hi" }),
        )
        .await;
    let requested = loop {
        let e = viewer.next_json().await.unwrap();
        if e["event"] == "approval.requested" {
            break e;
        }
    };
    assert_eq!(requested["payload"]["tool"], "exec");
    assert_eq!(requested["payload"]["risk"], "high");
    assert_eq!(
        requested["payload"]["input"],
        json!({ "command": "echo", "args": ["hi"] })
    );
    let listed = viewer.call("approvals.list", json!({})).await;
    assert_eq!(
        listed["payload"]["approvals"][0]["approvalId"],
        requested["payload"]["approvalId"]
    );
    if let Some((approved, reason)) = decide {
        let params = json!({ "approvalId": requested["payload"]["approvalId"], "approved": approved, "reason": reason });
        assert_eq!(
            viewer.call("approvals.resolve", params.clone()).await["error"]["code"],
            "FORBIDDEN"
        );
        let mut resolver = operator(&server).await;
        assert_eq!(
            resolver.call("approvals.resolve", params.clone()).await["payload"]["resolved"],
            true
        );
        assert_eq!(
            resolver.call("approvals.resolve", params).await["error"]["code"],
            "NOT_FOUND"
        );
    }
    let res = c.response(&id).await;
    (res, std::mem::take(&mut c.events), stub, server)
}

#[tokio::test]
async fn an_approved_exec_runs_and_streams_its_output() {
    let (res, events, _stub, server) = exec_with_approval(&[], Some((true, "fine"))).await;
    assert_eq!(res["payload"]["content"], "done");
    let resolved = events_named(&events, "approval.resolved")[0].clone();
    assert_eq!(
        (
            resolved["payload"]["approved"].as_bool(),
            resolved["payload"]["resolvedBy"].as_str()
        ),
        (Some(true), Some("op"))
    );
    assert_eq!(
        events_named(&events, "tool.output")[0]["payload"]["output"],
        "hi\n"
    );
    let result = events_named(&events, "tool.result")[0].clone();
    assert_eq!(
        (
            result["payload"]["isError"].as_bool(),
            result["payload"]["output"]["stdout"].as_str()
        ),
        (Some(false), Some("hi\n"))
    );
    let approvals = server.state.store.pending_approvals().await.unwrap();
    assert!(approvals.is_empty());
}

#[tokio::test]
async fn a_denied_exec_becomes_an_error_result_and_the_run_goes_on() {
    let (res, events, stub, _server) = exec_with_approval(&[], Some((false, "not today"))).await;
    assert_eq!(res["payload"]["content"], "done");
    let result = events_named(&events, "tool.result")[0].clone();
    assert_eq!(result["payload"]["isError"], true);
    assert_eq!(result["payload"]["output"], "denied by op: not today");
    assert!(
        events_named(&events, "tool.output").is_empty(),
        "it never ran"
    );
    let fed_back = &stub.requests()[1]["messages"];
    assert!(fed_back.to_string().contains("denied by op: not today"));
}

#[tokio::test]
async fn an_unanswered_approval_is_denied_after_the_timeout() {
    let (res, events, _stub, server) =
        exec_with_approval(&[("SWITCHBOARD__APPROVALS__TIMEOUT_S", "1")], None).await;
    assert_eq!(res["payload"]["content"], "done");
    let result = events_named(&events, "tool.result")[0].clone();
    assert_eq!(result["payload"]["isError"], true);
    assert!(
        result["payload"]["output"]
            .as_str()
            .unwrap()
            .contains("no decision within"),
        "{result}"
    );
    let resolved = events_named(&events, "approval.resolved")[0].clone();
    assert_eq!(resolved["payload"]["resolvedBy"], "timeout");
    assert!(
        server
            .state
            .store
            .pending_approvals()
            .await
            .unwrap()
            .is_empty(),
        "stored as resolved"
    );
}

#[tokio::test]
async fn exec_refuses_a_command_off_the_allowlist_and_http_get_an_unlisted_host() {
    let stub = OpenAiStub::start(vec![
        Reply::tool_calls(
            &[
                (
                    "c1",
                    "exec",
                    &["{\"command\":\"rm\",\"args\":[\"-rf\",\"/tmp/x\"]}"],
                ),
                ("c2", "exec", &["{\"args\":[1]}"]),
                ("c3", "http_get", &[]),
                ("c4", "http_get", &[]),
            ],
            (1, 1),
        ),
        Reply::text(&["ok"], (1, 1)),
    ])
    .await;
    let server = gateway(
        &stub,
        &[("SWITCHBOARD__TOOLS__EXEC__REQUIRE_APPROVAL", "false")],
    )
    .await;
    let mut c = operator(&server).await;
    let res = c
        .call(
            "chat.send",
            json!({ "agentId": "gpt", "message": "try things" }),
        )
        .await;
    assert_eq!(res["payload"]["content"], "ok", "{res}");
    let results = events_named(&c.events, "tool.result");
    assert!(
        results[0]["payload"]["output"]
            .as_str()
            .unwrap()
            .contains("not in tools.exec.allowed_commands")
    );
    assert_eq!(results[0]["payload"]["isError"], true);
    assert_eq!(
        results[1]["payload"]["output"], "input.command is required",
        "input is validated against the schema"
    );
    assert!(
        results[2]["payload"]["output"]
            .as_str()
            .unwrap()
            .contains("input.url is required")
    );
}

#[tokio::test]
async fn http_get_fetches_from_an_allowed_host_only() {
    let stub_page = OpenAiStub::start(vec![]).await;
    let allowed = format!("{{\"url\":\"http://{}/hello\"}}", stub_page.addr);
    let refused = "{\"url\":\"http://example.invalid/\"}";
    let stub = OpenAiStub::start(vec![
        Reply::tool_calls(
            &[
                ("g1", "http_get", &[allowed.as_str()]),
                ("g2", "http_get", &[refused]),
            ],
            (1, 1),
        ),
        Reply::text(&["fetched"], (1, 1)),
    ])
    .await;
    // The page is on loopback, which http.get refuses unless allow_private is set.
    let server = gateway(
        &stub,
        &[("SWITCHBOARD__TOOLS__HTTP_GET__ALLOW_PRIVATE", "true")],
    )
    .await;
    let mut c = operator(&server).await;
    let res = c
        .call("chat.send", json!({ "agentId": "gpt", "message": "fetch" }))
        .await;
    assert_eq!(res["payload"]["content"], "fetched");
    let results = events_named(&c.events, "tool.result");
    assert_eq!(results[0]["payload"]["tool"], "http.get");
    assert_eq!(results[0]["payload"]["output"]["status"], 200);
    assert_eq!(
        results[0]["payload"]["output"]["body"],
        "hello from the stub"
    );
    assert!(
        results[1]["payload"]["output"]
            .as_str()
            .unwrap()
            .contains("not in tools.\"http.get\".allowed_hosts")
    );
}

#[tokio::test]
async fn a_model_server_slower_than_request_timeout_fails_the_run() {
    let pieces: Vec<String> = (0..30).map(|i| format!("s{i} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let stub = OpenAiStub::start(vec![
        Reply::text(&pieces, (1, 30)).paced(Duration::from_millis(100)),
    ])
    .await;
    let server = gateway(
        &stub,
        &[("SWITCHBOARD__AGENTS__GPT__REQUEST_TIMEOUT_S", "1")],
    )
    .await;
    let mut c = operator(&server).await;
    let res = c
        .call("chat.send", json!({ "agentId": "gpt", "message": "slow" }))
        .await;
    assert_eq!(res["error"]["code"], "UNAVAILABLE", "{res}");
    let failed = events_named(&c.events, "agent")
        .into_iter()
        .last()
        .unwrap()
        .clone();
    assert!(
        failed["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("within 1 s"),
        "{failed}"
    );
    assert!(
        !events_named(&c.events, "chat").is_empty(),
        "the partial text streamed first"
    );
}
