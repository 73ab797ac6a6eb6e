//! Latency samples and the report line of one scenario.

use std::time::Duration;

use serde::Serialize;

/// Latencies in microseconds.
#[derive(Debug, Default)]
pub(super) struct Latencies(Vec<u32>);

impl Latencies {
    pub(super) fn record(&mut self, d: Duration) {
        self.0
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    pub(super) fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// `(p50, p99, max)` in milliseconds.
    pub(super) fn summary(&mut self) -> (f64, f64, f64) {
        if self.0.is_empty() {
            return (0.0, 0.0, 0.0);
        }
        self.0.sort_unstable();
        let at = |q: f64| {
            let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
            f64::from(self.0[i]) / 1000.0
        };
        (
            at(0.50),
            at(0.99),
            f64::from(*self.0.last().unwrap_or(&0)) / 1000.0,
        )
    }
}

/// What a timed run counted, before it is reported: rounds of one target add up.
#[derive(Debug, Default)]
pub(super) struct Sample {
    pub(super) count: u64,
    pub(super) errors: u64,
    pub(super) elapsed: Duration,
    pub(super) lat: Latencies,
}

impl Sample {
    pub(super) fn add(&mut self, other: Sample) {
        self.count += other.count;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.lat.extend(other.lat);
    }

    pub(super) fn report(mut self, scenario: &str, target: &str, unit: &'static str) -> Report {
        let (count, elapsed, errors) = (self.count, self.elapsed, self.errors);
        Report::new(
            scenario,
            target,
            unit,
            count,
            elapsed,
            &mut self.lat,
            errors,
        )
    }
}

/// The true delivery delay of `fanout`: from each event's `ts` (stamped when the writing node
/// stored it) to its arrival at each viewer, over all events of all viewers, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Delay {
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
}

impl Delay {
    pub(super) fn of(lat: &mut Latencies) -> Delay {
        let (p50_ms, p99_ms, max_ms) = lat.summary();
        Delay {
            p50_ms,
            p99_ms,
            max_ms,
        }
    }
}

/// One scenario's result: printed as a table row, or as one JSON object with `--json`.
#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) scenario: String,
    pub(super) target: String,
    /// What `rate` counts: calls, connects, events, runs.
    pub(super) unit: &'static str,
    pub(super) count: u64,
    pub(super) seconds: f64,
    pub(super) rate: f64,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
    pub(super) errors: u64,
    /// `fanout`: the true delay, from `ts` (absent if the server stamps no `ts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) delay: Option<Delay>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) extra: Option<serde_json::Value>,
}

impl Report {
    pub(super) fn new(
        scenario: &str,
        target: &str,
        unit: &'static str,
        count: u64,
        elapsed: Duration,
        lat: &mut Latencies,
        errors: u64,
    ) -> Report {
        let (p50_ms, p99_ms, max_ms) = lat.summary();
        let seconds = elapsed.as_secs_f64();
        Report {
            scenario: scenario.to_owned(),
            target: target.to_owned(),
            unit,
            count,
            seconds,
            rate: if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            },
            p50_ms,
            p99_ms,
            max_ms,
            errors,
            delay: None,
            extra: None,
        }
    }

    pub(super) fn print(&self, json: bool) {
        if json {
            println!("{}", serde_json::to_string(self).unwrap_or_default());
            return;
        }
        let extra = self
            .extra
            .as_ref()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let delay = self
            .delay
            .map(|d| {
                format!(
                    "delay from ts p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ",
                    d.p50_ms, d.p99_ms, d.max_ms
                )
            })
            .unwrap_or_default();
        println!(
            "{:<10} {:<28} {:>12.0} {:<8}/s  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms  errors {:>4}  {}{}",
            self.scenario,
            self.target,
            self.rate,
            self.unit,
            self.p50_ms,
            self.p99_ms,
            self.max_ms,
            self.errors,
            delay,
            extra
        );
    }
}
