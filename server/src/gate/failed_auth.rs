//! Failed authentications per remote address: a token bucket of `auth.failed_per_minute`
//! failures, refilled continuously. While an address's bucket is empty, its authentications are
//! refused with `RATE_LIMITED` before any token is checked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at most; past this, addresses with full buckets are forgotten.
const MAX_TRACKED: usize = 16_384;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Per-address failure budget.
#[derive(Debug)]
pub struct FailedAuthLimiter {
    per_minute: f64,
    /// A std mutex held for one map operation, never across an `.await`.
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl FailedAuthLimiter {
    /// A limiter allowing `per_minute` failures per address and minute.
    pub fn new(per_minute: u32) -> FailedAuthLimiter {
        FailedAuthLimiter {
            per_minute: f64::from(per_minute.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> Bucket {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        Bucket {
            tokens: (bucket.tokens + elapsed * self.per_minute / 60.0).min(self.per_minute),
            updated: now,
        }
    }

    /// `Err(retry_after)` while `addr` has used up its failures.
    pub fn check(&self, addr: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bucket) = buckets.get(&addr).map(|b| self.refilled(*b, now)) else {
            return Ok(());
        };
        if bucket.tokens >= 1.0 {
            return Ok(());
        }
        let missing = 1.0 - bucket.tokens;
        Err(Duration::from_secs_f64(missing * 60.0 / self.per_minute).max(Duration::from_millis(1)))
    }

    /// Counts one failed authentication from `addr`.
    pub fn record_failure(&self, addr: IpAddr) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&addr) {
            let full = self.per_minute;
            buckets.retain(|_, b| self.refilled(*b, now).tokens < full);
        }
        let bucket = buckets.get(&addr).map_or(
            Bucket {
                tokens: self.per_minute,
                updated: now,
            },
            |b| self.refilled(*b, now),
        );
        buckets.insert(
            addr,
            Bucket {
                tokens: (bucket.tokens - 1.0).max(0.0),
                updated: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_limited_after_its_failures_and_others_are_not() {
        let limiter = FailedAuthLimiter::new(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check(a).is_ok());
            limiter.record_failure(a);
        }
        let wait = limiter.check(a).unwrap_err();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limiter.check(b).is_ok());
    }
}
