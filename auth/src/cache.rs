//! The verified-token cache: SHA-256 of the token → who it is, for a TTL, so that argon2 runs
//! once per token per period instead of once per connect. Bounded; emptied for a token the
//! moment it is revoked.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::Principal;

/// Entries kept at most; past this, new verifications are simply not cached.
const MAX_ENTRIES: usize = 65_536;

/// A cache key: SHA-256 of the whole token (the token itself is never kept).
pub(crate) type TokenDigest = [u8; 32];

/// SHA-256 of a token.
pub(crate) fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Debug, Clone)]
struct Entry {
    principal: Principal,
    /// The token's own expiry (unix ms), still checked on a hit.
    expires_at: Option<i64>,
    /// When the cache stops trusting this entry.
    stale_at: Instant,
}

/// Verified tokens, keyed by digest.
#[derive(Debug)]
pub struct VerifiedCache {
    ttl: Duration,
    /// A std mutex: held for a map lookup or insert, never across an `.await`.
    entries: Mutex<HashMap<TokenDigest, Entry>>,
}

/// What a cache lookup found.
#[derive(Debug)]
pub(crate) enum CacheHit {
    /// A valid, unexpired entry.
    Valid(Principal),
    /// The entry's token has expired since it was cached.
    Expired,
}

impl VerifiedCache {
    /// A cache that trusts an entry for `ttl` (zero disables caching).
    pub fn new(ttl: Duration) -> VerifiedCache {
        VerifiedCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, key: &TokenDigest, now_ms: i64) -> Option<CacheHit> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get(key)?;
        if entry.stale_at <= Instant::now() {
            entries.remove(key);
            return None;
        }
        if entry.expires_at.is_some_and(|at| at <= now_ms) {
            return Some(CacheHit::Expired);
        }
        Some(CacheHit::Valid(entry.principal.clone()))
    }

    pub(crate) fn insert(&self, key: TokenDigest, principal: Principal, expires_at: Option<i64>) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.stale_at > now);
            if entries.len() >= MAX_ENTRIES {
                return;
            }
        }
        entries.insert(
            key,
            Entry {
                principal,
                expires_at,
                stale_at: now + self.ttl,
            },
        );
    }

    /// Forgets every entry of the stored token `token_id`.
    pub fn evict_token(&self, token_id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, e| e.principal.token_id.as_deref() != Some(token_id));
    }

    /// Number of entries (for tests and status).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
