//! `http.get`: fetches a URL from an allowed host, within a time and size limit.

use std::time::Duration;

use serde_json::{Value, json};

/// Runs `http.get` on `{url}`.
pub(super) async fn run(
    client: &reqwest::Client,
    input: &Value,
    allowed_hosts: &[String],
    timeout: Duration,
    max_bytes: usize,
) -> Result<Value, String> {
    let url = input.get("url").and_then(Value::as_str).unwrap_or_default();
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("only http and https URLs are allowed".to_owned());
    }
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let allowed = allowed_hosts.iter().any(|h| {
        let h = h.to_ascii_lowercase();
        host == h || host.ends_with(&format!(".{h}"))
    });
    if !allowed {
        return Err(format!(
            "host {host} is not in tools.\"http.get\".allowed_hosts"
        ));
    }
    let request = client.get(parsed).timeout(timeout).send();
    let mut response = request.await.map_err(|e| describe(&e, timeout))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e, timeout))? {
        let room = max_bytes.saturating_sub(body.len());
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(json!({ "status": status, "body": String::from_utf8_lossy(&body), "truncated": truncated }))
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", timeout.as_secs())
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        format!("request failed: {e}")
    }
}
