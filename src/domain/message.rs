//! Every frame the server sends on a socket, in one enum: the protocol's `type`s are written
//! here once. Each variant borrows what it shows, so serializing costs no copy; the hub
//! serializes a frame once per audience and shares the text.

use serde::Serialize;
use serde_json::Value;

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
}
