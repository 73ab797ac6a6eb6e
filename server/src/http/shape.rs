//! A look at a JSON-RPC POST body before jsonrpsee sees it, for the two cases where jsonrpsee
//! strays from the JSON-RPC 2.0 specification: well-formed JSON that is not a valid request (an
//! object without a usable id, or a scalar: jsonrpsee answers −32700; the specification says
//! −32600), and notifications (jsonrpsee answers `null`; the specification says nothing). An id
//! jsonrpsee cannot carry (a negative or fractional number) would make it take the request for
//! a notification and answer nothing: such a request is answered −32600 with its id here.
//!
//! The body is parsed once into a `Value`, which `serde_json` bounds at 128 levels of nesting
//! (a deeper body is an error, classified `Regular`, and jsonrpsee answers it).

use serde_json::Value;

/// What a POST body holds.
#[derive(Debug, PartialEq)]
pub enum BodyShape {
    /// Let jsonrpsee answer (valid requests, batches with answers, unparsable JSON).
    Regular,
    /// JSON that is not a valid request (an object that breaks the rules, or a scalar such as
    /// `null`); answer −32600 with this id.
    InvalidRequest(Value),
    /// Only notifications: answer with no body.
    OnlyNotifications,
}

/// Classifies a body.
pub fn classify(body: &[u8]) -> BodyShape {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return BodyShape::Regular;
    };
    match value {
        Value::Object(_) => match check(&value) {
            Err(id) => BodyShape::InvalidRequest(id),
            Ok(true) => BodyShape::OnlyNotifications,
            Ok(false) => BodyShape::Regular,
        },
        Value::Array(entries)
            if !entries.is_empty() && entries.iter().all(|e| check(e) == Ok(true)) =>
        {
            BodyShape::OnlyNotifications
        }
        Value::Array(_) => BodyShape::Regular,
        // JSON, but neither a request nor a batch (`null`, `42`, `"x"`).
        _ => BodyShape::InvalidRequest(Value::Null),
    }
}

/// `Ok(is_notification)` for a valid request object, `Err(id to answer with)` otherwise.
fn check(request: &Value) -> Result<bool, Value> {
    let Value::Object(fields) = request else {
        return Err(Value::Null);
    };
    let id = match fields.get("id") {
        None => None,
        Some(id @ (Value::Null | Value::String(_))) => Some(id.clone()),
        Some(Value::Number(n)) if n.as_u64().is_some() => Some(Value::Number(n.clone())),
        Some(number @ Value::Number(_)) => return Err(number.clone()),
        Some(_) => return Err(Value::Null),
    };
    let answer_id = id.clone().unwrap_or(Value::Null);
    if fields.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(answer_id);
    }
    if !fields.get("method").is_some_and(Value::is_string) {
        return Err(answer_id);
    }
    if !matches!(
        fields.get("params"),
        None | Some(Value::Object(_) | Value::Array(_))
    ) {
        return Err(answer_id);
    }
    Ok(id.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_examples_are_classified() {
        let c = |s: &str| classify(s.as_bytes());
        assert_eq!(
            c(r#"{"jsonrpc":"2.0","method":1,"params":"bar"}"#),
            BodyShape::InvalidRequest(Value::Null)
        );
        assert_eq!(
            c(r#"{"jsonrpc":"2.0","method":"x","params":3,"id":4}"#),
            BodyShape::InvalidRequest(4.into())
        );
        assert_eq!(
            c(r#"{"jsonrpc":"1.0","method":"x","id":"a"}"#),
            BodyShape::InvalidRequest("a".into())
        );
        assert_eq!(
            c(r#"{"jsonrpc":"2.0","method":"x"}"#),
            BodyShape::OnlyNotifications
        );
        assert_eq!(
            c(r#"[{"jsonrpc":"2.0","method":"x"},{"jsonrpc":"2.0","method":"y","params":[]}]"#),
            BodyShape::OnlyNotifications
        );
        assert_eq!(
            c(r#"{"jsonrpc":"2.0","method":"x","id":1}"#),
            BodyShape::Regular
        );
        assert_eq!(
            c(r#"[{"jsonrpc":"2.0","method":"x"},{"jsonrpc":"2.0","method":"x","id":1}]"#),
            BodyShape::Regular
        );
        assert_eq!(c("[]"), BodyShape::Regular);
        assert_eq!(c("{oops"), BodyShape::Regular);
        assert_eq!(c("null"), BodyShape::InvalidRequest(Value::Null));
        assert_eq!(c(" 42"), BodyShape::InvalidRequest(Value::Null));
        assert_eq!(
            c(r#"{"jsonrpc":"2.0","method":"x","id":-1}"#),
            BodyShape::InvalidRequest((-1).into())
        );
    }

    #[test]
    fn sixty_thousand_levels_of_nesting_are_classified_without_overflowing() {
        let open = "[".repeat(60_000);
        let closed = format!("{open}{}", "]".repeat(60_000));
        let params = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{closed}}}"#);
        for body in [&open, &closed, &params] {
            assert_eq!(classify(body.as_bytes()), BodyShape::Regular);
        }
    }
}
