//! The `openai` agent: any OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM,
//! llama.cpp server, LM Studio). Streams (SSE, with `stream_options.include_usage`), turns each
//! content delta into a `chat` event, reassembles streamed `tool_calls` whose arguments arrive
//! in pieces, runs the tools (with approval where a tool needs it), feeds the results back and
//! goes on, up to `max_steps` model calls. The API key comes from the environment variable
//! `api_key_env` names and appears in no log or message.

pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_config::{AgentConfig, Pricing};

use self::stream::{PendingCall, Turn, UpstreamError};
use super::tools::{ToolRegistry, schema};
use super::{AgentError, RunOutput};
use crate::approvals::ApprovalRequest;

/// Attempts of one model call when it fails (429, 5xx, no connection) before any token.
const ATTEMPTS: u32 = 3;
/// The first pause between attempts; it doubles.
const BACKOFF: Duration = Duration::from_millis(200);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// An `openai` agent.
#[derive(Clone)]
pub struct OpenAiAgent {
    endpoint: String,
    model: String,
    api_key: Option<String>,
    api_key_env: Option<String>,
    system_prompt: Option<String>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    tools: Vec<String>,
    registry: Arc<ToolRegistry>,
    request_timeout: Duration,
    max_steps: u32,
    history: u64,
    pricing: Option<Pricing>,
    client: reqwest::Client,
}

impl std::fmt::Debug for OpenAiAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiAgent")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl OpenAiAgent {
    /// An agent from its configuration (validated: `base_url` and `model` are set).
    pub fn new(
        config: &AgentConfig,
        registry: Arc<ToolRegistry>,
        pricing: Option<Pricing>,
    ) -> OpenAiAgent {
        let base = config.base_url.clone().unwrap_or_default();
        OpenAiAgent {
            endpoint: format!("{}/chat/completions", base.trim_end_matches('/')),
            model: config.model.clone().unwrap_or_default(),
            api_key: config
                .api_key_env
                .as_deref()
                .and_then(|name| std::env::var(name).ok())
                .filter(|k| !k.is_empty()),
            api_key_env: config.api_key_env.clone(),
            system_prompt: config.system_prompt.clone(),
            temperature: config.temperature,
            max_tokens: config.max_tokens,
            tools: config.tools.clone(),
            registry,
            request_timeout: config.request_timeout(),
            max_steps: config.max_steps.max(1),
            history: config.history_messages as u64,
            pricing,
            client: reqwest::Client::new(),
        }
    }

    pub(super) async fn run(&self, out: &mut RunOutput) -> Result<(), AgentError> {
        if let (Some(name), None) = (&self.api_key_env, &self.api_key) {
            return Err(AgentError::Failed(format!(
                "the environment variable {name} (api_key_env) is not set"
            )));
        }
        let mut messages = self.conversation(out).await?;
        let tools = self.tool_definitions();
        for _ in 0..self.max_steps {
            let turn = self.call_model(&messages, &tools, out).await?;
            if let Some((input, output)) = turn.usage {
                out.usage.input_tokens += input;
                out.usage.output_tokens += output;
                if let Some(pricing) = &self.pricing {
                    *out.usage.cost.get_or_insert(0.0) += pricing.cost(input, output);
                }
            }
            if turn.calls.is_empty() {
                return Ok(());
            }
            let calls: Vec<Value> = turn
                .calls
                .iter()
                .map(|c| json!({ "id": c.id, "type": "function", "function": { "name": c.name, "arguments": c.arguments } }))
                .collect();
            let content = if turn.text.is_empty() {
                Value::Null
            } else {
                Value::from(turn.text)
            };
            messages.push(json!({ "role": "assistant", "content": content, "tool_calls": calls }));
            for call in &turn.calls {
                let result = self.call_tool(call, out).await?;
                messages
                    .push(json!({ "role": "tool", "tool_call_id": call.id, "content": result }));
            }
        }
        Err(AgentError::Failed(format!(
            "the model was still calling tools after max_steps ({})",
            self.max_steps
        )))
    }

    /// The system prompt and the session's latest messages (the new user message included).
    async fn conversation(&self, out: &RunOutput) -> Result<Vec<Value>, AgentError> {
        let history = out.recent_messages(self.history).await?;
        let mut messages = Vec::with_capacity(history.len() + 1);
        if let Some(prompt) = &self.system_prompt {
            messages.push(json!({ "role": "system", "content": prompt }));
        }
        for m in history
            .iter()
            .filter(|m| !(m.role == "assistant" && m.content.is_empty()))
        {
            messages.push(json!({ "role": m.role, "content": m.content }));
        }
        Ok(messages)
    }

    fn tool_definitions(&self) -> Vec<Value> {
        self.tools
            .iter()
            .filter_map(|name| self.registry.get(name))
            .map(|tool| {
                json!({ "type": "function", "function": {
                    "name": wire_name(&tool.name), "description": tool.description, "parameters": tool.schema,
                }})
            })
            .collect()
    }

    /// One model call, retried (bounded, with backoff) when it fails before any token.
    async fn call_model(
        &self,
        messages: &[Value],
        tools: &[Value],
        out: &mut RunOutput,
    ) -> Result<Turn, AgentError> {
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "stream": true,
            "stream_options": { "include_usage": true },
        });
        if !tools.is_empty() {
            body["tools"] = Value::from(tools.to_vec());
        }
        if let Some(t) = self.temperature {
            body["temperature"] = Value::from(t);
        }
        if let Some(m) = self.max_tokens {
            body["max_tokens"] = Value::from(m);
        }
        let body = body.to_string();
        let mut attempt = 0;
        loop {
            let mut streamed = false;
            let result = stream::complete(self, &body, out, &mut streamed).await;
            match result {
                Ok(turn) => return Ok(turn),
                Err(UpstreamError::Agent(e)) => return Err(e),
                Err(UpstreamError::Failed {
                    message,
                    retryable,
                    retry_after,
                }) => {
                    attempt += 1;
                    if !retryable || streamed || attempt >= ATTEMPTS {
                        return Err(AgentError::Failed(self.scrub(&message)));
                    }
                    let pause = retry_after
                        .unwrap_or(BACKOFF * 2u32.pow(attempt - 1))
                        .min(MAX_RETRY_AFTER);
                    tracing::info!(attempt, pause_ms = pause.as_millis() as u64, error = %self.scrub(&message), "model call failed; retrying");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    /// Runs one tool call (validated, approved where needed) and returns what the model is told.
    async fn call_tool(&self, call: &PendingCall, out: &RunOutput) -> Result<String, AgentError> {
        let name = self
            .tools
            .iter()
            .find(|t| wire_name(t) == call.name)
            .cloned()
            .unwrap_or_else(|| call.name.clone());
        let input: Result<Value, String> = if call.arguments.trim().is_empty() {
            Ok(json!({}))
        } else {
            serde_json::from_str(&call.arguments)
                .map_err(|e| format!("the arguments are not JSON: {e}"))
        };
        let shown = input
            .clone()
            .unwrap_or_else(|_| Value::from(call.arguments.as_str()));
        out.tool_call(&call.id, &name, &shown).await?;
        let result = match (
            input,
            self.tools
                .contains(&name)
                .then(|| self.registry.get(&name))
                .flatten(),
        ) {
            (Err(e), _) => Err(e),
            (_, None) => Err(format!("unknown tool `{name}`")),
            (Ok(input), Some(tool)) => match schema::validate(&tool.schema, &input) {
                Err(e) => Err(e),
                Ok(()) => {
                    let approved = if tool.require_approval {
                        let request = ApprovalRequest {
                            tool_call_id: &call.id,
                            tool: &name,
                            input: &input,
                            risk: tool.risk.as_str(),
                        };
                        let decision = out.request_approval(request).await?;
                        if decision.approved {
                            Ok(())
                        } else {
                            Err(format!(
                                "denied by {}: {}",
                                decision.by,
                                decision.reason.unwrap_or_default()
                            ))
                        }
                    } else {
                        Ok(())
                    };
                    match approved {
                        Ok(()) => self.registry.run(tool, &input, out, &call.id).await,
                        Err(e) => Err(e),
                    }
                }
            },
        };
        let (output, is_error) = match result {
            Ok(output) => (output, false),
            Err(message) => (Value::from(message), true),
        };
        out.tool_result(&call.id, &name, &output, is_error).await?;
        Ok(match output {
            Value::String(text) if is_error => format!("error: {text}"),
            other => other.to_string(),
        })
    }

    /// A message with the API key taken out, should a server echo it.
    fn scrub(&self, message: &str) -> String {
        match &self.api_key {
            Some(key) if key.len() >= 4 => message.replace(key.as_str(), "<redacted>"),
            _ => message.to_owned(),
        }
    }
}

/// Function names may not contain dots: `http.get` is `http_get` on the wire.
fn wire_name(tool: &str) -> String {
    tool.replace('.', "_")
}
