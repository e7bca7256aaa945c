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

    /// The frame of `t` (the same ticket as when made). The moving half is written by hand: its
    /// keys are constants (serde escaped each, every frame) and its numbers need no formatter;
    /// strings and times still go through serde_json, so they are written as `Ticket`'s are.
    pub fn frame(&self, t: &TicketView<'_>) -> String {
        let mut out = Vec::with_capacity(self.fixed.len() + 320);
        out.extend_from_slice(self.fixed.as_bytes());
        // The fixed half's object is open and has fields: each of these continues it.
        out.extend_from_slice(b",\"status\":");
        json(&mut out, t.status);
        out.extend_from_slice(b",\"position\":");
        number(&mut out, t.position);
        out.extend_from_slice(b",\"eta_seconds\":");
        number(&mut out, t.eta_seconds);
        out.extend_from_slice(b",\"eta_p90_seconds\":");
        number(&mut out, t.eta_p90_seconds);
        out.extend_from_slice(b",\"counter\":");
        json(&mut out, &t.counter);
        out.extend_from_slice(b",\"called_at\":");
        json(&mut out, &t.called_at);
        out.extend_from_slice(b",\"seq\":");
        number(&mut out, Some(t.seq));
        out.extend_from_slice(b",\"served_at\":");
        json(&mut out, &t.served_at);
        out.extend_from_slice(b",\"finished_at\":");
        json(&mut out, &t.finished_at);
        out.extend_from_slice(b",\"priority\":");
        number(&mut out, Some(t.priority));
        out.extend_from_slice(if t.present { b",\"present\":true" } else { b",\"present\":false" });
        out.extend_from_slice(b",\"present_at\":");
        json(&mut out, &t.present_at);
        out.extend_from_slice(b",\"snoozes\":");
        number(&mut out, Some(t.snoozes));
        if let Some(notes) = t.notes {
            out.extend_from_slice(b",\"notes\":");
            json(&mut out, notes);
        }
        // The ticket's object, then the frame's.
        out.extend_from_slice(b"}}");
        // expect: UTF-8 halves and serde_json's UTF-8 strings.
        String::from_utf8(out).expect("a ticket frame is UTF-8")
    }
}

/// A value as serde_json writes it (a string escaped, a time as `Ticket`'s times are, `null`).
fn json(out: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    // expect: strings and times always serialize, and a Vec takes every write.
    serde_json::to_writer(out, value).expect("a ticket's field serializes");
}

/// An integer, or `null`.
fn number<N: itoa::Integer>(out: &mut Vec<u8>, n: Option<N>) {
    match n {
        Some(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        None => out.extend_from_slice(b"null"),
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
