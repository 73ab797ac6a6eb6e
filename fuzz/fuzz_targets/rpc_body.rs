//! The `POST /rpc` body classifier (single, batch, notification, invalid request) on arbitrary
//! bytes: must never panic, and an id it answers with is one JSON-RPC allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchboard::http::shape::{BodyShape, classify};

fuzz_target!(|data: &[u8]| {
    match classify(data) {
        BodyShape::InvalidRequest(id) => assert!(
            matches!(id, Value::Null | Value::String(_) | Value::Number(_)),
            "answer id {id}"
        ),
        BodyShape::OnlyNotifications => {
            // Only well-formed JSON can be all notifications.
            assert!(serde_json::from_slice::<Value>(data).is_ok());
        }
        BodyShape::Regular => {}
    }
});
