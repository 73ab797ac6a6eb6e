//! A stub OpenAI-compatible server on an ephemeral port: `POST /v1/chat/completions` answers
//! with the next scripted reply in the real wire format (SSE `data:` chunks, `[DONE]`), or an
//! HTTP error, or raw bytes (for hostile-server tests); `GET /hello` serves a page for
//! `http.get`, and `GET /redirect` answers `302` to the URL set with
//! [`OpenAiStub::redirect_to`]. Every request body and its `Authorization` header are recorded.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// An SSE stream of `data:` chunks; `done` sends `[DONE]` at the end, `pause` waits
    /// between chunks.
    Stream {
        chunks: Vec<Value>,
        done: bool,
        pause: Duration,
    },
    /// An HTTP error with a body.
    Status(u16, String),
    /// A `text/event-stream` body of exactly these bytes, one body chunk per piece, with
    /// `pause` before each piece: for a server that breaks the protocol.
    Raw {
        pieces: Vec<Vec<u8>>,
        pause: Duration,
    },
}

impl Reply {
    /// Text in pieces, a `stop`, a usage chunk and `[DONE]`.
    pub fn text(pieces: &[&str], usage: (u64, u64)) -> Reply {
        let mut chunks: Vec<Value> = pieces
            .iter()
            .map(|p| json!({ "choices": [{ "index": 0, "delta": { "content": p }, "finish_reason": null }] }))
            .collect();
        chunks.push(json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] }));
        chunks.push(json!({ "choices": [], "usage": { "prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1 } }));
        Reply::Stream {
            chunks,
            done: true,
            pause: Duration::ZERO,
        }
    }

    /// Tool calls whose arguments arrive in the given pieces, then `tool_calls`.
    pub fn tool_calls(calls: &[(&str, &str, &[&str])], usage: (u64, u64)) -> Reply {
        let mut chunks = Vec::new();
        for (index, (id, name, pieces)) in calls.iter().enumerate() {
            chunks.push(json!({ "choices": [{ "index": 0, "delta": { "tool_calls": [
                { "index": index, "id": id, "type": "function", "function": { "name": name, "arguments": "" } }
            ] } }] }));
            for piece in *pieces {
                chunks.push(json!({ "choices": [{ "index": 0, "delta": { "tool_calls": [
                    { "index": index, "function": { "arguments": piece } }
                ] } }] }));
            }
        }
        chunks.push(
            json!({ "choices": [{ "index": 0, "delta": {}, "finish_reason": "tool_calls" }] }),
        );
        chunks.push(json!({ "choices": [], "usage": { "prompt_tokens": usage.0, "completion_tokens": usage.1 } }));
        Reply::Stream {
            chunks,
            done: true,
            pause: Duration::ZERO,
        }
    }

    /// Text pieces, then the stream stops: no finish, no `[DONE]`.
    pub fn cut(pieces: &[&str]) -> Reply {
        let chunks = pieces
            .iter()
            .map(|p| json!({ "choices": [{ "index": 0, "delta": { "content": p } }] }))
            .collect();
        Reply::Stream {
            chunks,
            done: false,
            pause: Duration::ZERO,
        }
    }

    /// The same reply with a pause between chunks.
    pub fn paced(self, pause: Duration) -> Reply {
        match self {
            Reply::Stream { chunks, done, .. } => Reply::Stream {
                chunks,
                done,
                pause,
            },
            other => other,
        }
    }
}

#[derive(Debug, Default)]
struct Script {
    replies: VecDeque<Reply>,
    requests: Vec<(Option<String>, Value)>,
    redirect: Option<String>,
}

/// A running stub.
#[derive(Debug, Clone)]
pub struct OpenAiStub {
    /// Where it listens.
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl OpenAiStub {
    /// Starts a stub answering with `replies`, in order.
    pub async fn start(replies: Vec<Reply>) -> OpenAiStub {
        let script = Arc::new(Mutex::new(Script {
            replies: replies.into(),
            requests: Vec::new(),
            redirect: None,
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .route("/hello", get(|| async { "hello from the stub" }))
            .route("/redirect", get(redirect))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        OpenAiStub { addr, script }
    }

    /// `http://ADDR/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Request bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.script
            .lock()
            .unwrap()
            .requests
            .iter()
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// Makes `GET /redirect` answer `302 Found` with `Location: url`.
    pub fn redirect_to(&self, url: &str) {
        self.script.lock().unwrap().redirect = Some(url.to_owned());
    }

    /// `Authorization` headers received so far.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.script
            .lock()
            .unwrap()
            .requests
            .iter()
            .map(|(auth, _)| auth.clone())
            .collect()
    }
}

async fn redirect(State(script): State<Arc<Mutex<Script>>>) -> Response {
    match script.lock().unwrap().redirect.clone() {
        Some(to) => (StatusCode::FOUND, [("location", to)]).into_response(),
        None => (StatusCode::NOT_FOUND, "no redirect set").into_response(),
    }
}

async fn complete(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let reply = {
        let mut script = script.lock().unwrap();
        script
            .requests
            .push((auth, serde_json::from_str(&body).unwrap_or(Value::Null)));
        script.replies.pop_front()
    };
    match reply {
        None => (StatusCode::INTERNAL_SERVER_ERROR, "no scripted reply left").into_response(),
        Some(Reply::Status(code, body)) => (
            StatusCode::from_u16(code).unwrap(),
            [("retry-after", "0")],
            body,
        )
            .into_response(),
        Some(Reply::Raw { pieces, pause }) => {
            let stream =
                futures_util::stream::unfold(pieces.into_iter(), move |mut pieces| async move {
                    let piece = pieces.next()?;
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                    Some((Ok::<_, std::io::Error>(piece), pieces))
                });
            (
                [("content-type", "text/event-stream")],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Some(Reply::Stream {
            chunks,
            done,
            pause,
        }) => {
            let mut lines: Vec<String> = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
            if done {
                lines.push("data: [DONE]\n\n".to_owned());
            }
            let stream =
                futures_util::stream::unfold(lines.into_iter(), move |mut lines| async move {
                    let line = lines.next()?;
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                    Some((Ok::<_, std::io::Error>(line), lines))
                });
            (
                [("content-type", "text/event-stream")],
                Body::from_stream(stream),
            )
                .into_response()
        }
    }
}
