//! The error codes of the wire (SPEC §6): one name, one JSON-RPC code, one retry rule each.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An application error code. Frames carry the name (`"FORBIDDEN"`); JSON-RPC carries the
/// number and the name in `error.data.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Malformed frame, unknown method, bad params.
    InvalidRequest,
    /// No valid identity (bad token, method before `connect`).
    Unauthorized,
    /// The identity's role is below the method's minimum.
    Forbidden,
    /// Unknown session, run, token, approval, connection.
    NotFound,
    /// E.g. a session's run queue is full, or too many subscriptions.
    Conflict,
    /// Too many requests; comes with `retryAfterMs`.
    RateLimited,
    /// A field over its limit.
    PayloadTooLarge,
    /// A run exceeded its time limit.
    Timeout,
    /// Shutting down, or the store is unreachable.
    Unavailable,
    /// A bug; logged with a correlation id that the message names.
    Internal,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::InvalidRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::RateLimited,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Timeout,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// The JSON-RPC error code (`INVALID_REQUEST` is −32602 for bad params; the codec uses
    /// −32600 and −32601 for malformed requests and unknown methods).
    pub const fn jsonrpc_code(self) -> i32 {
        match self {
            ErrorCode::InvalidRequest => -32602,
            ErrorCode::Unauthorized => -32001,
            ErrorCode::Forbidden => -32003,
            ErrorCode::NotFound => -32004,
            ErrorCode::Conflict => -32009,
            ErrorCode::RateLimited => -32029,
            ErrorCode::PayloadTooLarge => -32013,
            ErrorCode::Timeout => -32008,
            ErrorCode::Unavailable => -32050,
            ErrorCode::Internal => -32603,
        }
    }

    /// Whether a client may retry the same call.
    pub const fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Conflict
                | ErrorCode::RateLimited
                | ErrorCode::Timeout
                | ErrorCode::Unavailable
        )
    }

    /// The code a bare JSON-RPC error number stands for (for errors jsonrpsee makes itself,
    /// which carry no `data.code`).
    pub fn from_jsonrpc(code: i64) -> ErrorCode {
        match code {
            -32700 | -32600 | -32601 | -32602 => ErrorCode::InvalidRequest,
            // jsonrpsee's "too many subscriptions".
            -32006 => ErrorCode::Conflict,
            // jsonrpsee's "request too big" and "batch too big".
            -32007 | -32010 => ErrorCode::PayloadTooLarge,
            other => Self::ALL
                .into_iter()
                .find(|c| i64::from(c.jsonrpc_code()) == other)
                .unwrap_or(ErrorCode::Internal),
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `error.data` of a JSON-RPC application error, and the body of a frame's `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorData {
    /// The code's name.
    pub code: ErrorCode,
    /// Whether the same call may be retried.
    pub retryable: bool,
    /// When to retry, for `RATE_LIMITED` and retryable `UNAVAILABLE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// More detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_the_spec_table() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            if code != ErrorCode::InvalidRequest {
                assert_eq!(ErrorCode::from_jsonrpc(code.jsonrpc_code().into()), code);
            }
        }
        assert_eq!(ErrorCode::from_jsonrpc(-32601), ErrorCode::InvalidRequest);
        assert!(ErrorCode::RateLimited.retryable() && !ErrorCode::Forbidden.retryable());
    }
}
