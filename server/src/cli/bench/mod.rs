//! `switchboard bench`: a load generator (like `redis-benchmark` or `nats bench`) that targets
//! any Switchboard URL, runs bounded in time (and optionally in count), and prints a table or,
//! with `--json`, one JSON object per scenario.

mod baseline;
mod client;
mod scenarios;
mod stats;

use std::time::Duration;

use clap::{Args, ValueEnum};
use stats::Sample;

use super::CliError;

/// A scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// N connections each keeping K calls in flight (`--method`, default `health`).
    Rpc,
    /// New connections per second: WebSocket handshake + `connect` with the token.
    Connect,
    /// One operator streams a long echo reply while V viewers (on `--viewer-url`) follow the
    /// session; events/s, spread and true delay (from each event's `ts`).
    Fanout,
    /// N idle authenticated connections held for a while; RSS per connection with `--server-pid`.
    Idle,
    /// M operators each sending short messages to the echo agent in a loop.
    Chat,
}

/// `switchboard bench` options. The generator runs on a current-thread runtime by default,
/// so that on a 2-core machine it takes one core and the server the other (`--threads`).
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// The scenario.
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// The target: `ws://HOST:PORT/ws` (frames) or `ws://HOST:PORT/rpc` (JSON-RPC).
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,
    /// Where `fanout`'s viewers connect (another node of the same gateway); the operator
    /// connects to `--url`. Default: `--url`.
    #[arg(long)]
    pub viewer_url: Option<String>,
    /// A token (operator for `chat` and `fanout`).
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Connections (`rpc`, `connect`, `idle`).
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Calls in flight per connection (`rpc`).
    #[arg(long, default_value_t = 1)]
    pub inflight: usize,
    /// The method `rpc` calls.
    #[arg(long, default_value = "health")]
    pub method: String,
    /// The params of each `rpc` call, a JSON object (e.g. `{"sessionId":"ses_…"}` to measure
    /// a method that names a session).
    #[arg(long, default_value = "{}", value_parser = parse_params)]
    pub params: serde_json::Value,
    /// How long to run (or to hold, for `idle`), e.g. 10s.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Stop `rpc` after this many calls.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Viewers (`fanout`).
    #[arg(long, default_value_t = 100)]
    pub viewers: usize,
    /// Words of the streamed reply (`fanout`).
    #[arg(long, default_value_t = 1000)]
    pub words: usize,
    /// Each viewer's socket receive buffer, bytes (`fanout`; 0: the system's, autotuned to
    /// MiBs on loopback). A small one makes viewers that fall behind push back on the server,
    /// as across a network, instead of piling up unread in this process's kernel buffers.
    #[arg(long, default_value_t = 32 * 1024)]
    pub viewer_receive_buffer: u32,
    /// Operators (`chat`).
    #[arg(long, default_value_t = 16)]
    pub operators: usize,
    /// The server's process id, to read its RSS from /proc (`idle`).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Also run `rpc` against a bare jsonrpsee server started in this process and print the
    /// ratio.
    #[arg(long)]
    pub baseline: bool,
    /// With `--baseline`: alternate the target and the bare server this many times, each
    /// round `duration / rounds` long, so that a machine whose speed drifts (a shared VM)
    /// weighs on both alike.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// With `--baseline`: run the bare server in a child process of its own rather than in this
    /// one, so that it pays for the same process switches as the target.
    #[arg(long)]
    pub baseline_process: bool,
    /// Serve the bare jsonrpsee server, print its URL, and run until stdin closes (what
    /// `--baseline-process` starts).
    #[arg(long, hide = true)]
    pub serve_baseline: bool,
    /// One JSON object per scenario instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Generator threads (1: a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// `--params`: a JSON object.
fn parse_params(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err("params must be a JSON object".to_owned()),
        Err(e) => Err(format!("params are not JSON: {e}")),
    }
}

/// Runs the benchmark on its own runtime.
pub(super) fn run(args: &BenchArgs) -> Result<(), CliError> {
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .map_err(anyhow::Error::from)?;
    runtime.block_on(bench(args)).map_err(CliError::from)
}

async fn bench(a: &BenchArgs) -> anyhow::Result<()> {
    if a.serve_baseline {
        return baseline::serve_until_stdin_closes().await;
    }
    let token = a.token.as_deref();
    let report = match a.scenario {
        Scenario::Rpc => return rpc(a).await,
        Scenario::Connect => scenarios::connect(&a.url, token, a.connections, a.duration).await?,
        Scenario::Fanout => {
            let rcvbuf = a.viewer_receive_buffer;
            let viewer_url = a.viewer_url.as_deref().unwrap_or(&a.url);
            scenarios::fanout(&a.url, viewer_url, token, a.viewers, a.words, rcvbuf).await?
        }
        Scenario::Idle => {
            scenarios::idle(&a.url, token, a.connections, a.duration, a.server_pid).await?
        }
        Scenario::Chat => scenarios::chat(&a.url, token, a.operators, a.duration).await?,
    };
    report.print(a.json);
    Ok(())
}

/// `rpc`, with `--baseline` alternating rounds against the target and the bare server.
async fn rpc(a: &BenchArgs) -> anyhow::Result<()> {
    // The child process (if any) lives until the end of the scenario; dropping it kills it.
    let (bare_url, _child) = match (a.baseline, a.baseline_process) {
        (false, _) => (None, None),
        (true, false) => (Some(baseline::start()?), None),
        (true, true) => {
            let (child, url) = baseline::spawn().await?;
            (Some(url), Some(child))
        }
    };
    let rounds = if a.baseline { a.rounds } else { 1 };
    let round = a.duration / rounds;
    let per_round = a.requests.map(|n| n.div_ceil(u64::from(rounds)));
    let wire = client::Wire::of(&a.url);
    let (n, k, method, params) = (a.connections, a.inflight, a.method.as_str(), &a.params);
    let token = a.token.as_deref();
    let (mut ours, mut bare) = (Sample::default(), Sample::default());
    let none = serde_json::json!({});
    for _ in 0..rounds {
        let call = (method, params);
        ours.add(scenarios::rpc(&a.url, wire, token, n, k, call, round, per_round).await?);
        if let Some(url) = &bare_url {
            let (json_rpc, health) = (client::Wire::JsonRpc, ("health", &none));
            bare.add(scenarios::rpc(url, json_rpc, None, n, k, health, round, per_round).await?);
        }
    }
    let report = ours.report("rpc", &a.url, "calls");
    report.print(a.json);
    if bare_url.is_some() {
        let mut bare = bare.report("rpc", "bare jsonrpsee", "calls");
        let ratio = if bare.rate > 0.0 {
            report.rate / bare.rate
        } else {
            0.0
        };
        bare.extra = Some(serde_json::json!({ "ratio": ratio, "rounds": rounds }));
        bare.print(a.json);
        if !a.json {
            println!("ratio {ratio:.2}× the bare jsonrpsee server ({rounds} alternating rounds)");
        }
    }
    Ok(())
}
