//! The scenarios: `rpc`, `connect`, `fanout`, `idle`, `chat`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::client::{Socket, Wire, open, open_with, response};
use super::stats::{Delay, Latencies, Report, Sample};

/// What one client task counted: calls done, errors, latencies.
type Tally = (u64, u64, Latencies);

/// Adds up the tallies of all client tasks.
async fn gather(
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Tally>>>,
) -> anyhow::Result<Tally> {
    let (mut count, mut errors, mut lat) = (0, 0, Latencies::default());
    for task in tasks {
        let (n, e, l) = task.await??;
        count += n;
        errors += e;
        lat.extend(l);
    }
    Ok((count, errors, lat))
}

/// How long outstanding replies may take once the clock has run out.
const DRAIN: Duration = Duration::from_secs(5);

/// `rpc`: `connections` sockets, each keeping `inflight` calls of `call` (method, params) in
/// flight.
#[allow(clippy::too_many_arguments)] // the scenario's knobs, passed straight from the CLI
pub(super) async fn rpc(
    url: &str,
    wire: Wire,
    token: Option<&str>,
    connections: usize,
    inflight: usize,
    call: (&str, &Value),
    duration: Duration,
    limit: Option<u64>,
) -> anyhow::Result<Sample> {
    let per_connection = limit.map(|n| n.div_ceil(connections as u64));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..connections {
        let (url, token) = (url.to_owned(), token.map(str::to_owned));
        let (method, params) = (call.0.to_owned(), call.1.clone());
        tasks.push(tokio::spawn(async move {
            let socket = open(&url, wire, token.as_deref(), &format!("bench-{i}")).await?;
            let call = (method.as_str(), &params);
            pump(
                socket,
                wire,
                call,
                inflight,
                started + duration,
                per_connection,
            )
            .await
        }));
    }
    let (count, errors, lat) = gather(tasks).await?;
    Ok(Sample {
        count,
        errors,
        elapsed: started.elapsed(),
        lat,
    })
}

async fn pump(
    mut socket: Socket,
    wire: Wire,
    (method, params): (&str, &Value),
    inflight: usize,
    deadline: Instant,
    limit: Option<u64>,
) -> anyhow::Result<(u64, u64, Latencies)> {
    let mut sent: HashMap<u64, Instant> = HashMap::with_capacity(inflight);
    let (mut next_id, mut done, mut errors, mut lat) = (1u64, 0u64, 0u64, Latencies::default());
    let budget = |next: u64| limit.is_none_or(|l| next <= l);
    for _ in 0..inflight {
        if !budget(next_id) {
            break;
        }
        sent.insert(next_id, Instant::now());
        socket
            .send(Message::Text(wire.request(next_id, method, params).into()))
            .await?;
        next_id += 1;
    }
    while !sent.is_empty() {
        let wait = if Instant::now() < deadline {
            deadline + DRAIN
        } else {
            Instant::now() + DRAIN
        };
        let message = match tokio::time::timeout_at(wait.into(), socket.next()).await {
            Ok(Some(message)) => message?,
            Ok(None) | Err(_) => break,
        };
        let Message::Text(text) = message else {
            continue;
        };
        let Some((id, ok)) = response(&text) else {
            continue;
        };
        let Some(at) = sent.remove(&id) else { continue };
        lat.record(at.elapsed());
        done += 1;
        if !ok {
            errors += 1;
        }
        if Instant::now() < deadline && budget(next_id) {
            sent.insert(next_id, Instant::now());
            socket
                .send(Message::Text(wire.request(next_id, method, params).into()))
                .await?;
            next_id += 1;
        }
    }
    errors += sent.len() as u64;
    let _ = socket.close(None).await;
    Ok((done, errors, lat))
}

/// `connect`: `connections` loops of handshake + `connect` + close.
pub(super) async fn connect(
    url: &str,
    token: Option<&str>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for i in 0..connections {
        let (url, token) = (url.to_owned(), token.map(str::to_owned));
        tasks.push(tokio::spawn(async move {
            let (mut n, mut errors, mut lat) = (0u64, 0u64, Latencies::default());
            while Instant::now() < deadline {
                let t = Instant::now();
                match open(
                    &url,
                    Wire::of(&url),
                    token.as_deref(),
                    &format!("bench-{i}"),
                )
                .await
                {
                    Ok(mut socket) => {
                        lat.record(t.elapsed());
                        n += 1;
                        let _ = socket.close(None).await;
                    }
                    Err(_) => errors += 1,
                }
            }
            Ok((n, errors, lat))
        }));
    }
    let (count, errors, mut lat) = gather(tasks).await?;
    Ok(Report::new(
        "connect",
        url,
        "connects",
        count,
        started.elapsed(),
        &mut lat,
        errors,
    ))
}

/// Sends a request on a frame socket and returns its response payload (events are skipped).
async fn call(socket: &mut Socket, id: u64, method: &str, params: Value) -> anyhow::Result<Value> {
    socket
        .send(Message::Text(
            Wire::Frames.request(id, method, &params).into(),
        ))
        .await?;
    loop {
        let Some(message) = socket.next().await else {
            anyhow::bail!("closed")
        };
        if let Message::Text(text) = message? {
            let frame: Value = serde_json::from_str(&text)?;
            if frame["type"] == "res" && frame["id"] == id {
                anyhow::ensure!(frame["ok"] == true, "{method} failed: {text}");
                return Ok(frame["payload"].clone());
            }
        }
    }
}

/// What a viewer reads of an event frame: the connection's `seq`, the payload's `sessionSeq`,
/// and the payload's `ts` (unix ms, when the writing node stored it; `None` from a server that
/// does not stamp events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EventNumbers {
    conn_seq: u64,
    session_seq: i64,
    ts: Option<u64>,
}

/// The numbers of an event frame; `None` for any other frame. Only the numbers are read — the
/// frame's own `seq` is its last field, `sessionSeq` and `ts` are keys of the payload (the
/// first of each name: the bench's echo events nest no object that has one) — so that the
/// viewers, not the server, are never the bottleneck; anything unexpected falls back to a full
/// parse.
fn event_numbers(text: &str) -> Option<EventNumbers> {
    fn number_after<T: std::str::FromStr>(text: &str, key: &str) -> Option<T> {
        let at = text.find(key)? + key.len();
        let digits = &text[at..];
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        digits[..end].parse().ok()
    }
    if !text.starts_with(r#"{"type":"event","#) {
        return None;
    }
    let quick = (|| {
        let conn = text.rfind(r#","seq":"#)? + r#","seq":"#.len();
        let conn_seq = text[conn..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?;
        Some(EventNumbers {
            conn_seq,
            session_seq: number_after(text, r#""sessionSeq":"#)?,
            ts: number_after(text, r#""ts":"#),
        })
    })();
    quick.or_else(|| {
        let frame: Value = serde_json::from_str(text).ok()?;
        Some(EventNumbers {
            conn_seq: frame["seq"].as_u64()?,
            session_seq: frame["payload"]["sessionSeq"].as_i64().unwrap_or(0),
            ts: frame["payload"]["ts"].as_u64(),
        })
    })
}

/// Now, in microseconds since the Unix epoch (the clock `ts` is read against).
fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The delay from an event's `ts` (ms) to `now_us`; zero if the clocks disagree the other way.
fn delay_since(ts_ms: u64, now_us: u64) -> Duration {
    Duration::from_micros(now_us.saturating_sub(ts_ms.saturating_mul(1000)))
}

/// What one viewer saw: each counted event's `sessionSeq` and arrival, the true delays (from
/// `ts`), and the gaps.
struct ViewerTally {
    arrivals: Vec<(i64, Instant)>,
    delays: Latencies,
    gaps: u64,
}

/// Follows a subscribed viewer's socket until it has seen the run's last event
/// (`before + expected`); events up to `before` (the warm-up run's) are skipped.
async fn follow(mut s: Socket, before: i64, expected: i64) -> ViewerTally {
    let mut tally = ViewerTally {
        arrivals: Vec::with_capacity(expected as usize),
        delays: Latencies::default(),
        gaps: 0,
    };
    let (mut last_conn, mut last_seq) = (0u64, before);
    while last_seq < before + expected {
        let text = match tokio::time::timeout(Duration::from_secs(30), s.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            // Closed (a slow consumer, a node gone), broken or silent: the rest is missing.
            _ => {
                tally.gaps += 1;
                break;
            }
        };
        let Some(n) = event_numbers(&text) else {
            continue;
        };
        let now_us = unix_micros();
        let at = Instant::now();
        if n.conn_seq != last_conn + 1 {
            tally.gaps += 1;
        }
        last_conn = n.conn_seq;
        if n.session_seq <= before {
            continue;
        }
        if n.session_seq != last_seq + 1 {
            tally.gaps += 1;
        }
        last_seq = n.session_seq;
        tally.arrivals.push((n.session_seq, at));
        if let Some(ts) = n.ts {
            tally.delays.record(delay_since(ts, now_us));
        }
    }
    let _ = s.close(None).await;
    tally
}

/// `fanout`: one operator on `url` streams a `words`-word echo reply while `viewers` follow the
/// session on `viewer_url` (another node, or the same URL).
pub(super) async fn fanout(
    url: &str,
    viewer_url: &str,
    token: Option<&str>,
    viewers: usize,
    words: usize,
    viewer_rcvbuf: u32,
) -> anyhow::Result<Report> {
    let mut op = open(url, Wire::Frames, token, "bench-op").await?;
    let first = call(&mut op, 1, "chat.send", json!({ "message": "warm up" })).await?;
    let session = first["sessionId"].as_str().unwrap_or_default().to_owned();
    let before = session_last_seq(&mut op, &session).await?;
    let expected = (words + 3) as i64; // started, one chat per word, usage, completed
    let mut sockets = Vec::with_capacity(viewers);
    for i in 0..viewers {
        let viewer = format!("viewer-{i}");
        let mut s = open_with(viewer_url, Wire::Frames, None, &viewer, viewer_rcvbuf).await?;
        call(
            &mut s,
            1,
            "subscribe",
            json!({ "topic": format!("session:{session}") }),
        )
        .await?;
        sockets.push(s);
    }
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|s| tokio::spawn(follow(s, before, expected)))
        .collect();
    let text = (0..words)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let started = Instant::now();
    call(
        &mut op,
        2,
        "chat.send",
        json!({ "sessionId": session, "message": text }),
    )
    .await?;
    // `chat.send` answers once the run has ended: every event is stored by then. Against
    // `elapsed`, this shows how far delivery trails the writer.
    let run_seconds = started.elapsed().as_secs_f64();
    let mut all = Vec::new();
    let mut gaps = 0;
    let mut delays = Latencies::default();
    for task in tasks {
        let tally = task.await?;
        gaps += tally.gaps;
        delays.extend(tally.delays);
        all.push(tally.arrivals);
    }
    let elapsed = started.elapsed();
    let _ = op.close(None).await;
    let mut first_seen: HashMap<i64, Instant> = HashMap::new();
    for (seq, at) in all.iter().flatten() {
        first_seen
            .entry(*seq)
            .and_modify(|t| *t = (*t).min(*at))
            .or_insert(*at);
    }
    let mut lat = Latencies::default();
    for (seq, at) in all.iter().flatten() {
        lat.record(at.duration_since(first_seen[seq]));
    }
    let delivered = lat.len() as u64;
    let stamped = delays.len() as u64;
    let mut report = Report::new("fanout", url, "events", delivered, elapsed, &mut lat, gaps);
    report.delay = (stamped > 0).then(|| Delay::of(&mut delays));
    report.extra = Some(json!({
        "viewers": viewers,
        "words": words,
        "gaps": gaps,
        "viewer_url": viewer_url,
        "viewer_receive_buffer": viewer_rcvbuf,
        "stamped": stamped,
        "run_seconds": run_seconds,
    }));
    Ok(report)
}

async fn session_last_seq(op: &mut Socket, session: &str) -> anyhow::Result<i64> {
    let got = call(op, 9, "sessions.get", json!({ "sessionId": session })).await?;
    Ok(got["lastSeq"].as_i64().unwrap_or(0))
}

/// `idle`: `connections` authenticated connections held for `duration`; with the server's pid,
/// the server's RSS growth per connection.
pub(super) async fn idle(
    url: &str,
    token: Option<&str>,
    connections: usize,
    duration: Duration,
    pid: Option<u32>,
) -> anyhow::Result<Report> {
    // One connection first, so that the token is verified (argon2, cached) before the
    // baseline is read: the scenario measures what each further connection costs.
    let warm = open(url, Wire::of(url), token, "idle-warm-up").await?;
    let rss_before = pid.and_then(rss_kib);
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(connections);
    let mut lat = Latencies::default();
    let mut errors = 0;
    for chunk in (0..connections).collect::<Vec<_>>().chunks(64) {
        let opening = chunk.iter().map(|i| {
            let (url, token) = (url.to_owned(), token.map(str::to_owned));
            let i = *i;
            async move {
                let t = Instant::now();
                open(&url, Wire::of(&url), token.as_deref(), &format!("idle-{i}"))
                    .await
                    .map(|s| (s, t.elapsed()))
            }
        });
        for result in futures_util::future::join_all(opening).await {
            match result {
                Ok((s, took)) => {
                    lat.record(took);
                    sockets.push(s);
                }
                Err(_) => errors += 1,
            }
        }
    }
    let opened = started.elapsed();
    tokio::time::sleep(duration).await;
    let rss_after = pid.and_then(rss_kib);
    let held = sockets.len() as u64;
    let mut report = Report::new("idle", url, "opens", held, opened, &mut lat, errors);
    let per = match (rss_before, rss_after) {
        (Some(b), Some(a)) if held > 0 => Some((a.saturating_sub(b)) as f64 / held as f64),
        _ => None,
    };
    report.extra = Some(
        json!({ "held": held, "rss_before_kib": rss_before, "rss_after_kib": rss_after, "kib_per_connection": per }),
    );
    for mut s in sockets.into_iter().chain([warm]) {
        let _ = s.close(None).await;
    }
    Ok(report)
}

/// The resident set of a process, KiB, from `/proc/PID/status`.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `chat`: `operators` connections each sending short messages to the echo agent in a loop.
pub(super) async fn chat(
    url: &str,
    token: Option<&str>,
    operators: usize,
    duration: Duration,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for i in 0..operators {
        let (url, token) = (url.to_owned(), token.map(str::to_owned));
        tasks.push(tokio::spawn(async move {
            let mut socket =
                open(&url, Wire::Frames, token.as_deref(), &format!("chat-{i}")).await?;
            let (mut n, mut errors, mut lat, mut session) =
                (0u64, 0u64, Latencies::default(), Value::Null);
            let mut id = 1;
            while Instant::now() < deadline {
                let mut params = json!({ "message": "a short bench message" });
                if !session.is_null() {
                    params["sessionId"] = session.clone();
                }
                let t = Instant::now();
                id += 1;
                match call(&mut socket, id, "chat.send", params).await {
                    Ok(result) => {
                        lat.record(t.elapsed());
                        n += 1;
                        session = result["sessionId"].clone();
                    }
                    Err(_) => errors += 1,
                }
            }
            Ok::<Tally, anyhow::Error>((n, errors, lat))
        }));
    }
    let (count, errors, mut lat) = gather(tasks).await?;
    Ok(Report::new(
        "chat",
        url,
        "runs",
        count,
        started.elapsed(),
        &mut lat,
        errors,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_numbers_reads_seq_session_seq_and_ts_without_a_parse() {
        let frame = r#"{"type":"event","event":"chat","payload":{"chunk":"w0 w1","delta":" w1","runId":"r","sessionId":"s","sessionSeq":42,"ts":1764500000123},"seq":7}"#;
        let n = event_numbers(frame).unwrap();
        assert_eq!(
            n,
            EventNumbers {
                conn_seq: 7,
                session_seq: 42,
                ts: Some(1_764_500_000_123)
            }
        );
        // Another key order, and no `ts` (an older server).
        let frame =
            r#"{"type":"event","event":"agent","payload":{"ts":5,"sessionSeq":3},"seq":12}"#;
        assert_eq!(event_numbers(frame).unwrap().ts, Some(5));
        let frame = r#"{"type":"event","event":"agent","payload":{"sessionSeq":3},"seq":12}"#;
        let n = event_numbers(frame).unwrap();
        assert_eq!((n.conn_seq, n.session_seq, n.ts), (12, 3, None));
        // A message whose text looks like a key does not fool it: quotes inside strings are
        // escaped.
        let frame = r#"{"type":"event","event":"chat","payload":{"delta":"\"ts\":9","sessionSeq":1,"ts":8},"seq":1}"#;
        assert_eq!(event_numbers(frame).unwrap().ts, Some(8));
        assert!(event_numbers(r#"{"type":"res","id":1,"ok":true,"payload":{}}"#).is_none());
    }

    #[test]
    fn delay_is_from_ts_to_now_and_never_negative() {
        assert_eq!(delay_since(1_000, 1_002_500), Duration::from_micros(2_500));
        assert_eq!(delay_since(2_000, 1_000_000), Duration::ZERO);
    }
}
