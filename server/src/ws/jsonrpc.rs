//! The JSON-RPC codec of `/rpc` WebSockets: one message into a call, a batch, a notification or
//! an immediate error answer (JSON-RPC 2.0: −32700 for what is not JSON, −32600 for JSON that is
//! not a request, with the request's id when it has a usable one). Knows nothing of roles.
//!
//! Every parse is bounded: `serde_json` refuses nesting deeper than 128 levels (an error, not
//! a stack overflow), and `RawValue` skips nested values with an explicit stack.

use std::borrow::Cow;

use jsonrpsee::core::middleware::{Batch, BatchEntry, BatchEntryErr, Notification};
use jsonrpsee::types::error::reject_too_big_batch_request;
use jsonrpsee::types::{ErrorCode, ErrorObject, Id, Request};
use jsonrpsee::{Extensions, MethodResponse};
use serde::Deserialize;
use serde_json::value::RawValue;

/// What one `/rpc` WebSocket message asks for.
#[derive(Debug)]
pub enum Incoming {
    /// One method call.
    Call(Request<'static>),
    /// A batch with at least one entry.
    Batch(Batch<'static>),
    /// A notification: no method runs and nothing is answered (JSON-RPC 2.0 §4.1).
    Notification,
    /// An answer that needs no call (a parse error, an invalid request, a batch too large).
    Reply(Box<RawValue>),
}

/// The fields of a request object, each kept raw so that a field of the wrong type can be told
/// apart from a missing one.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

/// An object that is not a request: the id to answer −32600 with (`null` when it had none
/// worth echoing).
type NotARequest = serde_json::Value;

/// A request object, checked: its id (`None`: a notification), method and params.
struct Checked<'a> {
    id: Option<Id<'static>>,
    method: Cow<'a, str>,
    params: Option<&'a RawValue>,
}

/// Parses one message. `extensions` go into every request it yields; a batch holds at most
/// `max_batch` entries.
pub fn parse_message(text: &str, max_batch: usize, extensions: &Extensions) -> Incoming {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return parse_batch(text, max_batch, extensions);
    }
    if !trimmed.starts_with('{') {
        return Incoming::Reply(error_reply(&serde_json::Value::Null, not_json_or(text)));
    }
    match check(text) {
        Ok(Checked {
            id: Some(id),
            method,
            params,
        }) => Incoming::Call(request(id, method, params, extensions)),
        Ok(Checked { id: None, .. }) => Incoming::Notification,
        Err(id) => Incoming::Reply(error_reply(&id, not_json_or(text))),
    }
}

/// A batch: each entry a call, a notification or an invalid-request entry (answered in place).
fn parse_batch(text: &str, max_batch: usize, extensions: &Extensions) -> Incoming {
    let Ok(entries) = serde_json::from_str::<Vec<&RawValue>>(text) else {
        return Incoming::Reply(error_reply(&serde_json::Value::Null, ErrorCode::ParseError));
    };
    if entries.is_empty() {
        return Incoming::Reply(error_reply(
            &serde_json::Value::Null,
            ErrorCode::InvalidRequest,
        ));
    }
    if entries.len() > max_batch {
        let e = reject_too_big_batch_request(max_batch);
        return Incoming::Reply(MethodResponse::error(Id::Null, e).into_json());
    }
    let mut batch = Vec::with_capacity(entries.len());
    let mut answered = false;
    for entry in entries {
        match check(entry.get()) {
            Ok(Checked {
                id: Some(id),
                method,
                params,
            }) => {
                answered = true;
                batch.push(Ok(BatchEntry::Call(request(
                    id, method, params, extensions,
                ))));
            }
            Ok(Checked {
                id: None, method, ..
            }) => {
                let mut n = Notification::new(Cow::Owned(method.into_owned()), None);
                *n.extensions_mut() = extensions.clone();
                batch.push(Ok(BatchEntry::Notification(n)));
            }
            Err(id) => {
                answered = true;
                let id = usable_id(&id).unwrap_or(Id::Null);
                let error = ErrorObject::from(ErrorCode::InvalidRequest);
                batch.push(Err(BatchEntryErr::new(id, error)));
            }
        }
    }
    if !answered {
        return Incoming::Notification;
    }
    Incoming::Batch(Batch::from(batch))
}

/// Checks one request object (JSON-RPC 2.0 §4): `jsonrpc` is `"2.0"`, `method` a string,
/// `params` absent, an object or an array, and `id` absent (a notification), a string or a
/// non-negative integer (the ids jsonrpsee can carry; `null` too, as jsonrpsee answers it).
fn check(text: &str) -> Result<Checked<'_>, NotARequest> {
    let is_object = text.trim_start().starts_with('{');
    let fields = match serde_json::from_str::<Fields<'_>>(text) {
        Ok(fields) if is_object => fields,
        _ => return Err(serde_json::Value::Null),
    };
    // Only a scalar id is echoed: an array or object (of any depth) is never parsed.
    let scalar = fields
        .id
        .filter(|raw| !raw.get().starts_with(['[', '{']))
        .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok());
    let echo = scalar.clone().unwrap_or(serde_json::Value::Null);
    let invalid = || echo.clone();
    let id = match fields.id {
        None => None,
        Some(_) => Some(scalar.as_ref().and_then(usable_id).ok_or_else(invalid)?),
    };
    if fields.jsonrpc.map(RawValue::get) != Some("\"2.0\"") {
        return Err(invalid());
    }
    let method = fields
        .method
        .and_then(|m| serde_json::from_str::<Cow<'_, str>>(m.get()).ok())
        .ok_or_else(invalid)?;
    let params = fields.params.filter(|p| p.get() != "null");
    if let Some(p) = params
        && !(p.get().starts_with('{') || p.get().starts_with('['))
    {
        return Err(invalid());
    }
    Ok(Checked { id, method, params })
}

/// The id as jsonrpsee carries it, if it can: `null`, a string, a non-negative integer.
fn usable_id(id: &serde_json::Value) -> Option<Id<'static>> {
    match id {
        serde_json::Value::Null => Some(Id::Null),
        serde_json::Value::String(s) => Some(Id::Str(Cow::Owned(s.clone()))),
        serde_json::Value::Number(n) => n.as_u64().map(Id::Number),
        _ => None,
    }
}

fn request(
    id: Id<'static>,
    method: Cow<'_, str>,
    params: Option<&RawValue>,
    extensions: &Extensions,
) -> Request<'static> {
    let mut request = Request::owned(method.into_owned(), params.map(ToOwned::to_owned), id);
    *request.extensions_mut() = extensions.clone();
    request
}

/// −32700 when `text` is not JSON at all, else `otherwise`.
fn not_json_or(text: &str) -> ErrorCode {
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        ErrorCode::InvalidRequest
    } else {
        ErrorCode::ParseError
    }
}

/// A JSON-RPC error response with `id` (any JSON value: an id jsonrpsee cannot carry is still
/// echoed, so the client can match the answer).
fn error_reply(id: &serde_json::Value, code: ErrorCode) -> Box<RawValue> {
    let msg = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code.code(), "message": code.message() },
    });
    serde_json::value::to_raw_value(&msg).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn reply(text: &str) -> Value {
        match parse_message(text, 100, &Extensions::new()) {
            Incoming::Reply(json) => serde_json::from_str(json.get()).unwrap(),
            other => panic!("{text}: not a reply: {other:?}"),
        }
    }

    #[test]
    fn calls_notifications_and_batches_are_told_apart() {
        let ext = Extensions::new();
        match parse_message(
            r#"{"jsonrpc":"2.0","id":"a","method":"health","params":{"x":1}}"#,
            100,
            &ext,
        ) {
            Incoming::Call(req) => {
                assert_eq!(req.id, Id::Str("a".into()));
                assert_eq!(req.method_name(), "health");
                assert_eq!(req.params.as_deref().map(RawValue::get), Some(r#"{"x":1}"#));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_message(r#"{"jsonrpc":"2.0","method":"health"}"#, 100, &ext),
            Incoming::Notification
        ));
        assert!(matches!(
            parse_message(
                r#"[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}]"#,
                100,
                &ext
            ),
            Incoming::Notification
        ));
        match parse_message(
            r#"[{"jsonrpc":"2.0","method":"a","id":1},{"foo":1},{"jsonrpc":"2.0","method":"b"}]"#,
            100,
            &ext,
        ) {
            Incoming::Batch(batch) => assert_eq!(batch.len(), 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_is_not_a_request_gets_the_specified_error_with_its_id_when_usable() {
        for (text, code, id) in [
            ("{oops", -32700, Value::Null),
            ("", -32700, Value::Null),
            ("42", -32600, Value::Null),
            ("[]", -32600, Value::Null),
            ("[1", -32700, Value::Null),
            (r#"{"jsonrpc":"2.0","method":1,"id":7}"#, -32600, json!(7)),
            (
                r#"{"jsonrpc":"1.0","method":"x","id":"s"}"#,
                -32600,
                json!("s"),
            ),
            (r#"{"method":"x","id":"s"}"#, -32600, json!("s")),
            (
                r#"{"jsonrpc":"2.0","method":"x","params":3,"id":4}"#,
                -32600,
                json!(4),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"x","id":-1}"#,
                -32600,
                json!(-1),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"x","id":1.5}"#,
                -32600,
                json!(1.5),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"x","id":{}}"#,
                -32600,
                Value::Null,
            ),
            (r#"{"jsonrpc":"2.0","method":1}"#, -32600, Value::Null),
        ] {
            let r = reply(text);
            assert_eq!(r["error"]["code"], code, "{text}: {r}");
            assert_eq!(r["id"], id, "{text}: {r}");
        }
        let r = reply(&format!("[{}]", vec!["1"; 101].join(",")));
        assert_eq!(r["error"]["code"], -32010, "a batch over the limit: {r}");
    }

    #[test]
    fn sixty_thousand_levels_of_nesting_are_an_error_not_a_stack_overflow() {
        let open = "[".repeat(60_000);
        let closed = format!("{open}{}", "]".repeat(60_000));
        let object = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{closed}}}"#);
        let id = format!(r#"{{"jsonrpc":"2.0","id":{closed},"method":"x"}}"#);
        for text in [&open, &closed, &object, &id, &format!("[{object}]")] {
            // Whatever the answer, it comes back (no overflow, no panic).
            let _ = parse_message(text, 100, &Extensions::new());
        }
        assert!(serde_json::from_str::<Value>(&closed).is_err());
        assert!(serde_json::from_str::<&RawValue>(&open).is_err());
        assert_eq!(reply(&open)["error"]["code"], -32700);
        assert_eq!(reply(&id)["id"], Value::Null);
    }
}
