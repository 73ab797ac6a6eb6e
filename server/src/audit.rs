//! The audit log writer: appends entries to the store without making the caller wait. A
//! bounded queue feeds one writer task; if the store falls so far behind that the queue is
//! full, the entry is logged at warn level instead (with a running count), never silently lost.
//!
//! An entry names the caller twice: the `actor` it chose itself (its `user_id`, a claim) and,
//! where one was proven, its principal (`token:<id>`, `admin_token`, `anonymous`), role and
//! scope.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use switchboard_storage::{AuditPrincipal, NewAuditEntry, Store, now_ms};
use tokio::sync::mpsc;

use crate::connections::ConnectionState;

/// Entries queued for the writer at most.
const QUEUE: usize = 4096;

/// Entries stored in one write, at most.
const BATCH: usize = 256;

/// An entry and the principal behind it, as queued for the writer.
type Queued = (NewAuditEntry, Option<AuditPrincipal>);

/// A cheap `Clone` handle to the audit writer.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Queued>,
    overflowed: Arc<AtomicU64>,
}

impl AuditLog {
    /// Starts the writer task over `store`.
    pub fn start(store: Store) -> AuditLog {
        let (tx, mut rx) = mpsc::channel::<Queued>(QUEUE);
        tokio::spawn(async move {
            // Whatever queued while the last write ran goes in one statement: a burst of
            // connects is a few transactions, not one each.
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = store.append_audit_all(&batch).await {
                    for (entry, by) in &batch {
                        tracing::warn!(error = %e, action = %entry.action, actor = %entry.actor, principal = ?by.as_ref().map(|b| &b.principal), "audit entry not stored");
                    }
                }
                batch.clear();
            }
        });
        AuditLog {
            tx,
            overflowed: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Queues an entry with no proven principal (see [`AuditLog::record_by`]).
    pub fn record(
        &self,
        actor: String,
        action: &str,
        target: Option<String>,
        outcome: &str,
        detail: Option<String>,
        remote_addr: Option<String>,
    ) {
        self.queue(
            NewAuditEntry {
                at: now_ms(),
                actor,
                action: action.to_owned(),
                target,
                outcome: outcome.to_owned(),
                detail,
                remote_addr,
            },
            None,
        );
    }

    /// Queues an entry for a call on `conn`: the actor is the `user_id` it connected as (else
    /// its bearer's name, else `connection:<id>`), and the principal, role and scope are the
    /// ones its token proved (`connect`'s, else the bearer's).
    pub fn record_by(
        &self,
        conn: &ConnectionState,
        action: &str,
        target: Option<String>,
        outcome: &str,
        detail: Option<String>,
    ) {
        let identity = conn.identity();
        let principal = identity
            .as_ref()
            .map(|i| &i.principal)
            .or(conn.bearer.as_ref());
        let actor = match (&identity, principal) {
            (Some(identity), _) => identity.user_id.clone(),
            (None, Some(bearer)) => bearer.name.clone(),
            (None, None) => format!("connection:{}", conn.id),
        };
        let by = principal.map(|p| AuditPrincipal {
            principal: p.key(),
            role: p.role,
            scope: p.scope.clone(),
        });
        self.queue(
            NewAuditEntry {
                at: now_ms(),
                actor,
                action: action.to_owned(),
                target,
                outcome: outcome.to_owned(),
                detail,
                remote_addr: Some(conn.remote_addr.to_string()),
            },
            by,
        );
    }

    fn queue(&self, entry: NewAuditEntry, by: Option<AuditPrincipal>) {
        if let Err(
            mpsc::error::TrySendError::Full((entry, by))
            | mpsc::error::TrySendError::Closed((entry, by)),
        ) = self.tx.try_send((entry, by))
        {
            let n = self.overflowed.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                overflowed = n,
                action = %entry.action,
                actor = %entry.actor,
                principal = ?by.as_ref().map(|b| &b.principal),
                target = ?entry.target,
                outcome = %entry.outcome,
                "audit queue full; entry logged here instead of the store"
            );
        }
    }
}
