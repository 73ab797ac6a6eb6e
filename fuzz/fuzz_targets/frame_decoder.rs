//! The `/ws` frame codec on arbitrary input: `parse_request` (every text frame a client sends)
//! must never panic, and what it answers must hold together; the encoder (`to_frame_with`) must
//! never panic on any JSON message either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use serde_json::value::RawValue;
use switchboard::ws::codec::{parse_request, to_frame_with};

fuzz_target!(|data: &[u8]| {
    // A WebSocket text frame is valid UTF-8 (tungstenite checks); invalid bytes still reach the
    // parser, repaired, so that no input is wasted.
    let text = String::from_utf8_lossy(data);
    match parse_request(&text) {
        Ok((_id, method, params)) => {
            assert!(!method.is_empty(), "an accepted frame has a method");
            if let Some(p) = params {
                assert!(
                    p.get().starts_with('{') || p.get().starts_with('['),
                    "accepted params are an object or an array: {}",
                    p.get()
                );
            }
        }
        Err(reply) => {
            // The reply is a JSON-RPC -32600 error message the writer turns into a frame.
            let reply: Value = serde_json::from_str(reply.get()).expect("the error is JSON");
            assert_eq!(reply["error"]["code"], -32600, "{reply}");
            let mut seq = 0;
            let raw = serde_json::value::to_raw_value(&reply).expect("JSON again");
            assert!(to_frame_with(&raw, &mut seq, &|_| None).is_some());
        }
    }
    // The encoder sees the server's own JSON-RPC messages, which carry client text inside.
    if let Ok(message) = serde_json::from_str::<&RawValue>(&text) {
        let mut seq = 0;
        if let Some(frame) = to_frame_with(message, &mut seq, &|_| None) {
            let _ = serde_json::from_str::<Value>(&frame);
        }
        let _ = to_frame_with(message, &mut seq, &|r| Some(format!("{{\"wrapped\":{r}}}")));
    }
});
