//! The verified-token cache: SHA-256 of the token → who it is, for a TTL, so that argon2 runs
//! once per token per period instead of once per connect. Bounded; emptied for a token the
//! moment it is revoked, and a revoked token is never let back in: the ids revoked since start
//! are kept under the same lock, and an insert for one of them is refused. A verification that
//! began before the revocation (argon2 takes ~20 ms) therefore cannot cache its result after it.

use std::collections::{HashMap, HashSet};
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
    /// When the cache stops trusting this entry.
    stale_at: Instant,
}

#[derive(Debug, Default)]
struct CacheState {
    entries: HashMap<TokenDigest, Entry>,
    /// Stored tokens revoked since start. A revocation is final, so the set only grows; it
    /// grows by admin action alone (one short id per revoked token).
    revoked: HashSet<String>,
}

impl CacheState {
    fn is_revoked(&self, principal: &Principal) -> bool {
        principal
            .token_id
            .as_deref()
            .is_some_and(|id| self.revoked.contains(id))
    }
}

/// Verified tokens, keyed by digest, and the tokens revoked since start.
#[derive(Debug)]
pub struct VerifiedCache {
    ttl: Duration,
    /// A std mutex: held for a map lookup or insert, never across an `.await`.
    state: Mutex<CacheState>,
}

/// What a cache lookup found.
#[derive(Debug)]
pub(crate) enum CacheHit {
    /// A valid, unexpired entry.
    Valid(Principal),
    /// The entry's token has expired since it was cached.
    Expired,
}

/// Why [`VerifiedCache::insert`] kept nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The token was revoked meanwhile: its verification must not succeed.
    Revoked,
    /// Caching is off or the cache is full: the verification stands, uncached.
    NotCached,
}

impl VerifiedCache {
    /// A cache that trusts an entry for `ttl` (zero disables caching, not revocation).
    pub fn new(ttl: Duration) -> VerifiedCache {
        VerifiedCache {
            ttl,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, key: &TokenDigest, now_ms: i64) -> Option<CacheHit> {
        let mut state = self.lock();
        let entry = state.entries.get(key)?;
        // Revocation evicts, but check again on every hit: a revoked token is never valid.
        if entry.stale_at <= Instant::now() || state.is_revoked(&entry.principal) {
            state.entries.remove(key);
            return None;
        }
        if entry.principal.is_expired(now_ms) {
            return Some(CacheHit::Expired);
        }
        Some(CacheHit::Valid(entry.principal.clone()))
    }

    /// Caches a verified principal, unless its token was revoked since start (checked under the
    /// same lock as the revocation, so a revocation is either seen here or evicts this entry).
    pub(crate) fn insert(&self, key: TokenDigest, principal: Principal) -> Result<(), Refused> {
        let now = Instant::now();
        let mut state = self.lock();
        if state.is_revoked(&principal) {
            return Err(Refused::Revoked);
        }
        if self.ttl.is_zero() {
            return Err(Refused::NotCached);
        }
        if state.entries.len() >= MAX_ENTRIES {
            state.entries.retain(|_, e| e.stale_at > now);
            if state.entries.len() >= MAX_ENTRIES {
                return Err(Refused::NotCached);
            }
        }
        state.entries.insert(
            key,
            Entry {
                principal,
                stale_at: now + self.ttl,
            },
        );
        Ok(())
    }

    /// Marks the stored token `token_id` revoked: forgets its entries, and refuses them from
    /// now on.
    pub fn revoke_token(&self, token_id: &str) {
        let mut state = self.lock();
        state.revoked.insert(token_id.to_owned());
        state
            .entries
            .retain(|_, e| e.principal.token_id.as_deref() != Some(token_id));
    }

    /// Whether the stored token `token_id` was revoked through this cache since start.
    pub fn is_revoked(&self, token_id: &str) -> bool {
        self.lock().revoked.contains(token_id)
    }

    /// Number of entries (for tests and status).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrincipalKind;
    use switchboard_api::Role;

    fn principal(id: &str, expires_at: Option<i64>) -> Principal {
        Principal {
            kind: PrincipalKind::Token,
            token_id: Some(id.to_owned()),
            name: "t".to_owned(),
            role: Role::Operator,
            expires_at,
            scope: None,
        }
    }

    #[test]
    fn a_verification_finished_after_the_revocation_is_not_cached() {
        // The order of the race: verification starts, the revoke lands, the verification
        // finishes and tries to cache its (stale) success.
        let cache = VerifiedCache::new(Duration::from_secs(60));
        let key = digest("sb_a_secret");
        cache.revoke_token("a");
        assert_eq!(
            cache.insert(key, principal("a", None)),
            Err(Refused::Revoked)
        );
        assert!(cache.get(&key, 0).is_none());
        assert!(cache.is_revoked("a"));
    }

    #[test]
    fn a_revocation_after_the_insert_evicts_it() {
        let cache = VerifiedCache::new(Duration::from_secs(60));
        let key = digest("sb_a_secret");
        let other = digest("sb_b_secret");
        cache.insert(key, principal("a", None)).unwrap();
        cache.insert(other, principal("b", None)).unwrap();
        cache.revoke_token("a");
        assert!(cache.get(&key, 0).is_none());
        assert!(matches!(cache.get(&other, 0), Some(CacheHit::Valid(_))));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn revocation_holds_with_caching_off() {
        let cache = VerifiedCache::new(Duration::ZERO);
        let key = digest("sb_a_secret");
        assert_eq!(
            cache.insert(key, principal("a", None)),
            Err(Refused::NotCached)
        );
        cache.revoke_token("a");
        assert_eq!(
            cache.insert(key, principal("a", None)),
            Err(Refused::Revoked)
        );
    }

    #[test]
    fn an_entry_past_its_tokens_expiry_reads_as_expired() {
        let cache = VerifiedCache::new(Duration::from_secs(60));
        let key = digest("sb_a_secret");
        cache.insert(key, principal("a", Some(1_000))).unwrap();
        assert!(matches!(cache.get(&key, 999), Some(CacheHit::Valid(_))));
        assert!(matches!(cache.get(&key, 1_000), Some(CacheHit::Expired)));
    }
}
