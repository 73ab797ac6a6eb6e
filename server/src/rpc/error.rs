//! `ApiError`: what a handler can fail with, and the one mapping onto the wire
//! (`error.code` = the JSON-RPC number, `error.data` = `{code, retryable, retryAfterMs?,
//! details?}`). The frame codec turns the same object into a frame error.

use jsonrpsee::types::ErrorObjectOwned;
use switchboard_api::{ErrorCode, ErrorData};

/// A handler's failure, typed by its wire code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad params.
    #[error("{0}")]
    InvalidRequest(String),
    /// No valid identity.
    #[error("{0}")]
    Unauthorized(String),
    /// Role too low.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown thing.
    #[error("{0}")]
    NotFound(String),
    /// Conflicting state.
    #[error("{0}")]
    Conflict(String),
    /// Too many; retry after the given time.
    #[error("{message}")]
    RateLimited {
        /// What was limited.
        message: String,
        /// When to retry.
        retry_after_ms: u64,
    },
    /// A field over its limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A run exceeded its time limit.
    #[error("{0}")]
    Timeout(String),
    /// Shutting down or the store is unreachable.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure: the detail is logged, never sent.
    #[error("internal error")]
    Internal(String),
    /// An internal error already logged under this correlation id (e.g. a run's panic).
    #[error("internal error (correlation id {0})")]
    InternalLogged(String),
}

impl ApiError {
    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidRequest(_) => ErrorCode::InvalidRequest,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::Timeout(_) => ErrorCode::Timeout,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::Internal(_) | ApiError::InternalLogged(_) => ErrorCode::Internal,
        }
    }

    /// An internal error from anything displayable.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl From<switchboard_storage::StoreError> for ApiError {
    fn from(e: switchboard_storage::StoreError) -> Self {
        match e {
            switchboard_storage::StoreError::Db(_) => {
                tracing::warn!(error = %e, "store error");
                ApiError::Unavailable("the store is unavailable".to_owned())
            }
            switchboard_storage::StoreError::DuplicateKey => {
                ApiError::Conflict(DUPLICATE_KEY.to_owned())
            }
            other => ApiError::internal(other),
        }
    }
}

/// The `CONFLICT` message of a run whose idempotency key another run (maybe on another node)
/// took first.
pub const DUPLICATE_KEY: &str = "a run with this idempotency key exists";

impl From<ApiError> for ErrorObjectOwned {
    fn from(e: ApiError) -> Self {
        let code = e.code();
        let (message, retry_after_ms) = match &e {
            ApiError::Internal(detail) => {
                let correlation = correlation_id();
                tracing::error!(%correlation, detail = %detail, "internal error");
                (
                    format!("internal error (correlation id {correlation})"),
                    None,
                )
            }
            ApiError::RateLimited {
                message,
                retry_after_ms,
            } => (message.clone(), Some(*retry_after_ms)),
            ApiError::Unavailable(message) => (message.clone(), Some(1000)),
            other => (other.to_string(), None),
        };
        let data = ErrorData {
            code,
            retryable: code.retryable(),
            retry_after_ms,
            details: None,
        };
        ErrorObjectOwned::owned(code.jsonrpc_code(), message, Some(data))
    }
}

/// A short random id that ties a client's error message to the log line.
pub fn correlation_id() -> String {
    let mut bytes = [0u8; 6];
    if getrandom::fill(&mut bytes).is_err() {
        return format!("t{}", switchboard_storage::now_ms());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_name_a_correlation_id_and_hide_the_detail() {
        let object = ErrorObjectOwned::from(ApiError::Internal("secret detail".to_owned()));
        assert_eq!(object.code(), -32603);
        assert!(
            object
                .message()
                .starts_with("internal error (correlation id "),
            "{}",
            object.message()
        );
        assert!(!object.message().contains("secret detail"));
    }

    #[test]
    fn retryable_errors_say_when() {
        let object = ErrorObjectOwned::from(ApiError::RateLimited {
            message: "slow".into(),
            retry_after_ms: 250,
        });
        let data: ErrorData = serde_json::from_str(object.data().unwrap().get()).unwrap();
        assert_eq!(
            (data.code, data.retryable, data.retry_after_ms),
            (ErrorCode::RateLimited, true, Some(250))
        );
    }
}
