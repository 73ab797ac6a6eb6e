//! `chat.send` per principal: `limits.chat_per_minute` with bursts of `limits.chat_burst`,
//! through the `governor` crate (GCRA), keyed by the principal.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// The chat rate limiter.
#[derive(Debug)]
pub struct ChatLimiter {
    limiter: RateLimiter<String, HashMapStateStore<String>, DefaultClock>,
    clock: DefaultClock,
}

impl ChatLimiter {
    /// `per_minute` sends per principal and minute, `burst` at once.
    pub fn new(per_minute: u32, burst: u32) -> ChatLimiter {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        ChatLimiter {
            limiter: RateLimiter::hashmap(quota),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(wait)` when `principal` must wait before sending again.
    pub fn check(&self, principal: &str) -> Result<(), Duration> {
        self.limiter
            .check_key(&principal.to_owned())
            .map_err(|not_until| {
                not_until
                    .wait_time_from(self.clock.now())
                    .max(Duration::from_millis(1))
            })
    }
}
