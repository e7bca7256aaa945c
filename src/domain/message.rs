//! Every frame the server sends on a socket, in one enum: the protocol's `type`s are written
//! here once. Each variant borrows what it shows, so serializing costs no copy; the hub
//! serializes a frame once per audience and shares the text.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::ticket::Number;
use super::{Board, Event, Ticket, TicketView};

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    /// A staff socket's start: the queue, the head of the line and every active ticket.
    Snapshot {
        seq: i64,
        queue: &'a Value,
        waiting: &'a [Ticket],
        /// Everyone in line, of whom `waiting` is the head.
        waiting_total: usize,
        active: &'a [Ticket],
    },
    /// One event, for staff.
    Event { event: &'a Event },
    /// The display board; after a call or a recall it also names who to announce.
    Display {
        #[serde(flatten)]
        board: &'a Board,
        #[serde(skip_serializing_if = "Option::is_none")]
        announce: Option<Announce<'a>>,
    },
    /// A customer's own ticket.
    Ticket { ticket: TicketView<'a> },
    /// The answer to a client's `{"type":"ping"}`.
    Pong,
}

/// Who a display calls out.
#[derive(Debug, Serialize)]
pub struct Announce<'a> {
    pub number: &'a str,
    pub counter: Option<&'a str>,
    pub recall: bool,
}

impl ServerMessage<'_> {
    /// The frame's text.
    pub fn to_text(&self) -> String {
        // expect: plain structs of strings, numbers and JSON values always serialize.
        serde_json::to_string(self).expect("a server message serializes")
    }
}

/// A customer's `ticket` frames, written in two halves: what stays while the ticket's details do
/// (its id, queue, number, time of joining, name, party size and fields), serialized once, and
/// the rest (status, place, estimates, counter, times, seq…) serialized per frame. A customer is
/// sent a frame for every call, and the fixed half (two UUIDs, a timestamp, the details) was more
/// than half of the serializer's work. The frame is `ServerMessage::Ticket`'s JSON with its
/// fields in another order (a test holds them together).
#[derive(Debug, Clone)]
pub struct TicketFrames {
    /// `{"type":"ticket","ticket":{` and the fixed half's fields, the object left open.
    fixed: String,
}

/// The fixed half of a customer's ticket.
#[derive(Serialize)]
struct Fixed<'a> {
    id: Uuid,
    queue_id: Uuid,
    number: Number<'a>,
    joined_at: DateTime<Utc>,
    name: Option<&'a str>,
    party_size: Option<i32>,
    fields: &'a Value,
}

/// The half of a customer's ticket that moves.
#[derive(Serialize)]
struct Moving<'a> {
    status: &'a str,
    position: Option<u32>,
    eta_seconds: Option<i64>,
    eta_p90_seconds: Option<i64>,
    counter: Option<&'a str>,
    called_at: Option<DateTime<Utc>>,
    seq: i64,
    served_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    priority: i16,
    present: bool,
    present_at: Option<DateTime<Utc>>,
    snoozes: i16,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<&'a str>,
}

impl TicketFrames {
    /// The frames of `t`'s ticket, while its id, queue, number, time of joining and details stay.
    pub fn new(t: &TicketView<'_>) -> TicketFrames {
        let fixed = Fixed {
            id: t.id,
            queue_id: t.queue_id,
            number: t.number,
            joined_at: t.joined_at,
            name: t.name,
            party_size: t.party_size,
            fields: t.fields,
        };
        let mut text = String::from(r#"{"type":"ticket","ticket":"#);
        // expect: plain structs of strings, numbers and JSON values always serialize.
        text.push_str(&serde_json::to_string(&fixed).expect("a ticket serializes"));
        // Left open for the moving half.
        text.pop();
        TicketFrames { fixed: text }
    }

    /// The frame of `t` (the same ticket as when made).
    pub fn frame(&self, t: &TicketView<'_>) -> String {
        let moving = Moving {
            status: t.status,
            position: t.position,
            eta_seconds: t.eta_seconds,
            eta_p90_seconds: t.eta_p90_seconds,
            counter: t.counter,
            called_at: t.called_at,
            seq: t.seq,
            served_at: t.served_at,
            finished_at: t.finished_at,
            priority: t.priority,
            present: t.present,
            present_at: t.present_at,
            snoozes: t.snoozes,
            notes: t.notes,
        };
        let mut out = Vec::with_capacity(self.fixed.len() + 320);
        out.extend_from_slice(self.fixed.as_bytes());
        let open = out.len();
        serde_json::to_writer(&mut out, &moving).expect("a ticket serializes");
        // The moving half's `{` becomes the comma that continues the ticket's object, its `}`
        // closes it, and one more closes the frame.
        out[open] = b',';
        out.push(b'}');
        // expect: JSON text written by serde_json from UTF-8 halves.
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_frame_carries_its_type_beside_its_fields() {
        let board = Board { seq: 7, now_serving: vec![], next: vec!["A002".into()], waiting: 1, eta_new_seconds: 60 };
        let announce = Announce { number: "A001", counter: Some("Desk 1"), recall: false };
        let display: Value =
            serde_json::from_str(&ServerMessage::Display { board: &board, announce: Some(announce) }.to_text())
                .unwrap();
        assert_eq!(display["type"], "display");
        assert_eq!(display["next"], json!(["A002"]));
        assert_eq!(display["announce"], json!({"number": "A001", "counter": "Desk 1", "recall": false}));
        let plain: Value =
            serde_json::from_str(&ServerMessage::Display { board: &board, announce: None }.to_text()).unwrap();
        assert!(plain.get("announce").is_none());
        assert_eq!(ServerMessage::Pong.to_text(), r#"{"type":"pong"}"#);
        let queue = json!({"name": "Main"});
        let snapshot: Value = serde_json::from_str(
            &ServerMessage::Snapshot { seq: 3, queue: &queue, waiting: &[], waiting_total: 0, active: &[] }.to_text(),
        )
        .unwrap();
        assert_eq!(
            snapshot,
            json!({"type": "snapshot", "seq": 3, "queue": {"name": "Main"}, "waiting": [], "waiting_total": 0, "active": []})
        );
    }

    /// Every field of the ticket, in one half or the other: a field added to `TicketView` and
    /// to neither half fails here.
    #[test]
    fn a_ticket_frame_in_two_halves_is_the_ticket_message() {
        // Strings that need escaping, in both halves.
        let full = Ticket {
            counter: Some("Desk \"2\"".into()),
            name: Some("Zoë \u{1F600}".into()),
            ..crate::domain::ticket::a_ticket_with_every_field()
        };
        let bare = Ticket {
            counter: None,
            called_at: None,
            served_at: None,
            finished_at: None,
            name: None,
            party_size: None,
            fields: json!({}),
            present_at: None,
            notes: None,
            ..full.clone()
        };
        for ticket in [&full, &bare] {
            let view = TicketView::of(ticket);
            let frames = TicketFrames::new(&view);
            // Later frames of the same ticket, as it moves.
            for moved in [view.clone(), TicketView { position: Some(1), seq: 43, status: "called", ..view.clone() }] {
                let halves: Value = serde_json::from_str(&frames.frame(&moved)).unwrap();
                let whole: Value = serde_json::from_str(&ServerMessage::Ticket { ticket: moved }.to_text()).unwrap();
                assert_eq!(halves, whole);
            }
        }
    }
}
