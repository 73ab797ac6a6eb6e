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
/// Events of one session held back while an earlier one is missing, at most.
const MAX_HELD: usize = 100_000;

/// One session's place in the output: the last `sessionSeq` printed, and events that arrived
/// ahead of a missing one (a live event can overtake the replay of a resumed subscription).
#[derive(Default)]
struct SessionOutput {
    last: i64,
    held: BTreeMap<i64, Value>,
}

pub(super) async fn watch(topic: &str, args: &ConnectArgs) -> Result<(), CliError> {
    // Where each session's output stands.
    let mut printed: BTreeMap<String, SessionOutput> = BTreeMap::new();
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
    printed: &mut BTreeMap<String, SessionOutput>,
) -> anyhow::Result<Outcome> {
    let mut client = match FrameClient::connect(args).await? {
        Ok(client) => client,
        Err(refusal) => return Ok(Outcome::Refused(refusal)),
    };
    // First every session seen so far, from where it was left (these subscriptions also carry
    // those sessions' live events), then the topic itself.
    let mut pending = Vec::new();
    let resumed: Vec<(String, i64)> = printed.iter().map(|(s, o)| (s.clone(), o.last)).collect();
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
                let session = payload["sessionId"].as_str().map(str::to_owned);
                let (Some(session), Some(seq)) = (session, payload["sessionSeq"].as_i64()) else {
                    println!("{frame}");
                    continue;
                };
                let out = printed
                    .entry(session.clone())
                    .or_insert_with(|| SessionOutput {
                        last: seq - 1,
                        held: BTreeMap::new(),
                    });
                if seq <= out.last {
                    continue; // printed already
                }
                out.held.insert(seq, frame);
                while let Some(next) = out.held.remove(&(out.last + 1)) {
                    println!("{next}");
                    out.last += 1;
                }
                if out.held.len() > MAX_HELD {
                    eprintln!(
                        "session {session}: events after {} never arrived; going on",
                        out.last
                    );
                    for (seq, held) in std::mem::take(&mut out.held) {
                        println!("{held}");
                        out.last = seq;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(Outcome::Dropped)
}
