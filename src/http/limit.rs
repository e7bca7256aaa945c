//! Limits on what one client may ask for: joins and sign-ins per client address (GCRA, by
//! `governor`), and sign-ins to one account that slow down after repeated failures. Per node
//! and in memory: a client spread over several nodes gets each node's allowance.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;

/// What the limits are; zero turns a limit off.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Joins per minute from one address (bursts up to this many).
    pub joins_per_minute: u32,
    /// Sign-in attempts per minute from one address.
    pub logins_per_minute: u32,
    /// Failed sign-ins to one account before each further attempt must wait (1 s, 2 s, 4 s…
    /// up to 5 min, until a success).
    pub login_failures_free: u32,
    /// The server is behind a reverse proxy that appends the client's address to
    /// `X-Forwarded-For`: the last entry is the client.
    pub trust_proxy: bool,
}

impl RateLimits {
    /// No limit on joins or sign-ins per address; failed sign-ins still slow down.
    pub const OFF: RateLimits =
        RateLimits { joins_per_minute: 0, logins_per_minute: 0, login_failures_free: 5, trust_proxy: false };
}

/// The longest a failing account is made to wait.
const MAX_LOCKOUT: Duration = Duration::from_secs(300);
/// Failures older than this are forgotten.
const FAILURE_MEMORY: Duration = Duration::from_secs(900);
/// Past this many remembered accounts, forgotten ones are swept.
const SWEEP_AT: usize = 50_000;

struct Failures {
    count: u32,
    last: Instant,
}

pub struct Limiter {
    settings: RateLimits,
    joins: Option<DefaultKeyedRateLimiter<IpAddr>>,
    logins: Option<DefaultKeyedRateLimiter<IpAddr>>,
    failures: DashMap<String, Failures>,
}

impl Limiter {
    pub fn new(settings: RateLimits) -> Limiter {
        let per_minute = |n: u32| NonZeroU32::new(n).map(|n| DefaultKeyedRateLimiter::dashmap(Quota::per_minute(n)));
        Limiter {
            settings,
            joins: per_minute(settings.joins_per_minute),
            logins: per_minute(settings.logins_per_minute),
            failures: DashMap::new(),
        }
    }

    /// A join from this request's client, if its allowance has room.
    pub fn join(&self, req: &HttpRequest) -> Result<(), ApiError> {
        check(self.joins.as_ref(), self.client(req))
    }

    /// A sign-in from this request's client to `account`, if both allow it now.
    pub fn login(&self, req: &HttpRequest, account: &str) -> Result<(), ApiError> {
        check(self.logins.as_ref(), self.client(req))?;
        let Some(f) = self.failures.get(account) else { return Ok(()) };
        let over = f.count.saturating_sub(self.settings.login_failures_free);
        if over == 0 || f.last.elapsed() > FAILURE_MEMORY {
            return Ok(());
        }
        let wait = Duration::from_secs(1u64 << (over - 1).min(9)).min(MAX_LOCKOUT);
        match wait.checked_sub(f.last.elapsed()) {
            Some(left) if !left.is_zero() => Err(ApiError::RateLimited(left)),
            _ => Ok(()),
        }
    }

    pub fn login_failed(&self, account: &str) {
        if self.failures.len() >= SWEEP_AT {
            self.failures.retain(|_, f| f.last.elapsed() < FAILURE_MEMORY);
        }
        let mut f = self.failures.entry(account.to_owned()).or_insert(Failures { count: 0, last: Instant::now() });
        if f.last.elapsed() > FAILURE_MEMORY {
            f.count = 0;
        }
        f.count += 1;
        f.last = Instant::now();
    }

    pub fn login_succeeded(&self, account: &str) {
        self.failures.remove(account);
    }

    /// Forgets addresses whose allowance is full again (called now and then).
    pub fn sweep(&self) {
        for limiter in [&self.joins, &self.logins].into_iter().flatten() {
            limiter.retain_recent();
        }
    }

    /// The client's address: the peer, or behind a trusted proxy the address it appended last.
    pub fn client(&self, req: &HttpRequest) -> Option<IpAddr> {
        if self.settings.trust_proxy {
            let forwarded = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()).last();
            if let Some(ip) = forwarded.and_then(|v| v.rsplit(',').next()).and_then(|ip| ip.trim().parse().ok()) {
                return Some(ip);
            }
        }
        req.peer_addr().map(|a| a.ip())
    }
}

fn check(limiter: Option<&DefaultKeyedRateLimiter<IpAddr>>, client: Option<IpAddr>) -> Result<(), ApiError> {
    let (Some(limiter), Some(client)) = (limiter, client) else { return Ok(()) };
    limiter
        .check_key(&client)
        .map_err(|not_until| ApiError::RateLimited(not_until.wait_time_from(DefaultClock::default().now())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn from(ip: &str) -> HttpRequest {
        TestRequest::default().peer_addr(format!("{ip}:5000").parse().unwrap()).to_http_request()
    }

    #[test]
    fn joins_are_limited_per_address() {
        let limiter = Limiter::new(RateLimits { joins_per_minute: 3, ..RateLimits::OFF });
        for _ in 0..3 {
            limiter.join(&from("10.0.0.1")).unwrap();
        }
        let Err(ApiError::RateLimited(wait)) = limiter.join(&from("10.0.0.1")) else { panic!("a fourth join passed") };
        assert!(wait > Duration::from_secs(10) && wait <= Duration::from_secs(20), "{wait:?}");
        limiter.join(&from("10.0.0.2")).expect("another address has its own allowance");
        assert!(Limiter::new(RateLimits::OFF).join(&from("10.0.0.1")).is_ok());
    }

    #[test]
    fn behind_a_trusted_proxy_the_last_forwarded_address_counts() {
        let limiter = Limiter::new(RateLimits { joins_per_minute: 1, trust_proxy: true, ..RateLimits::OFF });
        let via = |forwarded: &str| {
            TestRequest::default()
                .peer_addr("10.9.9.9:80".parse().unwrap())
                .insert_header(("x-forwarded-for", forwarded))
                .to_http_request()
        };
        limiter.join(&via("1.1.1.1, 192.0.2.7")).unwrap();
        // A client cannot escape by forging the first entries: the proxy's own is the last.
        assert!(limiter.join(&via("8.8.8.8, 192.0.2.7")).is_err());
        limiter.join(&via("192.0.2.8")).unwrap();
    }

    #[test]
    fn failed_sign_ins_slow_down_until_one_succeeds() {
        let limiter = Limiter::new(RateLimits { login_failures_free: 2, ..RateLimits::OFF });
        let req = from("10.0.0.1");
        for _ in 0..2 {
            limiter.login(&req, "acme\nann").unwrap();
            limiter.login_failed("acme\nann");
        }
        limiter.login(&req, "acme\nann").expect("the free failures do not slow down");
        limiter.login_failed("acme\nann");
        let Err(ApiError::RateLimited(wait)) = limiter.login(&req, "acme\nann") else { panic!("no slow-down") };
        assert!(wait <= Duration::from_secs(1));
        limiter.login(&req, "acme\nbob").expect("another account is not slowed");
        limiter.login_succeeded("acme\nann");
        limiter.login(&req, "acme\nann").unwrap();
    }
}
