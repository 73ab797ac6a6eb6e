//! Tokens: generation, argon2id hashing, verification, expiry, revocation and the cache; scoped
//! tokens (SPEC §18) through `tokens.create`, `tokens.list`, `connections.list`, the audit log,
//! the cache and a restart.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_api::{Role, Scope};
use switchboard_auth::{
    AuthError, PrincipalKind, TokenGrant, TokenVerifier, VerifierOptions, parse_token,
};
use switchboard_storage::Store;
use switchboard_tests::{TestServer, WsClient, connect_params};

use crate::backends::backends;

fn verifier(store: &Store, ttl: Duration) -> TokenVerifier {
    TokenVerifier::new(
        store.clone(),
        VerifierOptions {
            admin_token: None,
            cache_ttl: ttl,
        },
    )
}

#[tokio::test]
async fn created_token_is_stored_only_as_an_argon2id_hash_and_verifies() {
    for b in backends().await {
        let v = verifier(&b.store, Duration::from_secs(60));
        let created = v.create("ci", Role::Operator, None).await.unwrap();
        let id = parse_token(&created.token).unwrap().id.to_owned();
        assert_eq!(id, created.id);
        let stored = b.store.get_token(&id).await.unwrap().unwrap();
        assert!(stored.hash.starts_with("$argon2id$"), "{}", b.name);
        let secret = created.token.rsplit('_').next().unwrap();
        assert!(!stored.hash.contains(secret));
        let p = v.verify(&created.token).await.unwrap();
        assert_eq!(
            (p.kind, p.role, p.token_id.as_deref()),
            (PrincipalKind::Token, Role::Operator, Some(id.as_str()))
        );
        assert!(
            b.store
                .get_token(&id)
                .await
                .unwrap()
                .unwrap()
                .last_used_at
                .is_some()
        );
    }
}

#[tokio::test]
async fn a_burst_of_checks_of_one_uncached_token_runs_argon2_once() {
    let b = &backends().await[0];
    let v = verifier(&b.store, Duration::from_secs(60));
    let created = v.create("burst", Role::Viewer, None).await.unwrap();
    let checks = (0..16).map(|_| v.verify(&created.token));
    let principals = futures_util::future::join_all(checks).await;
    assert!(
        principals
            .iter()
            .all(|p| p.as_ref().unwrap().role == Role::Viewer)
    );
    assert_eq!(
        v.hashes_checked(),
        1,
        "the others waited for the first check"
    );
    // A wrong secret is never cached: each attempt is checked (and refused).
    let wrong = format!(
        "{}_{}",
        created.token.rsplit_once('_').unwrap().0,
        "0".repeat(64)
    );
    for _ in 0..2 {
        assert!(matches!(v.verify(&wrong).await, Err(AuthError::Invalid)));
    }
    assert_eq!(v.hashes_checked(), 3);
}

#[tokio::test]
async fn a_wrong_secret_for_a_real_id_is_invalid_never_a_lesser_role() {
    for b in backends().await {
        let v = verifier(&b.store, Duration::from_secs(60));
        let created = v.create("ci", Role::Admin, None).await.unwrap();
        let mut forged = created.token.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == '0' { '1' } else { '0' });
        assert!(
            matches!(v.verify(&forged).await, Err(AuthError::Invalid)),
            "{}",
            b.name
        );
        assert!(matches!(
            v.verify("sb_garbage").await,
            Err(AuthError::Invalid)
        ));
        assert!(matches!(v.verify("").await, Err(AuthError::Invalid)));
    }
}

#[tokio::test]
async fn an_expired_token_is_refused_even_from_the_cache() {
    for b in backends().await {
        let v = verifier(&b.store, Duration::from_secs(60));
        let created = v
            .create("short", Role::Viewer, Some(Duration::from_millis(400)))
            .await
            .unwrap();
        v.verify(&created.token).await.unwrap();
        assert_eq!(v.cache().len(), 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            matches!(v.verify(&created.token).await, Err(AuthError::Expired)),
            "{}",
            b.name
        );
        let fresh = verifier(&b.store, Duration::from_secs(60));
        assert!(matches!(
            fresh.verify(&created.token).await,
            Err(AuthError::Expired)
        ));
    }
}

#[tokio::test]
async fn revocation_empties_the_cache_for_that_token_at_once() {
    for b in backends().await {
        let v = verifier(&b.store, Duration::from_secs(60));
        let gone = v.create("gone", Role::Operator, None).await.unwrap();
        let kept = v.create("kept", Role::Operator, None).await.unwrap();
        v.verify(&gone.token).await.unwrap();
        v.verify(&kept.token).await.unwrap();
        assert_eq!(v.cache().len(), 2);
        assert!(v.revoke(&gone.id).await.unwrap());
        assert_eq!(v.cache().len(), 1);
        assert!(
            matches!(v.verify(&gone.token).await, Err(AuthError::Revoked)),
            "{}",
            b.name
        );
        v.verify(&kept.token).await.unwrap();
        assert!(!v.revoke("0000000000000000").await.unwrap());
    }
}

#[tokio::test]
async fn a_cached_token_verifies_without_touching_the_store() {
    let b = backends().await.remove(0);
    let v = verifier(&b.store, Duration::from_secs(60));
    let created = v.create("ci", Role::Viewer, None).await.unwrap();
    v.verify(&created.token).await.unwrap();
    // With the pool closed, only a cache hit can still answer.
    b.store.clone().close().await.unwrap();
    assert_eq!(v.verify(&created.token).await.unwrap().role, Role::Viewer);
    let other = verifier(&b.store, Duration::from_secs(60));
    assert!(matches!(
        other.verify(&created.token).await,
        Err(AuthError::Store(_))
    ));
}

#[tokio::test]
async fn the_cache_forgets_entries_after_its_ttl_and_zero_disables_it() {
    let b = backends().await.remove(0);
    let v = verifier(&b.store, Duration::from_millis(200));
    let created = v.create("ci", Role::Viewer, None).await.unwrap();
    v.verify(&created.token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.store.clone().close().await.unwrap();
    assert!(matches!(
        v.verify(&created.token).await,
        Err(AuthError::Store(_))
    ));

    let b = backends().await.remove(0);
    let off = verifier(&b.store, Duration::ZERO);
    let created = off.create("ci", Role::Viewer, None).await.unwrap();
    off.verify(&created.token).await.unwrap();
    assert!(off.cache().is_empty());
}

#[tokio::test]
async fn the_configured_admin_token_grants_admin_and_nothing_close_to_it_does() {
    let b = backends().await.remove(0);
    let admin = "a-long-configured-gateway-token";
    let v = TokenVerifier::new(
        b.store.clone(),
        VerifierOptions {
            admin_token: Some(admin.into()),
            cache_ttl: Duration::from_secs(60),
        },
    );
    let p = v.verify(admin).await.unwrap();
    assert_eq!((p.kind, p.role), (PrincipalKind::AdminToken, Role::Admin));
    for near in [
        "a-long-configured-gateway-toke",
        "a-long-configured-gateway-tokeN",
        "",
    ] {
        assert!(
            matches!(v.verify(near).await, Err(AuthError::Invalid)),
            "{near}"
        );
    }
    assert!(
        v.ensure_admin_token().await.unwrap().is_none(),
        "configured admin token suffices"
    );
}

#[tokio::test]
async fn first_start_creates_one_admin_token_and_only_once() {
    for b in backends().await {
        let v = verifier(&b.store, Duration::from_secs(60));
        let created = v
            .ensure_admin_token()
            .await
            .unwrap()
            .expect("created on first start");
        assert_eq!(created.role, Role::Admin);
        assert_eq!(v.verify(&created.token).await.unwrap().role, Role::Admin);
        assert!(
            v.ensure_admin_token().await.unwrap().is_none(),
            "{}",
            b.name
        );
        v.revoke(&created.id).await.unwrap();
        assert!(
            v.ensure_admin_token().await.unwrap().is_some(),
            "a revoked admin token does not count"
        );
    }
}

// Scoped tokens (SPEC §18): what a token's scope is, where it shows, and that it stays.

/// `{agents: ["support"], sessions: ["ses_x"]}`.
fn support_scope() -> Scope {
    Scope {
        agents: Some(vec!["support".to_owned()]),
        sessions: Some(vec!["ses_x".to_owned()]),
    }
}

/// A `/ws` client connected with the server's bootstrap admin token.
async fn admin(server: &TestServer) -> WsClient {
    WsClient::connected(server.addr, Some(&server.admin_token), "admin").await
}

/// `tokens.create` on `admin`; returns the whole reply frame.
async fn create_token(admin: &mut WsClient, params: Value) -> Value {
    admin.call("tokens.create", params).await
}

/// The `tokens.list` row of token `id`.
async fn listed_token(admin: &mut WsClient, id: &str) -> Value {
    let listed = admin.call("tokens.list", json!({})).await;
    listed["payload"]["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("token {id} not listed: {listed}"))
}

/// The `connections.list` row of the connection that connected as `user`.
async fn listed_connection(admin: &mut WsClient, user: &str) -> Value {
    let listed = admin.call("connections.list", json!({})).await;
    listed["payload"]["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["userId"] == user)
        .cloned()
        .unwrap_or_else(|| panic!("no connection of {user}: {listed}"))
}

#[tokio::test]
async fn tokens_create_with_a_scope_round_trips_through_tokens_list() {
    let server = TestServer::start(&[]).await;
    let mut admin = admin(&server).await;
    let created = create_token(
        &mut admin,
        json!({ "name": "support-viewer", "role": "viewer",
                "scope": { "agents": ["support"], "sessions": ["ses_x"] } }),
    )
    .await;
    assert_eq!(created["ok"], true, "{created}");
    let scope = json!({ "agents": ["support"], "sessions": ["ses_x"] });
    assert_eq!(created["payload"]["scope"], scope, "{created}");
    let id = created["payload"]["id"].as_str().unwrap();
    let row = listed_token(&mut admin, id).await;
    assert_eq!((&row["role"], &row["scope"]), (&json!("viewer"), &scope));

    let plain = create_token(&mut admin, json!({ "name": "plain", "role": "operator" })).await;
    let row = listed_token(&mut admin, plain["payload"]["id"].as_str().unwrap()).await;
    assert!(row.get("scope").is_none(), "no scope, no field: {row}");
}

#[tokio::test]
async fn a_scoped_tokens_connection_shows_its_scope_in_connections_list() {
    let server = TestServer::start(&[]).await;
    let mut admin = admin(&server).await;
    let created = create_token(
        &mut admin,
        json!({ "name": "bot", "role": "operator", "scope": { "agents": ["support"] } }),
    )
    .await;
    let token = created["payload"]["token"].as_str().unwrap();
    let mut scoped = WsClient::frames(server.addr).await;
    let hello = scoped
        .call("connect", connect_params(Some(token), "support-bot"))
        .await;
    assert_eq!(hello["payload"]["role"], "operator", "{hello}");

    let row = listed_connection(&mut admin, "support-bot").await;
    assert_eq!(row["scope"], json!({ "agents": ["support"] }), "{row}");
    let row = listed_connection(&mut admin, "admin").await;
    assert!(row.get("scope").is_none(), "the admin's is unscoped: {row}");
}

#[tokio::test]
async fn an_admin_token_cannot_be_scoped() {
    let server = TestServer::start(&[]).await;
    let mut admin = admin(&server).await;
    let refused = create_token(
        &mut admin,
        json!({ "name": "root", "role": "admin", "scope": { "sessions": ["ses_x"] } }),
    )
    .await;
    assert_eq!(refused["error"]["code"], "INVALID_REQUEST", "{refused}");
    assert_eq!(refused["error"]["message"], "admin tokens cannot be scoped");
    let listed = admin.call("tokens.list", json!({})).await;
    assert!(
        !listed.to_string().contains("\"root\""),
        "nothing was created: {listed}"
    );
}

#[tokio::test]
async fn empty_oversized_and_malformed_scopes_are_refused_with_invalid_request() {
    let server = TestServer::start(&[]).await;
    let mut admin = admin(&server).await;
    let many: Vec<String> = (0..=switchboard_api::MAX_SCOPE_ENTRIES)
        .map(|i| format!("ses_{i}"))
        .collect();
    let cases = [
        ("neither list", json!({})),
        ("both lists empty", json!({ "agents": [], "sessions": [] })),
        ("over 100 sessions", json!({ "sessions": many })),
        ("an empty id", json!({ "agents": [""] })),
        (
            "an id over 255 chars",
            json!({ "sessions": ["x".repeat(256)] }),
        ),
        ("an unknown field", json!({ "agent": ["support"] })),
        ("not a list", json!({ "agents": "support" })),
        ("not an object", json!(["support"])),
    ];
    for (what, scope) in cases {
        let refused = create_token(
            &mut admin,
            json!({ "name": "bad-scope", "role": "viewer", "scope": scope }),
        )
        .await;
        assert_eq!(
            refused["error"]["code"], "INVALID_REQUEST",
            "{what}: {refused}"
        );
    }
    let empty = create_token(
        &mut admin,
        json!({ "name": "bad-scope", "role": "viewer", "scope": {} }),
    )
    .await;
    assert_eq!(
        empty["error"]["message"],
        "a scope must name at least one agent or session"
    );
    let listed = admin.call("tokens.list", json!({})).await;
    assert!(
        !listed.to_string().contains("bad-scope"),
        "none was created: {listed}"
    );
}

/// Polls `audit.list` on `admin` until an entry matches (the audit writer is asynchronous).
async fn audited(admin: &mut WsClient, matches: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let page = admin.call("audit.list", json!({ "limit": 1000 })).await;
        if let Some(e) = page["payload"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| matches(e))
        {
            return e.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no matching audit entry");
}

#[tokio::test]
async fn the_audit_rows_of_a_scoped_connections_calls_show_its_scope() {
    let server = TestServer::start(&[]).await;
    let mut admin = admin(&server).await;
    let created = create_token(
        &mut admin,
        json!({ "name": "audited", "role": "viewer", "scope": { "sessions": ["ses_x"] } }),
    )
    .await;
    let token = created["payload"]["token"].as_str().unwrap();
    let mut scoped = WsClient::connected(server.addr, Some(token), "scoped-user").await;
    let denied = scoped.call("tokens.list", json!({})).await;
    assert_eq!(denied["error"]["code"], "FORBIDDEN", "{denied}");

    let scope = json!({ "sessions": ["ses_x"] });
    let principal = format!("token:{}", created["payload"]["id"].as_str().unwrap());
    for action in ["connect", "call.denied"] {
        let row = audited(&mut admin, |e| {
            e["action"] == action && e["actor"] == "scoped-user"
        })
        .await;
        assert_eq!(
            (&row["principal"], &row["role"], &row["scope"]),
            (&json!(principal), &json!("viewer"), &scope),
            "{action}: {row}"
        );
    }
    let row = audited(&mut admin, |e| {
        e["action"] == "connect" && e["actor"] == "admin"
    })
    .await;
    assert!(
        row.get("scope").is_none(),
        "an unscoped caller's row has none: {row}"
    );
}

#[tokio::test]
async fn a_scoped_tokens_scope_survives_the_verifier_cache() {
    for b in backends().await {
        let v = verifier(&b.store, Duration::from_secs(60));
        let grant = TokenGrant::new(Role::Operator, Some(support_scope())).unwrap();
        let created = v.create_granted("scoped", grant, None).await.unwrap();
        assert_eq!(created.scope, Some(support_scope()));
        let stored = b.store.get_token(&created.id).await.unwrap().unwrap();
        assert_eq!(stored.scope, Some(support_scope()), "{}", b.name);

        let first = v.verify(&created.token).await.unwrap();
        let cached = v.verify(&created.token).await.unwrap();
        assert_eq!(v.hashes_checked(), 1, "the second check is a cache hit");
        for p in [first, cached] {
            assert_eq!((p.role, p.scope), (Role::Operator, Some(support_scope())));
        }
        let plain = v.create("plain", Role::Operator, None).await.unwrap();
        assert_eq!(v.verify(&plain.token).await.unwrap().scope, None);
    }
}

#[tokio::test]
async fn a_scoped_token_keeps_its_scope_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("SWITCHBOARD__AUTH__ADMIN_TOKEN", "restart-admin-secret")];
    let server = TestServer::start_in(dir.path(), &env).await;
    let mut admin = WsClient::connected(server.addr, Some("restart-admin-secret"), "admin").await;
    let created = create_token(
        &mut admin,
        json!({ "name": "kept", "role": "viewer", "scope": { "agents": ["support"] } }),
    )
    .await;
    let id = created["payload"]["id"].as_str().unwrap().to_owned();
    let token = created["payload"]["token"].as_str().unwrap().to_owned();
    drop(admin);
    server.stop().await;

    let server = TestServer::start_in(dir.path(), &env).await;
    let mut admin = WsClient::connected(server.addr, Some("restart-admin-secret"), "admin").await;
    let scope = json!({ "agents": ["support"] });
    assert_eq!(listed_token(&mut admin, &id).await["scope"], scope);
    let _scoped = WsClient::connected(server.addr, Some(&token), "after-restart").await;
    assert_eq!(
        listed_connection(&mut admin, "after-restart").await["scope"],
        scope
    );
}
