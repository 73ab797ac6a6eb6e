//! Leases (many nodes): a session's runs execute on the node that holds its lease in the
//! store. The lease is taken when a node starts the session's worker, renewed every third of
//! `cluster.lease_s` while the node lives, and given up when the worker stops. A node that
//! dies stops renewing: once its leases lapse, a survivor takes over each session with
//! unfinished runs and fails them as "node lost" ([`super::recover`]).

use std::time::Duration;

use switchboard_storage::{Lease, Store, StoreError, now_ms};

use super::RunManager;
use crate::ids::new_id;

/// Orphaned sessions taken over per sweep, at most.
const SWEEP_LIMIT: u64 = 100;

/// This node's side of the leases.
#[derive(Debug)]
pub(super) struct Leases {
    store: Store,
    node_id: String,
    lease: Duration,
}

impl Leases {
    pub(super) fn new(store: Store, node_id: String, lease: Duration) -> Leases {
        Leases {
            store,
            node_id,
            lease,
        }
    }

    /// This node's id.
    pub(super) fn node_id(&self) -> &str {
        &self.node_id
    }

    /// `cluster.lease_s`.
    pub(super) fn duration(&self) -> Duration {
        self.lease
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// Takes the session's lease if it is free, lapsed or this node's; answers who holds it.
    pub(super) async fn acquire(&self, session_id: &str) -> Result<Lease, StoreError> {
        let now = now_ms();
        self.store
            .acquire_lease(
                session_id,
                &self.node_id,
                &new_id("lease"),
                now,
                now + self.lease_ms(),
            )
            .await
    }

    /// Gives up a lease this node took with `token` (in the background).
    pub(super) fn release(&self, session_id: &str, token: String) {
        let (store, session_id) = (self.store.clone(), session_id.to_owned());
        tokio::spawn(async move {
            if let Err(e) = store.release_lease(&session_id, &token).await {
                tracing::warn!(session = %session_id, error = %e, "could not give up a lease");
            }
        });
    }
}

/// Renews this node's leases and takes over the sessions of nodes that stopped renewing
/// theirs, until the process ends.
pub(super) fn keep(runs: RunManager) {
    tokio::spawn(async move {
        let Some(leases) = runs.inner.leases.as_ref() else {
            return;
        };
        let period = (leases.lease / 3).max(Duration::from_millis(200));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = now_ms();
            if let Err(e) = leases
                .store
                .renew_leases(&leases.node_id, now + leases.lease_ms())
                .await
            {
                tracing::warn!(error = %e, "could not renew this node's leases");
            }
            take_over_orphans(&runs, leases, now).await;
        }
    });
}

/// Takes the lease of every session whose runs a lapsed lease left unfinished, and starts its
/// worker here, which fails those runs first.
async fn take_over_orphans(runs: &RunManager, leases: &Leases, now: i64) {
    let orphans = match leases.store.orphaned_sessions(now, SWEEP_LIMIT).await {
        Ok(orphans) => orphans,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for sessions of lost nodes");
            return;
        }
    };
    for session_id in orphans {
        if runs.runs_here(&session_id) {
            continue;
        }
        let lease = match leases.acquire(&session_id).await {
            Ok(lease) if lease.node_id == leases.node_id => lease,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(session = %session_id, error = %e, "could not take over a session");
                continue;
            }
        };
        let session = match leases.store.get_session(&session_id).await {
            Ok(Some(session)) => session,
            _ => {
                leases.release(&session_id, lease.token);
                continue;
            }
        };
        tracing::warn!(session = %session_id, "taking over a session whose node was lost");
        runs.take_over(&session, lease.token);
    }
}
