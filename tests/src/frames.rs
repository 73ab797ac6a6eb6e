//! A client of the frame protocol (`/ws`) over a real WebSocket: send `req` frames, read `res`
//! and `event` frames, observe the close code.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for one frame before failing.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One `/ws` (or `/rpc`) WebSocket connection.
#[derive(Debug)]
pub struct WsClient {
    socket: Socket,
    next_id: u64,
    /// Events read while waiting for a response, in order.
    pub events: Vec<Value>,
    /// Responses read while waiting for another one.
    responses: Vec<Value>,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

impl WsClient {
    /// Opens `ws://ADDR/PATH` with extra headers; fails on a refused upgrade.
    pub async fn open(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<WsClient, WsError> {
        Self::open_with(addr, path, headers, None).await
    }

    /// Opens `/ws` with a small kernel receive buffer, so that a client that does not read
    /// fills up quickly (loopback buffers otherwise grow to tens of MiB).
    pub async fn frames_with_small_receive_buffer(addr: SocketAddr) -> WsClient {
        let mut client = WsClient::open_with(addr, "/ws", &[], Some(4096))
            .await
            .expect("upgrade");
        client.next_json().await.expect("challenge");
        client
    }

    /// Opens `ws://ADDR/PATH` with a kernel receive buffer of `receive_buffer` bytes (a client
    /// that does not read then fills up quickly).
    pub async fn open_with_receive_buffer(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
        receive_buffer: u32,
    ) -> Result<WsClient, WsError> {
        Self::open_with(addr, path, headers, Some(receive_buffer)).await
    }

    async fn open_with(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
        receive_buffer: Option<u32>,
    ) -> Result<WsClient, WsError> {
        let mut request = format!("ws://{addr}{path}").into_client_request()?;
        for (k, v) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let tcp = tokio::net::TcpSocket::new_v4()?;
        if let Some(size) = receive_buffer {
            tcp.set_recv_buffer_size(size)?;
        }
        let stream = tcp.connect(addr).await?;
        let (socket, _) =
            tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await?;
        Ok(WsClient {
            socket,
            next_id: 0,
            events: Vec::new(),
            responses: Vec::new(),
        })
    }

    /// Opens `/ws` and reads the `connect.challenge`.
    pub async fn frames(addr: SocketAddr) -> WsClient {
        let mut client = WsClient::open(addr, "/ws", &[]).await.expect("upgrade");
        let challenge = client.next_json().await.expect("challenge");
        assert_eq!(challenge["event"], "connect.challenge", "{challenge}");
        client
    }

    /// Opens `/ws` and connects with `token` (none: anonymous) as `user`.
    pub async fn connected(addr: SocketAddr, token: Option<&str>, user: &str) -> WsClient {
        let mut client = WsClient::frames(addr).await;
        let res = client.call("connect", connect_params(token, user)).await;
        assert_eq!(res["ok"], true, "connect failed: {res}");
        client
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::Text(text.into())).await.unwrap();
    }

    /// Sends a `req` frame; returns its id.
    pub async fn send_req(&mut self, method: &str, params: Value) -> String {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        let frame = json!({ "type": "req", "id": id, "method": method, "params": params });
        self.send_text(&frame.to_string()).await;
        id
    }

    /// Sends a request and waits for its `res` frame (events meanwhile go to `events`).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_req(method, params).await;
        self.response(&id).await
    }

    /// Waits for the `res` frame with `id`.
    pub async fn response(&mut self, id: &str) -> Value {
        if let Some(i) = self.responses.iter().position(|r| r["id"] == id) {
            return self.responses.remove(i);
        }
        loop {
            let frame = self
                .next_json()
                .await
                .unwrap_or_else(|closed| panic!("closed before {id}: {closed:?}"));
            if frame["type"] == "event" {
                self.events.push(frame);
                continue;
            }
            if frame["id"] == id {
                return frame;
            }
            self.responses.push(frame);
        }
    }

    /// The next text message as JSON, or how the connection closed.
    pub async fn next_json(&mut self) -> Result<Value, Closed> {
        loop {
            let message = tokio::time::timeout(READ_TIMEOUT, self.socket.next())
                .await
                .expect("a frame within the read timeout");
            match message {
                Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Close(frame))) => return Err(closed(frame)),
                Some(Ok(_)) => continue,
                None => {
                    return Err(Closed {
                        code: 1006,
                        reason: String::new(),
                    });
                }
                Some(Err(e)) => {
                    return Err(Closed {
                        code: 1006,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }

    /// Reads until the connection closes; returns the close code and reason.
    pub async fn closed(&mut self) -> Closed {
        loop {
            match self.next_json().await {
                Ok(frame) => self.events.push(frame),
                Err(closed) => return closed,
            }
        }
    }

    /// Sends a JSON-RPC request (on `/rpc`) and waits for the response with its id.
    pub async fn rpc(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        self.send_text(&msg.to_string()).await;
        loop {
            let m = self
                .next_json()
                .await
                .unwrap_or_else(|c| panic!("closed: {c:?}"));
            if m["id"] == id {
                return m;
            }
            self.events.push(m);
        }
    }

    /// The underlying socket.
    pub fn socket(&mut self) -> &mut Socket {
        &mut self.socket
    }

    /// The underlying socket, owned (e.g. to split it into a reading and a writing half).
    pub fn into_socket(self) -> Socket {
        self.socket
    }
}

fn closed(frame: Option<CloseFrame>) -> Closed {
    match frame {
        Some(f) => Closed {
            code: f.code.into(),
            reason: f.reason.to_string(),
        },
        None => Closed {
            code: 1005,
            reason: String::new(),
        },
    }
}

/// GoClaw-shaped `connect` params.
pub fn connect_params(token: Option<&str>, user: &str) -> Value {
    match token {
        Some(token) => json!({ "token": token, "user_id": user }),
        None => json!({ "user_id": user }),
    }
}
