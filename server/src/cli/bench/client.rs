//! Bench clients: a WebSocket that speaks frames (`/ws`) or JSON-RPC (`/rpc`), minimal and
//! fast (only the `id` of a response is parsed).

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(super) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Which protocol a URL speaks: `/rpc` is JSON-RPC, anything else frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wire {
    Frames,
    JsonRpc,
}

impl Wire {
    pub(super) fn of(url: &str) -> Wire {
        if url.trim_end_matches('/').ends_with("/rpc") {
            Wire::JsonRpc
        } else {
            Wire::Frames
        }
    }

    pub(super) fn request(self, id: u64, method: &str, params: &Value) -> String {
        match self {
            Wire::Frames => {
                json!({ "type": "req", "id": id, "method": method, "params": params }).to_string()
            }
            Wire::JsonRpc => {
                json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
                    .to_string()
            }
        }
    }
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

/// A response to a request: its numeric id and whether it succeeded. `None` for other
/// messages (events, notifications, the challenge).
pub(super) fn response(text: &str) -> Option<(u64, bool)> {
    let reply: Reply = serde_json::from_str(text).ok()?;
    if reply.kind.as_deref() == Some("event") {
        return None;
    }
    let id = reply.id?.as_u64()?;
    let ok = reply.ok.unwrap_or(reply.error.is_none());
    Some((id, ok))
}

/// Opens a socket and, on `/ws` or with a token, authenticates with `connect`.
pub(super) async fn open(
    url: &str,
    wire: Wire,
    token: Option<&str>,
    user: &str,
) -> anyhow::Result<Socket> {
    open_with(url, wire, token, user, 0).await
}

/// [`open`] with a socket receive buffer of `rcvbuf` bytes (0: the system's).
pub(super) async fn open_with(
    url: &str,
    wire: Wire,
    token: Option<&str>,
    user: &str,
    rcvbuf: u32,
) -> anyhow::Result<Socket> {
    let request = url.into_client_request()?;
    let host = request.uri().host().unwrap_or("127.0.0.1");
    let port = request.uri().port_u16().unwrap_or(80);
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host} has no address"))?;
    let tcp = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if rcvbuf > 0 {
        // Set before connecting, so that the window scale matches the buffer.
        tcp.set_recv_buffer_size(rcvbuf)?;
    }
    let tcp = tcp.connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (mut socket, _) =
        tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp)).await?;
    if wire == Wire::Frames || token.is_some() {
        let mut params = json!({ "user_id": user });
        if let Some(token) = token {
            params["token"] = Value::from(token);
        }
        socket
            .send(Message::Text(wire.request(0, "connect", &params).into()))
            .await?;
        loop {
            let Some(message) = socket.next().await else {
                anyhow::bail!("closed during connect")
            };
            if let Message::Text(text) = message?
                && let Some((0, ok)) = response(&text)
            {
                anyhow::ensure!(ok, "connect refused: {text}");
                break;
            }
        }
    }
    Ok(socket)
}
