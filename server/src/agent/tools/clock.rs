//! `clock`: the current time.

use std::time::SystemTime;

use serde_json::{Value, json};

/// `{now, unixMs}`.
pub(super) fn now() -> Value {
    let now = SystemTime::now();
    json!({
        "now": humantime::format_rfc3339_millis(now).to_string(),
        "unixMs": switchboard_storage::now_ms(),
    })
}
