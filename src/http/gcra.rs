//! The limits of [`super::limit`], kept in Redis so that every node of a deployment counts
//! together: a client spread over N nodes behind a balancer gets one allowance, not N.
//!
//! A rate is a GCRA (the generic cell rate algorithm, as `governor` runs it in memory): one key
//! per client holds its theoretical arrival time, read and moved in one Lua script, so two nodes
//! never both take the last cell. Failed sign-ins to an account are a count and the time of the
//! last, in one hash. Keys carry the deployment's prefix (made on first start, kept in the
//! database, the same for every node), so deployments sharing a Redis never share limits.
//!
//! Every call has a short deadline: a Redis that fails or stalls makes the caller fall back to
//! its node's own limits, never to none and never to refusing everyone.

use std::time::Duration;

use redis::aio::ConnectionManager;

/// A Redis call of a limit takes at most this long; past it, the node's own limit decides.
const DEADLINE: Duration = Duration::from_millis(250);

/// GCRA for `limit` cells per `period_ms`, with a burst of `limit`. KEYS[1]: the client's key.
/// ARGV: emission interval T (ms), tolerance tau = (limit - 1) * T (ms). Returns
/// `{1, 0}` (taken) or `{0, wait_ms}`. Redis's own clock, so nodes' clocks need not agree.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then
  return {0, tat - now - tolerance}
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now + 1000)
return {1, 0}
"#;

/// Where a deployment's limits live in Redis.
#[derive(Clone)]
pub struct Shared {
    conn: ConnectionManager,
    prefix: String,
}

impl Shared {
    pub fn new(conn: ConnectionManager, prefix: String) -> Shared {
        Shared { conn, prefix }
    }

    /// Takes one cell of `what`'s allowance for `client` (`per_minute` cells a minute, bursts of
    /// as many): Ok(None) taken, Ok(Some(wait)) refused for that long, Err when Redis did not
    /// answer in time.
    pub async fn take(&self, what: &str, client: &str, per_minute: u32) -> Result<Option<Duration>, ()> {
        let interval = 60_000u64 / u64::from(per_minute.max(1));
        let tolerance = interval * u64::from(per_minute.saturating_sub(1));
        let key = format!("{}:rate:{what}:{client}", self.prefix);
        let mut conn = self.conn.clone();
        // EVAL, not EVALSHA: the script is small, and no node depends on another having loaded it.
        let mut eval = redis::cmd("EVAL");
        eval.arg(GCRA).arg(1).arg(key).arg(interval).arg(tolerance);
        let call = eval.query_async::<(i64, i64)>(&mut conn);
        match tokio::time::timeout(DEADLINE, call).await {
            Ok(Ok((1, _))) => Ok(None),
            Ok(Ok((_, wait))) => Ok(Some(Duration::from_millis(wait.max(1) as u64))),
            Ok(Err(err)) => {
                tracing::debug!(cause = ?err, "a shared limit failed; this node's own decides");
                Err(())
            }
            Err(_late) => Err(()),
        }
    }

    /// The failed sign-ins to `account` still remembered: their count and how long ago the last
    /// was; Err when Redis did not answer in time.
    pub async fn failures(&self, account: &str) -> Result<Option<(u32, Duration)>, ()> {
        let key = self.failure_key(account);
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("TIME").cmd("HMGET").arg(&key).arg("count").arg("last_ms");
        let read = pipe.query_async::<((String, String), (Option<u32>, Option<u64>))>(&mut conn);
        match tokio::time::timeout(DEADLINE, read).await {
            Ok(Ok(((secs, micros), (Some(count), Some(last_ms))))) => {
                let now = secs.parse::<u64>().unwrap_or(0) * 1000 + micros.parse::<u64>().unwrap_or(0) / 1000;
                Ok(Some((count, Duration::from_millis(now.saturating_sub(last_ms)))))
            }
            Ok(Ok(_)) => Ok(None),
            _ => Err(()),
        }
    }

    /// Records a failed sign-in to `account`, remembered for `memory`.
    pub async fn failed(&self, account: &str, memory: Duration) -> Result<(), ()> {
        let key = self.failure_key(account);
        let mut conn = self.conn.clone();
        const RECORD: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last_ms', now)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"#;
        let mut eval = redis::cmd("EVAL");
        eval.arg(RECORD).arg(1).arg(key).arg(memory.as_millis() as u64);
        let call = eval.query_async::<i64>(&mut conn);
        match tokio::time::timeout(DEADLINE, call).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(()),
        }
    }

    /// Forgets the failures of `account` (a success).
    pub async fn succeeded(&self, account: &str) -> Result<(), ()> {
        let key = self.failure_key(account);
        let mut conn = self.conn.clone();
        let mut del = redis::cmd("DEL");
        del.arg(key);
        let call = del.query_async::<i64>(&mut conn);
        match tokio::time::timeout(DEADLINE, call).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(()),
        }
    }

    fn failure_key(&self, account: &str) -> String {
        // The account is `tenant\nemail`: hashed, so keys hold no email address.
        format!("{}:failed:{}", self.prefix, crate::secret::hex(&crate::secret::sha256(account.as_bytes())))
    }
}
