//! Session keys: the names OpenClaw's clients give sessions, `agent:<agentId>:<name>` (SPEC §16),
//! accepted by both dialects as `sessionKey` in place of `sessionId`. Keys are lowercase; a key
//! without the `agent:` prefix names a session of the agent the call names (or `main`).

use std::fmt;

/// The longest key, in characters (after normalising).
pub const MAX_KEY_CHARS: usize = 256;

/// The agent a key without `agent:` belongs to when the call names none.
pub const DEFAULT_AGENT: &str = "main";

const PREFIX: &str = "agent:";

/// A parsed, normalised session key: `agent:<agent>:<rest>`, lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    agent: String,
    rest: String,
}

impl SessionKey {
    /// The agent part (lowercase; match it against configured ids ignoring case).
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// The part after the agent: a session id, or a name the client chose.
    pub fn rest(&self) -> &str {
        &self.rest
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}:{}", self.agent, self.rest)
    }
}

/// Why a text is not a session key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKeyError {
    /// Empty (or only spaces).
    Empty,
    /// Longer than [`MAX_KEY_CHARS`].
    TooLong,
    /// `agent:` without a non-empty agent and name.
    Malformed,
}

impl fmt::Display for SessionKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionKeyError::Empty => f.write_str("sessionKey is empty"),
            SessionKeyError::TooLong => {
                write!(f, "sessionKey is over {MAX_KEY_CHARS} characters")
            }
            SessionKeyError::Malformed => f.write_str("sessionKey must be agent:<agentId>:<name>"),
        }
    }
}

impl std::error::Error for SessionKeyError {}

/// Parses and normalises `key`: trimmed, lowercased; a key without the `agent:` prefix becomes
/// `agent:<agent_id or main>:<key>`. The agent is not checked against the configuration here.
pub fn parse(key: &str, agent_id: Option<&str>) -> Result<SessionKey, SessionKeyError> {
    let key = key.trim().to_lowercase();
    if key.is_empty() {
        return Err(SessionKeyError::Empty);
    }
    let (agent, rest) = match key.strip_prefix(PREFIX) {
        Some(tail) => {
            let (agent, rest) = tail.split_once(':').ok_or(SessionKeyError::Malformed)?;
            (agent.to_owned(), rest.to_owned())
        }
        None => (agent_id.unwrap_or(DEFAULT_AGENT).trim().to_lowercase(), key),
    };
    if agent.is_empty() || agent.contains(':') || rest.is_empty() {
        return Err(SessionKeyError::Malformed);
    }
    let parsed = SessionKey { agent, rest };
    if parsed.to_string().chars().count() > MAX_KEY_CHARS {
        return Err(SessionKeyError::TooLong);
    }
    Ok(parsed)
}

/// The key a session shows: its stored key, else `agent:<agentId>:<sessionId>` (which
/// [`parse`] and the methods accept back).
pub fn key_of(agent_id: &str, session_id: &str, stored: Option<&str>) -> String {
    match stored {
        Some(key) => key.to_owned(),
        None => format!(
            "{PREFIX}{}:{}",
            agent_id.to_lowercase(),
            session_id.to_lowercase()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_keys_are_lowercased_and_split_at_the_first_colon() {
        let k = parse(" Agent:Main:Side:Thread ", None).unwrap();
        assert_eq!((k.agent(), k.rest()), ("main", "side:thread"));
        assert_eq!(k.to_string(), "agent:main:side:thread");
    }

    #[test]
    fn bare_keys_belong_to_the_named_or_default_agent() {
        assert_eq!(parse("main", None).unwrap().to_string(), "agent:main:main");
        assert_eq!(
            parse("Global", Some("Ops")).unwrap().to_string(),
            "agent:ops:global"
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert_eq!(parse("  ", None), Err(SessionKeyError::Empty));
        for bad in ["agent:", "agent:main", "agent:main:", "agent::x"] {
            assert_eq!(parse(bad, None), Err(SessionKeyError::Malformed), "{bad}");
        }
        assert_eq!(parse("x", Some("")), Err(SessionKeyError::Malformed));
        let long = format!("agent:main:{}", "x".repeat(MAX_KEY_CHARS));
        assert_eq!(parse(&long, None), Err(SessionKeyError::TooLong));
        let fits = format!("agent:main:{}", "x".repeat(MAX_KEY_CHARS - 11));
        assert!(parse(&fits, None).is_ok());
    }

    #[test]
    fn an_unkeyed_session_shows_its_id_under_its_agent() {
        assert_eq!(key_of("Main", "ses_1", None), "agent:main:ses_1");
        assert_eq!(
            key_of("main", "ses_1", Some("agent:main:x")),
            "agent:main:x"
        );
    }
}
