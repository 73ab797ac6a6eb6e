//! The one error type handlers return, and how it goes on the wire (the method set itself is
//! built in `methods/`).

mod error;

pub use error::{ApiError, DUPLICATE_KEY, correlation_id};
