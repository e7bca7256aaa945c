//! The ticket as clients see it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A ticket view: what the customer page, staff console and events carry.
///
/// `position` is 1 for the next person and null when not in line; `seq` is the queue's event
/// number this view reflects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "0b9e5a53-2f4d-4a53-9a8e-3f1c2d7f1a01", "queue_id": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b",
    "number": "A042", "status": "waiting", "position": 3, "eta_seconds": 540, "eta_p90_seconds": 900,
    "counter": null, "joined_at": "2026-11-23T09:30:00Z", "called_at": null, "seq": 57,
    "served_at": null, "finished_at": null, "priority": 0, "name": "Ada", "party_size": 2, "fields": {},
    "present": true, "present_at": "2026-11-23T09:31:10Z", "snoozes": 0
}))]
pub struct Ticket {
    pub id: Uuid,
    pub queue_id: Uuid,
    pub number: String,
    pub status: String,
    pub position: Option<u32>,
    pub eta_seconds: Option<i64>,
    pub eta_p90_seconds: Option<i64>,
    pub counter: Option<String>,
    pub joined_at: DateTime<Utc>,
    pub called_at: Option<DateTime<Utc>>,
    pub seq: i64,
    pub served_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub priority: i16,
    pub name: Option<String>,
    pub party_size: Option<i32>,
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
    /// Whether the customer is watching (their ticket page is open), and since when; once away,
    /// when they were last seen.
    #[serde(default)]
    pub present: bool,
    #[serde(default)]
    pub present_at: Option<DateTime<Utc>>,
    /// How often the customer stepped back in line (`POST …/snooze`).
    #[serde(default)]
    pub snoozes: i16,
    /// Staff's notes: only in staff's reads of one ticket (never in events, sockets or the
    /// customer's reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// A ticket view borrowed from where it is held (the hub's live line, an event): what a customer
/// frame shows, serialized exactly as `Ticket` is (a test holds them together), without copying
/// the ticket. A customer is sent one after every change, for every call, so this is the path
/// where a copy per customer per event added up.
#[derive(Debug, Clone, Serialize)]
pub struct TicketView<'a> {
    pub id: Uuid,
    pub queue_id: Uuid,
    pub number: Number<'a>,
    pub status: &'a str,
    pub position: Option<u32>,
    pub eta_seconds: Option<i64>,
    pub eta_p90_seconds: Option<i64>,
    pub counter: Option<&'a str>,
    pub joined_at: DateTime<Utc>,
    pub called_at: Option<DateTime<Utc>>,
    pub seq: i64,
    pub served_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub priority: i16,
    pub name: Option<&'a str>,
    pub party_size: Option<i32>,
    pub fields: &'a serde_json::Value,
    pub present: bool,
    pub present_at: Option<DateTime<Utc>>,
    pub snoozes: i16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<&'a str>,
    /// Held without its name, party size and fields (see `Held::Bare`): `dressed` fills them in.
    #[serde(skip)]
    pub bare: bool,
}

impl<'a> TicketView<'a> {
    pub fn of(t: &'a Ticket) -> Self {
        TicketView {
            id: t.id,
            queue_id: t.queue_id,
            number: Number::Whole(&t.number),
            status: &t.status,
            position: t.position,
            eta_seconds: t.eta_seconds,
            eta_p90_seconds: t.eta_p90_seconds,
            counter: t.counter.as_deref(),
            joined_at: t.joined_at,
            called_at: t.called_at,
            seq: t.seq,
            served_at: t.served_at,
            finished_at: t.finished_at,
            priority: t.priority,
            name: t.name.as_deref(),
            party_size: t.party_size,
            fields: &t.fields,
            present: t.present,
            present_at: t.present_at,
            snoozes: t.snoozes,
            notes: t.notes.as_deref(),
            bare: false,
        }
    }

    /// A ticket the live line held: bare when it was held without its details.
    pub fn held(held: &'a super::Held) -> Self {
        match held {
            super::Held::Whole(t) => TicketView::of(t),
            super::Held::Bare(t) => TicketView { bare: true, ..TicketView::of(t) },
        }
    }

    /// The view with the holder's name, party size and fields when it was held without them.
    pub fn dressed(self, name: Option<&'a str>, party_size: Option<i32>, fields: &'a serde_json::Value) -> Self {
        if !self.bare {
            return self;
        }
        TicketView { name, party_size, fields, bare: false, ..self }
    }
}

/// A display number, whole or as the live line keeps it: a prefix and the value and width of its
/// trailing digits (`A042`: `A`, 42, 3), written out only when serialized.
#[derive(Debug, Clone, Copy)]
pub enum Number<'a> {
    Whole(&'a str),
    Split { prefix: &'a str, digits: u32, width: u8 },
}

impl std::fmt::Display for Number<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Number::Whole(number) | Number::Split { prefix: number, width: 0, .. } => f.write_str(number),
            Number::Split { prefix, digits, width } => write!(f, "{prefix}{digits:0width$}", width = width as usize),
        }
    }
}

impl Serialize for Number<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The display number of the `n`th ticket of a queue: `A042`, `P007`, `A1234`.
pub fn display_number(prefix: &str, n: i32) -> String {
    format!("{prefix}{n:03}")
}

/// A ticket with every field set, for tests of how tickets are written.
#[cfg(test)]
pub(crate) fn a_ticket_with_every_field() -> Ticket {
    let at = |s: i64| Some(DateTime::from_timestamp(1_700_000_000 + s, 7).unwrap());
    Ticket {
        id: Uuid::from_u128(1),
        queue_id: Uuid::from_u128(2),
        number: "VIP007".into(),
        status: "serving".into(),
        position: Some(3),
        eta_seconds: Some(60),
        eta_p90_seconds: Some(90),
        counter: Some("Desk 2".into()),
        joined_at: at(0).unwrap(),
        called_at: at(10),
        seq: 42,
        served_at: at(20),
        finished_at: at(30),
        priority: 5,
        name: Some("Ada".into()),
        party_size: Some(2),
        fields: serde_json::json!({"phone": "+33 6", "n": [1, 2]}),
        present: true,
        present_at: at(40),
        snoozes: 1,
        notes: Some("notes".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_numbers_have_at_least_three_digits() {
        assert_eq!(display_number("A", 42), "A042");
        assert_eq!(display_number("P", 7), "P007");
        assert_eq!(display_number("", 5), "005");
        assert_eq!(display_number("VIP", 1234), "VIP1234");
    }

    /// A borrowed view is written exactly as the ticket: a field added to `Ticket` and not to
    /// `TicketView` fails here, before a customer misses it.
    #[test]
    fn a_ticket_view_serializes_as_its_ticket() {
        let ticket = a_ticket_with_every_field();
        let whole = serde_json::to_value(&ticket).unwrap();
        assert_eq!(serde_json::to_value(TicketView::of(&ticket)).unwrap(), whole);
        let none = serde_json::Value::Null;
        let unchanged = TicketView::of(&ticket).dressed(None, None, &none);
        assert_eq!(serde_json::to_value(unchanged).unwrap(), whole, "a whole ticket keeps its own details");
        for (number, want) in [
            (Number::Split { prefix: "A", digits: 42, width: 3 }, "A042"),
            (Number::Split { prefix: "walk-in", digits: 0, width: 0 }, "walk-in"),
            (Number::Split { prefix: "", digits: 1234, width: 4 }, "1234"),
        ] {
            assert_eq!(number.to_string(), want);
        }
    }
}
