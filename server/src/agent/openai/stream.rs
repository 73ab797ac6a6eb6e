//! One streamed chat-completions call: the request, HTTP errors, and the SSE stream turned into
//! `chat` events, reassembled tool calls and usage.

use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;

use super::OpenAiAgent;
use crate::agent::{AgentError, RunOutput};

/// A tool call as the stream assembled it.
#[derive(Debug, Default, Clone)]
pub(super) struct PendingCall {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) arguments: String,
}

/// What one model call produced.
#[derive(Debug, Default)]
pub(super) struct Turn {
    pub(super) text: String,
    pub(super) calls: Vec<PendingCall>,
    /// `(prompt_tokens, completion_tokens)`.
    pub(super) usage: Option<(u64, u64)>,
}

/// Why a call failed.
pub(super) enum UpstreamError {
    /// Emitting an event failed (the store).
    Agent(AgentError),
    /// The model server failed.
    Failed {
        message: String,
        retryable: bool,
        retry_after: Option<Duration>,
    },
}

impl From<AgentError> for UpstreamError {
    fn from(e: AgentError) -> Self {
        UpstreamError::Agent(e)
    }
}

fn failed(message: String, retryable: bool) -> UpstreamError {
    UpstreamError::Failed {
        message,
        retryable,
        retry_after: None,
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallDelta>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: usize,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// Sends `body` and reads the stream. `streamed` turns true at the first delta (after which a
/// failure is not retried: the caller has seen tokens).
pub(super) async fn complete(
    agent: &OpenAiAgent,
    body: &str,
    out: &mut RunOutput,
    streamed: &mut bool,
) -> Result<Turn, UpstreamError> {
    let timeout = agent.request_timeout;
    let mut request = agent
        .client
        .post(&agent.endpoint)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .timeout(timeout)
        .body(body.to_owned());
    if let Some(key) = &agent.api_key {
        request = request.bearer_auth(key);
    }
    let response = request
        .send()
        .await
        .map_err(|e| describe(&e, timeout, &agent.endpoint))?;
    let status = response.status();
    if !status.is_success() {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let snippet: String = text.chars().take(300).collect();
        return Err(UpstreamError::Failed {
            message: format!(
                "the model server answered HTTP {}: {}",
                status.as_u16(),
                snippet.trim()
            ),
            retryable: status.as_u16() == 429 || status.is_server_error(),
            retry_after,
        });
    }
    let mut turn = Turn::default();
    let mut finished = false;
    let mut done = false;
    let mut pending = Vec::<u8>::new();
    let mut bytes = response.bytes_stream();
    while !done {
        let Some(piece) = bytes.next().await else {
            break;
        };
        let piece = piece.map_err(|e| {
            if e.is_timeout() {
                failed(
                    format!(
                        "the model server stopped answering within {} s",
                        timeout.as_secs()
                    ),
                    true,
                )
            } else {
                failed(
                    format!("the stream from the model server broke off: {e}"),
                    true,
                )
            }
        })?;
        pending.extend_from_slice(&piece);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let Some(data) = line.trim().strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                done = true;
                break;
            }
            let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
                failed(
                    format!("the model server sent a malformed stream chunk: {e}"),
                    false,
                )
            })?;
            if let Some(usage) = chunk.usage {
                turn.usage = Some((usage.prompt_tokens, usage.completion_tokens));
            }
            for choice in chunk.choices {
                if choice.finish_reason.is_some() {
                    finished = true;
                }
                let Some(delta) = choice.delta else { continue };
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    *streamed = true;
                    turn.text.push_str(&text);
                    out.delta(&text).await?;
                }
                for call in delta.tool_calls {
                    *streamed = true;
                    if turn.calls.len() <= call.index {
                        turn.calls.resize(call.index + 1, PendingCall::default());
                    }
                    let slot = &mut turn.calls[call.index];
                    if let Some(id) = call.id {
                        slot.id = id;
                    }
                    if let Some(function) = call.function {
                        slot.name.push_str(&function.name.unwrap_or_default());
                        slot.arguments
                            .push_str(&function.arguments.unwrap_or_default());
                    }
                }
            }
        }
    }
    if !done && !finished {
        return Err(failed(
            "the stream from the model server ended early".to_owned(),
            true,
        ));
    }
    for (i, call) in turn.calls.iter_mut().enumerate() {
        if call.id.is_empty() {
            call.id = format!("call_{i}");
        }
    }
    Ok(turn)
}

fn describe(e: &reqwest::Error, timeout: Duration, endpoint: &str) -> UpstreamError {
    let host = reqwest::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    if e.is_timeout() {
        failed(
            format!(
                "the model server at {host} did not answer within {} s",
                timeout.as_secs()
            ),
            true,
        )
    } else if e.is_connect() {
        failed(
            format!("could not connect to the model server at {host}"),
            true,
        )
    } else {
        failed(
            format!("the request to the model server at {host} failed: {e}"),
            true,
        )
    }
}
