//! In-memory caches of what the store reads often and what rarely or never changes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use uuid::Uuid;

use super::auth::Identity;
use crate::domain::{CallHistory, Fsm, Timing};

/// A verified staff token is trusted this long before it is checked again. Expiry itself is
/// exact (the identity carries `expires_at`); only a deleted token or disabled user can outlive
/// its row by up to this long.
pub(super) const STAFF_TOKEN_TTL: Duration = Duration::from_secs(30);
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
    /// Staff bearer tokens by hash.
    pub staff: DashMap<Vec<u8>, (Identity, Instant)>,
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
    pub fn staff_identity(&self, hash: &[u8]) -> Option<Identity> {
        let hit = self.staff.get(hash).map(|e| e.value().clone());
        match hit {
            Some((id, at)) if at.elapsed() < STAFF_TOKEN_TTL && id.expires_at > chrono::Utc::now() => Some(id),
            Some(_) => {
                self.staff.remove(hash);
                None
            }
            None => None,
        }
    }

    pub fn remember_staff(&self, hash: Vec<u8>, identity: Identity) {
        if self.staff.len() >= STAFF_SWEEP_AT {
            self.staff.retain(|_, (_, at)| at.elapsed() < STAFF_TOKEN_TTL);
        }
        self.staff.insert(hash, (identity, Instant::now()));
    }

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
