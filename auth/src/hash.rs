//! argon2id hashing and verification. Both are CPU-heavy (~20 ms) and blocking: callers run
//! them in `spawn_blocking`.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::AuthError;

/// Hashes a whole token to an argon2id PHC string with a random salt.
pub(crate) fn hash_token(token: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(token.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Internal(format!("argon2 hash: {e}")))
}

/// Whether `token` matches the PHC string `hash`.
pub(crate) fn verify_token_hash(token: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(token.as_bytes(), hash)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_and_verifies_only_the_same_token() {
        let hash = hash_token("sb_x_secret").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("secret"));
        assert!(verify_token_hash("sb_x_secret", &hash));
        assert!(!verify_token_hash("sb_x_secreT", &hash));
        assert!(!verify_token_hash("sb_x_secret", "not a phc string"));
    }
}
