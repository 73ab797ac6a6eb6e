//! `TokenVerifier`: resolves a presented token to a principal (admin token, cache, store +
//! argon2), and creates and revokes stored tokens.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use subtle::ConstantTimeEq;
use switchboard_api::{Role, Scope};
use switchboard_storage::{NewToken, Store, now_ms};

use crate::cache::{CacheHit, Refused, TokenDigest, digest};
use crate::hash::Argon2Pool;
use crate::{
    AuthError, Principal, PrincipalKind, TokenGrant, VerifiedCache, generate_token, parse_token,
};

/// What the verifier needs from configuration.
#[derive(Clone, Default)]
pub struct VerifierOptions {
    /// `auth.admin_token`: presenting it gives `admin`.
    pub admin_token: Option<String>,
    /// `auth.token_cache_ttl_s`.
    pub cache_ttl: Duration,
}

impl std::fmt::Debug for VerifierOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierOptions")
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("cache_ttl", &self.cache_ttl)
            .finish()
    }
}

/// A token just created: the only time its secret exists outside the caller's hands.
#[derive(Clone)]
pub struct CreatedToken {
    /// Lookup id.
    pub id: String,
    /// The whole token, `sb_<id>_<secret>`.
    pub token: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Expiry, unix ms.
    pub expires_at: Option<i64>,
    /// Where it may act (SPEC §18); `None`: everywhere.
    pub scope: Option<Scope>,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Resolves tokens to principals. A cheap `Clone` handle.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    /// SHA-256 of `auth.admin_token`, compared in constant time.
    admin_digest: Option<TokenDigest>,
    cache: VerifiedCache,
    /// argon2 runs, verification and hashing alike: at most four at once, each on a reused
    /// working buffer (see `hash`).
    argon2: Argon2Pool,
    /// Tokens being verified now: callers presenting the same token wait for the first one's
    /// verification instead of each running argon2 (a reconnect storm costs one hash).
    verifying: std::sync::Mutex<HashMap<TokenDigest, Arc<tokio::sync::Mutex<()>>>>,
    /// Full (argon2) verifications run since start.
    hashes_checked: std::sync::atomic::AtomicU64,
}

impl TokenVerifier {
    /// A verifier over `store`.
    pub fn new(store: Store, options: VerifierOptions) -> TokenVerifier {
        TokenVerifier {
            inner: Arc::new(Inner {
                store,
                admin_digest: options.admin_token.as_deref().map(digest),
                cache: VerifiedCache::new(options.cache_ttl),
                argon2: Argon2Pool::new(),
                verifying: std::sync::Mutex::default(),
                hashes_checked: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Full (argon2) verifications run since start; a cache hit runs none.
    pub fn hashes_checked(&self) -> u64 {
        self.inner
            .hashes_checked
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The cache (for inspection).
    pub fn cache(&self) -> &VerifiedCache {
        &self.inner.cache
    }

    /// Resolves a presented token. A wrong, unknown, expired or revoked token is an error,
    /// never a lesser role.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let presented = digest(token);
        if let Some(admin) = &self.inner.admin_digest
            && bool::from(presented.ct_eq(admin))
        {
            return Ok(Principal {
                kind: PrincipalKind::AdminToken,
                token_id: None,
                name: "admin_token".to_owned(),
                role: Role::Admin,
                expires_at: None,
                scope: None,
            });
        }
        if let Some(hit) = self.cached(&presented) {
            return hit;
        }
        let id = parse_token(token).ok_or(AuthError::Invalid)?.id;
        // One verification per token at a time; whoever waited finds the result cached.
        let slot = self.verifying_slot(presented);
        let _turn = slot.lock().await;
        if let Some(hit) = self.cached(&presented) {
            self.release_slot(presented, &slot);
            return hit;
        }
        let result = self.verify_stored(token, id, presented).await;
        self.release_slot(presented, &slot);
        result
    }

    fn cached(&self, presented: &TokenDigest) -> Option<Result<Principal, AuthError>> {
        match self.inner.cache.get(presented, now_ms())? {
            CacheHit::Valid(principal) => Some(Ok(principal)),
            CacheHit::Expired => Some(Err(AuthError::Expired)),
        }
    }

    fn verifying_slot(&self, presented: TokenDigest) -> Arc<tokio::sync::Mutex<()>> {
        let mut verifying = self
            .inner
            .verifying
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        verifying.entry(presented).or_default().clone()
    }

    /// Forgets the slot once no one else holds it.
    fn release_slot(&self, presented: TokenDigest, slot: &Arc<tokio::sync::Mutex<()>>) {
        let mut verifying = self
            .inner
            .verifying
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(slot) <= 2 {
            verifying.remove(&presented);
        }
    }

    /// The full check against the store: argon2id, revocation, expiry; caches a success.
    async fn verify_stored(
        &self,
        token: &str,
        id: &str,
        presented: TokenDigest,
    ) -> Result<Principal, AuthError> {
        let now = now_ms();
        let record = self
            .inner
            .store
            .get_token(id)
            .await?
            .ok_or(AuthError::Invalid)?;
        self.inner
            .hashes_checked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let matches = self
            .inner
            .argon2
            .verify(token.to_owned(), record.hash.clone())
            .await?;
        if !matches {
            return Err(AuthError::Invalid);
        }
        if record.revoked_at.is_some() {
            // Revoked elsewhere (the CLI): from now on this server knows it too.
            self.inner.cache.revoke_token(&record.id);
            return Err(AuthError::Revoked);
        }
        if record.expires_at.is_some_and(|at| at <= now) {
            return Err(AuthError::Expired);
        }
        let principal = Principal {
            kind: PrincipalKind::Token,
            token_id: Some(record.id.clone()),
            name: record.name.clone(),
            role: record.role,
            expires_at: record.expires_at,
            // Part of the principal like the role: cached with it, so a cache hit keeps it.
            scope: record.scope.clone(),
        };
        // The record was read before argon2 ran; a revocation since then is seen here, under
        // the cache's lock, and wins: the result is neither cached nor returned.
        if let Err(Refused::Revoked) = self.inner.cache.insert(presented, principal.clone()) {
            return Err(AuthError::Revoked);
        }
        // Last use is recorded on each full verification, so at most once per cache period.
        self.inner.store.touch_token(&record.id, now).await?;
        Ok(principal)
    }

    /// Creates and stores a token with `role`, everywhere; only its argon2id hash is kept.
    pub async fn create(
        &self,
        name: &str,
        role: Role,
        expires_in: Option<Duration>,
    ) -> Result<CreatedToken, AuthError> {
        self.create_granted(name, TokenGrant::from(role), expires_in)
            .await
    }

    /// Creates and stores a token granting `grant` (a role and a checked scope); only its
    /// argon2id hash is kept, the scope beside it.
    pub async fn create_granted(
        &self,
        name: &str,
        grant: TokenGrant,
        expires_in: Option<Duration>,
    ) -> Result<CreatedToken, AuthError> {
        let role = grant.role();
        let scope = grant.scope().cloned();
        let (id, token) = generate_token()?;
        // The same bound as verification: a burst of creates waits here, not in memory.
        let hash = self.inner.argon2.hash(token.clone()).await?;
        let created_at = now_ms();
        let expires_at = expires_in
            .map(|d| created_at.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
        self.inner
            .store
            .insert_token(NewToken {
                id: id.clone(),
                name: name.to_owned(),
                role,
                hash,
                created_at,
                expires_at,
                scope: scope.clone(),
            })
            .await?;
        Ok(CreatedToken {
            id,
            token,
            name: name.to_owned(),
            role,
            created_at,
            expires_at,
            scope,
        })
    }

    /// Revokes a stored token: stored first, then marked in the cache, which forgets it and
    /// refuses any verification of it still in flight. `false` when unknown.
    pub async fn revoke(&self, id: &str) -> Result<bool, AuthError> {
        let found = self.inner.store.revoke_token(id, now_ms()).await?;
        if found {
            self.inner.cache.revoke_token(id);
        }
        Ok(found)
    }

    /// Whether `principal` was revoked by this server since start. A caller that verified a
    /// token and then published the identity (e.g. on a connection) checks this afterwards: a
    /// revocation either sees the published identity or is seen here.
    pub fn is_revoked(&self, principal: &Principal) -> bool {
        principal
            .token_id
            .as_deref()
            .is_some_and(|id| self.inner.cache.is_revoked(id))
    }

    /// On first start: when no admin token is configured and none usable is stored, creates
    /// one and returns it (to be shown once). `None` when an admin token already exists.
    pub async fn ensure_admin_token(&self) -> Result<Option<CreatedToken>, AuthError> {
        if self.inner.admin_digest.is_some()
            || self.inner.store.has_active_admin_token(now_ms()).await?
        {
            return Ok(None);
        }
        self.create("bootstrap-admin", Role::Admin, None)
            .await
            .map(Some)
    }
}
