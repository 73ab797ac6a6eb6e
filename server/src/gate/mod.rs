//! The role gate: the only place that decides who may call what. One jsonrpsee RPC middleware,
//! the same value wrapping both `/rpc` (jsonrpsee's service) and `/ws` (the frame adapter's).
//! It reads the catalogue in `api/`, refuses unclassified methods for every role, gates each
//! batch entry, bounds calls in flight on `/rpc` WebSockets, and audits denials.

mod failed_auth;
mod scope;

pub use failed_auth::FailedAuthLimiter;
pub use scope::ScopeCheck;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::Either;
use jsonrpsee::MethodResponse;
use jsonrpsee::core::middleware::{
    Batch, BatchEntry, BatchEntryErr, Notification, ResponseFuture, RpcServiceT,
};
use jsonrpsee::types::{ErrorCode as JsonRpcCode, ErrorObjectOwned, Request};
use switchboard_api::{Access, MethodSpec, Role, Scoping, catalogue};
use tower::Layer;
use tracing::Instrument;

use crate::audit::AuditLog;
use crate::connections::{ConnectionState, Protocol};
use crate::rpc::ApiError;
use crate::telemetry;

/// What the gate needs besides the call.
#[derive(Debug)]
struct GateContext {
    /// Role of a caller without identity on `/rpc` (`None`: anonymous callers are refused).
    anonymous: Option<Role>,
    audit: AuditLog,
    /// Where scoped principals may act.
    scope: ScopeCheck,
}

/// The gate as a `tower::Layer` for any inner RPC service.
#[derive(Debug, Clone)]
pub struct RoleGate {
    ctx: Arc<GateContext>,
}

impl RoleGate {
    /// A gate; `anonymous` is the role of identity-less `/rpc` callers, if they are allowed.
    pub fn new(anonymous: Option<Role>, audit: AuditLog, scope: ScopeCheck) -> RoleGate {
        RoleGate {
            ctx: Arc::new(GateContext {
                anonymous,
                audit,
                scope,
            }),
        }
    }
}

impl<S> Layer<S> for RoleGate {
    type Service = RoleGateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RoleGateService {
            inner,
            ctx: self.ctx.clone(),
        }
    }
}

/// The gate around one connection's inner service.
#[derive(Debug, Clone)]
pub struct RoleGateService<S> {
    inner: S,
    ctx: Arc<GateContext>,
}

/// Why a call was refused, and whether to audit it.
struct Refusal {
    error: ErrorObjectOwned,
    audit: Option<String>,
}

impl<S> RoleGateService<S> {
    fn check(
        &self,
        method: &str,
        spec: Option<&MethodSpec>,
        conn: Option<&ConnectionState>,
    ) -> Result<(), Refusal> {
        let Some(spec) = spec else {
            // Unknown, or registered but unclassified: refused for every role.
            return Err(Refusal {
                error: JsonRpcCode::MethodNotFound.into(),
                audit: None,
            });
        };
        let Some(conn) = conn else {
            let e = ApiError::internal("call without connection state");
            return Err(Refusal {
                error: e.into(),
                audit: None,
            });
        };
        if conn.is_closed() {
            let e = ApiError::Unauthorized("this connection was closed".to_owned());
            return Err(Refusal {
                error: e.into(),
                audit: None,
            });
        }
        // The token behind the role has expired: its access has ended (the expiry watch closes
        // the connection at that moment; this catches a call that comes first).
        let Ok(role) = conn.live_role() else {
            conn.close(1008, "token expired");
            let e = ApiError::Unauthorized("token expired".to_owned());
            return Err(Refusal {
                error: e.into(),
                audit: Some("token expired".to_owned()),
            });
        };
        let role = role.or(match conn.protocol {
            Protocol::Frames => None,
            _ if conn.auth_failed() => None,
            Protocol::JsonRpcWs | Protocol::JsonRpcHttp => self.ctx.anonymous,
        });
        match (spec.access, role) {
            (Access::Public, _) => Ok(()),
            (access, Some(role)) if access.allows(Some(role)) => Ok(()),
            (Access::AtLeast(min), Some(role)) => Err(Refusal {
                error: ApiError::Forbidden(format!(
                    "{method} needs role {min}; this connection is {role}"
                ))
                .into(),
                audit: Some(format!("needs {min}, has {role}")),
            }),
            (Access::AtLeast(_), None) => Err(Refusal {
                error: ApiError::Unauthorized(match conn.protocol {
                    Protocol::Frames => "call connect first".to_owned(),
                    _ => "authenticate with connect or an Authorization: Bearer token".to_owned(),
                })
                .into(),
                audit: Some("not authenticated".to_owned()),
            }),
        }
    }

    fn audit_denied(&self, method: &str, conn: Option<&ConnectionState>, detail: String) {
        let target = Some(method.to_owned());
        match conn {
            // The user it claims to be, and the token (id and role) it proved.
            Some(c) => self
                .ctx
                .audit
                .record_by(c, "call.denied", target, "denied", Some(detail)),
            None => self.ctx.audit.record(
                "unknown".to_owned(),
                "call.denied",
                target,
                "denied",
                Some(detail),
                None,
            ),
        }
    }
}

impl<S> RpcServiceT for RoleGateService<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type BatchResponse = MethodResponse;
    type NotificationResponse = MethodResponse;

    fn call<'a>(
        &self,
        mut req: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        normalize_unsubscribe(&mut req);
        let conn = req.extensions().get::<Arc<ConnectionState>>().cloned();
        let started = Instant::now();
        let spec = catalogue::lookup(req.method_name());
        // The catalogue's name, or `unknown` (never the caller's string).
        let method = spec.map_or("unknown", |s| s.name);
        if let Err(refusal) = self.check(req.method_name(), spec, conn.as_deref()) {
            if let Some(detail) = refusal.audit {
                self.audit_denied(req.method_name(), conn.as_deref(), detail);
            }
            let response = MethodResponse::error(req.id.clone(), refusal.error)
                .with_extensions(req.extensions);
            telemetry::record_call(method, telemetry::code_label(&response), started.elapsed());
            return ResponseFuture::ready(response);
        }
        let span = match &conn {
            Some(c) => tracing::debug_span!(parent: &c.span, "call", method, id = %req.id),
            None => tracing::debug_span!("call", method, id = %req.id),
        };
        // A scoped principal's call that names a session, an agent, an approval or a topic is
        // checked against the scope first (a store read); every other call goes straight on.
        let scoped = spec
            .filter(|s| needs_scope_check(s.scoping))
            .and_then(|s| Some((s.scoping, conn.as_deref()?.scope()?)));
        let call = match scoped {
            None => Either::Right(self.inner.call(req)),
            Some((scoping, scope)) => {
                let inner = self.inner.clone();
                let ctx = self.ctx.clone();
                Either::Left(async move {
                    let params = req.params.as_ref().map(|p| p.get());
                    if let Err(e) = ctx.scope.check(scoping, params, &scope).await {
                        if let Some(c) = &conn {
                            ctx.audit.record_by(
                                c,
                                "call.denied",
                                Some(method.to_owned()),
                                "denied",
                                Some(format!("outside the token's scope: {e}")),
                            );
                        }
                        return MethodResponse::error(req.id.clone(), ErrorObjectOwned::from(e))
                            .with_extensions(req.extensions);
                    }
                    inner.call(req).await
                })
            }
        };
        ResponseFuture::future(
            async move {
                let response = call.await;
                let code = telemetry::code_label(&response);
                let elapsed = started.elapsed();
                telemetry::record_call(method, code, elapsed);
                tracing::debug!(
                    duration_us = elapsed.as_micros() as u64,
                    outcome = code,
                    "call"
                );
                response
            }
            .instrument(span),
        )
    }

    /// jsonrpsee's root service runs batch entries itself, never through `call`: every entry is
    /// checked here, and a refused one becomes an error entry in place. Entries are checked
    /// before any runs, so `connect` inside a batch does not authorize the rest of it.
    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let inner = self.inner.clone();
        let ctx = self.ctx.clone();
        self.gate_batch_roles(&mut batch);
        async move {
            // Scoped principals' entries that name sessions are checked against the scope
            // before any entry runs (a refused one becomes an error entry in place).
            for entry in batch.iter_mut() {
                let Ok(BatchEntry::Call(req)) = entry else {
                    continue;
                };
                let Some(spec) =
                    catalogue::lookup(req.method_name()).filter(|s| needs_scope_check(s.scoping))
                else {
                    continue;
                };
                let conn = req.extensions().get::<Arc<ConnectionState>>().cloned();
                let Some(scope) = conn.as_deref().and_then(ConnectionState::scope) else {
                    continue;
                };
                let params = req.params.as_ref().map(|p| p.get());
                if let Err(e) = ctx.scope.check(spec.scoping, params, &scope).await {
                    let refused = BatchEntryErr::new(req.id.clone(), e.into());
                    *entry = Err(refused);
                }
            }
            inner.batch(batch).await
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.inner.notification(n)
    }
}

impl<S> RoleGateService<S> {
    /// The role check of every batch entry: a refused one becomes an error entry in place.
    fn gate_batch_roles(&self, batch: &mut Batch<'_>) {
        for entry in batch.iter_mut() {
            let refused = match entry {
                Ok(BatchEntry::Call(req)) => {
                    let conn = req.extensions().get::<Arc<ConnectionState>>().cloned();
                    let spec = catalogue::lookup(req.method_name());
                    match self.check(req.method_name(), spec, conn.as_deref()) {
                        Ok(()) => None,
                        Err(refusal) => {
                            if let Some(detail) = refusal.audit {
                                self.audit_denied(req.method_name(), conn.as_deref(), detail);
                            }
                            Some(BatchEntryErr::new(req.id.clone(), refusal.error))
                        }
                    }
                }
                // jsonrpsee never runs a method for a notification: nothing to gate.
                Ok(BatchEntry::Notification(_)) | Err(_) => None,
            };
            if let Some(refused) = refused {
                *entry = Err(refused);
            }
        }
    }
}

/// Whether a method's scoping needs a check before the call (lists and counts limit
/// themselves).
fn needs_scope_check(scoping: Scoping) -> bool {
    !matches!(
        scoping,
        Scoping::Unscoped | Scoping::Counts | Scoping::Filtered
    )
}

/// `unsubscribe {subscriptionId}` (the documented shape) becomes jsonrpsee's positional
/// `[id]`, which is all its unsubscribe handler reads.
fn normalize_unsubscribe(req: &mut Request<'_>) {
    if req.method_name() != "unsubscribe" {
        return;
    }
    let Some(params) = req.params.as_ref() else {
        return;
    };
    let Ok(serde_json::Value::Object(fields)) =
        serde_json::from_str::<serde_json::Value>(params.get())
    else {
        return;
    };
    let Some(id) = fields
        .get("subscriptionId")
        .or_else(|| fields.get("subscription"))
    else {
        return;
    };
    if let Ok(raw) = serde_json::value::to_raw_value(&[id]) {
        req.params = Some(std::borrow::Cow::Owned(raw));
    }
}
