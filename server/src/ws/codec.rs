//! The frame codec: a `req` frame into JSON-RPC request parts, and a JSON-RPC message (response
//! or notification) into a `res` or `event` frame. Knows nothing of roles or sessions.

use std::borrow::Cow;
use std::fmt::Write as _;

use jsonrpsee::types::Id;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use switchboard_api::{ErrorCode, ErrorData};

/// A request frame's parts: id, method, params.
pub type FrameRequest = (Id<'static>, String, Option<Box<RawValue>>);

/// A request frame's fields, borrowed from the frame's text; each is read on its own, so that
/// a field of the wrong type gets its own clear message.
#[derive(Deserialize)]
struct InFrame<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

/// Parses a `req` frame. A malformed one yields the JSON-RPC error message (−32600, with the
/// frame's id when it had a usable one) that the writer turns into an `INVALID_REQUEST` reply.
pub fn parse_request(text: &str) -> Result<FrameRequest, Box<RawValue>> {
    // serde would also read a JSON array into the struct, field by field.
    let is_object = text.trim_start().starts_with('{');
    let frame: InFrame<'_> = match serde_json::from_str(text) {
        Ok(frame) if is_object => frame,
        Ok(_) => return Err(invalid(&Value::Null, "a frame must be a JSON object")),
        Err(_) if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => {
            return Err(invalid(&Value::Null, "a frame must be a JSON object"));
        }
        Err(_) => return Err(invalid(&Value::Null, "a frame must be valid JSON")),
    };
    let Some(raw_id) = frame.id else {
        return Err(invalid(&Value::Null, "missing id"));
    };
    let id = if let Ok(s) = serde_json::from_str::<String>(raw_id.get()) {
        Id::Str(Cow::Owned(s))
    } else if let Ok(n) = serde_json::from_str::<u64>(raw_id.get()) {
        Id::Number(n)
    } else {
        return Err(invalid(
            &Value::Null,
            "id must be a string or a non-negative integer",
        ));
    };
    // Only an error reply needs the id as a value.
    let echo_id = || serde_json::from_str::<Value>(raw_id.get()).unwrap_or(Value::Null);
    match frame
        .kind
        .map(|k| serde_json::from_str::<Cow<'_, str>>(k.get()))
    {
        Some(Ok(kind)) if kind == "req" => {}
        Some(_) => return Err(invalid(&echo_id(), "type must be \"req\"")),
        None => return Err(invalid(&echo_id(), "missing type")),
    }
    let method = match frame
        .method
        .map(|m| serde_json::from_str::<String>(m.get()))
    {
        Some(Ok(m)) if !m.is_empty() => m,
        Some(_) => return Err(invalid(&echo_id(), "method must be a non-empty string")),
        None => return Err(invalid(&echo_id(), "missing method")),
    };
    let params = frame
        .params
        .filter(|p| p.get() != "null")
        .map(ToOwned::to_owned);
    if let Some(p) = &params
        && !(p.get().starts_with('{') || p.get().starts_with('['))
    {
        return Err(invalid(&echo_id(), "params must be an object or an array"));
    }
    Ok((id, method, params))
}

/// A JSON-RPC invalid-request error message.
pub(crate) fn invalid(id: &Value, message: &str) -> Box<RawValue> {
    let msg = serde_json::json!({
        "jsonrpc": "2.0", "id": id, "error": { "code": -32600, "message": message }
    });
    serde_json::value::to_raw_value(&msg).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

#[derive(Deserialize)]
struct OutMessage<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<RpcError>,
    #[serde(borrow, default)]
    params: Option<NotificationParams<'a>>,
}

#[derive(Deserialize)]
struct RpcError {
    code: i64,
    message: String,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Deserialize)]
struct NotificationParams<'a> {
    subscription: Value,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct EventBody<'a> {
    event: Cow<'a, str>,
    #[serde(borrow)]
    payload: &'a RawValue,
}

#[derive(Serialize)]
struct ResOk<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a RawValue,
    ok: bool,
    payload: &'a RawValue,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    code: ErrorCode,
    message: String,
    retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Value>,
}

#[derive(Serialize)]
struct ResErr<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a RawValue,
    ok: bool,
    error: ErrorBody,
}

#[derive(Serialize)]
struct EventOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    event: &'a str,
    payload: &'a RawValue,
    seq: u64,
}

/// A frame error from a JSON-RPC error: the code from `data.code` when our handlers set it,
/// else from the JSON-RPC number (jsonrpsee's own errors).
fn error_body(e: RpcError) -> ErrorBody {
    let data = e
        .data
        .and_then(|d| serde_json::from_value::<ErrorData>(d).ok());
    let code = data
        .as_ref()
        .map_or_else(|| ErrorCode::from_jsonrpc(e.code), |d| d.code);
    let message = if e.code == -32601 {
        "unknown method".to_owned()
    } else {
        e.message
    };
    ErrorBody {
        code,
        message,
        retryable: data
            .as_ref()
            .map_or_else(|| code.retryable(), |d| d.retryable),
        retry_after_ms: data.as_ref().and_then(|d| d.retry_after_ms),
        details: data.and_then(|d| d.details),
    }
}

/// How an event body from the hub (`{"event":…,"payload":…}`) starts; a JSON-RPC message
/// starts with `{"jsonrpc"`.
const EVENT_BODY_PREFIX: &str = "{\"event\":";

/// The event frame for a hub body (after its prefix), without parsing it again:
/// `{"type":"event","event":…,"payload":…,"seq":N}`.
fn event_frame(body_after_prefix: &str, seq: u64) -> String {
    let inner = body_after_prefix
        .strip_suffix('}')
        .unwrap_or(body_after_prefix);
    let mut frame = String::with_capacity(inner.len() + 48);
    frame.push_str("{\"type\":\"event\",\"event\":");
    frame.push_str(inner);
    let _ = write!(frame, ",\"seq\":{seq}}}");
    frame
}

/// How jsonrpsee writes a success response: `{"jsonrpc":"2.0","id":ID,"result":RESULT}`.
const SUCCESS_PREFIX: &str = "{\"jsonrpc\":\"2.0\",\"id\":";
const SUCCESS_RESULT: &str = ",\"result\":";

/// The id and result of a success response written as jsonrpsee writes it, found without
/// parsing the result; `None` for anything else (which is then parsed as a whole).
fn split_success(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix(SUCCESS_PREFIX)?;
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
    let id = values.next()?.ok()?;
    let after_id = rest.get(values.byte_offset()..)?;
    let result = after_id.strip_prefix(SUCCESS_RESULT)?.strip_suffix('}')?;
    Some((id.get(), result))
}

/// `{"type":"res","id":ID,"ok":true,"payload":RESULT}` from the raw JSON of both.
fn res_ok_frame(id: &str, result: &str) -> String {
    const HEAD: &str = "{\"type\":\"res\",\"id\":";
    const OK: &str = ",\"ok\":true,\"payload\":";
    let mut frame = String::with_capacity(HEAD.len() + id.len() + OK.len() + result.len() + 1);
    frame.push_str(HEAD);
    frame.push_str(id);
    frame.push_str(OK);
    frame.push_str(result);
    frame.push('}');
    frame
}

/// One outbound JSON-RPC message as a frame; `seq` counts the events of this connection.
#[cfg(test)]
pub(crate) fn to_frame(message: &RawValue, seq: &mut u64) -> Option<String> {
    to_frame_with(message, seq, &|_| None)
}

/// [`to_frame`], where `replace(result)` may give a success response another payload (the
/// `subscribe` reply in place of jsonrpsee's bare subscription id).
pub fn to_frame_with(
    message: &RawValue,
    seq: &mut u64,
    replace: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    if let Some(body) = message.get().strip_prefix(EVENT_BODY_PREFIX) {
        *seq += 1;
        return Some(event_frame(body, *seq));
    }
    if let Some((id, result)) = split_success(message.get()) {
        let replacement = replace(result);
        return Some(res_ok_frame(id, replacement.as_deref().unwrap_or(result)));
    }
    let m: OutMessage<'_> = serde_json::from_str(message.get()).ok()?;
    if let Some(params) = m.params {
        *seq += 1;
        if let Some(result) = params.result {
            let body: EventBody<'_> = serde_json::from_str(result.get()).ok()?;
            return serde_json::to_string(&EventOut {
                kind: "event",
                event: &body.event,
                payload: body.payload,
                seq: *seq,
            })
            .ok();
        }
        let payload =
            serde_json::json!({ "subscriptionId": params.subscription, "error": params.error });
        let payload = serde_json::value::to_raw_value(&payload).ok()?;
        return serde_json::to_string(&EventOut {
            kind: "event",
            event: "subscription.closed",
            payload: &payload,
            seq: *seq,
        })
        .ok();
    }
    let id = m.id.unwrap_or(RawValue::NULL);
    if let Some(error) = m.error {
        return serde_json::to_string(&ResErr {
            kind: "res",
            id,
            ok: false,
            error: error_body(error),
        })
        .ok();
    }
    let payload = m.result.unwrap_or(RawValue::NULL);
    if let Some(replacement) = replace(payload.get()) {
        let replacement = RawValue::from_string(replacement).ok()?;
        return serde_json::to_string(&ResOk {
            kind: "res",
            id,
            ok: true,
            payload: &replacement,
        })
        .ok();
    }
    serde_json::to_string(&ResOk {
        kind: "res",
        id,
        ok: true,
        payload,
    })
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(input: &str) -> Value {
        let err = parse_request(input).unwrap_err();
        serde_json::from_str(&to_frame(&err, &mut 0).unwrap()).unwrap()
    }

    #[test]
    fn a_request_frame_parses_with_string_or_number_ids() {
        let (id, method, params) =
            parse_request(r#"{"type":"req","id":"1","method":"health","params":{"a":1}}"#).unwrap();
        assert_eq!((id, method.as_str()), (Id::Str("1".into()), "health"));
        assert_eq!(params.unwrap().get(), r#"{"a":1}"#);
        let (id, _, params) = parse_request(r#"{"type":"req","id":7,"method":"x"}"#).unwrap();
        assert_eq!((id, params.is_none()), (Id::Number(7), true));
    }

    #[test]
    fn malformed_frames_get_invalid_request_with_their_id_when_usable() {
        for (input, id, message) in [
            ("not json", Value::Null, "a frame must be valid JSON"),
            ("[1,2]", Value::Null, "a frame must be a JSON object"),
            (r#"{"type":"req","method":"x"}"#, Value::Null, "missing id"),
            (
                r#"{"type":"req","id":{},"method":"x"}"#,
                Value::Null,
                "id must be a string or a non-negative integer",
            ),
            (r#"{"id":"a","method":"x"}"#, "a".into(), "missing type"),
            (
                r#"{"type":"res","id":"a","method":"x"}"#,
                "a".into(),
                "type must be \"req\"",
            ),
            (r#"{"type":"req","id":"a"}"#, "a".into(), "missing method"),
            (
                r#"{"type":"req","id":"a","method":5}"#,
                "a".into(),
                "method must be a non-empty string",
            ),
            (
                r#"{"type":"req","id":"a","method":"x","params":3}"#,
                "a".into(),
                "params must be an object or an array",
            ),
        ] {
            let frame = reply(input);
            assert_eq!(frame["type"], "res", "{input}");
            assert_eq!(frame["id"], id, "{input}");
            assert_eq!(frame["ok"], false);
            assert_eq!(frame["error"]["code"], "INVALID_REQUEST");
            assert_eq!(frame["error"]["message"], message, "{input}");
        }
    }

    #[test]
    fn sixty_thousand_levels_of_nesting_are_an_error_or_carried_raw_never_an_overflow() {
        let open = "[".repeat(60_000);
        let closed = format!("{open}{}", "]".repeat(60_000));
        for text in [&open, &closed] {
            assert_eq!(reply(text)["error"]["code"], "INVALID_REQUEST");
        }
        // Deep params are carried raw (skipped without recursion); the method's own parse
        // of them stops at serde_json's 128 levels.
        let frame = format!(r#"{{"type":"req","id":"d","method":"x","params":{closed}}}"#);
        let (_, _, params) = parse_request(&frame).unwrap();
        let params = params.unwrap();
        assert!(serde_json::from_str::<Value>(params.get()).is_err());
        let as_id = format!(r#"{{"type":"req","id":{closed},"method":"x"}}"#);
        assert_eq!(reply(&as_id)["id"], Value::Null);
    }

    #[test]
    fn success_responses_are_spliced_and_anything_unusual_is_parsed() {
        for (message, frame) in [
            (
                r#"{"jsonrpc":"2.0","id":7,"result":{"status":"ok","n":[1,2]}}"#,
                r#"{"type":"res","id":7,"ok":true,"payload":{"status":"ok","n":[1,2]}}"#,
            ),
            (
                r#"{"jsonrpc":"2.0","id":"a\"b}","result":"x"}"#,
                r#"{"type":"res","id":"a\"b}","ok":true,"payload":"x"}"#,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"result":null}"#,
                r#"{"type":"res","id":1,"ok":true,"payload":null}"#,
            ),
            // Another field order: parsed, same frame.
            (
                r#"{"id":3,"jsonrpc":"2.0","result":{"a":1}}"#,
                r#"{"type":"res","id":3,"ok":true,"payload":{"a":1}}"#,
            ),
        ] {
            let raw = RawValue::from_string(message.to_owned()).unwrap();
            assert_eq!(to_frame(&raw, &mut 0).unwrap(), frame, "{message}");
        }
        assert_eq!(
            split_success(r#"{"jsonrpc":"2.0","id":1,"error":{}}"#),
            None
        );
    }

    #[test]
    fn responses_and_notifications_become_frames() {
        let mut seq = 0;
        let ok =
            RawValue::from_string(r#"{"jsonrpc":"2.0","id":"1","result":{"a":1}}"#.into()).unwrap();
        assert_eq!(
            to_frame(&ok, &mut seq).unwrap(),
            r#"{"type":"res","id":"1","ok":true,"payload":{"a":1}}"#
        );
        let err = RawValue::from_string(
            r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32029,"message":"slow down","data":{"code":"RATE_LIMITED","retryable":true,"retryAfterMs":500}}}"#.into(),
        )
        .unwrap();
        let frame: Value = serde_json::from_str(&to_frame(&err, &mut seq).unwrap()).unwrap();
        assert_eq!(frame["error"]["code"], "RATE_LIMITED");
        assert_eq!(frame["error"]["retryAfterMs"], 500);
        let unknown = RawValue::from_string(
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found"}}"#
                .into(),
        )
        .unwrap();
        let frame: Value = serde_json::from_str(&to_frame(&unknown, &mut seq).unwrap()).unwrap();
        assert_eq!(
            (
                frame["error"]["code"].as_str(),
                frame["error"]["message"].as_str()
            ),
            (Some("INVALID_REQUEST"), Some("unknown method"))
        );
        let event = RawValue::from_string(
            r#"{"jsonrpc":"2.0","method":"event","params":{"subscription":9,"result":{"event":"chat","payload":{"delta":"hi"}}}}"#.into(),
        )
        .unwrap();
        assert_eq!(
            to_frame(&event, &mut seq).unwrap(),
            r#"{"type":"event","event":"chat","payload":{"delta":"hi"},"seq":1}"#
        );
        assert_eq!(seq, 1);
        let body = crate::hub::HubEvent::body("chat", r#"{"delta":"hi","chunk":"hi"}"#);
        assert_eq!(
            to_frame(&body, &mut seq).unwrap(),
            r#"{"type":"event","event":"chat","payload":{"delta":"hi","chunk":"hi"},"seq":2}"#
        );
    }
}
