//! Events: one per change, numbered gaplessly per queue, and the NOTIFY payloads that carry them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use std::borrow::Cow;

use super::fsm::Special;
use super::ticket::Ticket;

/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; stay well under.
pub const MAX_NOTIFY_PAYLOAD: usize = 7000;

/// An event as the protocol defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "seq": 58, "queue_id": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b", "kind": "ticket.called",
    "ticket": {"id": "0b9e5a53-2f4d-4a53-9a8e-3f1c2d7f1a01", "queue_id": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b",
        "number": "A042", "status": "called", "position": null, "eta_seconds": null, "eta_p90_seconds": null,
        "counter": "Desk 2", "joined_at": "2026-11-23T09:30:00Z", "called_at": "2026-11-23T09:41:12Z", "seq": 58,
        "served_at": null, "finished_at": null, "priority": 0, "name": "Ada", "party_size": 2, "fields": {}},
    "actor": "staff:3c2b1a00-1111-4222-8333-944455556666", "at": "2026-11-23T09:41:12Z", "from": "waiting", "to": "called"
}))]
pub struct Event {
    pub seq: i64,
    pub queue_id: Uuid,
    pub kind: EventKind,
    pub ticket: Option<Ticket>,
    pub actor: String,
    pub at: DateTime<Utc>,
    /// The state the ticket left and entered, when the event moved one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The queue after a `queue.updated` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub queue: Option<serde_json::Value>,
    /// The appointment after an `appointment.*` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub appointment: Option<serde_json::Value>,
    /// The ticket's place in line (`line_seq`) when the event put it somewhere other than the end:
    /// a checked-in appointment goes ahead of walk-ins who came after its time. Hubs place it by
    /// this; clients may ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<i64>,
    /// Whether the ticket's customer is watching, after a `ticket.present` or `ticket.away`
    /// event (which carry no `ticket`: presence moves nobody in line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<Presence>,
}

/// A customer's presence, as a `ticket.present` or `ticket.away` event changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Presence {
    pub ticket_id: Uuid,
    pub present: bool,
    /// When they came, or (away) when they were last seen.
    pub at: DateTime<Utc>,
}

/// The kinds of event, named as the protocol names them. On the wire (JSON, NOTIFY, Redis, the
/// `queue_events.kind` column) each is its string: `ticket.joined`, `ticket.called`, ….
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventKind {
    Joined,
    /// `ticket.<transition in the past tense>`, e.g. `ticket.called`: the word after `ticket.`.
    Transitioned(String),
    TransferredIn,
    TransferredOut,
    QueueUpdated,
    /// `appointment.<what happened>`: booked, rescheduled, cancelled, checked_in, missed.
    Appointment(String),
}

/// The words of ticket events that are not a state machine's transitions (`ticket.<word>`).
pub mod words {
    /// The customer stepped back in line.
    pub const SNOOZED: &str = "snoozed";
    /// Staff moved the ticket within the line.
    pub const MOVED: &str = "moved";
    /// Staff changed the ticket's priority or notes.
    pub const UPDATED: &str = "updated";
    /// The customer's page opened; they went away.
    pub const PRESENT: &str = "present";
    pub const AWAY: &str = "away";
}

impl EventKind {
    const TICKET: &'static str = "ticket.";
    const JOINED: &'static str = "ticket.joined";
    const TRANSFERRED_IN: &'static str = "ticket.transferred_in";
    const TRANSFERRED_OUT: &'static str = "ticket.transferred_out";
    const QUEUE_UPDATED: &'static str = "queue.updated";
    const APPOINTMENT: &'static str = "appointment.";

    /// The event of a ticket taking transition `name`.
    pub fn transition(name: &str) -> EventKind {
        EventKind::Transitioned(past_tense(name))
    }

    /// A ticket event that is not a transition: one of [`words`].
    pub fn ticket(word: &str) -> EventKind {
        EventKind::Transitioned(word.to_owned())
    }

    /// Whether the event may change a queue's pace (calls, finishes, tickets leaving): not a join,
    /// and none of the line-control events, which move nobody out of line.
    pub fn moves_pace(&self) -> bool {
        match self {
            EventKind::Joined | EventKind::QueueUpdated | EventKind::Appointment(_) => false,
            EventKind::Transitioned(w) => {
                ![words::SNOOZED, words::MOVED, words::UPDATED, words::PRESENT, words::AWAY].contains(&w.as_str())
            }
            EventKind::TransferredIn | EventKind::TransferredOut => true,
        }
    }

    /// Whether this is the event of the special transition `special` (a call, a recall, a start).
    pub fn is(&self, special: Special) -> bool {
        matches!(self, EventKind::Transitioned(word) if word == special.event_word())
    }

    /// The kind as the wire names it.
    pub fn name(&self) -> Cow<'static, str> {
        match self {
            EventKind::Joined => Cow::Borrowed(Self::JOINED),
            EventKind::Transitioned(word) => Cow::Owned(format!("{}{word}", Self::TICKET)),
            EventKind::TransferredIn => Cow::Borrowed(Self::TRANSFERRED_IN),
            EventKind::TransferredOut => Cow::Borrowed(Self::TRANSFERRED_OUT),
            EventKind::QueueUpdated => Cow::Borrowed(Self::QUEUE_UPDATED),
            EventKind::Appointment(word) => Cow::Owned(format!("{}{word}", Self::APPOINTMENT)),
        }
    }

    /// A kind as the wire names it; None for anything else.
    pub fn parse(name: &str) -> Option<EventKind> {
        Some(match name {
            Self::JOINED => EventKind::Joined,
            Self::TRANSFERRED_IN => EventKind::TransferredIn,
            Self::TRANSFERRED_OUT => EventKind::TransferredOut,
            Self::QUEUE_UPDATED => EventKind::QueueUpdated,
            other => {
                let valid = |w: &str| !w.is_empty() && w.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
                if let Some(word) = other.strip_prefix(Self::APPOINTMENT).filter(|w| valid(w)) {
                    return Some(EventKind::Appointment(word.to_owned()));
                }
                let word = other.strip_prefix(Self::TICKET).filter(|w| valid(w))?;
                EventKind::Transitioned(word.to_owned())
            }
        })
    }
}

/// `call` → `called`, `complete` → `completed`, `no_show` → `no_show`: events read as facts.
fn past_tense(transition: &str) -> String {
    match transition {
        "no_show" => "no_show".into(),
        "cancel" => "cancelled".into(),
        t if t.ends_with('e') => format!("{t}d"),
        t if t.ends_with("ed") => t.into(),
        t => format!("{t}ed"),
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <Cow<'de, str>>::deserialize(deserializer)?;
        EventKind::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown event kind `{name}`")))
    }
}

impl utoipa::PartialSchema for EventKind {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "`ticket.joined`, `ticket.<transition in the past tense>` (e.g. `ticket.called`), \
                 `ticket.transferred_in`, `ticket.transferred_out` or `queue.updated`",
            ))
            .into()
    }
}

impl utoipa::ToSchema for EventKind {}

/// A committed range of one queue's events: `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange(pub Uuid, pub i64, pub i64);

/// What one NOTIFY on channel `queuecast` carries: the events themselves when they fit, or the
/// ranges to read from `queue_events` when they do not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Notification {
    #[serde(rename = "e")]
    Events(Vec<Event>),
    #[serde(rename = "r")]
    Ranges(Vec<SeqRange>),
    /// A node saying it is alive: a listener that hears none for a while is rebuilt.
    #[serde(rename = "h")]
    Heartbeat(Uuid),
    /// Sign-ins that ended or changed (a user disabled, signed out, given another role or other
    /// sites): every node forgets what it cached of them and re-checks their sockets.
    #[serde(rename = "x")]
    Revoked(Revocation),
}

/// A user whose sign-ins changed: nodes drop what they cached of them and re-check, against the
/// database, each socket the user holds (the sign-in behind it may have ended, the user been
/// disabled or limited to other sites).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    #[serde(rename = "u")]
    pub user: Uuid,
}

impl Notification {
    /// The payloads that announce one committed batch, each under [`MAX_NOTIFY_PAYLOAD`].
    pub fn payloads(events: &[&Event]) -> Vec<String> {
        if events.is_empty() {
            return Vec::new();
        }
        /// `Notification::Events` without copying the events.
        #[derive(Serialize)]
        struct Inline<'a> {
            e: &'a [&'a Event],
        }
        // unwrap: serializing our own plain structs cannot fail.
        let full = serde_json::to_string(&Inline { e: events }).unwrap();
        if full.len() <= MAX_NOTIFY_PAYLOAD {
            return vec![full];
        }
        let mut ranges: Vec<SeqRange> = Vec::new();
        for e in events {
            match ranges.iter_mut().find(|r| r.0 == e.queue_id && r.2 + 1 == e.seq) {
                Some(r) => r.2 = e.seq,
                None => ranges.push(SeqRange(e.queue_id, e.seq, e.seq)),
            }
        }
        // As many ranges per payload as fit (a range is 45 to 85 bytes, by the size of its seqs).
        let empty = serde_json::to_string(&Notification::Ranges(Vec::new())).unwrap().len();
        let mut chunks: Vec<(usize, Vec<SeqRange>)> = vec![(empty, Vec::new())];
        for r in ranges {
            let size = serde_json::to_string(&r).unwrap().len() + 1; // and its comma
            let last = chunks.last_mut().unwrap();
            if last.0 + size > MAX_NOTIFY_PAYLOAD && !last.1.is_empty() {
                chunks.push((empty, Vec::new()));
            }
            let last = chunks.last_mut().unwrap();
            last.0 += size;
            last.1.push(r);
        }
        chunks.into_iter().map(|(_, c)| serde_json::to_string(&Notification::Ranges(c)).unwrap()).collect()
    }
}

#[cfg(test)]
impl Event {
    /// An event of `kind` at `seq` of `queue_id` and nothing else, for tests to fill in.
    pub(crate) fn bare(queue_id: Uuid, seq: i64, kind: EventKind) -> Event {
        Event {
            seq,
            queue_id,
            kind,
            ticket: None,
            actor: "test".into(),
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            from: None,
            to: None,
            queue: None,
            appointment: None,
            line: None,
            presence: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(queue_id: Uuid, seq: i64) -> Event {
        Event {
            seq,
            queue_id,
            kind: EventKind::QueueUpdated,
            ticket: None,
            actor: "system".into(),
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            from: None,
            to: None,
            queue: Some(serde_json::json!({"note": "x".repeat(200)})),
            appointment: None,
            line: None,
            presence: None,
        }
    }

    #[test]
    fn event_kinds_read_as_facts() {
        assert_eq!(EventKind::transition("call").name(), "ticket.called");
        assert_eq!(EventKind::transition("recall").name(), "ticket.recalled");
        assert_eq!(EventKind::transition("start").name(), "ticket.started");
        assert_eq!(EventKind::transition("complete").name(), "ticket.completed");
        assert_eq!(EventKind::transition("no_show").name(), "ticket.no_show");
        assert_eq!(EventKind::transition("requeue").name(), "ticket.requeued");
        assert_eq!(EventKind::transition("cancel").name(), "ticket.cancelled");
        assert_eq!(EventKind::transition("finish").name(), "ticket.finished");
        assert_eq!(EventKind::Joined.name(), "ticket.joined");
    }

    #[test]
    fn every_kind_reads_back_from_its_name_and_only_event_names_are_kinds() {
        for kind in [
            EventKind::Joined,
            EventKind::transition("call"),
            EventKind::transition("mark_ready"),
            EventKind::TransferredIn,
            EventKind::TransferredOut,
            EventKind::QueueUpdated,
        ] {
            assert_eq!(EventKind::parse(&kind.name()), Some(kind.clone()));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(serde_json::from_str::<EventKind>(&json).unwrap(), kind);
        }
        for special in [Special::Call, Special::Recall, Special::Start] {
            assert!(EventKind::transition(special.name()).is(special), "{special:?}");
        }
        assert!(EventKind::transition("call").is(Special::Call));
        assert!(!EventKind::transition("recall").is(Special::Call));
        for wrong in ["", "ticket.", "queue.joined", "ticket.Called", "ticket.a b", "called"] {
            assert_eq!(EventKind::parse(wrong), None, "{wrong}");
        }
        assert!(serde_json::from_str::<EventKind>("\"ticket.\"").is_err());
    }

    #[test]
    fn a_small_batch_is_notified_with_its_events() {
        let q = Uuid::new_v4();
        let events = vec![event(q, 1), event(q, 2)];
        let payloads = Notification::payloads(&events.iter().collect::<Vec<_>>());
        assert_eq!(payloads.len(), 1);
        let back: Notification = serde_json::from_str(&payloads[0]).unwrap();
        assert_eq!(back, Notification::Events(events));
    }

    #[test]
    fn a_large_batch_is_notified_as_ranges_under_the_limit() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut events: Vec<Event> = (1..=40).map(|s| event(a, s)).collect();
        events.extend((7..=9).map(|s| event(b, s)));
        events.push(event(a, 41));
        let payloads = Notification::payloads(&events.iter().collect::<Vec<_>>());
        assert_eq!(payloads.len(), 1);
        assert!(payloads[0].len() <= MAX_NOTIFY_PAYLOAD);
        let back: Notification = serde_json::from_str(&payloads[0]).unwrap();
        assert_eq!(back, Notification::Ranges(vec![SeqRange(a, 1, 41), SeqRange(b, 7, 9)]));
    }

    #[test]
    fn ranges_of_many_queues_are_split_into_several_payloads() {
        let events: Vec<Event> = (0..250).map(|_| event(Uuid::new_v4(), 1)).collect();
        let payloads = Notification::payloads(&events.iter().collect::<Vec<_>>());
        // 250 ranges of ~45 bytes: as many per payload as fit under the limit, so two.
        assert_eq!(payloads.len(), 2);
        assert!(payloads.iter().all(|p| p.len() <= MAX_NOTIFY_PAYLOAD));
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    fn event(queue: u8, seq: i64, note: usize) -> Event {
        Event {
            seq,
            queue_id: Uuid::from_u128(u128::from(queue) + 1),
            kind: EventKind::QueueUpdated,
            ticket: None,
            actor: "staff:someone".into(),
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            from: None,
            to: None,
            queue: Some(serde_json::json!({"note": "x".repeat(note)})),
            appointment: None,
            line: None,
            presence: None,
        }
    }

    proptest! {
        /// Whatever a batch holds (many queues, huge seqs, big events), every payload fits in a
        /// NOTIFY and together they name every event of the batch, in order per queue.
        #[test]
        fn payloads_fit_and_cover_the_batch(
            spec in prop::collection::vec((0u8..40, 0i64..=i64::MAX / 2, 0usize..3000, 1i64..4), 1..400)
        ) {
            let mut next = std::collections::HashMap::<u8, i64>::new();
            let events: Vec<Event> = spec
                .iter()
                .map(|&(q, start, note, step)| {
                    let seq = next.get(&q).map_or(start, |s| s + step);
                    next.insert(q, seq);
                    event(q, seq, note)
                })
                .collect();
            let refs: Vec<&Event> = events.iter().collect();
            let mut named = Vec::new();
            for payload in Notification::payloads(&refs) {
                prop_assert!(payload.len() <= MAX_NOTIFY_PAYLOAD, "a payload of {} bytes", payload.len());
                match serde_json::from_str::<Notification>(&payload).unwrap() {
                    Notification::Events(es) => named.extend(es.iter().map(|e| (e.queue_id, e.seq))),
                    Notification::Ranges(rs) => {
                        for SeqRange(q, first, last) in rs {
                            named.extend((first..=last).map(|s| (q, s)));
                        }
                    }
                    Notification::Heartbeat(_) => prop_assert!(false, "a heartbeat in a batch"),
                    Notification::Revoked(_) => prop_assert!(false, "a revocation in a batch"),
                }
            }
            let mut want: Vec<(Uuid, i64)> = events.iter().map(|e| (e.queue_id, e.seq)).collect();
            let mut got = named.clone();
            want.sort();
            got.sort();
            prop_assert_eq!(got, want);
        }
    }
}
