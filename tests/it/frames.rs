//! The frame protocol on `/ws` (SPEC §3, §5, §7): the challenge, `connect` first, ordered
//! handling until `connect` answers, malformed frames, both `connect` shapes, and the limits.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use switchboard_api::Role;
use switchboard_tests::{TestServer, WsClient, connect_params};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn the_server_opens_with_a_challenge_carrying_a_nonce_and_a_time() {
    let server = TestServer::start(&[]).await;
    let mut c = WsClient::open(server.addr, "/ws", &[]).await.unwrap();
    let challenge = c.next_json().await.unwrap();
    assert_eq!(challenge["type"], "event");
    assert_eq!(challenge["event"], "connect.challenge");
    assert!(
        challenge["payload"]["nonce"]
            .as_str()
            .is_some_and(|n| n.len() >= 16)
    );
    assert!(challenge["payload"]["ts"].as_i64().is_some());
    assert!(challenge.get("seq").is_none());
}

#[tokio::test]
async fn only_connect_and_health_are_allowed_before_connect() {
    let server = TestServer::start(&[]).await;
    let mut c = WsClient::frames(server.addr).await;
    let health = c.call("health", json!({})).await;
    assert_eq!(health["ok"], true);
    assert_eq!(health["payload"]["status"], "ok");
    let status = c.call("status", json!({})).await;
    assert_eq!(status["error"]["code"], "UNAUTHORIZED", "{status}");
    assert_eq!(status["error"]["retryable"], false);
    let connect = c.call("connect", connect_params(None, "alice")).await;
    assert_eq!(connect["payload"]["protocol"], 3);
    assert_eq!(connect["payload"]["role"], "viewer");
    assert_eq!(connect["payload"]["user_id"], "alice");
    assert!(connect["payload"]["connection_id"].as_str().is_some());
    assert_eq!(connect["payload"]["limits"]["maxFrameBytes"], 524_288);
    assert_eq!(connect["payload"]["limits"]["sendBuffer"], 256);
    assert_eq!(c.call("status", json!({})).await["ok"], true);
}

#[tokio::test]
async fn a_call_pipelined_right_after_connect_is_not_refused() {
    let server = TestServer::start(&[]).await;
    let token = server.token(Role::Operator).await;
    for _ in 0..5 {
        let mut c = WsClient::frames(server.addr).await;
        let connect = c
            .send_req("connect", connect_params(Some(&token), "op"))
            .await;
        let status = c.send_req("status", json!({})).await;
        assert_eq!(c.response(&connect).await["ok"], true);
        let res = c.response(&status).await;
        assert_eq!(res["ok"], true, "{res}");
    }
}

#[tokio::test]
async fn malformed_frames_get_invalid_request_and_the_connection_stays_open() {
    let server = TestServer::start(&[]).await;
    let mut c = WsClient::connected(server.addr, None, "u").await;
    for (bad, id) in [
        ("{not json", json!(null)),
        ("42", json!(null)),
        (r#"{"type":"req","method":"health"}"#, json!(null)),
        (r#"{"id":"k1","method":"health"}"#, json!("k1")),
        (r#"{"type":"req","id":"k2"}"#, json!("k2")),
        (
            r#"{"type":"req","id":"k3","method":["health"]}"#,
            json!("k3"),
        ),
        (r#"{"type":"req","id":true,"method":"health"}"#, json!(null)),
    ] {
        c.send_text(bad).await;
        let res = c.next_json().await.unwrap();
        assert_eq!(res["type"], "res", "{bad}");
        assert_eq!(res["ok"], false, "{bad}");
        assert_eq!(res["id"], id, "{bad}");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{bad}");
    }
    assert_eq!(c.call("health", json!({})).await["ok"], true);
    let bad_params = c.call("audit.list", json!({ "limit": "many" })).await;
    assert_eq!(
        bad_params["error"]["code"], "FORBIDDEN",
        "the gate answers before params are read"
    );
}

#[tokio::test]
async fn numeric_ids_come_back_as_numbers() {
    let server = TestServer::start(&[]).await;
    let mut c = WsClient::frames(server.addr).await;
    c.send_text(r#"{"type":"req","id":42,"method":"health"}"#)
        .await;
    let res = c.next_json().await.unwrap();
    assert_eq!(
        (res["id"].as_u64(), res["ok"].as_bool()),
        (Some(42), Some(true))
    );
}

#[tokio::test]
async fn openclaw_connect_shape_with_scopes_only_lowers_the_role() {
    let server = TestServer::start(&[]).await;
    let admin = server.token(Role::Admin).await;
    let operator = server.token(Role::Operator).await;
    let openclaw = |token: &str, scopes: &[&str]| {
        json!({
            "minProtocol": 4, "maxProtocol": 4,
            "client": { "id": "cli", "version": "2026.9.6", "platform": "linux", "mode": "cli", "instanceId": "inst-1" },
            "role": "operator", "scopes": scopes, "caps": [], "auth": { "token": token }
        })
    };
    for (token, scopes, role) in [
        (&admin, vec!["operator.read"], "viewer"),
        (&admin, vec!["operator.read", "operator.write"], "operator"),
        (&admin, vec!["operator.admin"], "admin"),
        (&operator, vec!["operator.admin"], "operator"),
    ] {
        let mut c = WsClient::frames(server.addr).await;
        let res = c.call("connect", openclaw(token, &scopes)).await;
        assert_eq!(res["payload"]["role"], role, "{scopes:?}: {res}");
        assert_eq!(
            res["payload"]["protocol"], 4,
            "an OpenClaw connect speaks OpenClaw's dialect (SPEC §16)"
        );
        assert_eq!(
            res["payload"]["user_id"], "inst-1",
            "user_id defaults to client.instanceId"
        );
    }
    let mut c = WsClient::frames(server.addr).await;
    let res = c
        .call(
            "connect",
            json!({ "client": { "id": "cli" }, "auth": { "token": admin } }),
        )
        .await;
    assert_eq!(res["payload"]["user_id"], "cli", "then to client.id");
    let mut c = WsClient::frames(server.addr).await;
    let res = c.call("connect", json!({ "token": admin })).await;
    assert_eq!(
        res["error"]["code"], "INVALID_REQUEST",
        "user_id is required: {res}"
    );
    let res = c
        .call(
            "connect",
            json!({ "token": admin, "user_id": "x".repeat(256) }),
        )
        .await;
    assert_eq!(res["error"]["code"], "INVALID_REQUEST");
}

#[tokio::test]
async fn a_wrong_expired_or_revoked_token_is_unauthorized_never_a_viewer() {
    let server = TestServer::start(&[]).await;
    let expired = server
        .state
        .verifier
        .create("short", Role::Admin, Some(Duration::from_millis(1)))
        .await
        .unwrap();
    let revoked = server
        .state
        .verifier
        .create("gone", Role::Admin, None)
        .await
        .unwrap();
    server.state.verifier.revoke(&revoked.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    for token in ["sb_nope", expired.token.as_str(), revoked.token.as_str()] {
        let mut c = WsClient::frames(server.addr).await;
        let res = c
            .call("connect", connect_params(Some(token), "mallory"))
            .await;
        assert_eq!(res["error"]["code"], "UNAUTHORIZED", "{res}");
        assert_eq!(
            c.call("status", json!({})).await["error"]["code"],
            "UNAUTHORIZED"
        );
    }
}

#[tokio::test]
async fn without_anonymous_access_a_tokenless_connect_is_unauthorized() {
    let server = TestServer::start(&[("SWITCHBOARD__AUTH__ALLOW_ANONYMOUS", "false")]).await;
    let mut c = WsClient::frames(server.addr).await;
    let res = c.call("connect", connect_params(None, "anon")).await;
    assert_eq!(res["error"]["code"], "UNAUTHORIZED", "{res}");
}

#[tokio::test]
async fn a_bearer_token_on_the_upgrade_is_used_by_connect_and_a_bad_one_is_refused() {
    let server = TestServer::start(&[]).await;
    let operator = server.token(Role::Operator).await;
    let mut c = WsClient::open(
        server.addr,
        "/ws",
        &[("Authorization", &format!("Bearer {operator}"))],
    )
    .await
    .unwrap();
    c.next_json().await.unwrap();
    assert_eq!(
        c.call("status", json!({})).await["error"]["code"],
        "UNAUTHORIZED",
        "connect still comes first"
    );
    assert_eq!(
        c.call("connect", json!({ "user_id": "op" })).await["payload"]["role"],
        "operator"
    );
    let refused = WsClient::open(server.addr, "/ws", &[("Authorization", "Bearer sb_wrong")]).await;
    let err = refused.unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
}

#[tokio::test]
async fn failed_authentications_are_rate_limited_per_address() {
    let server = TestServer::start(&[("SWITCHBOARD__AUTH__FAILED_PER_MINUTE", "3")]).await;
    let good = server.token(Role::Viewer).await;
    let mut c = WsClient::frames(server.addr).await;
    for _ in 0..3 {
        let res = c
            .call("connect", connect_params(Some("sb_wrong"), "m"))
            .await;
        assert_eq!(res["error"]["code"], "UNAUTHORIZED");
    }
    let limited = c
        .call("connect", connect_params(Some("sb_wrong"), "m"))
        .await;
    assert_eq!(limited["error"]["code"], "RATE_LIMITED", "{limited}");
    assert_eq!(limited["error"]["retryable"], true);
    let wait = limited["error"]["retryAfterMs"].as_u64().unwrap();
    assert!(wait > 0 && wait <= 20_000, "{wait}");
    let mut other = WsClient::frames(server.addr).await;
    let res = other
        .call("connect", connect_params(Some(&good), "v"))
        .await;
    assert_eq!(
        res["error"]["code"], "RATE_LIMITED",
        "the address is limited, whatever the token"
    );
}

#[tokio::test]
async fn an_oversize_frame_closes_the_socket_with_1009() {
    let server = TestServer::start(&[("SWITCHBOARD__SERVER__MAX_FRAME_BYTES", "1024")]).await;
    let mut c = WsClient::connected(server.addr, None, "u").await;
    let big = json!({ "type": "req", "id": "big", "method": "health", "params": { "pad": "x".repeat(2000) } });
    c.send_text(&big.to_string()).await;
    assert_eq!(c.closed().await.code, 1009);
}

#[tokio::test]
async fn a_silent_client_is_closed_after_the_read_deadline_and_a_reading_one_is_kept() {
    let server = TestServer::start(&[
        ("SWITCHBOARD__SERVER__PING_INTERVAL_MS", "100"),
        ("SWITCHBOARD__SERVER__READ_TIMEOUT_MS", "400"),
    ])
    .await;
    let mut silent = WsClient::connected(server.addr, None, "silent").await;
    let mut reading = WsClient::connected(server.addr, None, "reading").await;
    // The reading client answers pings while it reads (tungstenite does so on read).
    let idle = tokio::time::timeout(Duration::from_millis(1000), reading.next_json()).await;
    assert!(idle.is_err(), "no frame expected while idle");
    assert_eq!(reading.call("health", json!({})).await["ok"], true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let closed = silent.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1001, "read timeout")
    );
}

#[tokio::test]
async fn a_client_that_does_not_read_its_responses_is_closed_as_a_slow_consumer() {
    let server = TestServer::start(&[
        ("SWITCHBOARD__SERVER__SEND_BUFFER", "4"),
        ("SWITCHBOARD__SERVER__WRITE_TIMEOUT_MS", "300"),
    ])
    .await;
    let admin = server.token(Role::Admin).await;
    let mut c = WsClient::frames_with_small_receive_buffer(server.addr).await;
    assert_eq!(
        c.call("connect", connect_params(Some(&admin), "hog")).await["ok"],
        true
    );
    // Large responses, never read: socket buffers fill, then the queue, then the deadline.
    let request = json!({ "type": "req", "id": "x", "method": "config.get" }).to_string();
    for _ in 0..20_000 {
        if c.socket()
            .send(Message::Text(request.clone().into()))
            .await
            .is_err()
        {
            break;
        }
    }
    // The server gives up on the connection within a write deadline or two...
    let mut waited = 0;
    while !server.state.connections.is_empty() {
        assert!(waited < 200, "the server never closed the slow consumer");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    // ...and had not sent every response. A client that reads nothing cannot receive the
    // close frame either (its buffers are full), so it sees 1008 or an abrupt end.
    let closed = c.closed().await;
    assert!(
        (closed.code, closed.reason.as_str()) == (1008, "slow consumer") || closed.code == 1006,
        "{closed:?}"
    );
    let answered = c.events.len();
    assert!(answered < 20_000, "not every response was sent: {answered}");
}

#[tokio::test]
async fn upgrades_past_max_connections_get_503() {
    let server = TestServer::start(&[("SWITCHBOARD__SERVER__MAX_CONNECTIONS", "2")]).await;
    let _a = WsClient::frames(server.addr).await;
    let _b = WsClient::open(server.addr, "/rpc", &[]).await.unwrap();
    let refused = WsClient::open(server.addr, "/ws", &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("503"), "{refused}");
    drop(_a);
    // The permit comes back when the connection's task ends.
    let mut ok = false;
    for _ in 0..50 {
        if WsClient::open(server.addr, "/ws", &[]).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "a closed connection frees its slot");
}

#[tokio::test]
async fn a_client_close_is_answered_with_a_close_frame() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let server = TestServer::start(&[]).await;
    let token = server.token(Role::Viewer).await;
    let c = WsClient::connected(server.addr, Some(&token), "closer").await;
    let mut socket = c.into_socket();
    socket
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await
        .unwrap();
    // RFC 6455 §5.5.1: the server echoes a Close before it closes the TCP connection; a
    // client that gets none reports 1006.
    let echoed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Close(frame)) => return Ok(frame),
                Ok(_) => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("the stream ended without a close frame".to_owned())
    })
    .await
    .expect("no answer within 5 s");
    let frame = echoed.expect("a close frame");
    assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000));
}
