//! A small client of the frame protocol for `switchboard call` and `watch`.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The connection options every client command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// The gateway's frame endpoint.
    #[arg(
        long,
        env = "SWITCHBOARD_URL",
        default_value = "ws://127.0.0.1:8080/ws"
    )]
    pub url: String,
    /// A token (none: anonymous, where the gateway allows it).
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The user id to connect as.
    #[arg(long, default_value = "cli")]
    pub user_id: String,
}

/// A connected frame-protocol client.
pub(super) struct FrameClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl FrameClient {
    /// Opens the socket, reads the challenge and sends `connect`; `Err` carries the refusal.
    pub(super) async fn connect(args: &ConnectArgs) -> anyhow::Result<Result<FrameClient, Value>> {
        let (socket, _) =
            tokio_tungstenite::connect_async_with_config(args.url.as_str(), None, true)
                .await
                .map_err(|e| anyhow::anyhow!("cannot connect to {}: {e}", args.url))?;
        let mut client = FrameClient { socket, next_id: 0 };
        let mut params = json!({ "user_id": args.user_id });
        if let Some(token) = &args.token {
            params["token"] = Value::from(token.as_str());
        }
        let id = client.send("connect", params).await?;
        loop {
            let frame = client
                .next()
                .await?
                .ok_or_else(|| anyhow::anyhow!("closed during connect"))?;
            if frame["type"] == "res" && frame["id"] == id.as_str() {
                return Ok(if frame["ok"] == true {
                    Ok(client)
                } else {
                    Err(frame)
                });
            }
        }
    }

    /// Sends a request; returns its id.
    pub(super) async fn send(&mut self, method: &str, params: Value) -> anyhow::Result<String> {
        self.next_id += 1;
        let id = format!("cli-{}", self.next_id);
        let frame = json!({ "type": "req", "id": id, "method": method, "params": params });
        self.socket
            .send(Message::Text(frame.to_string().into()))
            .await?;
        Ok(id)
    }

    /// The next frame; `None` when the connection ended (with the close reason on stderr).
    pub(super) async fn next(&mut self) -> anyhow::Result<Option<Value>> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => return Ok(Some(serde_json::from_str(&text)?)),
                Some(Ok(Message::Close(frame))) => {
                    if let Some(frame) = frame {
                        eprintln!(
                            "connection closed: {} {}",
                            u16::from(frame.code),
                            frame.reason
                        );
                    }
                    return Ok(None);
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    eprintln!("connection lost: {e}");
                    return Ok(None);
                }
                None => return Ok(None),
            }
        }
    }
}
