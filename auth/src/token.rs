//! The token format `sb_<id>_<secret>`: a 64-bit lookup id and a 256-bit secret, both from
//! the OS's random source, in lowercase hex.

use std::fmt::Write;

use crate::AuthError;

/// Every token starts with this.
pub const TOKEN_PREFIX: &str = "sb_";
/// Bytes of randomness in the id.
const ID_BYTES: usize = 8;
/// Bytes of randomness in the secret (256 bits).
const SECRET_BYTES: usize = 32;

/// A token split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedToken<'a> {
    /// The lookup id.
    pub id: &'a str,
}

/// Generates a new token; returns `(id, whole token)`.
pub fn generate_token() -> Result<(String, String), AuthError> {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut id).map_err(|e| AuthError::Internal(format!("OS randomness: {e}")))?;
    getrandom::fill(&mut secret).map_err(|e| AuthError::Internal(format!("OS randomness: {e}")))?;
    let id = hex(&id);
    let token = format!("{TOKEN_PREFIX}{id}_{}", hex(&secret));
    Ok((id, token))
}

/// Splits a token of the `sb_<id>_<secret>` form; `None` for anything else.
pub fn parse_token(token: &str) -> Option<ParsedToken<'_>> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let is_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    (is_hex(id, ID_BYTES * 2) && is_hex(secret, SECRET_BYTES * 2)).then_some(ParsedToken { id })
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let (id, token) = generate_token().unwrap();
        assert_eq!(parse_token(&token), Some(ParsedToken { id: &id }));
        assert_eq!(token.len(), 3 + 16 + 1 + 64);
        let (_, other) = generate_token().unwrap();
        assert_ne!(token, other);
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in [
            "",
            "sb_",
            "sb_abc_def",
            "xx_0011223344556677_00",
            "sb_0011223344556677",
        ] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
        let (_, token) = generate_token().unwrap();
        assert_eq!(parse_token(&token.to_uppercase()), None);
        assert_eq!(parse_token(&format!("{token}0")), None);
    }
}
