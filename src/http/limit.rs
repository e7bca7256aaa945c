//! Limits on what one client may ask for: joins and sign-ins per client address (GCRA), and
//! sign-ins to one account that slow down after repeated failures. With Redis they are kept there
//! (`super::gcra`), so all nodes count together; without it, or while Redis fails, each node
//! keeps its own in memory (`governor`): a client spread over several nodes then gets each
//! node's allowance, but never no limit and never a refusal of everyone.

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
    /// The deployment's Redis (through the fan-out's connection) and its key prefix, once known.
    shared: std::sync::OnceLock<(std::sync::Arc<crate::fanout::Fanout>, String)>,
    joins: Option<DefaultKeyedRateLimiter<IpAddr>>,
    logins: Option<DefaultKeyedRateLimiter<IpAddr>>,
    failures: DashMap<String, Failures>,
}

impl Limiter {
    pub fn new(settings: RateLimits) -> Limiter {
        let per_minute = |n: u32| NonZeroU32::new(n).map(|n| DefaultKeyedRateLimiter::dashmap(Quota::per_minute(n)));
        Limiter {
            settings,
            shared: std::sync::OnceLock::new(),
            joins: per_minute(settings.joins_per_minute),
            logins: per_minute(settings.logins_per_minute),
            failures: DashMap::new(),
        }
    }

    /// Counts with every node of the deployment, through Redis when it answers.
    pub fn share(&self, fanout: std::sync::Arc<crate::fanout::Fanout>, prefix: String) {
        let _ = self.shared.set((fanout, prefix));
    }

    fn shared(&self) -> Option<super::gcra::Shared> {
        let (fanout, prefix) = self.shared.get()?;
        Some(super::gcra::Shared::new(fanout.redis()?, prefix.clone()))
    }

    /// A join from this request's client, if its allowance has room.
    pub async fn join(&self, req: &HttpRequest) -> Result<(), ApiError> {
        self.take("join", self.joins.as_ref(), self.settings.joins_per_minute, self.client(req)).await
    }

    /// One cell of a rate: from the shared allowance when Redis answers, else this node's.
    async fn take(
        &self,
        what: &str,
        local: Option<&DefaultKeyedRateLimiter<IpAddr>>,
        per_minute: u32,
        client: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        let (Some(_), Some(ip)) = (local, client) else { return Ok(()) };
        if let Some(shared) = self.shared() {
            match shared.take(what, &ip.to_string(), per_minute).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => return Err(ApiError::RateLimited(wait)),
                Err(()) => {
                    metrics::counter!("queuecast_limits_fallback_total", "limit" => what.to_owned()).increment(1)
                }
            }
        }
        check(local, client)
    }

    /// A sign-in from this request's client to `account`, if both allow it now.
    pub async fn login(&self, req: &HttpRequest, account: &str) -> Result<(), ApiError> {
        self.take("login", self.logins.as_ref(), self.settings.logins_per_minute, self.client(req)).await?;
        let shared = match self.shared() {
            Some(shared) => shared.failures(account).await.ok(),
            None => None,
        };
        let (count, ago) = match shared {
            Some(Some(remembered)) => remembered,
            Some(None) => return Ok(()),
            // No Redis, or it failed: this node's memory.
            None => match self.failures.get(account) {
                Some(f) => (f.count, f.last.elapsed()),
                None => return Ok(()),
            },
        };
        let over = count.saturating_sub(self.settings.login_failures_free);
        if over == 0 || ago > FAILURE_MEMORY {
            return Ok(());
        }
        let wait = Duration::from_secs(1u64 << (over - 1).min(9)).min(MAX_LOCKOUT);
        match wait.checked_sub(ago) {
            Some(left) if !left.is_zero() => Err(ApiError::RateLimited(left)),
            _ => Ok(()),
        }
    }

    /// A failed sign-in to `account`: remembered by every node (and by this one, for when Redis
    /// fails).
    pub async fn login_failed(&self, account: &str) {
        if let Some(shared) = self.shared() {
            let _ = shared.failed(account, FAILURE_MEMORY).await;
        }
        self.failed_here(account);
    }

    /// A successful sign-in to `account`: its failures are forgotten.
    pub async fn login_succeeded(&self, account: &str) {
        if let Some(shared) = self.shared() {
            let _ = shared.succeeded(account).await;
        }
        self.failures.remove(account);
    }

    fn failed_here(&self, account: &str) {
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

    #[actix_web::test]
    async fn joins_are_limited_per_address() {
        let limiter = Limiter::new(RateLimits { joins_per_minute: 3, ..RateLimits::OFF });
        for _ in 0..3 {
            limiter.join(&from("10.0.0.1")).await.unwrap();
        }
        let Err(ApiError::RateLimited(wait)) = limiter.join(&from("10.0.0.1")).await else {
            panic!("a fourth join passed")
        };
        assert!(wait > Duration::from_secs(10) && wait <= Duration::from_secs(20), "{wait:?}");
        limiter.join(&from("10.0.0.2")).await.expect("another address has its own allowance");
        assert!(Limiter::new(RateLimits::OFF).join(&from("10.0.0.1")).await.is_ok());
    }

    #[actix_web::test]
    async fn behind_a_trusted_proxy_the_last_forwarded_address_counts() {
        let limiter = Limiter::new(RateLimits { joins_per_minute: 1, trust_proxy: true, ..RateLimits::OFF });
        let via = |forwarded: &str| {
            TestRequest::default()
                .peer_addr("10.9.9.9:80".parse().unwrap())
                .insert_header(("x-forwarded-for", forwarded))
                .to_http_request()
        };
        limiter.join(&via("1.1.1.1, 192.0.2.7")).await.unwrap();
        // A client cannot escape by forging the first entries: the proxy's own is the last.
        assert!(limiter.join(&via("8.8.8.8, 192.0.2.7")).await.is_err());
        limiter.join(&via("192.0.2.8")).await.unwrap();
    }

    #[actix_web::test]
    async fn failed_sign_ins_slow_down_until_one_succeeds() {
        let limiter = Limiter::new(RateLimits { login_failures_free: 2, ..RateLimits::OFF });
        let req = from("10.0.0.1");
        for _ in 0..2 {
            limiter.login(&req, "acme\nann").await.unwrap();
            limiter.login_failed("acme\nann").await;
        }
        limiter.login(&req, "acme\nann").await.expect("the free failures do not slow down");
        limiter.login_failed("acme\nann").await;
        let Err(ApiError::RateLimited(wait)) = limiter.login(&req, "acme\nann").await else { panic!("no slow-down") };
        assert!(wait <= Duration::from_secs(1));
        limiter.login(&req, "acme\nbob").await.expect("another account is not slowed");
        limiter.login_succeeded("acme\nann").await;
        limiter.login(&req, "acme\nann").await.unwrap();
    }
}
