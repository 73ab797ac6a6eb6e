//! Operations: Prometheus metrics (through the `metrics` facade and its Prometheus exporter)
//! and the names and labels they use. Label values are bounded: method names come from the
//! catalogue, codes from the error table, statuses from the run states — never user input.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use switchboard_api::ErrorCode;

/// Histogram buckets, seconds: from half a millisecond to five minutes.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
];

/// Metric names, each documented in the README's Operations section.
pub mod names {
    /// Open WebSocket connections by `protocol` and `role` (gauge, set at scrape time).
    pub const CONNECTIONS_OPEN: &str = "switchboard_connections_open";
    /// `connect` attempts by `outcome` (`ok`, `failed`, `rate_limited`).
    pub const CONNECTS: &str = "switchboard_connects_total";
    /// Calls by `method` and `code` (`ok` or an error code).
    pub const CALLS: &str = "switchboard_calls_total";
    /// Call latency by `method` (histogram, seconds).
    pub const CALL_DURATION: &str = "switchboard_call_duration_seconds";
    /// Events delivered to connections (each connection counts once).
    pub const EVENTS_DELIVERED: &str = "switchboard_events_delivered_total";
    /// Connections closed as slow consumers.
    pub const SLOW_CONSUMERS: &str = "switchboard_slow_consumer_closes_total";
    /// Live subscriptions (gauge, set at scrape time).
    pub const SUBSCRIPTIONS: &str = "switchboard_subscriptions";
    /// Runs in progress (gauge, set at scrape time).
    pub const RUNS_ACTIVE: &str = "switchboard_runs_active";
    /// Runs waiting behind another (gauge, set at scrape time).
    pub const RUNS_QUEUED: &str = "switchboard_runs_queued";
    /// Ended runs by `status` (`completed`, `failed`, `aborted`, `timeout`).
    pub const RUNS: &str = "switchboard_runs_total";
    /// Run duration (histogram, seconds).
    pub const RUN_DURATION: &str = "switchboard_run_duration_seconds";
    /// Output tokens streamed by agents.
    pub const TOKENS_STREAMED: &str = "switchboard_tokens_streamed_total";
    /// Store operation latency by `op` (histogram, seconds).
    pub const STORE_DURATION: &str = "switchboard_store_operation_duration_seconds";
    /// Failed authentications by `reason` (`invalid`, `expired`, `revoked`, `missing`).
    pub const AUTH_FAILURES: &str = "switchboard_auth_failures_total";
    /// Refusals by `limit` (`auth`, `chat`, `inflight`).
    pub const RATE_LIMITED: &str = "switchboard_rate_limited_total";
}

/// How often histogram samples are folded into their buckets when nobody scrapes `/metrics`.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The process-wide Prometheus recorder, installed on first use (tests start many servers in
/// one process; they share it and compare differences). A histogram keeps each sample until
/// the next render or upkeep, so a thread of its own runs the upkeep every
/// [`UPKEEP_INTERVAL`]: without it, a server nobody scrapes would hold every call's sample.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
        }
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".to_owned())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("no metrics upkeep thread ({e}); histograms drain only on scrape");
        }
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        names::CONNECTIONS_OPEN,
        "Open WebSocket connections by protocol and role"
    );
    describe_counter!(names::CONNECTS, "connect attempts by outcome");
    describe_counter!(names::CALLS, "Calls by method and outcome code");
    describe_histogram!(
        names::CALL_DURATION,
        metrics::Unit::Seconds,
        "Call latency by method"
    );
    describe_counter!(names::EVENTS_DELIVERED, "Events delivered to connections");
    describe_counter!(
        names::SLOW_CONSUMERS,
        "Connections closed as slow consumers"
    );
    describe_gauge!(names::SUBSCRIPTIONS, "Live subscriptions");
    describe_gauge!(names::RUNS_ACTIVE, "Runs in progress");
    describe_gauge!(
        names::RUNS_QUEUED,
        "Runs waiting behind another run of their session"
    );
    describe_counter!(names::RUNS, "Ended runs by status");
    describe_histogram!(names::RUN_DURATION, metrics::Unit::Seconds, "Run duration");
    describe_counter!(names::TOKENS_STREAMED, "Output tokens streamed by agents");
    describe_histogram!(
        names::STORE_DURATION,
        metrics::Unit::Seconds,
        "Store operation latency by operation"
    );
    describe_counter!(names::AUTH_FAILURES, "Failed authentications by reason");
    describe_counter!(names::RATE_LIMITED, "Refusals by limit");
}

/// A call's outcome label: `ok` or the error code's name.
pub fn code_label(response: &jsonrpsee::MethodResponse) -> &'static str {
    match response.as_error_code() {
        None => "ok",
        Some(code) => ErrorCode::from_jsonrpc(code.into()).as_str(),
    }
}

thread_local! {
    /// Each thread's handles to the per-call metrics, by the addresses of their `&'static`
    /// labels (bounded: catalogue methods × error codes), so that a call costs no key
    /// allocation and no registry lookup.
    static CALL_METRICS: RefCell<HashMap<(usize, usize), (Counter, Histogram)>> =
        RefCell::new(HashMap::new());
}

/// Records one call.
pub fn record_call(method: &'static str, code: &'static str, elapsed: Duration) {
    let key = (method.as_ptr() as usize, code.as_ptr() as usize);
    CALL_METRICS.with_borrow_mut(|handles| {
        let (calls, duration) = handles.entry(key).or_insert_with(|| {
            (
                metrics::counter!(names::CALLS, "method" => method, "code" => code),
                metrics::histogram!(names::CALL_DURATION, "method" => method),
            )
        });
        calls.increment(1);
        duration.record(elapsed.as_secs_f64());
    });
}

/// Records a store operation's latency.
pub fn record_store(op: &'static str, elapsed: Duration) {
    metrics::histogram!(names::STORE_DURATION, "op" => op).record(elapsed.as_secs_f64());
}
