//! `switchboard watch [TOPIC] --url --token`: tails events as JSON lines. After a dropped
//! connection it reconnects and resumes each session it has seen with `afterSeq`, printing
//! every event once: no gap, no duplicate.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::CliError;
use super::client::{ConnectArgs, FrameClient};

/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub(super) async fn watch(topic: &str, args: &ConnectArgs) -> Result<(), CliError> {
    // The last sessionSeq printed per session.
    let mut printed: BTreeMap<String, i64> = BTreeMap::new();
    let mut backoff = Duration::from_millis(100);
    loop {
        match session(topic, args, &mut printed).await {
            Ok(Outcome::Refused(frame)) => {
                println!("{frame}");
                return Err(anyhow::anyhow!("refused").into());
            }
            Ok(Outcome::Dropped) => backoff = Duration::from_millis(100),
            Err(e) => eprintln!("{e:#}"),
        }
        eprintln!("reconnecting in {} ms", backoff.as_millis());
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

enum Outcome {
    Refused(Value),
    Dropped,
}

/// One connection's worth of watching.
async fn session(
    topic: &str,
    args: &ConnectArgs,
    printed: &mut BTreeMap<String, i64>,
) -> anyhow::Result<Outcome> {
    let mut client = match FrameClient::connect(args).await? {
        Ok(client) => client,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    // First every session seen so far, from where it was left (these subscriptions also carry
    // those sessions' live events), then the topic itself.
    let mut pending = Vec::new();
    let resumed: Vec<(String, i64)> = printed.iter().map(|(s, n)| (s.clone(), *n)).collect();
    for (session, after) in &resumed {
        let params = json!({ "topic": format!("session:{session}"), "afterSeq": after });
        pending.push(client.send("subscribe", params).await?);
    }
    let own = topic.strip_prefix("session:").map(str::to_owned);
    if own.as_ref().is_none_or(|s| !printed.contains_key(s)) {
        pending.push(client.send("subscribe", json!({ "topic": topic })).await?);
    }
    while let Some(frame) = client.next().await? {
        match frame["type"].as_str() {
            Some("res") => {
                if let Some(i) = pending.iter().position(|id| frame["id"] == id.as_str()) {
                    pending.remove(i);
                    if frame["ok"] != true {
                        return Ok(Outcome::Refused(frame));
                    }
                }
            }
            Some("event") => {
                let payload = &frame["payload"];
                if let (Some(session), Some(seq)) = (
                    payload["sessionId"].as_str(),
                    payload["sessionSeq"].as_i64(),
                ) {
                    let last = printed.entry(session.to_owned()).or_insert(0);
                    if seq <= *last {
                        continue;
                    }
                    *last = seq;
                }
                println!("{frame}");
            }
            _ => {}
        }
    }
    Ok(Outcome::Dropped)
}
