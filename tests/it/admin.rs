//! Admin methods through the typed jsonrpsee client and real sockets: tokens, connections,
//! kick, revocation closing live connections, audit, configuration.

use std::time::Duration;

use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::ws_client::{HeaderMap, HeaderValue, WsClient as RpcWsClient, WsClientBuilder};
use serde_json::json;
use switchboard_api::Role;
use switchboard_api::rpc::{
    AuditApiClient, ConfigApiClient, ConnectionsApiClient, GatewayApiClient, TokensApiClient,
};
use switchboard_api::types::AuditEntryInfo;
use switchboard_tests::{TestServer, WsClient, connect_params};

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "Authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

async fn ws_client(server: &TestServer, token: &str) -> RpcWsClient {
    WsClientBuilder::default()
        .set_headers(bearer(token))
        .build(server.rpc_ws_url())
        .await
        .unwrap()
}

fn http_client(server: &TestServer, token: &str) -> HttpClient {
    HttpClientBuilder::default()
        .set_headers(bearer(token))
        .build(format!("{}/rpc", server.http_url()))
        .unwrap()
}

fn code_of(e: &jsonrpsee::core::ClientError) -> i32 {
    match e {
        jsonrpsee::core::ClientError::Call(obj) => obj.code(),
        other => panic!("not a call error: {other}"),
    }
}

/// Polls `audit.list` until an entry matches (the audit writer is asynchronous).
async fn audited(admin: &HttpClient, matches: impl Fn(&AuditEntryInfo) -> bool) -> AuditEntryInfo {
    for _ in 0..100 {
        let page = AuditApiClient::list(admin, Some(1000), None).await.unwrap();
        if let Some(e) = page.entries.into_iter().find(|e| matches(e)) {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no matching audit entry");
}

#[tokio::test]
async fn tokens_are_created_listed_without_secrets_and_revoked() {
    let server = TestServer::start(&[]).await;
    let admin = ws_client(&server, &server.admin_token).await;
    let created = admin
        .create("ci-bot".into(), Role::Operator, Some(3600), None)
        .await
        .unwrap();
    assert!(created.token.starts_with(&format!("sb_{}_", created.id)));
    assert_eq!(
        created.expires_at.map(|e| e - created.created_at),
        Some(3_600_000)
    );

    let mut c = WsClient::frames(server.addr).await;
    assert_eq!(
        c.call("connect", connect_params(Some(&created.token), "bot"))
            .await["payload"]["role"],
        "operator"
    );

    let listed = TokensApiClient::list(&admin).await.unwrap();
    let entry = listed.tokens.iter().find(|t| t.id == created.id).unwrap();
    assert_eq!(
        (entry.name.as_str(), entry.role, entry.revoked),
        ("ci-bot", Role::Operator, false)
    );
    assert!(entry.last_used_at.is_some());
    let raw = serde_json::to_string(&listed).unwrap();
    assert!(!raw.contains(created.token.rsplit('_').next().unwrap()) && !raw.contains("argon2"));

    let revoked = admin.revoke(created.id.clone()).await.unwrap();
    assert!(revoked.revoked);
    let mut c = WsClient::frames(server.addr).await;
    assert_eq!(
        c.call("connect", connect_params(Some(&created.token), "bot"))
            .await["error"]["code"],
        "UNAUTHORIZED"
    );
    let unknown = admin.revoke("0000000000000000".into()).await.unwrap_err();
    assert_eq!(code_of(&unknown), -32004);
    let bad = admin
        .create(String::new(), Role::Viewer, None, None)
        .await
        .unwrap_err();
    assert_eq!(code_of(&bad), -32602);
}

#[tokio::test]
async fn revoking_a_token_closes_its_live_connections_at_once() {
    let server = TestServer::start(&[]).await;
    let admin = http_client(&server, &server.admin_token);
    let victim = admin
        .create("victim".into(), Role::Viewer, None, None)
        .await
        .unwrap();
    let bystander = server.token(Role::Viewer).await;

    let mut frames = WsClient::connected(server.addr, Some(&victim.token), "v1").await;
    let mut other = WsClient::connected(server.addr, Some(&bystander), "v2").await;
    let rpc = ws_client(&server, &victim.token).await;
    rpc.status().await.unwrap();

    let revoked = admin.revoke(victim.id.clone()).await.unwrap();
    assert_eq!(revoked.closed_connections, 2);
    let closed = frames.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1008, "token revoked")
    );
    // On /rpc the connection refuses every call from the revocation on, and then closes.
    assert!(rpc.status().await.is_err());
    assert_eq!(
        other.call("status", json!({})).await["ok"],
        true,
        "other tokens are untouched"
    );
}

#[tokio::test]
async fn connections_are_listed_and_kicked_with_the_reason() {
    let server = TestServer::start(&[]).await;
    let admin = ws_client(&server, &server.admin_token).await;
    let mut viewer = WsClient::connected(server.addr, None, "watcher").await;
    let listed = ConnectionsApiClient::list(&admin).await.unwrap();
    let conn = listed
        .connections
        .iter()
        .find(|c| c.user_id.as_deref() == Some("watcher"))
        .unwrap();
    assert_eq!(
        (conn.role, conn.protocol.as_str()),
        (Some(Role::Viewer), "frames")
    );
    assert!(conn.remote_addr.starts_with("127.0.0.1:"));
    let rpc_conn = listed
        .connections
        .iter()
        .find(|c| c.protocol == "jsonrpc-ws")
        .unwrap();
    assert_eq!(rpc_conn.role, Some(Role::Admin));

    admin
        .kick(conn.id.clone(), Some("maintenance".into()))
        .await
        .unwrap();
    let closed = viewer.closed().await;
    assert_eq!((closed.code, closed.reason.as_str()), (1008, "maintenance"));
    let again = admin.kick(conn.id.clone(), None).await.unwrap_err();
    assert_eq!(code_of(&again), -32004);
}

#[tokio::test]
async fn the_audit_log_records_connects_denials_token_changes_and_kicks() {
    let server = TestServer::start(&[]).await;
    let admin = http_client(&server, &server.admin_token);
    let mut ok = WsClient::connected(server.addr, None, "audited-user").await;
    let mut failed = WsClient::frames(server.addr).await;
    failed
        .call("connect", connect_params(Some("sb_bad"), "intruder"))
        .await;
    ok.call("tokens.list", json!({})).await;
    let token = admin
        .create("audited-token".into(), Role::Viewer, None, None)
        .await
        .unwrap();
    admin.revoke(token.id.clone()).await.unwrap();
    let id = ConnectionsApiClient::list(&admin)
        .await
        .unwrap()
        .connections[0]
        .id
        .clone();
    admin
        .kick(id.clone(), Some("audit test".into()))
        .await
        .unwrap();

    let e = audited(&admin, |e| {
        e.action == "connect" && e.actor == "audited-user"
    })
    .await;
    assert_eq!(e.outcome, "ok");
    let e = audited(&admin, |e| e.action == "connect" && e.actor == "intruder").await;
    assert_eq!(e.outcome, "failed");
    let e = audited(&admin, |e| e.action == "call.denied").await;
    assert_eq!(
        (e.actor.as_str(), e.target.as_deref()),
        ("audited-user", Some("tokens.list"))
    );
    audited(&admin, |e| {
        e.action == "token.create" && e.target.as_deref() == Some(token.id.as_str())
    })
    .await;
    audited(&admin, |e| {
        e.action == "token.revoke" && e.target.as_deref() == Some(token.id.as_str())
    })
    .await;
    let e = audited(&admin, |e| e.action == "connection.kick").await;
    assert_eq!(
        (e.target.as_deref(), e.detail.as_deref()),
        (Some(id.as_str()), Some("audit test"))
    );
    let all = AuditApiClient::list(&admin, Some(1000), None)
        .await
        .unwrap();
    let raw = serde_json::to_string(&all).unwrap();
    assert!(
        !raw.contains(token.token.rsplit('_').next().unwrap()),
        "no secret in the audit log"
    );
}

#[tokio::test]
async fn config_get_redacts_secrets() {
    let secret = "gateway-admin-secret-42";
    let server = TestServer::start(&[("SWITCHBOARD__AUTH__ADMIN_TOKEN", secret)]).await;
    let admin = http_client(&server, secret);
    let config = ConfigApiClient::get(&admin).await.unwrap();
    assert_eq!(config["auth"]["admin_token"], "<redacted>");
    assert!(!config.to_string().contains(secret));
    assert_eq!(config["server"]["send_buffer"], 256);
}

#[tokio::test]
async fn health_and_status_through_the_typed_client_on_both_transports() {
    let server = TestServer::start(&[]).await;
    let viewer = server.token(Role::Viewer).await;
    let ws = ws_client(&server, &viewer).await;
    let http = http_client(&server, &viewer);
    for health in [ws.health().await.unwrap(), http.health().await.unwrap()] {
        assert_eq!(
            (health.status.as_str(), health.version.as_str()),
            ("ok", env!("CARGO_PKG_VERSION"))
        );
    }
    let _peer = WsClient::connected(server.addr, None, "someone").await;
    let status = ws.status().await.unwrap();
    assert!(status.node_id.starts_with("node-"));
    assert_eq!(status.store, "sqlite");
    assert_eq!(status.agents, 1);
    assert!(status.connections >= 2, "{status:?}");
    assert!(
        status
            .connections_by_role
            .get("viewer")
            .copied()
            .unwrap_or(0)
            >= 2
    );
    let forbidden = TokensApiClient::list(&http).await.unwrap_err();
    assert_eq!(code_of(&forbidden), -32003);
    let raw: serde_json::Value = ws
        .request("health", jsonrpsee::rpc_params![])
        .await
        .unwrap();
    assert_eq!(raw["status"], "ok");
}
