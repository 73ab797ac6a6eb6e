//! A look at a JSON-RPC POST body before jsonrpsee sees it, for the two cases where jsonrpsee
//! strays from the JSON-RPC 2.0 specification: a well-formed JSON object that is not a valid
//! request (jsonrpsee answers −32700 when it has no usable id; the specification says −32600),
//! and notifications (jsonrpsee answers `null`; the specification says nothing at all).

use serde_json::Value;

/// What a POST body holds.
#[derive(Debug, PartialEq)]
pub enum BodyShape {
    /// Let jsonrpsee answer (valid requests, batches with answers, unparsable JSON).
    Regular,
    /// One JSON object that is not a valid request; answer −32600 with this id.
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
        _ => BodyShape::Regular,
    }
}

/// `Ok(is_notification)` for a valid request object, `Err(id to answer with)` otherwise.
fn check(request: &Value) -> Result<bool, Value> {
    let Value::Object(fields) = request else {
        return Err(Value::Null);
    };
    let id = match fields.get("id") {
        None => None,
        Some(id @ (Value::Null | Value::String(_) | Value::Number(_))) => Some(id.clone()),
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
    }
}
