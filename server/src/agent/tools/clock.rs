//! `clock`: the current time.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// `{now, unixMs}`.
pub(super) fn now() -> Value {
    let now = SystemTime::now();
    json!({
        "now": humantime::format_rfc3339_millis(now).to_string(),
        "unixMs": unix_ms(now),
    })
}

/// `at` as milliseconds since the Unix epoch.
fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
