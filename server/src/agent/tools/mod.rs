//! Tools: a registry of what an agent may call — name, description, JSON schema of the input,
//! `require_approval` and `risk` — built from the built-ins and `[tools.<name>]`. Built in:
//! `clock`, `calc` (bounded length and nesting), `http.get` (allowed hosts, public addresses
//! only unless `allow_private`, every redirect hop re-checked, the connection pinned to the
//! checked address; size and time limits) and `exec` (an allowlist, no shell, a cleared
//! environment but for `env`, a fixed working directory, time and output limits; approval
//! required and risk high by default).

pub mod calc;
mod clock;
mod exec;
mod http_get;
pub mod schema;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_config::{Config, Risk};

use super::RunOutput;

/// Default time limit of `http.get` and `exec`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default output limit of `http.get` and `exec`.
const DEFAULT_MAX_OUTPUT: usize = 64 * 1024;

/// Runs built-in tool `name` on `input` without approvals or limits beyond its own (the echo
/// agent's `/tool` command: `clock` and `calc`).
pub fn run_builtin(name: &str, input: &Value) -> Result<Value, String> {
    match name {
        "clock" => Ok(clock::now()),
        "calc" => {
            let expr = input
                .get("expr")
                .and_then(Value::as_str)
                .ok_or_else(|| "calc needs {\"expr\": \"…\"}".to_owned())?;
            calc::evaluate_json(expr).map(|value| json!({ "value": value }))
        }
        other => Err(format!("unknown tool `{other}` (built in: clock, calc)")),
    }
}

/// What a tool does.
#[derive(Debug, Clone)]
enum ToolKind {
    Clock,
    Calc,
    HttpGet(http_get::HttpPolicy),
    Exec(exec::ExecPolicy),
}

/// One tool.
#[derive(Debug, Clone)]
pub struct Tool {
    /// Its name (`http.get`).
    pub name: String,
    /// One line for the model.
    pub description: String,
    /// JSON schema of its input.
    pub schema: Value,
    /// Whether a call waits for `approvals.resolve`.
    pub require_approval: bool,
    /// Shown in `approval.requested`.
    pub risk: Risk,
    timeout: Duration,
    max_output: usize,
    kind: ToolKind,
}

/// The tools by name.
#[derive(Debug, Clone)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Tool>,
}

impl ToolRegistry {
    /// The built-in tools with `[tools.<name>]` applied.
    pub fn from_config(config: &Config) -> ToolRegistry {
        let object = |properties: Value, required: &[&str]| json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false });
        let builtins = [
            (
                "clock",
                "The current date and time (UTC).",
                object(json!({}), &[]),
                false,
                Risk::Low,
                ToolKind::Clock,
            ),
            (
                "calc",
                "Evaluates arithmetic with + - * / and parentheses.",
                object(json!({ "expr": { "type": "string" } }), &["expr"]),
                false,
                Risk::Low,
                ToolKind::Calc,
            ),
            (
                "http.get",
                "Fetches a URL (GET) from an allowed host and returns its status and body.",
                object(json!({ "url": { "type": "string" } }), &["url"]),
                false,
                Risk::Medium,
                ToolKind::HttpGet(http_get::HttpPolicy::default()),
            ),
            (
                "exec",
                "Runs an allowed program with arguments (no shell) and returns its output.",
                object(
                    json!({ "command": { "type": "string" }, "args": { "type": "array", "items": { "type": "string" } } }),
                    &["command"],
                ),
                true,
                Risk::High,
                ToolKind::Exec(exec::ExecPolicy {
                    allowed_commands: Vec::new(),
                    env: exec::DEFAULT_ENV.iter().map(|v| (*v).to_owned()).collect(),
                    workdir: config.server.data_dir.join(exec::DEFAULT_WORKDIR),
                }),
            ),
        ];
        let mut tools = BTreeMap::new();
        for (name, description, schema, approval, risk, kind) in builtins {
            // `[tools.http_get]` configures `http.get` too: environment variables cannot spell
            // a dot inside a key (`SWITCHBOARD__TOOLS__HTTP_GET__ALLOWED_HOSTS`).
            let overrides = config
                .tools
                .get(name)
                .or_else(|| config.tools.get(&name.replace('.', "_")));
            let kind = match (kind, overrides) {
                (ToolKind::HttpGet(_), Some(o)) => ToolKind::HttpGet(http_get::HttpPolicy {
                    allowed_hosts: o.allowed_hosts.clone(),
                    allow_private: o.allow_private,
                }),
                (ToolKind::Exec(default), Some(o)) => ToolKind::Exec(exec::ExecPolicy {
                    allowed_commands: o.allowed_commands.clone(),
                    env: o.env.clone().unwrap_or(default.env),
                    workdir: o.workdir.clone().unwrap_or(default.workdir),
                }),
                (kind, _) => kind,
            };
            let tool = Tool {
                name: name.to_owned(),
                description: description.to_owned(),
                schema,
                require_approval: overrides
                    .and_then(|o| o.require_approval)
                    .unwrap_or(approval),
                risk: overrides.and_then(|o| o.risk).unwrap_or(risk),
                timeout: overrides
                    .and_then(|o| o.timeout())
                    .unwrap_or(DEFAULT_TIMEOUT),
                max_output: overrides
                    .and_then(|o| o.max_output_bytes)
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(DEFAULT_MAX_OUTPUT),
                kind,
            };
            tools.insert(name.to_owned(), tool);
        }
        ToolRegistry { tools }
    }

    /// One tool.
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.tools.get(name)
    }

    /// Runs `tool` on `input` (already validated and, where needed, approved). `Err` is the
    /// message of a `tool.result` with `isError: true`.
    pub async fn run(
        &self,
        tool: &Tool,
        input: &Value,
        out: &RunOutput,
        call_id: &str,
    ) -> Result<Value, String> {
        schema::validate(&tool.schema, input)?;
        match &tool.kind {
            ToolKind::Clock => Ok(clock::now()),
            ToolKind::Calc => run_builtin("calc", input),
            ToolKind::HttpGet(policy) => {
                http_get::run(input, policy, tool.timeout, tool.max_output).await
            }
            ToolKind::Exec(policy) => {
                exec::run(
                    input,
                    policy,
                    tool.timeout,
                    tool.max_output,
                    Some((out, call_id)),
                )
                .await
            }
        }
    }
}
