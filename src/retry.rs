//! How the outboxes (webhooks, messages) retry: one policy for both.

use std::time::Duration;

use rand::Rng;

/// The wait after failed attempt `attempt` (1 = the first): `base` × 3^(attempt−1), at most
/// `max`, with ±20% jitter so receivers that come back are not hit by every retry at once.
pub fn wait_after(attempt: i32, base: Duration, max: Duration) -> Duration {
    let factor = 3f64.powi(attempt.clamp(1, 30) - 1);
    let wait = (base.as_secs_f64() * factor).min(max.as_secs_f64());
    Duration::from_secs_f64(wait * rand::rng().random_range(0.8..1.2))
}

/// How long a sender's claim on what it sends lasts: longer than the requests it covers (three
/// timeouts and a margin), so no other node takes them meanwhile.
pub fn lease(timeout: Duration) -> Duration {
    timeout * 3 + Duration::from_secs(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_threefold_within_jitter_and_stop_at_the_cap() {
        let (base, max) = (Duration::from_secs(5), Duration::from_secs(600));
        for (attempt, nominal) in [(1, 5.0), (2, 15.0), (3, 45.0), (6, 600.0), (40, 600.0)] {
            let wait = wait_after(attempt, base, max).as_secs_f64();
            assert!((nominal * 0.8..=nominal * 1.2).contains(&wait), "attempt {attempt}: {wait}");
        }
        assert_eq!(lease(Duration::from_secs(10)), Duration::from_secs(35));
    }
}
