//! `connect`: resolve the presented token (or the upgrade's bearer, or anonymity), apply
//! OpenClaw scopes (which only lower the role), record the identity, audit, and reply with the
//! limits and the methods this role may call.

use std::sync::atomic::Ordering;

use jsonrpsee::Extensions;
use serde_json::json;
use switchboard_api::types::{ClientInfo, ConnectResult, Limits, ServerInfo};
use switchboard_api::{PROTOCOL_VERSION, Role, catalogue};
use switchboard_auth::{AuthError, Principal};

use super::{actor, caller};
use crate::AppState;
use crate::connections::{ConnectionState, Identity};
use crate::rpc::ApiError;
use crate::telemetry::names;

/// The longest `user_id` accepted.
const MAX_USER_ID: usize = 255;

/// `connect`'s params, both shapes folded into one.
#[derive(Debug)]
pub(super) struct ConnectRequest {
    pub(super) token: Option<String>,
    pub(super) user_id: Option<String>,
    pub(super) client: Option<ClientInfo>,
    pub(super) min_protocol: Option<u32>,
    pub(super) max_protocol: Option<u32>,
    pub(super) scopes: Option<Vec<String>>,
}

pub(super) async fn connect(
    state: &AppState,
    ext: &Extensions,
    req: ConnectRequest,
) -> Result<ConnectResult, ApiError> {
    let conn = caller(ext)?;
    // This reply says protocol 3; a `/ws` connection that asked for 4 or more speaks the
    // OpenClaw dialect, whose transport rewrites it to 4 (SPEC §16, `ws::openclaw`).
    tracing::debug!(min = ?req.min_protocol, max = ?req.max_protocol, "connect");
    let client = req.client.unwrap_or_default();
    let user_id = req
        .user_id
        .or_else(|| client.instance_id.clone())
        .or_else(|| client.id.clone())
        .ok_or_else(|| ApiError::InvalidRequest("user_id is required".to_owned()))?;
    if user_id.is_empty() || user_id.chars().count() > MAX_USER_ID {
        return Err(ApiError::InvalidRequest(format!(
            "user_id must be 1–{MAX_USER_ID} characters"
        )));
    }

    let principal = authenticate(state, &conn, req.token.as_deref(), &user_id).await?;
    let role = match &req.scopes {
        Some(scopes) if !scopes.is_empty() => principal.role.min(role_for_scopes(scopes)),
        _ => principal.role,
    };
    let principal = Principal { role, ..principal };
    // A connection that authenticates again as another principal (or the same token with
    // another scope or role) starts without the subscriptions it made before: they were
    // granted to the earlier principal, whose scope and revocation no longer govern them.
    if let Some(earlier) = conn.identity()
        && (earlier.principal.token_id != principal.token_id
            || earlier.principal.kind != principal.kind
            || earlier.principal.role != principal.role
            || earlier.principal.scope != principal.scope)
    {
        state.hub.remove_connection(&conn.id);
        conn.subscriptions.store(0, Ordering::Relaxed);
    }
    conn.set_identity(Identity {
        principal: principal.clone(),
        user_id: user_id.clone(),
    });
    // A revoke that landed while the token was being verified: either it saw the identity just
    // published (and closes this connection), or it is seen here.
    if state.verifier.is_revoked(&principal) {
        metrics::counter!(names::AUTH_FAILURES, "reason" => "revoked").increment(1);
        fail(state, &conn, &user_id, "token revoked");
        return Err(ApiError::Unauthorized("token revoked".to_owned()));
    }
    conn.watch_expiry();
    metrics::counter!(names::CONNECTS, "outcome" => "ok").increment(1);
    state.audit.record_by(
        &conn,
        "connect",
        Some(conn.id.clone()),
        "ok",
        Some(format!("role {role} on {}", conn.protocol.as_str())),
    );
    Ok(reply(state, &conn, role, user_id))
}

/// The principal for a `connect`: the token given, else the upgrade's bearer, else anonymity.
/// Failures count against the remote address; a wrong token is never downgraded.
async fn authenticate(
    state: &AppState,
    conn: &ConnectionState,
    token: Option<&str>,
    user_id: &str,
) -> Result<Principal, ApiError> {
    let ip = conn.remote_addr.ip();
    if let Err(wait) = state.failed_auth.check(ip) {
        metrics::counter!(names::CONNECTS, "outcome" => "rate_limited").increment(1);
        metrics::counter!(names::RATE_LIMITED, "limit" => "auth").increment(1);
        return Err(ApiError::RateLimited {
            message: "too many failed authentications from this address".to_owned(),
            retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        });
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        if let Some(bearer) = &conn.bearer {
            return Ok(bearer.clone());
        }
        return match state.anonymous_role() {
            Some(role) => Ok(Principal::anonymous(role)),
            None => {
                metrics::counter!(names::AUTH_FAILURES, "reason" => "missing").increment(1);
                fail(state, conn, user_id, "no token and anonymous access is off");
                Err(ApiError::Unauthorized("a token is required".to_owned()))
            }
        };
    };
    match state.verifier.verify(token).await {
        Ok(principal) => Ok(principal),
        Err(e @ (AuthError::Invalid | AuthError::Expired | AuthError::Revoked)) => {
            let reason = match e {
                AuthError::Expired => "expired",
                AuthError::Revoked => "revoked",
                _ => "invalid",
            };
            metrics::counter!(names::AUTH_FAILURES, "reason" => reason).increment(1);
            fail(state, conn, user_id, &e.to_string());
            Err(ApiError::Unauthorized(e.to_string()))
        }
        Err(AuthError::Store(e)) => Err(e.into()),
        Err(AuthError::Internal(e)) => Err(ApiError::Internal(e)),
    }
}

/// A failed `connect`: the connection loses its identity and, with it, every subscription and
/// run it listened to (what it may read is decided again by its next successful `connect`).
fn fail(state: &AppState, conn: &ConnectionState, user_id: &str, why: &str) {
    metrics::counter!(names::CONNECTS, "outcome" => "failed").increment(1);
    conn.set_auth_failed();
    state.hub.remove_connection(&conn.id);
    conn.subscriptions.store(0, Ordering::Relaxed);
    state.failed_auth.record_failure(conn.remote_addr.ip());
    let actor = if user_id.is_empty() {
        actor(conn)
    } else {
        user_id.to_owned()
    };
    state.audit.record(
        actor,
        "connect",
        Some(conn.id.clone()),
        "failed",
        Some(why.to_owned()),
        Some(conn.remote_addr.to_string()),
    );
}

/// The highest role the requested OpenClaw scopes ask for (unknown scopes ask for nothing
/// beyond viewer).
fn role_for_scopes(scopes: &[String]) -> Role {
    scopes
        .iter()
        .map(|s| match s.as_str() {
            "operator.admin" => Role::Admin,
            "operator.write" | "operator.approvals" => Role::Operator,
            _ => Role::Viewer,
        })
        .max()
        .unwrap_or(Role::Viewer)
}

fn reply(state: &AppState, conn: &ConnectionState, role: Role, user_id: String) -> ConnectResult {
    let server = &state.config.server;
    let limits = &state.config.limits;
    let methods: Vec<String> = catalogue::methods_for(role)
        .into_iter()
        .map(str::to_owned)
        .collect();
    ConnectResult {
        kind: "hello-ok".to_owned(),
        protocol: PROTOCOL_VERSION,
        role,
        user_id,
        server: ServerInfo {
            name: "switchboard".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            conn_id: Some(crate::admin::connection_id(state, &conn.id)),
        },
        connection_id: crate::admin::connection_id(state, &conn.id),
        limits: Limits {
            max_frame_bytes: server.max_frame_bytes as u64,
            send_buffer: server.send_buffer as u64,
            ping_interval_ms: server.ping_interval_ms,
            read_timeout_ms: server.read_timeout_ms,
            write_timeout_ms: server.write_timeout_ms,
            max_inflight_calls: server.max_inflight_calls as u64,
            max_subscriptions: limits.max_subscriptions as u64,
            chat_per_minute: u64::from(limits.chat_per_minute),
            chat_burst: u64::from(limits.chat_burst),
        },
        features: json!({ "methods": methods, "events": switchboard_api::Event::NAMES }),
        methods,
        policy: json!({
            "maxPayload": server.max_frame_bytes,
            "maxBufferedBytes": server.max_frame_bytes.saturating_mul(server.send_buffer),
            "tickIntervalMs": server.ping_interval_ms,
        }),
        snapshot: json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_map_to_roles() {
        let s =
            |v: &[&str]| role_for_scopes(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(s(&["operator.read"]), Role::Viewer);
        assert_eq!(s(&["operator.read", "operator.write"]), Role::Operator);
        assert_eq!(s(&["operator.approvals"]), Role::Operator);
        assert_eq!(s(&["operator.admin"]), Role::Admin);
        assert_eq!(s(&["something.else"]), Role::Viewer);
    }
}
