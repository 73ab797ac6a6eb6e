//! The built-in tools the echo agent can run: `clock` and `calc`.

mod calc;
mod clock;

use serde_json::Value;

/// Runs built-in tool `name` on `input`; `Err` is a message for a `tool.result` with
/// `isError: true`.
pub fn run_builtin(name: &str, input: &Value) -> Result<Value, String> {
    match name {
        "clock" => Ok(clock::now()),
        "calc" => {
            let expr = input
                .get("expr")
                .and_then(Value::as_str)
                .ok_or_else(|| "calc needs {\"expr\": \"…\"}".to_owned())?;
            calc::evaluate(expr).map(|value| serde_json::json!({ "value": value }))
        }
        other => Err(format!("unknown tool `{other}` (built in: clock, calc)")),
    }
}
