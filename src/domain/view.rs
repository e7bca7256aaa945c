//! A queue as a live hub holds it: the line, the active tickets, the pace, at one seq; moved
//! forward one event at a time. From it come the customer's ticket view (position in O(log n)),
//! the staff snapshot and the display board.
//!
//! A long line is mostly people who joined and wait: for each of them the view keeps only what
//! positions, estimates and the board need (id, place, number, state, joining time: 32 bytes
//! beside the line's node), not their name, party size or fields. Those `Details` are read when
//! a window of the line is shown to staff, or come with the customer's own reads; a ticket held
//! without them is `Held::Bare`. Tickets that were called, served or have a counter are few and
//! kept whole.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::estimate::{CallHistory, Estimate};
use super::line::{at_end, Key, Line};
use super::ticket::{Number, TicketView};
use super::{Event, EventKind, Roles, Special, Ticket};

/// The fields of a ticket held without its details.
static NULL: Value = Value::Null;
/// Calls remembered for the estimate.
const CALLS_KEPT: usize = 21;
/// Gaps between calls longer than this are breaks, not service.
const MAX_GAP_SECS: f64 = 1800.0;
/// Tickets the display shows as being served, and as next.
const NOW_SERVING: usize = 6;
const NEXT: usize = 5;

/// What a ticket carries that its place in line does not need: who it is for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    pub name: Option<String>,
    pub party_size: Option<i32>,
    pub fields: Value,
}

impl Details {
    pub fn of(ticket: &Ticket) -> Details {
        Details { name: ticket.name.clone(), party_size: ticket.party_size, fields: ticket.fields.clone() }
    }
}

/// A ticket as the live line holds it: whole, or bare (waiting in line, without its `Details`).
#[derive(Debug, Clone, PartialEq)]
pub enum Held {
    Whole(Ticket),
    /// Every field but `name`, `party_size` and `fields`, which are empty.
    Bare(Ticket),
}

impl Held {
    pub fn ticket(&self) -> &Ticket {
        match self {
            Held::Whole(t) | Held::Bare(t) => t,
        }
    }

    /// The whole ticket, a bare one given its details.
    pub fn dressed(self, details: &Details) -> Ticket {
        match self {
            Held::Whole(t) => t,
            Held::Bare(mut t) => {
                t.name = details.name.clone();
                t.party_size = details.party_size;
                t.fields = details.fields.clone();
                t
            }
        }
    }
}

/// A ticket waiting in line, as a hub's first read of the database lists it: no details.
pub struct Waiting<'a> {
    pub id: Uuid,
    pub number: &'a str,
    pub status: &'a str,
    pub priority: i16,
    pub joined_at: DateTime<Utc>,
    pub line_seq: i64,
    pub present: bool,
    pub present_at: Option<DateTime<Utc>>,
}

/// Short strings a long line repeats (number prefixes, states), each kept once.
#[derive(Default)]
struct Words {
    all: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
}

impl Words {
    fn id(&mut self, word: &str) -> u32 {
        if let Some(&i) = self.index.get(word) {
            return i;
        }
        let i = self.all.len() as u32;
        self.all.push(word.into());
        self.index.insert(word.into(), i);
        i
    }

    fn get(&self, i: u32) -> &str {
        &self.all[i as usize]
    }
}

/// A waiting ticket with nothing but its place, number, state, joining time and presence: 40
/// bytes. Its
/// number is kept as a prefix and the value and width of its trailing digits (`A042`: `A`, 42,
/// 3), which gives it back exactly.
#[derive(Debug, Clone, Copy)]
struct Bare {
    line_seq: i64,
    joined_ns: i64,
    /// When the customer came (or, away, was last seen); 0 when never.
    present_ns: i64,
    prefix: u32,
    digits: u32,
    status: u32,
    priority: i16,
    /// 0: the number has no trailing digits to keep apart (it is all `prefix`).
    width: u8,
    present: bool,
}

impl Bare {
    fn new(words: &mut Words, w: &Waiting<'_>) -> Bare {
        let run = w.number.bytes().rev().take_while(u8::is_ascii_digit).count();
        let (prefix, digits) = w.number.split_at(w.number.len() - run);
        let (prefix, digits, width) = match digits.parse::<u32>() {
            Ok(n) if run <= 9 => (prefix, n, run as u8),
            _ => (w.number, 0, 0),
        };
        Bare {
            line_seq: w.line_seq,
            joined_ns: w.joined_at.timestamp_nanos_opt().unwrap_or(i64::MAX),
            prefix: words.id(prefix),
            digits,
            status: words.id(w.status),
            priority: w.priority,
            width,
            present: w.present,
            present_ns: w.present_at.and_then(|at| at.timestamp_nanos_opt()).unwrap_or(0),
        }
    }

    fn key(&self) -> Key {
        Key::new(self.priority, self.line_seq)
    }

    fn number(&self, words: &Words) -> String {
        self.number_in(words).to_string()
    }

    fn number_in<'w>(&self, words: &'w Words) -> Number<'w> {
        Number::Split { prefix: words.get(self.prefix), digits: self.digits, width: self.width }
    }
}

struct Tracked {
    ticket: Ticket,
    /// Orders the line; kept when a ticket leaves the line, for a requeue to restore its place.
    line_seq: i64,
}

impl Tracked {
    fn key(&self) -> Option<Key> {
        self.ticket.position.map(|_| Key::new(self.ticket.priority, self.line_seq))
    }
}

/// A queue at `seq`.
pub struct QueueView {
    seq: i64,
    queue_id: Uuid,
    queue: Value,
    line: Line,
    /// Waiting tickets held bare: most of a long line.
    bare: HashMap<Uuid, Bare>,
    /// Every other unfinished ticket, whole: called, being served, no-shows, and those back in
    /// line after a call.
    whole: HashMap<Uuid, Tracked>,
    /// The whole tickets out of line (called, serving, no-show): few, unlike the line, so the
    /// board and the idle-desk count never walk the whole line.
    active: HashSet<Uuid>,
    words: Words,
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
    /// An empty view of queue `queue_id` at `seq`, with its recent call times; its unfinished
    /// tickets are then given to `hold` and `hold_waiting`.
    pub fn new(
        seq: i64,
        queue_id: Uuid,
        queue: Value,
        calls: Vec<(DateTime<Utc>, Option<String>)>,
        prior_secs: f64,
        roles: Roles,
    ) -> Self {
        let mut calls = calls;
        calls.sort_unstable();
        let calls: VecDeque<_> = calls.into_iter().rev().take(CALLS_KEPT).rev().collect();
        let history = CallHistory::from_calls(calls.iter().map(|c| c.0).collect(), MAX_GAP_SECS);
        let mut view = QueueView {
            absent: roles.absent,
            seq,
            queue_id,
            queue,
            line: Line::new(),
            bare: HashMap::new(),
            whole: HashMap::new(),
            active: HashSet::new(),
            words: Words::default(),
            calls,
            history,
            prior_secs,
            free: 0,
        };
        view.free = view.free_desks();
        view
    }

    /// Takes an unfinished ticket of the queue (in line when it has a position), placed by
    /// `line_seq`.
    pub fn hold(&mut self, ticket: &Ticket, line_seq: i64) {
        self.keep(ticket, line_seq);
        if ticket.position.is_none() {
            self.free = self.free_desks();
        }
    }

    /// Takes a ticket waiting in line that was never called, without its details.
    pub fn hold_waiting(&mut self, waiting: Waiting<'_>) {
        let bare = Bare::new(&mut self.words, &waiting);
        self.line.insert(bare.key(), waiting.id);
        self.bare.insert(waiting.id, bare);
    }

    /// Keeps a ticket bare when it is waiting and was never called (nor snoozed), whole
    /// otherwise.
    fn keep(&mut self, t: &Ticket, line_seq: i64) {
        let untouched = t.counter.is_none() && t.called_at.is_none() && t.served_at.is_none() && t.snoozes == 0;
        if t.position.is_some() && untouched && t.finished_at.is_none() {
            let waiting = Waiting {
                id: t.id,
                number: &t.number,
                status: &t.status,
                priority: t.priority,
                joined_at: t.joined_at,
                line_seq,
                present: t.present,
                present_at: t.present_at,
            };
            return self.hold_waiting(waiting);
        }
        let tracked = Tracked { ticket: t.clone(), line_seq };
        match tracked.key() {
            Some(key) => self.line.insert(key, t.id),
            None => {
                self.active.insert(t.id);
            }
        }
        self.whole.insert(t.id, tracked);
    }

    /// Lets go of a ticket; its `line_seq`, if it was held.
    fn forget(&mut self, id: Uuid) -> Option<i64> {
        if let Some(bare) = self.bare.remove(&id) {
            self.line.remove(bare.key());
            return Some(bare.line_seq);
        }
        let tracked = self.whole.remove(&id)?;
        match tracked.key() {
            Some(key) => {
                self.line.remove(key);
            }
            None => {
                self.active.remove(&id);
            }
        }
        Some(tracked.line_seq)
    }

    pub fn seq(&self) -> i64 {
        self.seq
    }

    pub fn queue_id(&self) -> Uuid {
        self.queue_id
    }

    /// Applies the next event; the caller guarantees `event.seq == self.seq() + 1`.
    pub fn apply(&mut self, event: &Event) {
        debug_assert_eq!(event.seq, self.seq + 1);
        self.seq = event.seq;
        if let Some(queue) = &event.queue {
            self.queue = queue.clone();
        }
        if let Some(presence) = event.presence {
            self.mark(presence);
        }
        let Some(ticket) = &event.ticket else { return };
        if event.kind.is(Special::Call) {
            self.record_call(event.at, ticket.counter.clone());
        }
        let held = self.forget(ticket.id);
        // A ticket put somewhere else than the end (a check-in, a move, a snooze) says where;
        // otherwise a ticket entering the line goes to the end, and one already held keeps its
        // place (a requeue restores it).
        let line_seq = match (event.line, &event.kind) {
            (Some(line_seq), _) => line_seq,
            (None, EventKind::Joined | EventKind::TransferredIn) => at_end(event.seq),
            (None, _) => held.unwrap_or(at_end(event.seq)),
        };
        // In line exactly when the event's view has a place in it; gone once finished.
        if event.kind != EventKind::TransferredOut && ticket.finished_at.is_none() {
            self.keep(ticket, line_seq);
        }
        // A join neither opens nor frees a desk.
        if event.kind != EventKind::Joined {
            self.free = self.free_desks();
        }
    }

    /// A customer came or went: their held ticket says so (bare or whole; a ticket this view
    /// does not hold is finished, and its presence no longer matters).
    fn mark(&mut self, p: crate::domain::Presence) {
        if let Some(bare) = self.bare.get_mut(&p.ticket_id) {
            bare.present = p.present;
            bare.present_ns = p.at.timestamp_nanos_opt().unwrap_or(0);
        } else if let Some(tracked) = self.whole.get_mut(&p.ticket_id) {
            tracked.ticket.present = p.present;
            tracked.ticket.present_at = Some(p.at);
        }
    }

    fn record_call(&mut self, at: DateTime<Utc>, counter: Option<String>) {
        self.calls.push_back((at, counter));
        while self.calls.len() > CALLS_KEPT {
            self.calls.pop_front();
        }
        self.history = CallHistory::from_calls(self.calls.iter().map(|c| c.0).collect(), MAX_GAP_SECS);
    }

    /// Open counters (those that called recently) with nobody at them now.
    fn free_desks(&self) -> u32 {
        let open: HashSet<&str> = self.calls.iter().filter_map(|c| c.1.as_deref()).collect();
        let busy: HashSet<&str> = self
            .active
            .iter()
            .filter_map(|id| self.whole.get(id))
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
    pub fn ticket(&self, id: Uuid) -> Option<Held> {
        if let Some(bare) = self.bare.get(&id) {
            return Some(Held::Bare(self.unpack(id, bare)));
        }
        self.whole.get(&id).map(|t| Held::Whole(self.present(t)))
    }

    /// A ticket as its customer sees it now, borrowed: what `ticket` gives, without a copy.
    pub fn view(&self, id: Uuid) -> Option<TicketView<'_>> {
        if let Some(bare) = self.bare.get(&id) {
            let position = self.line.position(bare.key());
            let eta = position.map(|p| self.estimate(p));
            return Some(TicketView {
                id,
                queue_id: self.queue_id,
                number: bare.number_in(&self.words),
                status: self.words.get(bare.status),
                position,
                eta_seconds: eta.map(|e| e.p50),
                eta_p90_seconds: eta.map(|e| e.p90),
                counter: None,
                joined_at: DateTime::from_timestamp_nanos(bare.joined_ns),
                called_at: None,
                seq: self.seq,
                served_at: None,
                finished_at: None,
                priority: bare.priority,
                name: None,
                party_size: None,
                fields: &NULL,
                present: bare.present,
                present_at: (bare.present_ns != 0).then(|| DateTime::from_timestamp_nanos(bare.present_ns)),
                snoozes: 0,
                notes: None,
                bare: true,
            });
        }
        let tracked = self.whole.get(&id)?;
        let position = tracked.key().and_then(|k| self.line.position(k));
        let eta = position.map(|p| self.estimate(p));
        Some(TicketView {
            position,
            eta_seconds: eta.map(|e| e.p50),
            eta_p90_seconds: eta.map(|e| e.p90),
            seq: self.seq,
            ..TicketView::of(&tracked.ticket)
        })
    }

    fn present(&self, tracked: &Tracked) -> Ticket {
        let mut t = tracked.ticket.clone();
        self.place(&mut t, tracked.key());
        t
    }

    fn unpack(&self, id: Uuid, bare: &Bare) -> Ticket {
        let mut t = Ticket {
            id,
            queue_id: self.queue_id,
            number: bare.number(&self.words),
            status: self.words.get(bare.status).to_owned(),
            position: None,
            eta_seconds: None,
            eta_p90_seconds: None,
            counter: None,
            joined_at: DateTime::from_timestamp_nanos(bare.joined_ns),
            called_at: None,
            seq: 0,
            served_at: None,
            finished_at: None,
            priority: bare.priority,
            name: None,
            party_size: None,
            fields: Value::Null,
            present: bare.present,
            present_at: (bare.present_ns != 0).then(|| DateTime::from_timestamp_nanos(bare.present_ns)),
            snoozes: 0,
            notes: None,
        };
        self.place(&mut t, Some(bare.key()));
        t
    }

    /// Sets a ticket's seq, position and estimate as of now.
    fn place(&self, t: &mut Ticket, key: Option<Key>) {
        t.seq = self.seq;
        t.position = key.and_then(|k| self.line.position(k));
        let eta = t.position.map(|p| self.estimate(p));
        t.eta_seconds = eta.map(|e| e.p50);
        t.eta_p90_seconds = eta.map(|e| e.p90);
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

    /// Up to `n` of those in line after the first `skip`, in call order: positions `skip + 1 ..`.
    pub fn line_page(&self, skip: usize, n: usize) -> Vec<Held> {
        self.line.range(skip, n).into_iter().filter_map(|id| self.ticket(id)).collect()
    }

    /// How many are in line.
    pub fn waiting_total(&self) -> usize {
        self.line.len()
    }

    /// Tickets out of line but not finished (called, being served, no-shows), latest call first.
    pub fn active(&self) -> Vec<Ticket> {
        let mut active: Vec<Ticket> =
            self.active.iter().filter_map(|id| self.whole.get(id)).map(|t| self.present(t)).collect();
        active.sort_by(|a, b| b.called_at.cmp(&a.called_at).then(a.number.cmp(&b.number)));
        active
    }

    /// A held ticket's number.
    fn number(&self, id: Uuid) -> Option<String> {
        match self.bare.get(&id) {
            Some(bare) => Some(bare.number(&self.words)),
            None => self.whole.get(&id).map(|t| t.ticket.number.clone()),
        }
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
        let next = self.line.first(NEXT).into_iter().filter_map(|id| self.number(id)).collect();
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
            present: false,
            present_at: None,
            snoozes: 0,
            notes: None,
        }
    }

    fn event(seq: i64, kind: EventKind, t: Ticket) -> Event {
        let at = DateTime::from_timestamp(1_700_000_000 + seq * 60, 0).unwrap();
        Event { ticket: Some(t), at, ..Event::bare(Uuid::nil(), seq, kind) }
    }

    fn view_with(absent: &str) -> QueueView {
        let roles = Roles { absent: Some(absent.into()), ..Roles::default() };
        QueueView::new(0, Uuid::nil(), serde_json::json!({"name": "Main"}), vec![], 120.0, roles)
    }

    fn view() -> QueueView {
        view_with("no_show")
    }

    /// Ticket `n` as the view holds it, whole or bare.
    fn at(v: &QueueView, n: u128) -> Option<Ticket> {
        v.ticket(Uuid::from_u128(n)).map(|h| h.ticket().clone())
    }

    #[test]
    fn a_waiting_ticket_is_held_bare_and_given_back_exactly_with_its_details() {
        let mut v = view();
        let numbers = ["A001", "A042", "A1234", "VIP007", "B2-010", "walk-in", "1234567890123", "X000"];
        for (n, number) in numbers.iter().enumerate() {
            let mut t = ticket(n as u128 + 1, Some(1));
            t.number = (*number).into();
            t.joined_at = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
            t.fields = serde_json::json!({"phone": "+33 6"});
            v.apply(&event(n as i64 + 1, EventKind::Joined, t.clone()));
            let held = v.ticket(t.id).unwrap();
            assert!(matches!(held, Held::Bare(_)), "{number}");
            assert_eq!(held.ticket().name, None, "a bare ticket has no name");
            let mut want = t.clone();
            (want.position, want.seq) = (Some(n as u32 + 1), n as i64 + 1);
            (want.eta_seconds, want.eta_p90_seconds) = (held.ticket().eta_seconds, held.ticket().eta_p90_seconds);
            assert_eq!(held.dressed(&Details::of(&t)), want);
        }
        assert_eq!(v.board().next, numbers[..5].to_vec());
        // A requeued ticket keeps its counter and call time: it is held whole, in its old place.
        let mut called = ticket(1, None);
        (called.counter, called.called_at) =
            (Some("2".into()), Some(DateTime::from_timestamp(1_700_001_000, 0).unwrap()));
        called.number = "A001".into();
        v.apply(&event(9, EventKind::transition("call"), called.clone()));
        called.position = Some(1);
        v.apply(&event(10, EventKind::transition("requeue"), called));
        let held = v.ticket(Uuid::from_u128(1)).unwrap();
        assert!(matches!(held, Held::Whole(_)));
        assert_eq!((held.ticket().position, held.ticket().counter.as_deref()), (Some(1), Some("2")));
        assert_eq!(std::mem::size_of::<Bare>(), 40);
    }

    /// What a customer is sent from the borrowed view is what the copy gave, bare or whole,
    /// dressed with their details.
    #[test]
    fn a_borrowed_view_shows_what_the_held_ticket_shows() {
        let mut v = view();
        for n in 1..=3u128 {
            let mut t = ticket(n, Some(n as u32));
            t.number = ["A001", "walk-in", "VIP1234"][n as usize - 1].into();
            v.apply(&event(n as i64, EventKind::Joined, t));
        }
        let mut called = ticket(1, None);
        (called.counter, called.called_at) =
            (Some("2".into()), Some(DateTime::from_timestamp(1_700_001_000, 0).unwrap()));
        v.apply(&event(4, EventKind::transition("call"), called));
        let details = Details { name: Some("Ada".into()), party_size: Some(3), fields: serde_json::json!({"a": 1}) };
        for n in 1..=3u128 {
            let id = Uuid::from_u128(n);
            let held = v.ticket(id).unwrap();
            let borrowed = v.view(id).unwrap();
            assert_eq!(borrowed.bare, matches!(held, Held::Bare(_)), "{n}");
            let shown = borrowed.dressed(details.name.as_deref(), details.party_size, &details.fields);
            assert_eq!(
                serde_json::to_value(shown).unwrap(),
                serde_json::to_value(held.dressed(&details)).unwrap(),
                "{n}"
            );
        }
        assert!(v.view(Uuid::from_u128(9)).is_none());
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
            assert!(at(&v, 2).unwrap().eta_seconds.unwrap() > 0);

            called.status = status.into();
            v.apply(&event(4, EventKind::transition("miss"), called));
            assert_eq!(at(&v, 2).unwrap().eta_seconds == Some(0), freed, "{status}");
            assert_eq!(v.board().now_serving.is_empty(), freed, "{status}");
        }
    }

    #[test]
    fn joins_calls_and_requeues_move_positions() {
        let mut v = view();
        for n in 1..=3 {
            v.apply(&event(n as i64, EventKind::Joined, ticket(n, Some(n as u32))));
        }
        assert_eq!(at(&v, 3).unwrap().position, Some(3));
        let mut called = ticket(1, None);
        called.counter = Some("4".into());
        called.called_at = Some(DateTime::from_timestamp(1_700_000_240, 0).unwrap());
        v.apply(&event(4, EventKind::transition("call"), called.clone()));
        assert_eq!(at(&v, 3).unwrap().position, Some(2));
        assert_eq!(at(&v, 1).unwrap().position, None);
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
        assert!(at(&v, 2).unwrap().eta_seconds.unwrap() > 0);
        let mut absent = called.clone();
        absent.status = "no_show".into();
        v.apply(&event(5, EventKind::transition("no_show"), absent));
        // Desk 4 is free now: the next in line is called at once.
        assert_eq!(at(&v, 2).unwrap().eta_seconds, Some(0));
        assert!(at(&v, 3).unwrap().eta_seconds.unwrap() > 0);

        // Requeued: back to its original place at the front.
        v.apply(&event(6, EventKind::transition("requeue"), ticket(1, Some(1))));
        assert_eq!(at(&v, 1).unwrap().position, Some(1));
        assert_eq!(at(&v, 2).unwrap().position, Some(2));
        assert_eq!(v.line_page(0, 10).len(), 3);
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
        assert_eq!(at(&v, 1).unwrap().position, Some(1));
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
        assert!(at(&v, 1).is_none() && at(&v, 2).is_none());
        assert!(v.line_page(0, 10).is_empty() && v.active().is_empty());
        assert_eq!(v.queue()["waiting"], 0);
        assert_eq!(v.queue()["last_seq"], 4);
    }
}
