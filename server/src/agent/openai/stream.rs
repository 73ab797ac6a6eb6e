//! One streamed chat-completions call: the request, HTTP errors, and the SSE stream turned into
//! `chat` events, reassembled tool calls and usage.
//!
//! The model server is not trusted to be well-behaved: [`StreamDecoder`] bounds what it buffers
//! and keeps — an SSE line at most [`MAX_LINE_BYTES`], tool-call indices below
//! [`MAX_TOOL_CALLS`], each tool call's id, name and arguments at most [`MAX_CALL_BYTES`]
//! together, a reply's text at most [`MAX_TEXT_BYTES`] — and fails the call with a clear message
//! past a bound. Chunks are parsed with `serde_json`'s default recursion limit (128 levels;
//! fields this code does not read are skipped without recursion). The decoder needs no network,
//! so it can be driven by a fuzzer.

use std::fmt;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;

use super::OpenAiAgent;
use crate::agent::{AgentError, RunOutput};

/// The longest SSE line accepted, in bytes (1 MiB).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Tool calls in one reply at most: a tool-call index must be below this.
pub const MAX_TOOL_CALLS: usize = 128;
/// The largest tool call (id, name and arguments together), in bytes (1 MiB).
pub const MAX_CALL_BYTES: usize = 1024 * 1024;
/// The most text one reply may stream, in bytes (8 MiB).
pub const MAX_TEXT_BYTES: usize = 8 * 1024 * 1024;

/// A tool call as the stream assembled it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PendingCall {
    /// The model's id for the call (`call_<index>` when it sent none).
    pub id: String,
    /// The function name (wire spelling: `http_get`).
    pub name: String,
    /// The arguments, a JSON text as the model wrote it (not parsed here).
    pub arguments: String,
}

/// What one model call produced.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Turn {
    /// The text, all deltas joined.
    pub text: String,
    /// The tool calls, by index.
    pub calls: Vec<PendingCall>,
    /// `(prompt_tokens, completion_tokens)`.
    pub usage: Option<(u64, u64)>,
}

/// The model server broke the protocol or a bound; the message is the run's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError(String);

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StreamError {}

/// Turns the bytes of a chat-completions SSE stream, in pieces of any size, into text deltas
/// and a [`Turn`], within the bounds above.
///
/// ```
/// use switchboard::agent::openai::stream::StreamDecoder;
///
/// let mut decoder = StreamDecoder::new();
/// decoder.push(b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DO");
/// assert_eq!(decoder.next_text().unwrap(), Some("Hi".to_owned()));
/// decoder.push(b"NE]\n");
/// assert_eq!(decoder.next_text().unwrap(), None);
/// assert!(decoder.is_done());
/// assert_eq!(decoder.finish().unwrap().text, "Hi");
/// ```
#[derive(Debug, Default)]
pub struct StreamDecoder {
    /// Bytes received and not yet consumed: `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    /// `buf[start..scanned]` holds no newline (so a long line is scanned once, not per piece).
    scanned: usize,
    turn: Turn,
    /// A delta (text or tool call) arrived.
    started: bool,
    /// A choice carried a `finish_reason`.
    finished: bool,
    /// `data: [DONE]` arrived; later bytes are ignored.
    done: bool,
}

impl StreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> StreamDecoder {
        StreamDecoder::default()
    }

    /// Appends bytes as they came off the network. Nothing is parsed until
    /// [`StreamDecoder::next_text`]; call it until it returns `Ok(None)` after every push.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.done {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Parses buffered lines up to the next non-empty text delta and returns it; `Ok(None)` when
    /// the buffer holds no further complete line (or the stream is done). Tool calls and usage
    /// are accumulated on the way.
    pub fn next_text(&mut self) -> Result<Option<String>, StreamError> {
        while let Some(line) = self.next_line()? {
            let line = String::from_utf8_lossy(&line);
            let Some(data) = line.trim().strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                self.done = true;
                self.buf = Vec::new();
                self.start = 0;
                self.scanned = 0;
                return Ok(None);
            }
            if let Some(text) = self.apply(data)? {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }

    /// Whether a text delta or a tool call arrived (after which a failure is not retried).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Whether `data: [DONE]` arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The turn, once the stream has ended: an error when it ended without `[DONE]` or a
    /// `finish_reason`. Calls without an id get `call_<index>`.
    pub fn finish(mut self) -> Result<Turn, StreamError> {
        if !self.done && !self.finished {
            return Err(StreamError(
                "the stream from the model server ended early".to_owned(),
            ));
        }
        for (i, call) in self.turn.calls.iter_mut().enumerate() {
            if call.id.is_empty() {
                call.id = format!("call_{i}");
            }
        }
        Ok(self.turn)
    }

    /// The next complete line (without its `\n`), or `None`; fails when a line, complete or
    /// not, is longer than [`MAX_LINE_BYTES`].
    fn next_line(&mut self) -> Result<Option<Vec<u8>>, StreamError> {
        if self.done {
            return Ok(None);
        }
        let too_long = || {
            StreamError(format!(
                "the model server sent an SSE line over {} MiB",
                MAX_LINE_BYTES / (1024 * 1024)
            ))
        };
        match self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
            Some(offset) => {
                let end = self.scanned + offset;
                if end - self.start > MAX_LINE_BYTES {
                    return Err(too_long());
                }
                let line = self.buf[self.start..end].to_vec();
                self.start = end + 1;
                self.scanned = self.start;
                Ok(Some(line))
            }
            None => {
                if self.buf.len() - self.start > MAX_LINE_BYTES {
                    return Err(too_long());
                }
                self.buf.drain(..self.start);
                self.start = 0;
                self.scanned = self.buf.len();
                Ok(None)
            }
        }
    }

    /// Applies one `data:` chunk; returns its text, if any.
    fn apply(&mut self, data: &str) -> Result<Option<String>, StreamError> {
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            StreamError(format!(
                "the model server sent a malformed stream chunk: {e}"
            ))
        })?;
        if let Some(usage) = chunk.usage {
            self.turn.usage = Some((usage.prompt_tokens, usage.completion_tokens));
        }
        let mut text = String::new();
        for choice in chunk.choices {
            if choice.finish_reason.is_some() {
                self.finished = true;
            }
            let Some(delta) = choice.delta else { continue };
            if let Some(piece) = delta.content.filter(|t| !t.is_empty()) {
                self.started = true;
                if self.turn.text.len() + text.len() + piece.len() > MAX_TEXT_BYTES {
                    return Err(StreamError(format!(
                        "the model server sent more than {} MiB of text in one reply",
                        MAX_TEXT_BYTES / (1024 * 1024)
                    )));
                }
                text.push_str(&piece);
            }
            for call in delta.tool_calls {
                self.started = true;
                self.add_call(call)?;
            }
        }
        self.turn.text.push_str(&text);
        Ok((!text.is_empty()).then_some(text))
    }

    fn add_call(&mut self, call: ToolCallDelta) -> Result<(), StreamError> {
        let index = call.index;
        let Some(index) = usize::try_from(index).ok().filter(|i| *i < MAX_TOOL_CALLS) else {
            return Err(StreamError(format!(
                "the model server sent tool call index {index}; at most {MAX_TOOL_CALLS} tool calls are allowed (indices 0 to {})",
                MAX_TOOL_CALLS - 1
            )));
        };
        if self.turn.calls.len() <= index {
            self.turn.calls.resize(index + 1, PendingCall::default());
        }
        let slot = &mut self.turn.calls[index];
        let (name, arguments) = match call.function {
            Some(f) => (f.name.unwrap_or_default(), f.arguments.unwrap_or_default()),
            None => (String::new(), String::new()),
        };
        let id_len = call.id.as_ref().map_or(slot.id.len(), String::len);
        let size = id_len + slot.name.len() + name.len() + slot.arguments.len() + arguments.len();
        if size > MAX_CALL_BYTES {
            return Err(StreamError(format!(
                "the model server sent a tool call over {} MiB (index {index})",
                MAX_CALL_BYTES / (1024 * 1024)
            )));
        }
        if let Some(id) = call.id {
            slot.id = id;
        }
        slot.name.push_str(&name);
        slot.arguments.push_str(&arguments);
        Ok(())
    }
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

impl From<StreamError> for UpstreamError {
    fn from(e: StreamError) -> Self {
        failed(e.0, false)
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
    /// Wide enough for any JSON integer a server may send, so a huge one is our clear error
    /// rather than a parse failure.
    #[serde(default)]
    index: u64,
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
        let text = error_body(response).await;
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
    let mut decoder = StreamDecoder::new();
    let mut bytes = response.bytes_stream();
    while !decoder.is_done() {
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
        decoder.push(&piece);
        loop {
            let next = decoder.next_text();
            *streamed |= decoder.started();
            let Some(text) = next? else { break };
            out.delta(&text).await?;
        }
    }
    // Ending early is a broken connection: worth a retry, if no token was seen.
    decoder.finish().map_err(|e| failed(e.0, true))
}

/// The first bytes of an error answer's body (at most 4 KiB are read).
async fn error_body(response: reqwest::Response) -> String {
    const MAX: usize = 4096;
    let mut body = Vec::new();
    let mut bytes = response.bytes_stream();
    while let Some(Ok(piece)) = bytes.next().await {
        body.extend_from_slice(&piece[..piece.len().min(MAX - body.len())]);
        if body.len() >= MAX {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(decoder: &mut StreamDecoder) -> Result<Vec<String>, StreamError> {
        let mut texts = Vec::new();
        while let Some(text) = decoder.next_text()? {
            texts.push(text);
        }
        Ok(texts)
    }

    fn tool_chunk(index: u64, id: Option<&str>, name: &str, args: &str) -> String {
        let call = match id {
            Some(id) => {
                serde_json::json!({ "index": index, "id": id, "function": { "name": name, "arguments": args } })
            }
            None => serde_json::json!({ "index": index, "function": { "arguments": args } }),
        };
        format!(
            "data: {}\n\n",
            serde_json::json!({ "choices": [{ "delta": { "tool_calls": [call] } }] })
        )
    }

    #[test]
    fn text_tool_calls_and_usage_in_pieces_of_every_size() {
        let stream = [
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n".to_owned(),
            ": a comment\n".to_owned(),
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\r\n\r\n".to_owned(),
            tool_chunk(1, Some("b"), "clock", ""),
            tool_chunk(0, Some("a"), "calc", "{\"ex"),
            tool_chunk(0, None, "", "pr\":\"1\"}"),
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n".to_owned(),
            "data: [DONE]\n\ndata: ignored after done\n".to_owned(),
        ]
        .concat();
        for size in [1, 2, 7, 64, stream.len()] {
            let mut decoder = StreamDecoder::new();
            let mut texts = Vec::new();
            for piece in stream.as_bytes().chunks(size) {
                decoder.push(piece);
                texts.extend(drain(&mut decoder).unwrap());
            }
            assert_eq!(texts.concat(), "Hello", "pieces of {size}");
            let turn = decoder.finish().unwrap();
            assert_eq!(turn.text, "Hello");
            assert_eq!(turn.usage, Some((3, 4)));
            assert_eq!(
                turn.calls,
                [
                    PendingCall {
                        id: "a".into(),
                        name: "calc".into(),
                        arguments: "{\"expr\":\"1\"}".into()
                    },
                    PendingCall {
                        id: "b".into(),
                        name: "clock".into(),
                        arguments: String::new()
                    },
                ]
            );
        }
    }

    #[test]
    fn a_tool_call_index_of_128_or_more_is_refused_without_allocating() {
        let mut decoder = StreamDecoder::new();
        decoder.push(tool_chunk(127, Some("x"), "calc", "{}").as_bytes());
        assert!(drain(&mut decoder).is_ok());
        for index in [128, 4_000_000_000, u64::MAX] {
            let mut decoder = StreamDecoder::new();
            decoder.push(tool_chunk(index, Some("x"), "calc", "{}").as_bytes());
            assert_eq!(
                drain(&mut decoder).unwrap_err().to_string(),
                format!(
                    "the model server sent tool call index {index}; at most 128 tool calls are allowed (indices 0 to 127)"
                )
            );
        }
        let mut decoder = StreamDecoder::new();
        decoder.push(b"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":-1}]}}]}\n");
        assert!(
            drain(&mut decoder)
                .unwrap_err()
                .to_string()
                .contains("malformed stream chunk")
        );
    }

    #[test]
    fn a_line_over_1_mib_is_refused_whether_complete_or_not() {
        let mut decoder = StreamDecoder::new();
        let piece = vec![b'x'; 64 * 1024];
        let mut failed = None;
        for _ in 0..32 {
            decoder.push(&piece);
            if let Err(e) = drain(&mut decoder) {
                failed = Some(e);
                break;
            }
        }
        assert_eq!(
            failed.unwrap().to_string(),
            "the model server sent an SSE line over 1 MiB"
        );
        let mut decoder = StreamDecoder::new();
        let mut line = vec![b'y'; MAX_LINE_BYTES + 1];
        line.push(b'\n');
        decoder.push(&line);
        assert!(drain(&mut decoder).is_err());
        let mut decoder = StreamDecoder::new();
        let mut line = b"data: {\"choices\":[]}".to_vec();
        line.resize(MAX_LINE_BYTES, b' ');
        line.extend_from_slice(b"\n");
        decoder.push(&line);
        assert_eq!(drain(&mut decoder).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_tool_call_over_1_mib_is_refused() {
        let mut decoder = StreamDecoder::new();
        let piece = "a".repeat(300 * 1024);
        decoder.push(tool_chunk(0, Some("x"), "calc", "").as_bytes());
        let mut result = Ok(Vec::new());
        for _ in 0..4 {
            decoder.push(tool_chunk(0, None, "", &piece).as_bytes());
            result = drain(&mut decoder);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(
            result.unwrap_err().to_string(),
            "the model server sent a tool call over 1 MiB (index 0)"
        );
    }

    #[test]
    fn text_over_8_mib_is_refused() {
        let mut decoder = StreamDecoder::new();
        let chunk = format!(
            "data: {}\n",
            serde_json::json!({ "choices": [{ "delta": { "content": "z".repeat(512 * 1024) } }] })
        );
        let mut result = Ok(Vec::new());
        for _ in 0..17 {
            decoder.push(chunk.as_bytes());
            result = drain(&mut decoder);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(
            result.unwrap_err().to_string(),
            "the model server sent more than 8 MiB of text in one reply"
        );
    }

    /// `serde_json` stops at 128 levels in the types it builds (ours nest 6 deep), and skips
    /// fields it does not read without recursion: deep nesting is a clear error.
    #[test]
    fn deep_json_is_an_error_not_a_stack_overflow() {
        for nested in [
            format!("{{\"choices\":{}", "[".repeat(500_000)),
            format!("{{\"extra\":{}", "[".repeat(500_000)),
            format!("{{\"extra\":{}", "{\"a\":".repeat(100_000)),
            format!(
                "{{\"choices\":[{{\"delta\":{{\"content\":{}",
                "[".repeat(500_000)
            ),
        ] {
            let mut decoder = StreamDecoder::new();
            decoder.push(format!("data: {nested}\n").as_bytes());
            let error = drain(&mut decoder).unwrap_err().to_string();
            assert!(error.contains("malformed stream chunk"), "{error}");
        }
    }

    #[test]
    fn a_stream_without_finish_or_done_ended_early() {
        let mut decoder = StreamDecoder::new();
        decoder.push(b"data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n");
        assert_eq!(drain(&mut decoder).unwrap(), ["par"]);
        assert!(decoder.started());
        assert_eq!(
            decoder.finish().unwrap_err().to_string(),
            "the stream from the model server ended early"
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let pieces: [&[u8]; 10] = [
            b"data: ",
            b"{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":",
            b"3",
            b"}]}}]}",
            b"\n",
            b"[DONE]",
            b"\xff\xfe",
            b"{\"content\":\"a\"}",
            b"\r\n",
            b"]]]}}}",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..5_000 {
            let mut decoder = StreamDecoder::new();
            for _ in 0..(seed % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                decoder.push(pieces[(seed % pieces.len() as u64) as usize]);
                if drain(&mut decoder).is_err() {
                    break;
                }
            }
            let _ = decoder.finish();
        }
    }
}
