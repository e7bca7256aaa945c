//! A queue as a live hub holds it: the line, the active tickets, the pace, at one seq; moved
//! forward one event at a time. From it come the customer's ticket view (position in O(log n)),
//! the staff snapshot and the display board.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::estimate::{CallHistory, Estimate};
use super::line::Line;
use super::{Event, EventKind, Roles, Special, Ticket};

/// Calls remembered for the estimate.
const CALLS_KEPT: usize = 21;
/// Gaps between calls longer than this are breaks, not service.
const MAX_GAP_SECS: f64 = 1800.0;
/// Tickets the display shows as being served, and as next.
const NOW_SERVING: usize = 6;
const NEXT: usize = 5;

struct Tracked {
    ticket: Ticket,
    /// Orders the line; kept when a ticket leaves the line, for a requeue to restore its place.
    line_seq: i64,
}

/// A queue at `seq`.
pub struct QueueView {
    seq: i64,
    queue: Value,
    tickets: HashMap<Uuid, Tracked>,
    line: Line,
    /// Tickets out of line but not finished (called, serving, no-show): few, unlike the line,
    /// so the board and the idle-desk count never walk the whole line.
    active: HashSet<Uuid>,
    /// Recent calls and the counter each was made from.
    calls: VecDeque<(DateTime<Utc>, Option<String>)>,
    history: CallHistory,
    prior_secs: f64,
    /// Idle open counters, as of the last event.
    free: u32,
    /// The ticket type's absent state (its role), if it has one.
    absent: Option<String>,
}

/// What the display board shows: numbers and counters, never names or phone numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Board {
    pub seq: i64,
    pub now_serving: Vec<Serving>,
    pub next: Vec<String>,
    pub waiting: usize,
    pub eta_new_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Serving {
    pub number: String,
    pub counter: Option<String>,
    pub called_at: Option<DateTime<Utc>>,
}

impl QueueView {
    /// From a snapshot at `seq`: the queue, its unfinished tickets with their `line_seq`, and
    /// recent call times.
    pub fn new(
        seq: i64,
        queue: Value,
        tickets: Vec<(Ticket, i64)>,
        calls: Vec<(DateTime<Utc>, Option<String>)>,
        prior_secs: f64,
        roles: Roles,
    ) -> Self {
        let mut view = QueueView {
            absent: roles.absent,
            seq,
            queue,
            tickets: HashMap::with_capacity(tickets.len()),
            line: Line::new(),
            active: HashSet::new(),
            calls: VecDeque::new(),
            history: CallHistory::default(),
            prior_secs,
            free: 0,
        };
        for (ticket, line_seq) in tickets {
            if ticket.position.is_some() {
                view.line.insert(ticket.id, ticket.priority, line_seq);
            } else {
                view.active.insert(ticket.id);
            }
            view.tickets.insert(ticket.id, Tracked { ticket, line_seq });
        }
        let mut calls = calls;
        calls.sort_unstable();
        view.calls = calls.into_iter().rev().take(CALLS_KEPT).rev().collect();
        view.history = CallHistory::from_calls(view.calls.iter().map(|c| c.0).collect(), MAX_GAP_SECS);
        view.free = view.free_desks();
        view
    }

    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// Applies the next event; the caller guarantees `event.seq == self.seq() + 1`.
    pub fn apply(&mut self, event: &Event) {
        debug_assert_eq!(event.seq, self.seq + 1);
        self.seq = event.seq;
        if let Some(queue) = &event.queue {
            self.queue = queue.clone();
        }
        let Some(ticket) = &event.ticket else { return };
        let id = ticket.id;
        match &event.kind {
            EventKind::TransferredOut => {
                self.line.remove(id);
                self.active.remove(&id);
                self.tickets.remove(&id);
                self.free = self.free_desks();
                return;
            }
            EventKind::Joined | EventKind::TransferredIn => {
                self.tickets.insert(id, Tracked { ticket: ticket.clone(), line_seq: event.seq });
            }
            kind => {
                if kind.is(Special::Call) {
                    self.record_call(event.at, ticket.counter.clone());
                }
                let line_seq = self.tickets.get(&id).map_or(event.seq, |t| t.line_seq);
                self.tickets.insert(id, Tracked { ticket: ticket.clone(), line_seq });
            }
        }
        // In line exactly when the event's view has a place in it.
        let line_seq = self.tickets[&id].line_seq;
        if ticket.position.is_some() {
            self.line.insert(id, ticket.priority, line_seq);
            self.active.remove(&id);
        } else {
            self.line.remove(id);
            self.active.insert(id);
        }
        if ticket.finished_at.is_some() {
            self.tickets.remove(&id);
            self.active.remove(&id);
        }
        // A join neither opens nor frees a desk.
        if event.kind != EventKind::Joined {
            self.free = self.free_desks();
        }
    }

    fn record_call(&mut self, at: DateTime<Utc>, counter: Option<String>) {
        self.calls.push_back((at, counter));
        while self.calls.len() > CALLS_KEPT {
            self.calls.pop_front();
        }
        self.history = CallHistory::from_calls(self.calls.iter().map(|c| c.0).collect(), MAX_GAP_SECS);
        self.free = self.free_desks();
    }

    /// Open counters (those that called recently) with nobody at them now.
    fn free_desks(&self) -> u32 {
        let open: HashSet<&str> = self.calls.iter().filter_map(|c| c.1.as_deref()).collect();
        let busy: HashSet<&str> = self
            .active
            .iter()
            .filter_map(|id| self.tickets.get(id))
            .filter(|t| !self.is_absent(&t.ticket))
            .filter_map(|t| t.ticket.counter.as_deref())
            .filter(|c| open.contains(c))
            .collect();
        (open.len() - busy.len()) as u32
    }

    /// Whether a ticket is in its type's absent state (called, did not come): it holds no counter
    /// and is not shown as being served.
    fn is_absent(&self, ticket: &Ticket) -> bool {
        self.absent.as_deref() == Some(ticket.status.as_str())
    }

    fn estimate(&self, position: u32) -> Estimate {
        self.history.estimate_with_free(position, self.free, self.prior_secs)
    }

    /// A ticket as its customer sees it now, if this queue holds it.
    pub fn ticket(&self, id: Uuid) -> Option<Ticket> {
        let tracked = self.tickets.get(&id)?;
        Some(self.present(&tracked.ticket))
    }

    fn present(&self, ticket: &Ticket) -> Ticket {
        let mut t = ticket.clone();
        t.seq = self.seq;
        t.position = self.line.position(t.id);
        let eta = t.position.map(|p| self.estimate(p));
        t.eta_seconds = eta.map(|e| e.p50);
        t.eta_p90_seconds = eta.map(|e| e.p90);
        t
    }

    /// The queue as staff see it.
    pub fn queue(&self) -> Value {
        let mut q = self.queue.clone();
        if let Some(map) = q.as_object_mut() {
            map.insert("last_seq".into(), self.seq.into());
            map.insert("waiting".into(), self.line.len().into());
        }
        q
    }

    /// Everyone in line, in call order.
    pub fn waiting(&self) -> Vec<Ticket> {
        self.line_page(0, self.line.len())
    }

    /// Up to `n` of those in line after the first `skip`, in call order: positions `skip + 1 ..`.
    pub fn line_page(&self, skip: usize, n: usize) -> Vec<Ticket> {
        self.line.range(skip, n).into_iter().filter_map(|id| self.ticket(id)).collect()
    }

    /// How many are in line.
    pub fn waiting_total(&self) -> usize {
        self.line.len()
    }

    /// Tickets out of line but not finished (called, being served, no-shows), latest call first.
    pub fn active(&self) -> Vec<Ticket> {
        let mut active: Vec<Ticket> =
            self.active.iter().filter_map(|id| self.tickets.get(id)).map(|t| self.present(&t.ticket)).collect();
        active.sort_by(|a, b| b.called_at.cmp(&a.called_at).then(a.number.cmp(&b.number)));
        active
    }

    /// The display board.
    pub fn board(&self) -> Board {
        let now_serving = self
            .active()
            .into_iter()
            .filter(|t| t.called_at.is_some() && !self.is_absent(t))
            .take(NOW_SERVING)
            .map(|t| Serving { number: t.number, counter: t.counter, called_at: t.called_at })
            .collect();
        let next = self
            .line
            .first(NEXT)
            .iter()
            .filter_map(|id| self.tickets.get(id))
            .map(|t| t.ticket.number.clone())
            .collect();
        Board {
            seq: self.seq,
            now_serving,
            next,
            waiting: self.line.len(),
            eta_new_seconds: self.estimate(self.line.len() as u32 + 1).p50,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventKind;

    fn ticket(n: u128, position: Option<u32>) -> Ticket {
        Ticket {
            id: Uuid::from_u128(n),
            queue_id: Uuid::nil(),
            number: format!("A{n:03}"),
            status: if position.is_some() { "waiting" } else { "called" }.into(),
            position,
            eta_seconds: None,
            eta_p90_seconds: None,
            counter: None,
            joined_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            called_at: None,
            seq: 0,
            served_at: None,
            finished_at: None,
            priority: 0,
            name: Some(format!("Person {n}")),
            party_size: None,
            fields: Value::Null,
        }
    }

    fn event(seq: i64, kind: EventKind, t: Ticket) -> Event {
        Event {
            seq,
            queue_id: Uuid::nil(),
            kind,
            ticket: Some(t),
            actor: "test".into(),
            at: DateTime::from_timestamp(1_700_000_000 + seq * 60, 0).unwrap(),
            from: None,
            to: None,
            queue: None,
        }
    }

    fn view_with(absent: &str) -> QueueView {
        let roles = Roles { absent: Some(absent.into()), ..Roles::default() };
        QueueView::new(0, serde_json::json!({"name": "Main"}), vec![], vec![], 120.0, roles)
    }

    fn view() -> QueueView {
        view_with("no_show")
    }

    #[test]
    fn a_custom_types_absent_state_frees_its_desk_and_leaves_the_board() {
        // A type whose absent state is `missed`: a ticket in it holds no desk; one in `no_show`
        // (an ordinary state of this type) still does.
        for (absent, status, freed) in [("missed", "missed", true), ("missed", "no_show", false)] {
            let mut v = view_with(absent);
            v.apply(&event(1, EventKind::Joined, ticket(1, Some(1))));
            v.apply(&event(2, EventKind::Joined, ticket(2, Some(1))));
            let mut called = ticket(1, None);
            called.counter = Some("4".into());
            called.called_at = Some(DateTime::from_timestamp(1_700_000_240, 0).unwrap());
            v.apply(&event(3, EventKind::transition("call"), called.clone()));
            assert!(v.ticket(Uuid::from_u128(2)).unwrap().eta_seconds.unwrap() > 0);

            called.status = status.into();
            v.apply(&event(4, EventKind::transition("miss"), called));
            assert_eq!(v.ticket(Uuid::from_u128(2)).unwrap().eta_seconds == Some(0), freed, "{status}");
            assert_eq!(v.board().now_serving.is_empty(), freed, "{status}");
        }
    }

    #[test]
    fn joins_calls_and_requeues_move_positions() {
        let mut v = view();
        for n in 1..=3 {
            v.apply(&event(n as i64, EventKind::Joined, ticket(n, Some(n as u32))));
        }
        assert_eq!(v.ticket(Uuid::from_u128(3)).unwrap().position, Some(3));
        let mut called = ticket(1, None);
        called.counter = Some("4".into());
        called.called_at = Some(DateTime::from_timestamp(1_700_000_240, 0).unwrap());
        v.apply(&event(4, EventKind::transition("call"), called.clone()));
        assert_eq!(v.ticket(Uuid::from_u128(3)).unwrap().position, Some(2));
        assert_eq!(v.ticket(Uuid::from_u128(1)).unwrap().position, None);
        assert_eq!(v.seq(), 4);

        let board = v.board();
        assert_eq!(board.next, vec!["A002", "A003"]);
        assert_eq!(board.waiting, 2);
        assert_eq!(
            board.now_serving,
            vec![Serving { number: "A001".into(), counter: Some("4".into()), called_at: called.called_at }]
        );
        let json = serde_json::to_string(&board).unwrap();
        assert!(!json.contains("Person"), "no names on a display: {json}");

        // Desk 4 is busy with A001, so nobody is free: A002 waits about one call.
        assert!(v.ticket(Uuid::from_u128(2)).unwrap().eta_seconds.unwrap() > 0);
        let mut absent = called.clone();
        absent.status = "no_show".into();
        v.apply(&event(5, EventKind::transition("no_show"), absent));
        // Desk 4 is free now: the next in line is called at once.
        assert_eq!(v.ticket(Uuid::from_u128(2)).unwrap().eta_seconds, Some(0));
        assert!(v.ticket(Uuid::from_u128(3)).unwrap().eta_seconds.unwrap() > 0);

        // Requeued: back to its original place at the front.
        v.apply(&event(6, EventKind::transition("requeue"), ticket(1, Some(1))));
        assert_eq!(v.ticket(Uuid::from_u128(1)).unwrap().position, Some(1));
        assert_eq!(v.ticket(Uuid::from_u128(2)).unwrap().position, Some(2));
        assert_eq!(v.waiting().len(), 3);
    }

    #[test]
    fn a_long_line_keeps_the_board_small_and_the_active_set_exact() {
        let mut v = view();
        for n in 1..=2_000u128 {
            v.apply(&event(n as i64, EventKind::Joined, ticket(n, Some(n as u32))));
        }
        let mut called = ticket(1, None);
        called.counter = Some("1".into());
        called.called_at = Some(DateTime::from_timestamp(1_700_200_000, 0).unwrap());
        v.apply(&event(2_001, EventKind::transition("call"), called));
        assert_eq!(v.active().len(), 1);
        let board = v.board();
        assert_eq!((board.waiting, board.next.len(), board.now_serving.len()), (1_999, 5, 1));
        v.apply(&event(2_002, EventKind::transition("requeue"), ticket(1, Some(1))));
        assert!(v.active().is_empty());
        assert_eq!(v.ticket(Uuid::from_u128(1)).unwrap().position, Some(1));
    }

    #[test]
    fn finished_and_transferred_tickets_leave_the_view() {
        let mut v = view();
        v.apply(&event(1, EventKind::Joined, ticket(1, Some(1))));
        v.apply(&event(2, EventKind::Joined, ticket(2, Some(2))));
        let mut done = ticket(1, None);
        done.finished_at = Some(DateTime::from_timestamp(1_700_000_500, 0).unwrap());
        v.apply(&event(3, EventKind::transition("cancel"), done));
        v.apply(&event(4, EventKind::TransferredOut, ticket(2, None)));
        assert!(v.ticket(Uuid::from_u128(1)).is_none() && v.ticket(Uuid::from_u128(2)).is_none());
        assert!(v.waiting().is_empty() && v.active().is_empty());
        assert_eq!(v.queue()["waiting"], 0);
        assert_eq!(v.queue()["last_seq"], 4);
    }
}
