//! argon2id hashing and verification, bounded: at most [`MAX_CONCURRENT_HASHES`] runs at once
//! (verifying a presented token and hashing a new one alike), each off the runtime in
//! `spawn_blocking`, each on a reused ~19 MiB working buffer.
//!
//! The buffers are why memory stays put. Left to argon2, every run allocates and frees its
//! 19 MiB; glibc then keeps freed chunks in per-thread arenas, so a burst of creates grew RSS by
//! about 1.1 GiB and kept it (measured: 60 concurrent `tokens.create`, even with runs bounded to
//! four at once). With at most four buffers, allocated on first use and never freed, argon2's
//! share of RSS is at most 4 × 19 MiB, whatever the burst.

use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::AuthError;

/// argon2 runs at once, at most. Each takes ~19 MiB and a core for ~20 ms; without a bound a
/// flood of uncached tokens or of `tokens.create` would grow memory with the blocking pool.
pub(crate) const MAX_CONCURRENT_HASHES: usize = 4;

/// Bytes of salt in a new hash.
const SALT_BYTES: usize = 16;

/// Working memory of one run at the default parameters (one `Block` is 1 KiB).
const BLOCKS: usize = Params::DEFAULT.block_count();

/// The bound on argon2 runs and their working buffers. A cheap `Clone` handle.
#[derive(Debug, Clone)]
pub(crate) struct Argon2Pool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    permits: Arc<Semaphore>,
    /// Idle buffers; never more than [`MAX_CONCURRENT_HASHES`] exist, as only a permit's holder
    /// takes one (or allocates one when none is idle) and puts it back.
    idle: Mutex<Vec<Box<[Block]>>>,
}

impl PoolInner {
    fn take(&self) -> Box<[Block]> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        idle.unwrap_or_else(|| vec![Block::new(); BLOCKS].into_boxed_slice())
    }

    fn put(&self, memory: Box<[Block]>) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(memory);
    }
}

impl Argon2Pool {
    /// A pool of [`MAX_CONCURRENT_HASHES`] runs.
    pub(crate) fn new() -> Argon2Pool {
        Argon2Pool {
            inner: Arc::new(PoolInner {
                permits: Arc::new(Semaphore::new(MAX_CONCURRENT_HASHES)),
                idle: Mutex::default(),
            }),
        }
    }

    /// Runs `f` on a working buffer in `spawn_blocking` once a run is free. The permit and the
    /// buffer go back when `f` returns, even if the caller stopped waiting.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        let pool = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = pool.take();
            let result = f(&mut memory);
            pool.put(memory);
            drop(permit);
            result
        })
        .await
        .map_err(|e| AuthError::Internal(format!("argon2 task: {e}")))
    }

    /// Hashes a whole token to an argon2id PHC string with a random salt.
    pub(crate) async fn hash(&self, token: String) -> Result<String, AuthError> {
        let mut salt = [0u8; SALT_BYTES];
        getrandom::fill(&mut salt)
            .map_err(|e| AuthError::Internal(format!("OS randomness: {e}")))?;
        self.run(move |memory| hash_token_with(&token, &salt, memory))
            .await?
    }

    /// Whether `token` matches the PHC string `hash`.
    pub(crate) async fn verify(&self, token: String, hash: String) -> Result<bool, AuthError> {
        self.run(move |memory| verify_token_hash_with(&token, &hash, memory))
            .await
    }

    /// Working buffers allocated so far (never more than [`MAX_CONCURRENT_HASHES`]).
    #[cfg(test)]
    fn buffers(&self) -> usize {
        self.inner
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

/// argon2id at the default parameters (m = 19 MiB, t = 2, p = 1), `salt` given, on `memory`.
fn hash_token_with(token: &str, salt: &[u8], memory: &mut [Block]) -> Result<String, AuthError> {
    let internal = |e: &dyn std::fmt::Display| AuthError::Internal(format!("argon2 hash: {e}"));
    let params = Params::DEFAULT;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(token.as_bytes(), salt, &mut out, memory)
        .map_err(|e| internal(&e))?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(|e| internal(&e))?,
        salt: Some(Salt::new(salt).map_err(|e| internal(&e))?),
        hash: Some(Output::new(&out).map_err(|e| internal(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `token` matches the PHC string `hash`, computed on `memory` (or, for a hash whose
/// parameters need more than it holds, on argon2's own allocation). Compared in constant time.
fn verify_token_hash_with(token: &str, hash: &str, memory: &mut [Block]) -> bool {
    let Ok(phc) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = phc
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(&phc) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = if blocks <= memory.len() {
        argon2.hash_password_into_with_memory(token.as_bytes(), salt, &mut out, memory)
    } else {
        argon2.hash_password_into(token.as_bytes(), salt, &mut out)
    };
    computed.is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[tokio::test]
    async fn hash_is_argon2id_and_verifies_only_the_same_token() {
        let pool = Argon2Pool::new();
        let hash = pool.hash("sb_x_secret".to_owned()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("secret"));
        let verify = |token: &str, hash: &str| pool.verify(token.to_owned(), hash.to_owned());
        assert!(verify("sb_x_secret", &hash).await.unwrap());
        assert!(!verify("sb_x_secreT", &hash).await.unwrap());
        assert!(!verify("sb_x_secret", "not a phc string").await.unwrap());
    }

    #[tokio::test]
    async fn hashes_are_interchangeable_with_argon2s_own() {
        // Tokens stored before the pool (argon2's own hashing) still verify, and the pool's
        // hashes verify with argon2's own verifier.
        let pool = Argon2Pool::new();
        let theirs = Argon2::default()
            .hash_password(b"sb_old_token")
            .unwrap()
            .to_string();
        assert!(
            pool.verify("sb_old_token".to_owned(), theirs)
                .await
                .unwrap()
        );
        let ours = pool.hash("sb_new_token".to_owned()).await.unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"sb_new_token", ours.as_str())
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_hash_needing_more_memory_than_a_buffer_still_verifies() {
        let params = Params::new(BLOCKS as u32 * 2, 1, 1, None).unwrap();
        let big = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"sb_big")
            .unwrap()
            .to_string();
        let pool = Argon2Pool::new();
        assert!(pool.verify("sb_big".to_owned(), big).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_uses_at_most_four_buffers() {
        let pool = Argon2Pool::new();
        let runs = (0..12).map(|i| {
            let pool = pool.clone();
            async move { pool.hash(format!("sb_burst_{i}")).await }
        });
        for hash in futures_join(runs).await {
            hash.unwrap();
        }
        assert!(
            pool.buffers() <= MAX_CONCURRENT_HASHES,
            "{}",
            pool.buffers()
        );
    }

    /// Runs futures concurrently (the crate does not depend on `futures`).
    async fn futures_join<F: std::future::Future + Send + 'static>(
        futures: impl Iterator<Item = F>,
    ) -> Vec<F::Output>
    where
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futures.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for handle in handles {
            out.push(handle.await.unwrap());
        }
        out
    }
}
