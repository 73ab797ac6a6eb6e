//! `Authorization: Bearer` on a WebSocket upgrade or an HTTP request: resolved once, before the
//! connection exists. A wrong, expired or revoked token is refused with 401 (never downgraded);
//! failures count against the remote address like failed `connect`s.

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard_auth::{AuthError, Principal};

use crate::AppState;
use crate::rpc::ApiError;
use crate::telemetry::names;

/// The principal a bearer header proves: `Ok(None)` without one, `Err(response)` for a bad one.
pub(super) async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    remote: SocketAddr,
) -> Result<Option<Principal>, Response> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .unwrap_or_default();
    if let Err(wait) = state.failed_auth.check(remote.ip()) {
        metrics::counter!(names::RATE_LIMITED, "limit" => "auth").increment(1);
        let e = ApiError::RateLimited {
            message: "too many failed authentications from this address".to_owned(),
            retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        };
        return Err(refuse(StatusCode::TOO_MANY_REQUESTS, e));
    }
    match state.verifier.verify(token).await {
        Ok(principal) => Ok(Some(principal)),
        Err(e @ (AuthError::Invalid | AuthError::Expired | AuthError::Revoked)) => {
            let reason = match e {
                AuthError::Expired => "expired",
                AuthError::Revoked => "revoked",
                _ => "invalid",
            };
            metrics::counter!(names::AUTH_FAILURES, "reason" => reason).increment(1);
            state.failed_auth.record_failure(remote.ip());
            state.audit.record(
                format!("bearer@{remote}"),
                "connect",
                None,
                "failed",
                Some(format!("bearer token: {e}")),
                Some(remote.to_string()),
            );
            Err(refuse(
                StatusCode::UNAUTHORIZED,
                ApiError::Unauthorized(e.to_string()),
            ))
        }
        Err(AuthError::Store(e)) => Err(refuse(StatusCode::SERVICE_UNAVAILABLE, e.into())),
        Err(AuthError::Internal(e)) => Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Internal(e),
        )),
    }
}

/// An HTTP refusal whose body is a JSON-RPC error response (id null).
pub(super) fn refuse(status: StatusCode, error: ApiError) -> Response {
    let object = jsonrpsee::types::ErrorObjectOwned::from(error);
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": null, "error": object });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
