//! Tool approvals: a call of a tool that needs approval is stored, announced with
//! `approval.requested`, and waits for `approvals.resolve` — or is denied after
//! `approvals.timeout_s`. Every approval is stored, announced with `approval.resolved` and
//! audited.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use switchboard_api::ApprovalStatus;
use switchboard_api::events::ApprovalPayload;
use switchboard_storage::{NewApproval, Store, StoreError, now_ms};
use tokio::sync::oneshot;

use crate::audit::AuditLog;
use crate::ids::new_id;

/// An operator's (or the timeout's) answer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    /// Whether the call may run.
    pub approved: bool,
    /// Why, if given.
    pub reason: Option<String>,
    /// Who decided (`timeout` when nobody did).
    pub by: String,
}

/// What a tool call asks to be approved.
#[derive(Debug)]
pub struct ApprovalRequest<'a> {
    /// The tool call's id.
    pub tool_call_id: &'a str,
    /// The tool.
    pub tool: &'a str,
    /// Its input.
    pub input: &'a Value,
    /// `low`, `medium` or `high`.
    pub risk: &'a str,
}

/// Pending approvals of this process. A cheap `Clone` handle.
#[derive(Debug, Clone)]
pub struct Approvals {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    audit: AuditLog,
    timeout: Duration,
    /// A std mutex held for one map operation.
    waiting: Mutex<HashMap<String, oneshot::Sender<Decision>>>,
}

/// Forgets a waiting approval when its run ends first (abort, timeout), and denies it in the
/// store so that it does not stay pending.
#[derive(Debug)]
struct Waiting {
    inner: Arc<Inner>,
    id: String,
    done: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.inner
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
        if !self.done {
            let (store, id) = (self.inner.store.clone(), self.id.clone());
            tokio::spawn(async move {
                let reason = Some("the run ended first".to_owned());
                let _ = store
                    .resolve_approval(
                        &id,
                        ApprovalStatus::Denied,
                        reason,
                        Some("system".to_owned()),
                        now_ms(),
                    )
                    .await;
            });
        }
    }
}

/// An approval stored and waited for. Dropped before its decision (its run ended first), it
/// is forgotten and denied in the store.
#[derive(Debug)]
pub struct PendingApproval {
    waiting: Waiting,
    decided: oneshot::Receiver<Decision>,
    /// The payload of `approval.requested`; `approval.resolved` repeats it.
    announce: ApprovalPayload,
}

impl PendingApproval {
    /// The approval's id.
    pub fn id(&self) -> &str {
        &self.waiting.id
    }

    /// The payload of its `approval.requested` event.
    pub fn requested(&self) -> ApprovalPayload {
        self.announce.clone()
    }

    /// Waits for the decision, or for `approvals.timeout_s`: then the approval is stored and
    /// audited as timed out, and denied.
    pub async fn decision(&mut self) -> Result<Decision, StoreError> {
        let inner = &self.waiting.inner;
        let id = &self.waiting.id;
        let decision = match tokio::time::timeout(inner.timeout, &mut self.decided).await {
            Ok(Ok(decision)) => decision,
            _ => {
                let reason = format!(
                    "no decision within approvals.timeout_s ({} s)",
                    inner.timeout.as_secs()
                );
                inner
                    .store
                    .resolve_approval(
                        id,
                        ApprovalStatus::Timeout,
                        Some(reason.clone()),
                        Some("timeout".to_owned()),
                        now_ms(),
                    )
                    .await?;
                inner.audit.record(
                    "timeout".to_owned(),
                    "approval.resolve",
                    Some(id.clone()),
                    "denied",
                    Some(reason.clone()),
                    None,
                );
                Decision {
                    approved: false,
                    reason: Some(reason),
                    by: "timeout".to_owned(),
                }
            }
        };
        self.waiting.done = true;
        Ok(decision)
    }

    /// The payload of its `approval.resolved` event: the request's, and `decision`.
    pub fn resolved(&self, decision: &Decision) -> ApprovalPayload {
        ApprovalPayload {
            approved: Some(decision.approved),
            resolved_by: Some(decision.by.clone()),
            reason: decision.reason.clone(),
            ..self.requested()
        }
    }
}

impl Approvals {
    /// Approvals over `store`, denied after `timeout`.
    pub fn new(store: Store, audit: AuditLog, timeout: Duration) -> Approvals {
        Approvals {
            inner: Arc::new(Inner {
                store,
                audit,
                timeout,
                waiting: Mutex::default(),
            }),
        }
    }

    /// Stores a request to approve a tool call of run `run_id` of `session_id`, and starts
    /// waiting for its decision. The caller announces it ([`PendingApproval::requested`]),
    /// then waits ([`PendingApproval::decision`]) and announces the decision
    /// ([`PendingApproval::resolved`]).
    pub async fn open(
        &self,
        session_id: &str,
        run_id: &str,
        req: ApprovalRequest<'_>,
    ) -> Result<PendingApproval, StoreError> {
        let id = new_id("apr");
        self.inner
            .store
            .insert_approval(NewApproval {
                id: id.clone(),
                session_id: session_id.to_owned(),
                run_id: run_id.to_owned(),
                tool_call_id: req.tool_call_id.to_owned(),
                tool: req.tool.to_owned(),
                input: req.input.to_string(),
                risk: req.risk.to_owned(),
                created_at: now_ms(),
            })
            .await?;
        let (tx, rx) = oneshot::channel();
        self.inner
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), tx);
        let announce = ApprovalPayload {
            approval_id: id.clone(),
            tool_call_id: req.tool_call_id.to_owned(),
            tool: req.tool.to_owned(),
            input: req.input.clone(),
            risk: req.risk.to_owned(),
            approved: None,
            resolved_by: None,
            reason: None,
        };
        Ok(PendingApproval {
            waiting: Waiting {
                inner: self.inner.clone(),
                id,
                done: false,
            },
            decided: rx,
            announce,
        })
    }

    /// Resolves a pending approval: stored, audited, and handed to the run waiting for it
    /// (see [`Resolution`]).
    pub async fn resolve(
        &self,
        id: &str,
        approved: bool,
        reason: Option<String>,
        by: &str,
        conn: &crate::connections::ConnectionState,
    ) -> Result<Resolution, StoreError> {
        let status = if approved {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Denied
        };
        if !self
            .inner
            .store
            .resolve_approval(id, status, reason.clone(), Some(by.to_owned()), now_ms())
            .await?
        {
            return Ok(Resolution::NotPending);
        }
        let outcome = if approved { "approved" } else { "denied" };
        self.inner.audit.record_by(
            conn,
            "approval.resolve",
            Some(id.to_owned()),
            outcome,
            reason.clone(),
        );
        let decision = Decision {
            approved,
            reason,
            by: by.to_owned(),
        };
        Ok(match self.wake(id, decision.clone()) {
            true => Resolution::Delivered,
            false => Resolution::Elsewhere(decision),
        })
    }

    /// Hands `decision` to the run waiting for approval `id` on this node; `false` when no run
    /// here waits for it (with many nodes, it may wait on another).
    pub fn wake(&self, id: &str, decision: Decision) -> bool {
        let waiter = self
            .inner
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        match waiter {
            Some(waiter) => waiter.send(decision).is_ok(),
            None => false,
        }
    }
}

/// What [`Approvals::resolve`] did.
#[derive(Debug)]
pub enum Resolution {
    /// The approval is unknown or no longer pending.
    NotPending,
    /// Stored, and handed to the run waiting for it on this node.
    Delivered,
    /// Stored; no run on this node waits for it: hand it to the other nodes.
    Elsewhere(Decision),
}
