//! Switchboard's tokens: the `sb_<id>_<secret>` format, generation from OS randomness,
//! argon2id hashing, verification off the runtime, the verified-token cache, and principal
//! resolution (including the configured gateway admin token), and what a token grants (a role
//! and a checked scope).

mod cache;
mod error;
mod grant;
mod hash;
mod principal;
mod token;
mod verifier;

pub use cache::VerifiedCache;
pub use error::AuthError;
pub use grant::{MAX_SCOPE_ID, ScopeError, TokenGrant};
pub use principal::{Principal, PrincipalKind};
pub use token::{ParsedToken, TOKEN_PREFIX, generate_token, parse_token};
pub use verifier::{CreatedToken, TokenVerifier, VerifierOptions};
