//! Property tests of the `/ws` frame codec (`switchboard::ws::codec`): whatever the id, method
//! and params a client puts in a `req` frame, `parse_request` hands them on unchanged; whatever
//! the id and result or error of a JSON-RPC response, its `res` frame carries them back out.

use jsonrpsee::types::Id;
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use switchboard::ws::codec::{parse_request, to_frame_with};
use switchboard_api::{ErrorCode, ErrorData};

/// Few enough cases that the module runs in well under a second or two.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

/// Any text, control characters, quotes, backslashes and non-ASCII included.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max).prop_map(|c| c.into_iter().collect())
}

/// A JSON number that survives printing and reading back exactly (serde_json reads floats
/// with at most one ULP of error unless `float_roundtrip` is on, so floats are multiples of
/// 1/64: exact in binary and in short decimal).
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1_000_000_000i64..1_000_000_000).prop_map(|k| Value::from(k as f64 / 64.0)),
    ]
}

/// Any JSON value, nested at most four levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text(12).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(8), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Params as a frame may carry them: an object or an array.
fn params() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::collection::vec(json_value(), 0..6).prop_map(Value::Array),
        prop::collection::vec((text(8), json_value()), 0..6)
            .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
    ]
}

/// A frame id: a string or a non-negative integer.
fn frame_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        text(24).prop_map(Value::String)
    ]
}

/// A JSON-RPC response id: a frame's id, or null (the answer to a request without a usable id).
fn response_id() -> impl Strategy<Value = Value> {
    prop_oneof![4 => frame_id(), 1 => Just(Value::Null)]
}

fn id_as_value(id: &Id<'_>) -> Value {
    match id {
        Id::Number(n) => Value::from(*n),
        Id::Str(s) => Value::String(s.to_string()),
        Id::Null => Value::Null,
    }
}

/// `text` serialized compactly or pretty-printed.
fn serialize(value: &Value, pretty: bool) -> String {
    if pretty {
        serde_json::to_string_pretty(value).unwrap()
    } else {
        serde_json::to_string(value).unwrap()
    }
}

fn frame_of(message: &str) -> Value {
    let raw = RawValue::from_string(message.to_owned()).unwrap();
    let frame = to_frame_with(&raw, &mut 0, &|_| None).expect("a response becomes a frame");
    serde_json::from_str(&frame).expect("a frame is JSON")
}

proptest! {
    #![proptest_config(config())]

    /// A `req` frame, its fields in any order, compact or pretty, with params or without,
    /// decodes to the same id and method, and the params' exact text.
    #[test]
    fn a_request_frame_decodes_to_its_id_method_and_params(
        id in frame_id(),
        method in text(32).prop_filter("a method is not empty", |m| !m.is_empty()),
        params in prop::option::of(params()),
        order in Just(vec![0usize, 1, 2, 3]).prop_shuffle(),
        pretty in any::<bool>(),
    ) {
        let params_text = params.as_ref().map(|p| serialize(p, pretty));
        let fields: Vec<String> = order
            .iter()
            .filter_map(|field| match field {
                0 => Some(r#""type":"req""#.to_owned()),
                1 => Some(format!(r#""id":{}"#, serialize(&id, false))),
                2 => Some(format!(r#""method":{}"#, serialize(&json!(method), false))),
                _ => params_text.as_ref().map(|p| format!(r#""params":{p}"#)),
            })
            .collect();
        let separator = if pretty { ",\n  " } else { "," };
        let frame = format!("{{{}}}", fields.join(separator));

        let (got_id, got_method, got_params) = parse_request(&frame)
            .map_err(|e| TestCaseError::fail(format!("{frame} refused: {}", e.get())))?;
        prop_assert_eq!(id_as_value(&got_id), id);
        prop_assert_eq!(got_method, method);
        prop_assert_eq!(got_params.as_ref().map(|p| p.get()), params_text.as_deref());
        if let Some(p) = got_params {
            prop_assert_eq!(serde_json::from_str::<Value>(p.get()).unwrap(), params.unwrap());
        }
    }

    /// `"params": null` is the same as no params.
    #[test]
    fn null_params_decode_as_none(id in frame_id(), method in "[a-z.]{1,16}") {
        let frame = json!({ "type": "req", "id": id, "method": method, "params": null });
        let (_, _, params) = parse_request(&frame.to_string()).unwrap();
        prop_assert!(params.is_none());
    }

    /// A success response, as jsonrpsee writes it (spliced) or in another field order
    /// (parsed), becomes `{"type":"res","id":…,"ok":true,"payload":…}` with its id and result.
    #[test]
    fn a_success_response_becomes_a_res_frame_with_its_id_and_result(
        id in response_id(),
        result in json_value(),
        jsonrpsee_order in any::<bool>(),
    ) {
        let (id_text, result_text) = (serialize(&id, false), serialize(&result, false));
        let message = if jsonrpsee_order {
            format!(r#"{{"jsonrpc":"2.0","id":{id_text},"result":{result_text}}}"#)
        } else {
            format!(r#"{{"result":{result_text},"id":{id_text},"jsonrpc":"2.0"}}"#)
        };
        let frame = frame_of(&message);
        prop_assert_eq!(&frame["type"], "res");
        prop_assert_eq!(&frame["id"], &id);
        prop_assert_eq!(&frame["ok"], true);
        prop_assert_eq!(&frame["payload"], &result);
        prop_assert_eq!(frame.as_object().map(Map::len), Some(4));
    }

    /// An application error (its code in `data`) becomes a `res` frame with `ok: false` and
    /// the code's name, message, retryability, `retryAfterMs` and `details` from the response.
    #[test]
    fn an_error_response_becomes_a_res_frame_with_its_id_and_error(
        id in response_id(),
        code in prop::sample::select(ErrorCode::ALL.to_vec()),
        message in text(40),
        retryable in any::<bool>(),
        retry_after_ms in prop::option::of(any::<u64>()),
        details in prop::option::of(json_value()),
    ) {
        let data = ErrorData { code, retryable, retry_after_ms, details: details.clone() };
        let response = json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": { "code": code.jsonrpc_code(), "message": message, "data": data },
        });
        let frame = frame_of(&response.to_string());
        prop_assert_eq!(&frame["type"], "res");
        prop_assert_eq!(&frame["id"], &id);
        prop_assert_eq!(&frame["ok"], false);
        let error = &frame["error"];
        prop_assert_eq!(&error["code"], code.as_str());
        prop_assert_eq!(&error["message"], &json!(message));
        prop_assert_eq!(&error["retryable"], retryable);
        let retry_after = retry_after_ms.map(Value::from);
        prop_assert_eq!(error.get("retryAfterMs"), retry_after.as_ref());
        // `details: null` is no details.
        let details = details.filter(|d| !d.is_null());
        prop_assert_eq!(error.get("details"), details.as_ref());
    }

    /// An error jsonrpsee made itself (no `data`) takes its code from the JSON-RPC number, and
    /// the code's own retryability.
    #[test]
    fn a_bare_jsonrpc_error_becomes_a_res_frame_with_the_code_its_number_stands_for(
        id in response_id(),
        number in prop_oneof![
            prop::sample::select(vec![-32700i64, -32600, -32601, -32602, -32603, -32006, -32007,
                -32010, -32029, -32050]),
            any::<i64>(),
        ],
        message in text(40),
    ) {
        let response = json!({
            "jsonrpc": "2.0", "id": id, "error": { "code": number, "message": message },
        });
        let frame = frame_of(&response.to_string());
        let code = ErrorCode::from_jsonrpc(number);
        prop_assert_eq!(&frame["id"], &id);
        prop_assert_eq!(&frame["ok"], false);
        prop_assert_eq!(&frame["error"]["code"], code.as_str());
        prop_assert_eq!(&frame["error"]["retryable"], code.retryable());
        let expected = if number == -32601 { "unknown method".to_owned() } else { message };
        prop_assert_eq!(&frame["error"]["message"], &json!(expected));
    }
}
