//! `idempotencyKey`: a repeated key from the same principal within 10 minutes gets the first
//! call's result, also while the first run is still going. Kept in memory (bounded); after a
//! restart the store's `runs.idempotency_key` answers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::RunOutcome;

/// How long a key is remembered.
pub const IDEMPOTENCY_WINDOW: Duration =
    Duration::from_millis(switchboard_storage::IDEMPOTENCY_WINDOW_MS as u64);
/// Keys remembered at most; older ones are forgotten first (the store still answers).
const MAX_KEYS: usize = 100_000;

/// The first run of a key.
#[derive(Debug, Clone)]
pub struct FirstRun {
    /// Its run id.
    pub run_id: String,
    /// Its session.
    pub session_id: String,
    /// Its outcome, once known.
    pub outcome: watch::Receiver<Option<RunOutcome>>,
}

/// Keys seen recently.
#[derive(Debug, Default)]
pub struct IdempotencyKeys {
    /// A std mutex held for one map operation.
    keys: Mutex<HashMap<(String, String), (Instant, FirstRun)>>,
}

impl IdempotencyKeys {
    /// The first run for `(principal, key)` if seen within the window.
    pub fn get(&self, principal: &str, key: &str) -> Option<FirstRun> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.get(&(principal.to_owned(), key.to_owned()))
            .filter(|(at, _)| at.elapsed() < IDEMPOTENCY_WINDOW)
            .map(|(_, first)| first.clone())
    }

    /// Remembers the first run of `(principal, key)`, unless another call got there first
    /// (then that one is returned).
    pub fn insert(&self, principal: &str, key: &str, first: FirstRun) -> Result<(), FirstRun> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let id = (principal.to_owned(), key.to_owned());
        if let Some((at, existing)) = keys.get(&id)
            && at.elapsed() < IDEMPOTENCY_WINDOW
        {
            return Err(existing.clone());
        }
        if keys.len() >= MAX_KEYS {
            keys.retain(|_, (at, _)| at.elapsed() < IDEMPOTENCY_WINDOW);
            if keys.len() >= MAX_KEYS
                && let Some(oldest) = keys
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
            {
                keys.remove(&oldest);
            }
        }
        keys.insert(id, (Instant::now(), first));
        Ok(())
    }

    /// Forgets a key whose run could not be started.
    pub fn remove(&self, principal: &str, key: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.remove(&(principal.to_owned(), key.to_owned()));
    }
}
