//! Request rates of plugin webhook URLs.
//!
//! A webhook URL is a credential anyone holding it can use, and each request
//! it accepts becomes a queued job of up to 1 MiB. [`WebhookLimits`] keeps a
//! token bucket per webhook: a URL takes `per_minute` requests at once and
//! then `per_minute` a minute; beyond that it answers `429` with the seconds
//! until the next one is taken (senders such as payment providers and shops
//! retry on 429). Per process: with several `crm serve` processes behind a
//! balancer, each keeps its own buckets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Buckets kept before those that have refilled are forgotten.
const PRUNE_AT: usize = 4096;

/// Token buckets of webhook URLs, by URL (the SHA-256 of its token).
#[derive(Debug)]
pub struct WebhookLimits {
    per_minute: AtomicU32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl WebhookLimits {
    /// `per_minute` requests a minute per URL (and as many at once); 0 is no limit.
    pub fn new(per_minute: u32) -> Self {
        WebhookLimits {
            per_minute: AtomicU32::new(per_minute),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute.load(Ordering::Relaxed)
    }

    /// Change the rate (buckets keep what they hold, up to the new size).
    pub fn set_per_minute(&self, per_minute: u32) {
        self.per_minute.store(per_minute, Ordering::Relaxed);
    }

    /// Take one request of the URL `url` at `now`; `Err` is how long until
    /// one is available.
    pub fn take(&self, url: &str, now: Instant) -> Result<(), Duration> {
        let per_minute = self.per_minute();
        if per_minute == 0 {
            return Ok(());
        }
        let size = f64::from(per_minute);
        let per_second = size / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(url) {
            if buckets.len() >= PRUNE_AT {
                // A bucket that has refilled is the same as none: forget
                // those (URLs rotated away, or quiet for a while).
                let refill = Duration::from_secs(60);
                buckets.retain(|_, b| now.saturating_duration_since(b.at) < refill);
            }
            let full = Bucket {
                tokens: size,
                at: now,
            };
            buckets.insert(url.to_owned(), full);
        }
        let Some(b) = buckets.get_mut(url) else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_second).min(size);
        b.at = now.max(b.at);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_takes_its_rate_and_bursts_of_it() {
        let limits = WebhookLimits::new(60);
        let (a, b) = ("hash-a", "hash-b");
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(limits.take(a, t0).is_ok());
        }
        let wait = limits.take(a, t0).expect_err("the burst is spent");
        assert!(
            wait > Duration::from_millis(990) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        // Another URL has its own bucket.
        assert!(limits.take(b, t0).is_ok());
        // One a second comes back (60 a minute), never more than the burst.
        assert!(limits.take(a, t0 + Duration::from_millis(1000)).is_ok());
        assert!(limits.take(a, t0 + Duration::from_millis(1000)).is_err());
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..60 {
            assert!(limits.take(a, later).is_ok());
        }
        assert!(limits.take(a, later).is_err());
        // Buckets that have refilled (a minute untouched) are forgotten once
        // there are many; busy ones are kept.
        let busy = later + Duration::from_secs(120);
        assert!(limits.take("busy", busy).is_ok());
        for i in 0..PRUNE_AT {
            assert!(limits.take(&format!("u{i}"), later).is_ok());
        }
        assert!(limits.buckets.lock().unwrap().len() > PRUNE_AT);
        assert!(limits.take("new", busy).is_ok());
        let kept = limits.buckets.lock().unwrap().len();
        assert_eq!(kept, 2, "busy and new");
        // 0 lifts the limit.
        limits.set_per_minute(0);
        assert!(limits.take(a, later).is_ok());
    }
}
