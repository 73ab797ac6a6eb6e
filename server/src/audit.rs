//! The audit log writer: appends entries to the store without making the caller wait. A
//! bounded queue feeds one writer task; if the store falls so far behind that the queue is
//! full, the entry is logged at warn level instead (with a running count), never silently lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use switchboard_storage::{NewAuditEntry, Store, now_ms};
use tokio::sync::mpsc;

/// Entries queued for the writer at most.
const QUEUE: usize = 4096;

/// Entries stored in one write, at most.
const BATCH: usize = 256;

/// A cheap `Clone` handle to the audit writer.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<NewAuditEntry>,
    overflowed: Arc<AtomicU64>,
}

impl AuditLog {
    /// Starts the writer task over `store`.
    pub fn start(store: Store) -> AuditLog {
        let (tx, mut rx) = mpsc::channel::<NewAuditEntry>(QUEUE);
        tokio::spawn(async move {
            // Whatever queued while the last write ran goes in one statement: a burst of
            // connects is a few transactions, not one each.
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = store.append_audit_all(&batch).await {
                    for entry in &batch {
                        tracing::warn!(error = %e, action = %entry.action, actor = %entry.actor, "audit entry not stored");
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

    /// Queues an entry.
    pub fn record(
        &self,
        actor: String,
        action: &str,
        target: Option<String>,
        outcome: &str,
        detail: Option<String>,
        remote_addr: Option<String>,
    ) {
        let entry = NewAuditEntry {
            at: now_ms(),
            actor,
            action: action.to_owned(),
            target,
            outcome: outcome.to_owned(),
            detail,
            remote_addr,
        };
        if let Err(
            mpsc::error::TrySendError::Full(entry) | mpsc::error::TrySendError::Closed(entry),
        ) = self.tx.try_send(entry)
        {
            let n = self.overflowed.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                overflowed = n,
                action = %entry.action,
                actor = %entry.actor,
                target = ?entry.target,
                outcome = %entry.outcome,
                "audit queue full; entry logged here instead of the store"
            );
        }
    }
}
