//! One hub per live queue per node: the queue's view, moved forward strictly in seq order, and a
//! broadcast of each event's frames, serialized once per audience.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytestring::ByteString;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::domain::{Announce, Event, Held, QueueView, ServerMessage, Special, Ticket, TicketView};
use crate::store::Store;

/// Frames a receiver may fall behind by before it lags. A lagging receiver gets a fresh snapshot
/// (or view) instead of the backlog, so a slow client never grows the server's memory.
const CHANNEL: usize = 512;
/// Recent frames kept for clients resuming with `since`: their seq and staff text only. The
/// event itself (a ticket with its name and fields, ~0.5 KB) is freed once every receiver has
/// it, and a busy hub's recent frames were ~1 KB each: a crowd of customers opening sockets
/// kept a kilobyte of presence per socket here.
const RECENT: usize = 1024;
/// And at most this many bytes of them: tickets with long fields make frames of several
/// kilobytes, and a hub's memory should not grow with what its customers type. A resume from
/// further back reads the missed events from the database, as one past `RECENT` does.
const RECENT_BYTES: usize = 512 * 1024;
/// The head of the line a staff snapshot shows (the rest is paged with `GET …/line`): a
/// snapshot stays under 100 KB however long the line (a ticket is ~330 bytes of JSON).
pub const SNAPSHOT_HEAD: usize = 200;
/// Events read per query when filling a gap.
const FILL_PAGE: i64 = 1000;

/// One event, as every audience receives it.
pub struct Frame {
    pub seq: i64,
    pub event: Arc<Event>,
    /// `{"type":"event","event":…}` for staff.
    pub staff: ByteString,
    /// `{"type":"display",…}` after this event; None when the event changes nothing a board
    /// shows (a customer coming or going).
    pub display: Option<ByteString>,
}

/// What a new staff socket starts with.
pub enum StaffStart {
    /// `{"type":"snapshot",…}`, once its window is dressed.
    Snapshot(Window),
    /// The frames it missed, from memory (their staff text).
    Replay(Vec<ByteString>),
    /// Missed events older than memory: read `(after, upto]` from the database.
    Fetch { after: i64, upto: i64 },
}

/// The outcome of offering an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    Applied,
    /// Already applied (the other feed was first).
    Duplicate,
    /// Events are missing before it: fill from the database.
    Gap,
}

struct Inner {
    view: QueueView,
    /// `(seq, staff text)` of the last `RECENT` frames, `RECENT_BYTES` at most.
    recent: Recent,
    display: ByteString,
}

/// The staff texts of a hub's last frames, bounded in count and in bytes.
#[derive(Default)]
struct Recent {
    frames: VecDeque<(i64, ByteString)>,
    bytes: usize,
}

impl Recent {
    /// Keeps the frame at `seq`, forgetting the oldest as the bounds require.
    fn keep(&mut self, seq: i64, text: ByteString) {
        while self.frames.len() == RECENT || (!self.frames.is_empty() && self.bytes + text.len() > RECENT_BYTES) {
            let (_, old) = self.frames.pop_front().expect("not empty");
            self.bytes -= old.len();
        }
        self.bytes += text.len();
        self.frames.push_back((seq, text));
    }

    /// The seq of the oldest frame kept.
    fn oldest(&self) -> Option<i64> {
        self.frames.front().map(|(seq, _)| *seq)
    }

    /// The texts of the frames after `seq`, in order.
    fn after(&self, seq: i64) -> Vec<ByteString> {
        self.frames.iter().filter(|(kept, _)| *kept > seq).map(|(_, text)| text.clone()).collect()
    }
}

/// A customer a hub was told is away (`ticket.away`).
#[derive(Debug, Clone, Copy)]
pub struct Away {
    pub tenant: Uuid,
    pub queue: Uuid,
    pub ticket: Uuid,
}

pub struct Hub {
    pub queue_id: Uuid,
    pub tenant_id: Uuid,
    /// A std Mutex, not tokio's: nothing awaits while it is held.
    inner: Mutex<Inner>,
    /// Every frame: what staff sockets follow.
    tx: broadcast::Sender<Arc<Frame>>,
    /// The frames that change the line or a board, without customers coming and going: what
    /// customer and display sockets follow. Each socket that opens is a presence event, so one
    /// channel made every socket of a queue wake for every other socket opening (10^8 wake-ups
    /// for 10,000 customers connecting).
    lines: broadcast::Sender<Arc<Frame>>,
    /// Customers told away here, for the node to answer when it still holds a socket of theirs.
    aways: broadcast::Sender<Away>,
    /// The seq applied, for readers waiting for the hub to reach what they read elsewhere.
    applied: tokio::sync::watch::Sender<i64>,
    /// One gap fill at a time.
    filling: tokio::sync::Mutex<()>,
    clients: AtomicUsize,
}

fn text(message: ServerMessage<'_>) -> ByteString {
    ByteString::from(message.to_text())
}

fn display_frame(view: &QueueView) -> ByteString {
    text(ServerMessage::Display { board: &view.board(), announce: None })
}

/// The board after `event`, plain and as sent with the event: after a call or a recall it also
/// names who to announce, so a screen chimes again for a recall, which changes nothing else on
/// the board.
fn display_after(view: &QueueView, event: &Event) -> (ByteString, ByteString) {
    let recall = event.kind.is(Special::Recall);
    let called = event.ticket.as_ref().filter(|_| recall || event.kind.is(Special::Call));
    let board = view.board();
    let plain = text(ServerMessage::Display { board: &board, announce: None });
    let Some(t) = called else { return (plain.clone(), plain) };
    let announce = Announce { number: &t.number, counter: t.counter.as_deref(), recall };
    (plain, text(ServerMessage::Display { board: &board, announce: Some(announce) }))
}

/// What a staff snapshot shows, taken at one seq: the head of the line, every active ticket and
/// how many are in line. The head's bare tickets are dressed (their details read) before it is
/// sent, outside the hub's lock.
pub struct Window {
    pub seq: i64,
    queue: serde_json::Value,
    waiting_total: usize,
    waiting: Vec<Held>,
    active: Vec<Ticket>,
}

impl Window {
    /// `{"type":"snapshot",…}`, with the details of the bare tickets read from the database.
    pub async fn text(self, store: &Store, tenant: Uuid) -> crate::store::Result<ByteString> {
        let waiting = dress(store, tenant, self.waiting).await?;
        Ok(text(ServerMessage::Snapshot {
            seq: self.seq,
            queue: &self.queue,
            waiting_total: self.waiting_total,
            waiting: &waiting,
            active: &self.active,
        }))
    }
}

/// Whole tickets from held ones: the details of the bare read in one query.
pub async fn dress(store: &Store, tenant: Uuid, held: Vec<Held>) -> crate::store::Result<Vec<Ticket>> {
    let bare: Vec<Uuid> = held.iter().filter(|h| matches!(h, Held::Bare(_))).map(|h| h.ticket().id).collect();
    let details = store.details(tenant, &bare).await?;
    let none = Default::default();
    Ok(held
        .into_iter()
        .map(|h| {
            let d = details.get(&h.ticket().id).unwrap_or(&none);
            h.dressed(d)
        })
        .collect())
}

impl Hub {
    pub fn new(tenant_id: Uuid, view: QueueView, aways: broadcast::Sender<Away>) -> Hub {
        let display = display_frame(&view);
        let (tx, _) = broadcast::channel(CHANNEL);
        let (lines, _) = broadcast::channel(CHANNEL);
        let seq = view.seq();
        Hub {
            queue_id: view.queue_id(),
            tenant_id,
            inner: Mutex::new(Inner { view, recent: Recent::default(), display }),
            tx,
            lines,
            aways,
            applied: tokio::sync::watch::Sender::new(seq),
            filling: tokio::sync::Mutex::new(()),
            clients: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Poison is cleared, not propagated: after a panic under the lock (a bug) the view may be
        // off, but one panic must not take down every socket of the queue. The hub is rebuilt
        // from the database once its last client leaves.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn seq(&self) -> i64 {
        self.lock().view.seq()
    }

    /// Applies the event if it is the next one, and broadcasts its frames.
    pub fn offer(&self, event: Arc<Event>) -> Offer {
        let mut inner = self.lock();
        let seq = inner.view.seq();
        if event.seq <= seq {
            return Offer::Duplicate;
        }
        if event.seq > seq + 1 {
            return Offer::Gap;
        }
        inner.view.apply(&event);
        let at = event.at;
        let (display, announced) = display_after(&inner.view, &event);
        let staff = text(ServerMessage::Event { event: &event });
        let presence = event.presence;
        let sent = match presence {
            Some(_) => None,
            None => Some(announced),
        };
        inner.recent.keep(event.seq, staff.clone());
        let frame = Arc::new(Frame { seq: event.seq, event, staff, display: sent });
        inner.display = display;
        // Sent under the lock, so subscribe-then-snapshot (also under it) misses nothing.
        match presence {
            None => {
                let _ = self.lines.send(frame.clone());
            }
            Some(p) if !p.present => {
                let _ = self.aways.send(Away { tenant: self.tenant_id, queue: self.queue_id, ticket: p.ticket_id });
            }
            Some(_) => {}
        }
        let _ = self.tx.send(frame);
        self.applied.send_replace(seq + 1);
        drop(inner);
        // Clocks of other nodes may be behind ours: a negative latency counts as none.
        let latency = (chrono::Utc::now() - at).to_std().unwrap_or_default();
        metrics::histogram!("queuecast_fanout_latency_seconds").record(latency.as_secs_f64());
        Offer::Applied
    }

    /// Reads and applies whatever the hub has not seen, up to the queue's last event; how many
    /// it applied. `feed` names who asked, for the metrics.
    pub async fn fill(&self, store: &Store, feed: &'static str) -> crate::store::Result<usize> {
        let _one_at_a_time = self.filling.lock().await;
        let mut applied = 0;
        loop {
            let after = self.seq();
            let events = store.events_in(self.tenant_id, self.queue_id, after, FILL_PAGE).await?;
            let n = events.len();
            for e in events {
                let offer = self.offer(Arc::new(e));
                applied += usize::from(offer == Offer::Applied);
                super::record(&offer, feed);
            }
            if (n as i64) < FILL_PAGE {
                return Ok(applied);
            }
        }
    }

    /// A staff socket's start: subscribed, then a snapshot or what it missed since `since`.
    pub fn subscribe_staff(&self, since: Option<i64>) -> (broadcast::Receiver<Arc<Frame>>, StaffStart, i64) {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let seq = inner.view.seq();
        let start = match since {
            Some(s) if s >= 0 && s <= seq => {
                if s + 1 >= inner.recent.oldest().unwrap_or(seq + 1) {
                    StaffStart::Replay(inner.recent.after(s))
                } else {
                    StaffStart::Fetch { after: s, upto: seq }
                }
            }
            _ => StaffStart::Snapshot(Self::window_of(&inner.view)),
        };
        (rx, start, seq)
    }

    /// What a snapshot shows now.
    pub fn snapshot(&self) -> Window {
        Self::window_of(&self.lock().view)
    }

    /// The head of the line, every active ticket and the count: never the whole line.
    fn window_of(view: &QueueView) -> Window {
        Window {
            seq: view.seq(),
            queue: view.queue(),
            waiting_total: view.waiting_total(),
            waiting: view.line_page(0, SNAPSHOT_HEAD),
            active: view.active(),
        }
    }

    /// A page of the line as of now: its seq, how many are in line, and up to `limit` tickets
    /// from position `after + 1`, in order.
    pub fn line_page(&self, after: usize, limit: usize) -> (i64, usize, Vec<Held>) {
        let inner = self.lock();
        (inner.view.seq(), inner.view.waiting_total(), inner.view.line_page(after, limit))
    }

    /// A display socket's start: subscribed, and the board now.
    pub fn subscribe_display(&self) -> (broadcast::Receiver<Arc<Frame>>, ByteString) {
        let inner = self.lock();
        (self.lines.subscribe(), inner.display.clone())
    }

    pub fn display(&self) -> ByteString {
        self.lock().display.clone()
    }

    /// A customer socket's start: subscribed, and its ticket now (None if this queue no longer
    /// holds it).
    pub fn subscribe_customer(&self, ticket: Uuid) -> (broadcast::Receiver<Arc<Frame>>, Option<Held>) {
        let inner = self.lock();
        (self.lines.subscribe(), inner.view.ticket(ticket))
    }

    /// A ticket as its customer sees it now.
    pub fn ticket(&self, id: Uuid) -> Option<Held> {
        self.lock().view.ticket(id)
    }

    /// What `f` makes of a ticket as its customer sees it now, borrowed under the hub's lock
    /// (None when this queue does not hold it). Nothing is copied: `f` compares it with what
    /// the customer was last shown and writes a frame only if it changed; it must not block.
    pub fn with_ticket<R>(&self, id: Uuid, f: impl FnOnce(TicketView<'_>) -> R) -> Option<R> {
        self.lock().view.view(id).map(f)
    }

    /// A ticket as the hub has it once it has applied `seq` (what the reader saw in the
    /// database), waiting at most `patience` for the feeds to bring it there; None when the hub
    /// does not hold the ticket or stays behind.
    pub async fn ticket_at(&self, id: Uuid, seq: i64, patience: std::time::Duration) -> Option<Held> {
        let mut applied = self.applied.subscribe();
        tokio::time::timeout(patience, applied.wait_for(|s| *s >= seq)).await.ok()?.ok()?;
        self.ticket(id)
    }

    pub(super) fn join(&self) {
        self.clients.fetch_add(1, Ordering::SeqCst);
    }

    /// One client fewer; true when it was the last.
    pub(super) fn leave(&self) -> bool {
        self.clients.fetch_sub(1, Ordering::SeqCst) == 1
    }

    pub(super) fn idle(&self) -> bool {
        self.clients.load(Ordering::SeqCst) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventKind, Roles};

    fn hub() -> Hub {
        let view = QueueView::new(0, Uuid::nil(), serde_json::json!({"name": "Main"}), vec![], 120.0, Roles::default());
        Hub::new(Uuid::nil(), view, broadcast::channel(1).0)
    }

    /// The queue renamed at `seq`, with a name of `len` bytes: a staff text a little longer.
    fn renamed(seq: i64, len: usize) -> Arc<Event> {
        let queue = serde_json::json!({"name": "x".repeat(len)});
        Arc::new(Event { queue: Some(queue), ..Event::bare(Uuid::nil(), seq, EventKind::QueueUpdated) })
    }

    fn replayed(start: StaffStart) -> Vec<ByteString> {
        match start {
            StaffStart::Replay(texts) => texts,
            StaffStart::Fetch { after, upto } => panic!("fetch ({after}, {upto}], not a replay"),
            StaffStart::Snapshot(_) => panic!("a snapshot, not a replay"),
        }
    }

    #[test]
    fn a_resume_is_replayed_from_memory_while_its_frames_fit_in_the_bytes_kept() {
        let hub = hub();
        for seq in 1..=100 {
            assert_eq!(hub.offer(renamed(seq, 20_000)), Offer::Applied);
        }
        let oldest = {
            let kept = &hub.lock().recent;
            assert!(kept.bytes <= RECENT_BYTES, "{} bytes kept", kept.bytes);
            kept.oldest().unwrap()
        };
        // ~20 KB a frame: the last ~25 fit, not the last 1,024.
        assert!((70..=80).contains(&oldest), "oldest kept {oldest}");

        let texts = replayed(hub.subscribe_staff(Some(95)).1);
        let seq_of = |t: &ByteString| serde_json::from_str::<serde_json::Value>(t).unwrap()["event"]["seq"].as_i64();
        let seqs: Vec<i64> = texts.iter().filter_map(seq_of).collect();
        assert_eq!(seqs, [96, 97, 98, 99, 100]);
        assert_eq!(replayed(hub.subscribe_staff(Some(oldest - 1)).1).len() as i64, 101 - oldest);
        assert!(
            matches!(hub.subscribe_staff(Some(oldest - 2)).1, StaffStart::Fetch { after, upto: 100 } if after == oldest - 2)
        );
    }

    #[test]
    fn small_frames_are_kept_up_to_their_count() {
        let hub = hub();
        for seq in 1..=1100 {
            hub.offer(renamed(seq, 10));
        }
        assert_eq!(hub.lock().recent.oldest(), Some(1100 - RECENT as i64 + 1));
        assert_eq!(replayed(hub.subscribe_staff(Some(1100 - RECENT as i64)).1).len(), RECENT);
        assert!(matches!(hub.subscribe_staff(Some(10)).1, StaffStart::Fetch { after: 10, upto: 1100 }));
    }
}
