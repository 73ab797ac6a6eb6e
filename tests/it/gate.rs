//! The role gate, one table of cases over every transport: `/ws` frames, `/rpc` over
//! WebSocket and `/rpc` over HTTP POST. Every catalogue method × anonymous, viewer, operator,
//! admin and a bad token.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use switchboard_api::{Access, CATALOGUE, Role, catalogue};
use switchboard_tests::{TestServer, WsClient, connect_params, http};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Viewer,
    Operator,
    Admin,
    BadToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Frames,
    RpcWs,
    RpcHttp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Passed the gate (the call may still fail for its own reasons, e.g. NOT_FOUND).
    Passed,
    Forbidden,
    Unauthorized,
}

const BAD_TOKEN: &str =
    "sb_0123456789abcdef_0000000000000000000000000000000000000000000000000000000000000000";

/// Params that pass each method's own validation where possible.
fn params_for(method: &str) -> Value {
    match method {
        "tokens.create" => json!({ "name": "matrix", "role": "viewer" }),
        "tokens.revoke" => json!({ "id": "0000000000000000" }),
        "connections.kick" => json!({ "connectionId": "no-such-connection" }),
        "audit.list" => json!({ "limit": 5 }),
        _ => json!({}),
    }
}

fn expected(caller: Caller, transport: Transport, method: &str, access: Access) -> Outcome {
    if caller == Caller::BadToken && (transport == Transport::RpcHttp || method == "connect") {
        return Outcome::Unauthorized;
    }
    let role = match caller {
        Caller::Anonymous => Some(Role::Viewer),
        Caller::Viewer => Some(Role::Viewer),
        Caller::Operator => Some(Role::Operator),
        Caller::Admin => Some(Role::Admin),
        Caller::BadToken => None,
    };
    match (access.allows(role), role) {
        (true, _) => Outcome::Passed,
        (false, Some(_)) => Outcome::Forbidden,
        (false, None) => Outcome::Unauthorized,
    }
}

fn frame_outcome(res: &Value) -> Outcome {
    match res["error"]["code"].as_str() {
        Some("FORBIDDEN") => Outcome::Forbidden,
        Some("UNAUTHORIZED") => Outcome::Unauthorized,
        _ => Outcome::Passed,
    }
}

fn rpc_outcome(res: &Value) -> Outcome {
    let outcome = match res["error"]["code"].as_i64() {
        Some(-32003) => Outcome::Forbidden,
        Some(-32001) => Outcome::Unauthorized,
        _ => Outcome::Passed,
    };
    if outcome != Outcome::Passed {
        let name = if outcome == Outcome::Forbidden {
            "FORBIDDEN"
        } else {
            "UNAUTHORIZED"
        };
        assert_eq!(res["error"]["data"]["code"], name, "{res}");
        assert_eq!(res["error"]["data"]["retryable"], false, "{res}");
    }
    outcome
}

async fn token_for(server: &TestServer, caller: Caller) -> Option<String> {
    match caller {
        Caller::Anonymous => None,
        Caller::Viewer => Some(server.token(Role::Viewer).await),
        Caller::Operator => Some(server.token(Role::Operator).await),
        Caller::Admin => Some(server.token(Role::Admin).await),
        Caller::BadToken => Some(BAD_TOKEN.to_owned()),
    }
}

#[tokio::test]
async fn every_method_for_every_role_on_every_transport() {
    let server = TestServer::start(&[("SWITCHBOARD__AUTH__FAILED_PER_MINUTE", "1000")]).await;
    let mut failures = Vec::new();
    for caller in [
        Caller::Anonymous,
        Caller::Viewer,
        Caller::Operator,
        Caller::Admin,
        Caller::BadToken,
    ] {
        let token = token_for(&server, caller).await;
        for transport in [Transport::Frames, Transport::RpcWs, Transport::RpcHttp] {
            let mut ws = match transport {
                Transport::Frames => {
                    let mut c = WsClient::frames(server.addr).await;
                    let res = c
                        .call("connect", connect_params(token.as_deref(), "matrix"))
                        .await;
                    assert_eq!(res["ok"], caller != Caller::BadToken, "{caller:?}: {res}");
                    Some(c)
                }
                Transport::RpcWs => {
                    let mut c = WsClient::open(server.addr, "/rpc", &[]).await.unwrap();
                    let res = c
                        .rpc("connect", connect_params(token.as_deref(), "matrix"))
                        .await;
                    assert_eq!(
                        res["result"].is_object(),
                        caller != Caller::BadToken,
                        "{caller:?}: {res}"
                    );
                    Some(c)
                }
                Transport::RpcHttp => None,
            };
            for spec in CATALOGUE {
                let params = if spec.name == "connect" {
                    connect_params(token.as_deref(), "matrix")
                } else {
                    params_for(spec.name)
                };
                let got = match (transport, ws.as_mut()) {
                    (Transport::Frames, Some(c)) => frame_outcome(&c.call(spec.name, params).await),
                    (Transport::RpcWs, Some(c)) => rpc_outcome(&c.rpc(spec.name, params).await),
                    _ => {
                        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": spec.name, "params": params });
                        let auth = token.as_deref().map(|t| format!("Bearer {t}"));
                        let mut headers = vec![("Content-Type", "application/json")];
                        if let Some(auth) = &auth {
                            headers.push(("Authorization", auth.as_str()));
                        }
                        let (status, body) =
                            http::request(server.addr, "POST", "/rpc", &headers, &body.to_string())
                                .await;
                        if status == 401 {
                            Outcome::Unauthorized
                        } else {
                            rpc_outcome(&serde_json::from_str(&body).unwrap())
                        }
                    }
                };
                let want = expected(caller, transport, spec.name, spec.access);
                if got != want {
                    failures.push(format!(
                        "{caller:?} {transport:?} {}: got {got:?}, want {want:?}",
                        spec.name
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn every_registered_method_is_in_the_catalogue_and_every_entry_is_registered() {
    let server = TestServer::start(&[]).await;
    let registered: BTreeSet<String> = switchboard::methods::build_module(&server.state)
        .method_names()
        .map(str::to_owned)
        .collect();
    let catalogued: BTreeSet<String> = CATALOGUE.iter().map(|m| m.name.to_owned()).collect();
    assert_eq!(registered, catalogued);
}

#[tokio::test]
async fn a_registered_but_unclassified_method_is_refused_for_every_role() {
    let server = TestServer::start(&[]).await;
    let mut module = switchboard::methods::build_module(&server.state);
    module
        .register_method("debug.secret", |_, _, _| "leaked")
        .unwrap();
    assert!(catalogue::lookup("debug.secret").is_none());
    let router = switchboard::http::router_with_methods(server.state.clone(), module.into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(switchboard::serve_router(
        listener,
        router,
        std::future::pending(),
    ));

    let admin = server.token(Role::Admin).await;
    let mut frames = WsClient::connected(addr, Some(&admin), "root").await;
    let res = frames.call("debug.secret", json!({})).await;
    assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
    assert_eq!(res["error"]["message"], "unknown method");
    let mut rpc = WsClient::open(
        addr,
        "/rpc",
        &[("Authorization", &format!("Bearer {admin}"))],
    )
    .await
    .unwrap();
    let res = rpc.rpc("debug.secret", json!({})).await;
    assert_eq!(res["error"]["code"], -32601, "{res}");
    assert!(res.get("result").is_none());
}

#[tokio::test]
async fn an_unknown_method_is_invalid_request_on_ws_and_method_not_found_on_rpc() {
    let server = TestServer::start(&[]).await;
    let mut frames = WsClient::connected(server.addr, None, "anon").await;
    let res = frames.call("no.such.method", json!({})).await;
    assert_eq!(
        (res["ok"].as_bool(), res["error"]["code"].as_str()),
        (Some(false), Some("INVALID_REQUEST"))
    );
    assert_eq!(res["error"]["message"], "unknown method");
    let mut rpc = WsClient::open(server.addr, "/rpc", &[]).await.unwrap();
    assert_eq!(
        rpc.rpc("no.such.method", json!({})).await["error"]["code"],
        -32601
    );
}

#[tokio::test]
async fn connect_lists_exactly_the_methods_the_role_may_call() {
    let server = TestServer::start(&[]).await;
    for role in Role::ALL {
        let token = server.token(role).await;
        let mut c = WsClient::frames(server.addr).await;
        let res = c.call("connect", connect_params(Some(&token), "u")).await;
        let methods: Vec<&str> = res["payload"]["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert_eq!(methods, catalogue::methods_for(role), "{role}");
    }
}

#[test]
fn the_readme_methods_table_is_the_catalogue() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let table = readme
        .split("<!-- methods:begin -->\n")
        .nth(1)
        .and_then(|rest| rest.split("<!-- methods:end -->").next())
        .unwrap_or_default();
    let expected = catalogue::markdown_table();
    assert_eq!(
        table, expected,
        "paste this between the README's methods markers:\n{expected}"
    );
}

#[test]
fn every_openclaw_method_calls_a_method_of_the_catalogue() {
    // The OpenClaw dialect only renames: each of its methods is gated as the method it calls,
    // so a name without a catalogued target would be a hole in the gate.
    for (name, target) in switchboard::ws::OPENCLAW_METHODS {
        assert!(
            catalogue::lookup(target).is_some(),
            "OpenClaw's {name} calls {target}, which the catalogue does not classify"
        );
    }
    // OpenClaw's own scope table, mapped: operator.read → viewer, operator.write and
    // operator.approvals → operator.
    let role_of = |name: &str| {
        let (_, target) = switchboard::ws::OPENCLAW_METHODS
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap();
        catalogue::lookup(target).unwrap().access.as_str()
    };
    for name in [
        "status",
        "agents.list",
        "sessions.list",
        "sessions.describe",
        "sessions.subscribe",
        "chat.history",
        "commands.list",
        "models.list",
        "config.get",
        // OpenClaw asks operator.approvals to list approvals; here viewers see pending
        // approvals read-only (SPEC §8 `approvals.list`), so listing them is a read.
        "plugin.approval.list",
    ] {
        assert_eq!(role_of(name), "viewer", "{name} is operator.read");
    }
    for name in [
        "chat.send",
        "chat.abort",
        "agent",
        "plugin.approval.resolve",
        "question.list",
    ] {
        assert_eq!(role_of(name), "operator", "{name} needs write/approvals");
    }
}

#[test]
fn the_readme_openclaw_methods_table_is_the_dialects() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let table = readme
        .split("<!-- openclaw-methods:begin -->\n")
        .nth(1)
        .and_then(|rest| rest.split("<!-- openclaw-methods:end -->").next())
        .unwrap_or_default();
    let expected = switchboard::ws::openclaw_markdown_table();
    assert_eq!(
        table, expected,
        "paste this between the README's openclaw-methods markers:\n{expected}"
    );
}
