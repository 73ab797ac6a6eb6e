//! `switchboard call METHOD [PARAMS] --url --token`: one call over the frame protocol; prints
//! every event frame and then the result frame as JSON lines; exits 1 on an error response.

use serde_json::Value;

use super::CliError;
use super::client::{ConnectArgs, FrameClient};

pub(super) async fn call(
    method: &str,
    params: Option<&str>,
    args: &ConnectArgs,
) -> Result<(), CliError> {
    let params: Value = match params {
        Some(text) => {
            serde_json::from_str(text).map_err(|e| anyhow::anyhow!("PARAMS is not JSON: {e}"))?
        }
        None => Value::Object(Default::default()),
    };
    let mut client = match FrameClient::connect(args).await? {
        Ok(client) => client,
        Err(refusal) => {
            println!("{refusal}");
            return Err(anyhow::anyhow!("connect refused").into());
        }
    };
    let id = client.send(method, params).await?;
    while let Some(frame) = client.next().await? {
        if frame["type"] == "event" {
            println!("{frame}");
            continue;
        }
        if frame["id"] == id.as_str() {
            println!("{frame}");
            if frame["ok"] == true {
                return Ok(());
            }
            return Err(anyhow::anyhow!("{} failed", method).into());
        }
    }
    Err(anyhow::anyhow!("the connection ended before the result").into())
}
