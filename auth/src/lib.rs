//! Switchboard's tokens: the `sb_<id>_<secret>` format, generation from OS randomness,
//! argon2id hashing, verification off the runtime, the verified-token cache, and principal
//! resolution (including the configured gateway admin token).

mod cache;
mod error;
mod hash;
mod principal;
mod token;
mod verifier;

pub use cache::VerifiedCache;
pub use error::AuthError;
pub use principal::{Principal, PrincipalKind};
pub use token::{ParsedToken, TOKEN_PREFIX, generate_token, parse_token};
pub use verifier::{CreatedToken, TokenVerifier, VerifierOptions};
