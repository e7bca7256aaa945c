//! In-memory caches of what the store reads often and what rarely or never changes.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use uuid::Uuid;

use super::auth::Identity;
use crate::domain::{CallHistory, Fsm, Timing};

/// A verified staff token is trusted this long after its last check. Expiry itself is exact (the
/// identity carries `expires_at`), and a node that signs a user out or disables them forgets
/// their tokens at once and tells the others; only a token deleted behind every node's back can
/// outlive its row by up to this long.
pub(super) const STAFF_TOKEN_TTL: Duration = Duration::from_secs(30);
/// Past this age a verified token is still trusted, and checked again off the request that found
/// it (one check at a time per token): a console in use never waits for its token's check.
pub(super) const STAFF_TOKEN_RECHECK: Duration = Duration::from_secs(20);
/// A queue's call history is re-read at most this often for estimates.
pub(super) const HISTORY_TTL: Duration = Duration::from_secs(2);
/// A queue's time-keeping settings (`hours`…) are re-read at most this often by joins: a change
/// made on another node is seen within it (on this node, at once).
pub(super) const TIMING_TTL: Duration = Duration::from_secs(2);
/// Past this many cached identities, expired ones are swept on insert.
const STAFF_SWEEP_AT: usize = 10_000;

/// A ticket type as the write path needs it.
pub struct TicketRules {
    pub code: String,
    pub fsm: Fsm,
    /// The compiled JSON Schema of the custom fields, if the type has one.
    pub fields: Option<jsonschema::Validator>,
    /// That schema as saved: what a join page asks.
    pub schema: Option<serde_json::Value>,
}

/// What never changes about a queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueMeta {
    pub tenant_id: Uuid,
    pub ticket_type_id: Uuid,
}

/// The pace of one queue, for estimates.
#[derive(Debug, Clone)]
pub struct Pace {
    pub history: CallHistory,
    /// The queue's configured service time, used until there is history.
    pub prior_secs: f64,
    /// Open counters (those among the recent calls) with nobody at them.
    pub free: u32,
}

impl Pace {
    /// The estimate for the person at `position`.
    pub fn estimate(&self, position: u32) -> crate::domain::Estimate {
        self.history.estimate_with_free(position, self.free, self.prior_secs)
    }
}

#[derive(Default)]
pub struct Caches {
    /// Queues never move between tenants, nor change ticket type.
    pub queues: DashMap<Uuid, QueueMeta>,
    /// Ticket types are immutable once saved.
    pub ticket_types: DashMap<Uuid, Arc<TicketRules>>,
    /// Verified staff bearer tokens.
    pub staff: StaffTokens,
    /// Each queue's pace, when it was read, and whether a call or finish has changed it since.
    pub paces: DashMap<Uuid, (Instant, bool, Arc<Pace>)>,
    /// Queues whose pace someone is re-reading now; the others use the old one meanwhile.
    pub refreshing: DashMap<Uuid, ()>,
    /// Each queue's time-keeping settings, and when they were read.
    pub timings: DashMap<Uuid, (Instant, Arc<Timing>)>,
    /// The deployment's keys (`server_keys`), by name: made once, never changed.
    pub server_keys: DashMap<String, Vec<u8>>,
    /// Queues this node may hold a live line of.
    pub live_lines: LiveLines,
}

/// Verified staff bearer tokens by hash, each with when it was last checked (on the store's
/// clock).
#[derive(Default)]
pub struct StaffTokens {
    verified: DashMap<Vec<u8>, (Identity, DateTime<Utc>)>,
    /// Tokens being checked again off a request.
    checking: DashMap<Vec<u8>, ()>,
    /// Moves on whenever sign-ins are forgotten: what a check read before then is not kept (the
    /// sign-in may have ended after the check read it).
    epoch: AtomicU64,
}

/// What this node knows of a staff token.
#[derive(Debug)]
pub enum Verified {
    /// Checked within [`STAFF_TOKEN_RECHECK`].
    Fresh(Identity),
    /// Checked within [`STAFF_TOKEN_TTL`], and due to be checked again.
    Due(Identity),
    /// Never checked, or too long ago, expired, or forgotten: check it now.
    Unknown,
}

impl StaffTokens {
    pub fn get(&self, hash: &[u8], now: DateTime<Utc>) -> Verified {
        let Some((identity, at)) = self.verified.get(hash).map(|e| e.value().clone()) else {
            return Verified::Unknown;
        };
        // A clock moved back makes the check's age unknown: checked again, like an old one.
        let age = (now - at).to_std().unwrap_or(STAFF_TOKEN_TTL);
        if age >= STAFF_TOKEN_TTL || identity.expires_at <= Utc::now() {
            self.verified.remove(hash);
            return Verified::Unknown;
        }
        match age >= STAFF_TOKEN_RECHECK {
            true => Verified::Due(identity),
            false => Verified::Fresh(identity),
        }
    }

    /// Where sign-ins stand now: what a check reads after this, it may keep ([`Self::remember`]).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Keeps what a check that began at `epoch` read, unless sign-ins were forgotten since.
    pub fn remember(&self, hash: Vec<u8>, identity: Identity, now: DateTime<Utc>, epoch: u64) {
        if self.verified.len() >= STAFF_SWEEP_AT {
            self.verified.retain(|_, (_, at)| (now - *at).to_std().is_ok_and(|age| age < STAFF_TOKEN_TTL));
        }
        if self.epoch() != epoch {
            return;
        }
        self.verified.insert(hash.clone(), (identity, now));
        // Forgotten meanwhile (between the look and the insert): the forgetting may have swept
        // before the insert, so it is undone here.
        if self.epoch() != epoch {
            self.verified.remove(&hash);
        }
    }

    /// A token found gone by a check.
    pub fn forget(&self, hash: &[u8]) {
        self.verified.remove(hash);
    }

    /// Every token of `user` on this node (signed out everywhere, disabled, password reset).
    pub fn forget_user(&self, user: Uuid) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.verified.retain(|_, (identity, _)| identity.user_id != user);
    }

    /// Whether the caller is the one to check `hash` again now (then [`Self::checked`] after).
    pub fn claim_check(&self, hash: &[u8]) -> bool {
        self.checking.insert(hash.to_vec(), ()).is_none()
    }

    pub fn checked(&self, hash: &[u8]) {
        self.checking.remove(hash);
    }
}

/// The queues whose live line this node may hold (a hub of the fan-out), as a filter of 256 bits
/// for the database: a ticket read counts the ticket's place in its own round trip when its
/// queue's bit is clear, and leaves it to the live line otherwise. A bit stands for every queue
/// whose id ends in its byte (ids are random there), so a set bit is sometimes another queue's:
/// that read then counts the place in a second round trip, as every read did before.
pub struct LiveLines {
    /// Hubs held per last byte of the queue's id.
    held: [AtomicU32; 256],
}

impl Default for LiveLines {
    fn default() -> Self {
        LiveLines { held: std::array::from_fn(|_| AtomicU32::new(0)) }
    }
}

impl LiveLines {
    /// The filter with every bit set: no place counted.
    pub const ALL: [u8; 32] = [0xff; 32];

    /// The bit `queue` stands on: what the database reads with `get_byte(uuid_send(id), 15)`.
    fn bit(queue: Uuid) -> usize {
        usize::from(queue.as_bytes()[15])
    }

    /// This node holds (or is building) a live line of `queue`.
    pub fn held(&self, queue: Uuid) {
        self.held[Self::bit(queue)].fetch_add(1, Ordering::Relaxed);
    }

    /// This node no longer holds its live line of `queue`.
    pub fn dropped(&self, queue: Uuid) {
        self.held[Self::bit(queue)].fetch_sub(1, Ordering::Relaxed);
    }

    /// The filter now, bit `b` in byte `b / 8` from its least significant end (`get_bit`'s order).
    pub fn filter(&self) -> [u8; 32] {
        let mut bits = [0u8; 32];
        for (b, held) in self.held.iter().enumerate() {
            if held.load(Ordering::Relaxed) > 0 {
                bits[b / 8] |= 1 << (b % 8);
            }
        }
        bits
    }
}

impl Caches {
    /// A queue's pace if it is fresh, or if it is stale but someone else is already re-reading
    /// it (so a burst of requests re-reads it once, not once each); otherwise the claim to
    /// re-read it. `exact` callers (a customer reading their ticket) also want a change committed
    /// since the last read; joins take a pace up to `HISTORY_TTL` old, which keeps a busy queue's
    /// joins from re-reading it after every call.
    pub fn pace(&self, queue: Uuid, exact: bool) -> Result<Arc<Pace>, PaceClaim<'_>> {
        let claim = || PaceClaim { caches: self, queue };
        let Some((read_at, changed, pace)) = self.paces.get(&queue).map(|e| e.value().clone()) else {
            // Never read: everyone reads it (there is no old pace to hand out meanwhile).
            self.refreshing.insert(queue, ());
            return Err(claim());
        };
        if read_at.elapsed() < HISTORY_TTL && !(exact && changed) {
            return Ok(pace);
        }
        match self.refreshing.insert(queue, ()) {
            // Someone else holds the claim: use the old pace.
            Some(()) => Ok(pace),
            None => Err(claim()),
        }
    }

    /// Marks a queue's pace out of date (a call or a finish changed it).
    pub fn pace_changed(&self, queue: Uuid) {
        if let Some(mut e) = self.paces.get_mut(&queue) {
            e.value_mut().1 = true;
        }
    }
}

/// The claim to re-read a queue's pace: whoever holds it reads, the others use the old pace
/// meanwhile. Released when dropped, whether the read succeeded ([`PaceClaim::fulfil`]) or not.
pub struct PaceClaim<'a> {
    caches: &'a Caches,
    queue: Uuid,
}

impl PaceClaim<'_> {
    /// Stores the pace just read.
    pub fn fulfil(self, pace: Arc<Pace>) -> Arc<Pace> {
        self.caches.paces.insert(self.queue, (Instant::now(), false, pace.clone()));
        pace
    }
}

impl Drop for PaceClaim<'_> {
    fn drop(&mut self) {
        self.caches.refreshing.remove(&self.queue);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue_on(byte: u8) -> Uuid {
        let mut id = *Uuid::new_v4().as_bytes();
        id[15] = byte;
        Uuid::from_bytes(id)
    }

    fn identity(user: Uuid) -> Identity {
        Identity {
            user_id: user,
            tenant_id: Uuid::new_v4(),
            email: "desk@acme.test".into(),
            role: super::super::auth::Role::Staff,
            expires_at: Utc::now() + chrono::Duration::hours(1),
            locations: None,
            session: None,
        }
    }

    fn kind(v: Verified) -> &'static str {
        match v {
            Verified::Fresh(_) => "fresh",
            Verified::Due(_) => "due",
            Verified::Unknown => "unknown",
        }
    }

    #[test]
    fn a_checked_token_is_trusted_then_due_for_a_check_then_unknown_as_it_ages() {
        // Arrange
        let tokens = StaffTokens::default();
        let checked = Utc::now();
        tokens.remember(b"t".to_vec(), identity(Uuid::new_v4()), checked, tokens.epoch());
        let at = |secs: i64| checked + chrono::Duration::seconds(secs);

        // Act / Assert
        assert_eq!(kind(tokens.get(b"t", at(19))), "fresh");
        assert_eq!(kind(tokens.get(b"t", at(20))), "due");
        assert_eq!(kind(tokens.get(b"t", at(29))), "due");
        // A clock moved back: the check's age is unknown, so it is checked again.
        assert_eq!(kind(tokens.get(b"t", at(-5))), "unknown");
        tokens.remember(b"t".to_vec(), identity(Uuid::new_v4()), checked, tokens.epoch());
        assert_eq!(kind(tokens.get(b"t", at(30))), "unknown");
        // Forgotten past its time, not only reported so.
        assert_eq!(kind(tokens.get(b"t", at(0))), "unknown");
    }

    #[test]
    fn a_token_past_its_expiry_is_unknown_however_recently_checked() {
        let tokens = StaffTokens::default();
        let expired = Identity { expires_at: Utc::now() - chrono::Duration::seconds(1), ..identity(Uuid::new_v4()) };
        tokens.remember(b"t".to_vec(), expired, Utc::now(), tokens.epoch());
        assert_eq!(kind(tokens.get(b"t", Utc::now())), "unknown");
    }

    #[test]
    fn what_a_check_read_before_a_user_was_forgotten_is_not_kept() {
        // Arrange: a check begins (its epoch), then the user's sign-ins are forgotten.
        let tokens = StaffTokens::default();
        let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
        tokens.remember(b"other".to_vec(), identity(other), Utc::now(), tokens.epoch());
        let began = tokens.epoch();
        tokens.forget_user(user);

        // Act: the check ends and would keep what it read.
        tokens.remember(b"t".to_vec(), identity(user), Utc::now(), began);

        // Assert: not kept; another user's token is untouched; a check begun now is kept.
        assert_eq!(kind(tokens.get(b"t", Utc::now())), "unknown");
        assert_eq!(kind(tokens.get(b"other", Utc::now())), "fresh");
        tokens.remember(b"t".to_vec(), identity(user), Utc::now(), tokens.epoch());
        assert_eq!(kind(tokens.get(b"t", Utc::now())), "fresh");
        tokens.forget_user(user);
        assert_eq!(kind(tokens.get(b"t", Utc::now())), "unknown");
    }

    #[test]
    fn one_check_at_a_time_per_token() {
        let tokens = StaffTokens::default();
        assert!(tokens.claim_check(b"t"));
        assert!(!tokens.claim_check(b"t"));
        assert!(tokens.claim_check(b"u"));
        tokens.checked(b"t");
        assert!(tokens.claim_check(b"t"));
    }

    #[test]
    fn a_queue_sets_the_bit_of_its_last_byte_while_any_hub_of_that_bit_is_held() {
        // Arrange: two queues on bit 10, one on bit 255.
        let lines = LiveLines::default();
        let (a, b, c) = (queue_on(10), queue_on(10), queue_on(255));

        // Act / Assert: bit 10 is bit 2 of byte 1 (get_bit's order), and stays while one of its
        // queues is held.
        lines.held(a);
        lines.held(b);
        lines.held(c);
        let mut expected = [0u8; 32];
        expected[1] = 0b100;
        expected[31] = 0b1000_0000;
        assert_eq!(lines.filter(), expected);
        lines.dropped(a);
        assert_eq!(lines.filter(), expected);
        lines.dropped(b);
        lines.dropped(c);
        assert_eq!(lines.filter(), [0u8; 32]);
    }
}
