//! Many nodes for the cluster tests (SPEC §15): N real `switchboard serve` processes (node ids
//! `a`, `b`, `c`, …) on ephemeral ports, sharing one fresh PostgreSQL database and one Redis,
//! with a channel prefix of their own so that tests sharing a Redis do not hear each other.
//!
//! Redis is taken from `SWITCHBOARD_TEST_REDIS` (default `redis://127.0.0.1:6379`), checked
//! with a TCP connect and a `PING`; PostgreSQL as in [`crate::postgres`]. Where either does not
//! answer, [`Cluster::start`] prints "skipped: no … at …" and gives `None`. The tests that stop
//! Redis use a [`RedisServer`] of their own (`redis-server` on a free port, killed and started
//! again on the same port).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::binary::ServeProcess;
use crate::frames::{WsClient, connect_params};
use crate::http;
use crate::postgres::{PgDatabase, pg_database};

/// The node ids, in start order.
pub const NODE_IDS: [&str; 5] = ["a", "b", "c", "d", "e"];

/// The lease every test cluster uses, in seconds (`cluster.lease_s`).
pub const LEASE_S: u64 = 2;

/// The gateway token every node of a test cluster shares.
pub const ADMIN_TOKEN: &str = "cluster-test-admin-token-5d1e";

/// The environment key of the echo agent's delay per word (`agents.main.chunk_delay_ms`).
pub const CHUNK_DELAY_MS: &str = "SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS";

/// The Redis the tests share: `SWITCHBOARD_TEST_REDIS`, default `redis://127.0.0.1:6379`.
pub fn redis_test_url() -> String {
    std::env::var("SWITCHBOARD_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A channel prefix no other test uses.
pub fn unique_prefix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "sbtest-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether a Redis answers `PING` at `url` (`redis://[user:password@]host[:port][/db]`);
/// the error says why not.
pub async fn redis_ping(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| format!("not a redis:// URL: {url}"))?;
    let rest = rest.split('/').next().unwrap_or(rest);
    let (auth, host) = match rest.rsplit_once('@') {
        Some((auth, host)) => (Some(auth), host),
        None => (None, rest),
    };
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:6379")
    };
    let io = async {
        let mut stream = TcpStream::connect(&host).await?;
        let mut request = String::new();
        if let Some(auth) = auth {
            let password = auth.rsplit_once(':').map_or(auth, |(_, p)| p);
            request.push_str(&format!("AUTH {password}\r\n"));
        }
        request.push_str("PING\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&answer).contains("PONG") {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if answer.starts_with(b"-") {
                break;
            }
        }
        Ok::<String, std::io::Error>(String::from_utf8_lossy(&answer).into_owned())
    };
    match tokio::time::timeout(Duration::from_secs(2), io).await {
        Err(_) => Err("no answer within 2 s".to_owned()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(answer)) if answer.contains("+PONG") => Ok(()),
        Ok(Ok(answer)) => Err(format!("PING answered {:?}", answer.trim())),
    }
}

/// A `redis-server` of one test's own, on a free port of 127.0.0.1, without persistence;
/// killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    /// Its port (the same after a restart).
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one, or gives `None` (after printing why) when `redis-server` is not installed.
    pub async fn start() -> Option<RedisServer> {
        let Some(binary) = find_redis_server() else {
            println!("skipped: redis-server is not installed (apt-get install redis-server)");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RedisServer {
            binary,
            port,
            child: None,
        };
        server.restart().await;
        Some(server)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port and waits until it answers `PING`.
    pub async fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut child = Command::new(&self.binary)
                .args(["--port", &self.port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", ""])
                .args(["--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{} does not start: {e}", self.binary.display()));
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(3) {
                if redis_ping(&self.url()).await.is_ok() {
                    self.child = Some(child);
                    return;
                }
                if child.try_wait().unwrap().is_some() {
                    break; // e.g. the port is not free yet: try again
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "redis-server does not come up on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn find_redis_server() -> Option<PathBuf> {
    let default = PathBuf::from("/usr/bin/redis-server");
    if default.is_file() {
        return Some(default);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
    })
}

/// N `switchboard serve` processes acting as one gateway.
#[derive(Debug)]
pub struct Cluster {
    /// The nodes, in the order of [`NODE_IDS`] (`nodes[0]` is `a`).
    pub nodes: Vec<ServeProcess>,
    /// The Redis they share.
    pub redis_url: String,
    /// Their channel prefix.
    pub channel_prefix: String,
    /// Their database (dropped after the nodes).
    pub db: PgDatabase,
}

impl Cluster {
    /// `n` nodes on the shared Redis ([`redis_test_url`]) and a fresh PostgreSQL database,
    /// with `extra_env` besides the cluster settings; `None` (after printing why) when
    /// PostgreSQL or Redis does not answer.
    pub async fn start(n: usize, extra_env: &[(&str, &str)]) -> Option<Cluster> {
        let redis = redis_test_url();
        if let Err(e) = redis_ping(&redis).await {
            println!("skipped: no Redis at {redis} ({e})");
            return None;
        }
        Cluster::start_on(n, &redis, extra_env).await
    }

    /// `n` nodes on the Redis at `redis_url` (e.g. a [`RedisServer`]) and a fresh PostgreSQL
    /// database; `None` (after printing why) when PostgreSQL does not answer.
    pub async fn start_on(
        n: usize,
        redis_url: &str,
        extra_env: &[(&str, &str)],
    ) -> Option<Cluster> {
        assert!((1..=NODE_IDS.len()).contains(&n), "1 to 5 nodes");
        let db = pg_database().await?;
        let channel_prefix = unique_prefix();
        let lease = LEASE_S.to_string();
        let mut nodes = Vec::with_capacity(n);
        // One after the other: the first migrates the fresh database.
        for id in &NODE_IDS[..n] {
            let mut env: Vec<(&str, &str)> = vec![
                ("SWITCHBOARD__STORAGE__URL", &db.url),
                ("SWITCHBOARD__CLUSTER__REDIS_URL", redis_url),
                ("SWITCHBOARD__CLUSTER__NODE_ID", id),
                ("SWITCHBOARD__CLUSTER__LEASE_S", &lease),
                ("SWITCHBOARD__CLUSTER__CHANNEL_PREFIX", &channel_prefix),
                ("SWITCHBOARD__LIMITS__CHAT_BURST", "100"),
                ("SWITCHBOARD__LIMITS__CHAT_PER_MINUTE", "6000"),
            ];
            env.extend_from_slice(extra_env);
            nodes.push(ServeProcess::start(ADMIN_TOKEN, &env));
        }
        let cluster = Cluster {
            nodes,
            redis_url: redis_url.to_owned(),
            channel_prefix,
            db,
        };
        for i in 0..n {
            cluster.wait_ready(i, Duration::from_secs(10)).await;
        }
        Some(cluster)
    }

    /// The address of node `i` (0 = `a`).
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].addr
    }

    /// Kills node `i` with SIGKILL (no goodbye to anyone) and reaps it.
    pub fn kill(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.child.kill().unwrap();
        node.child.wait().unwrap();
    }

    /// Stops node `i` gracefully (SIGTERM) and waits for it to exit.
    pub fn terminate(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let pid = node.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM to node {}", NODE_IDS[i]);
        node.child.wait().unwrap();
    }

    /// `/readyz` of node `i`: `(status, body)`.
    pub async fn readyz(&self, i: usize) -> (u16, String) {
        http::get(self.addr(i), "/readyz").await
    }

    /// Waits (at most `limit`) until `/readyz` of node `i` answers 200 `ready…`; gives whether
    /// it did (a node that is not ready is left to the test to judge).
    pub async fn wait_ready(&self, i: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let (status, body) = self.readyz(i).await;
            if status == 200 && body.trim_start().starts_with("ready") {
                return true;
            }
            if Instant::now() >= deadline {
                println!(
                    "node {} not ready after {limit:?}: {status} {body:?}",
                    NODE_IDS[i]
                );
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An admin connection to node `i`.
    pub async fn admin(&self, i: usize) -> WsClient {
        WsClient::connected(self.addr(i), Some(ADMIN_TOKEN), "admin").await
    }

    /// A new token of `role` (`viewer`, `operator`, `admin`), created by the admin on node
    /// `a`: `(id, secret)`.
    pub async fn token(&self, role: &str) -> (String, String) {
        let mut admin = self.admin(0).await;
        let created = admin
            .call(
                "tokens.create",
                json!({ "name": format!("cluster-{role}"), "role": role }),
            )
            .await;
        assert_eq!(created["ok"], true, "{created}");
        (
            created["payload"]["id"].as_str().unwrap().to_owned(),
            created["payload"]["token"].as_str().unwrap().to_owned(),
        )
    }

    /// A connection to node `i` with `token` as `user`, and its connection id.
    pub async fn connect(&self, i: usize, token: &str, user: &str) -> (WsClient, String) {
        let mut c = WsClient::frames(self.addr(i)).await;
        let res = c.call("connect", connect_params(Some(token), user)).await;
        assert_eq!(res["ok"], true, "connect to node {}: {res}", NODE_IDS[i]);
        let payload = &res["payload"];
        let id = [&payload["connection_id"], &payload["connectionId"]]
            .into_iter()
            .find_map(Value::as_str)
            .unwrap_or_else(|| panic!("no connection_id in {res}"))
            .to_owned();
        (c, id)
    }
}

/// The next frame of `c` within `limit` (read from its socket, so that `limit` may exceed
/// the client's own read timeout), or a panic naming `what` was awaited.
pub async fn next_within(c: &mut WsClient, limit: Duration, what: &str) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let Ok(message) = tokio::time::timeout_at(deadline, c.socket().next()).await else {
            panic!("no frame within {limit:?} while waiting for {what}");
        };
        match message {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Close(frame))) => {
                panic!("closed ({frame:?}) while waiting for {what}")
            }
            Some(Ok(_)) => continue,
            None => panic!("the connection ended while waiting for {what}"),
            Some(Err(e)) => panic!("{e} while waiting for {what}"),
        }
    }
}

/// Events of `c` (first those it read during calls) until one matches `last`, all within
/// `limit`; a panic naming `what` otherwise. Responses read meanwhile are dropped.
pub async fn events_until(
    c: &mut WsClient,
    limit: Duration,
    what: &str,
    mut last: impl FnMut(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    for e in std::mem::take(&mut c.events) {
        let done = last(&e);
        got.push(e);
        if done {
            return got;
        }
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = next_within(c, left, what).await;
        if frame["type"] != "event" {
            continue;
        }
        let done = last(&frame);
        got.push(frame);
        if done {
            return got;
        }
    }
}

/// Whether `e` is the `agent` event that ends run `run` (completed, failed, aborted, timeout).
pub fn ends_run(e: &Value, run: &str) -> bool {
    e["event"] == "agent"
        && e["payload"]["runId"] == run
        && matches!(
            e["payload"]["status"].as_str(),
            Some("completed" | "failed" | "aborted" | "timeout")
        )
}

/// The events of session `session` (those with a `sessionSeq`), in the order given.
pub fn of_session<'a>(events: &'a [Value], session: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["payload"]["sessionId"] == session && e["payload"]["sessionSeq"].is_i64())
        .collect()
}

/// The `sessionSeq`s of `events`.
pub fn seqs(events: &[&Value]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e["payload"]["sessionSeq"].as_i64().unwrap())
        .collect()
}
