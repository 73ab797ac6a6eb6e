//! A small JSON-schema check for tool input: `type` (object, string, number, integer, boolean,
//! array), `properties`, `required`, `additionalProperties: false`, `items` and `enum` — the
//! subset tool schemas use. Input is checked before a tool runs.

use serde_json::Value;

/// `Err(what is wrong)` when `value` does not fit `schema`.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, value, "input")
}

fn check(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let fits = match kind {
            "object" => value.is_object(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "null" => value.is_null(),
            _ => true,
        };
        if !fits {
            return Err(format!("{at} must be of type {kind}"));
        }
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array)
        && !choices.contains(value)
    {
        return Err(format!(
            "{at} must be one of {}",
            Value::Array(choices.clone())
        ));
    }
    if let Value::Object(fields) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = name.as_str()
                && !fields.contains_key(name)
            {
                return Err(format!("{at}.{name} is required"));
            }
        }
        for (name, field) in fields {
            match properties.and_then(|p| p.get(name)) {
                Some(sub) => check(sub, field, &format!("{at}.{name}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}.{name} is not allowed"));
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn checks_types_required_and_extra_fields() {
        let schema = json!({
            "type": "object",
            "properties": { "command": { "type": "string" }, "args": { "type": "array", "items": { "type": "string" } } },
            "required": ["command"],
            "additionalProperties": false
        });
        assert!(validate(&schema, &json!({ "command": "ls", "args": ["-l"] })).is_ok());
        assert_eq!(
            validate(&schema, &json!({})).unwrap_err(),
            "input.command is required"
        );
        assert_eq!(
            validate(&schema, &json!({ "command": 1 })).unwrap_err(),
            "input.command must be of type string"
        );
        assert_eq!(
            validate(&schema, &json!({ "command": "ls", "args": [1] })).unwrap_err(),
            "input.args[0] must be of type string"
        );
        assert_eq!(
            validate(&schema, &json!({ "command": "ls", "x": 1 })).unwrap_err(),
            "input.x is not allowed"
        );
        assert_eq!(
            validate(&schema, &json!("ls")).unwrap_err(),
            "input must be of type object"
        );
    }
}
