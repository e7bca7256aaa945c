//! Rows as the queries return them, and their conversion to the views of `domain`.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use crate::domain::{Queue, Ticket};

/// A queue as the queue select (`rules::concat_queue_select`) returns it. Read column by
/// column, by hand: the protocol's [`Queue`] is not a row, so a column renamed is not an API
/// change.
impl<'r> sqlx::FromRow<'r, PgRow> for Queue {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Queue> {
        Ok(Queue {
            id: row.try_get("id")?,
            slug: row.try_get("slug")?,
            name: row.try_get("name")?,
            prefix: row.try_get("prefix")?,
            capacity: row.try_get("capacity")?,
            status: row.try_get("status")?,
            ticket_type: row.try_get("ticket_type")?,
            waiting: row.try_get("waiting")?,
            last_seq: row.try_get("last_seq")?,
            settings: row.try_get("settings")?,
            location_id: row.try_get("location_id")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// The ticket columns every query returns, for `concat!` into static SQL (table alias `t`).
macro_rules! ticket_cols {
    () => {
        "t.id, t.queue_id, t.ticket_type_id, t.number, t.status, t.in_line, t.priority, \
         t.counter, t.customer_name, t.party_size, t.fields, t.joined_at, t.called_at, t.served_at, \
         t.finished_at, t.present, t.present_at, t.snoozes, t.notes"
    };
}
pub(super) use ticket_cols;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketRow {
    pub id: Uuid,
    pub queue_id: Uuid,
    pub ticket_type_id: Uuid,
    pub number: String,
    pub status: String,
    pub in_line: bool,
    pub priority: i16,
    pub counter: Option<String>,
    pub customer_name: Option<String>,
    pub party_size: Option<i32>,
    pub fields: serde_json::Value,
    pub joined_at: DateTime<Utc>,
    pub called_at: Option<DateTime<Utc>>,
    pub served_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub present: bool,
    pub present_at: Option<DateTime<Utc>>,
    pub snoozes: i16,
    /// Staff's: put in a ticket view only for staff (see `Ticket::notes`).
    pub notes: Option<String>,
}

impl TicketRow {
    /// The view at queue event `seq`, with the position given (None when not in line). The
    /// estimate is filled in by whoever knows the queue's pace.
    pub fn view(&self, seq: i64, position: Option<u32>) -> Ticket {
        Ticket {
            id: self.id,
            queue_id: self.queue_id,
            number: self.number.clone(),
            status: self.status.clone(),
            position: if self.in_line { position } else { None },
            eta_seconds: None,
            eta_p90_seconds: None,
            counter: self.counter.clone(),
            joined_at: self.joined_at,
            called_at: self.called_at,
            seq,
            served_at: self.served_at,
            finished_at: self.finished_at,
            priority: self.priority,
            name: self.customer_name.clone(),
            party_size: self.party_size,
            fields: self.fields.clone(),
            present: self.present,
            present_at: self.present_at,
            snoozes: self.snoozes,
            notes: None,
        }
    }
}

/// The position (1 = next) of ticket `t` in its line, or null when it is not in line: the counts
/// of the line's buckets ahead of it (`line_counts`, kept by triggers; migration 0009) plus a
/// count inside its own bucket (`line_seq >> 26`: the places of 1,024 events; migration 0031). So it costs a few hundred counter rows and
/// at most 1,024 index entries at any depth, where counting the line read an entry per ticket
/// ahead. (A node with the queue's live line answers from it instead.)
macro_rules! position_of_t {
    () => {
        "CASE WHEN t.in_line THEN \
           (SELECT coalesce(sum(c.waiting), 0) FROM line_counts c WHERE c.queue_id = t.queue_id \
              AND (c.priority > t.priority OR (c.priority = t.priority AND c.bucket < t.line_seq >> 26))) \
         + (SELECT count(*) FROM tickets x WHERE x.queue_id = t.queue_id AND x.in_line \
              AND x.priority = t.priority AND x.line_seq >= (t.line_seq >> 26) << 26 AND x.line_seq <= t.line_seq) \
         END"
    };
}
pub(super) use position_of_t;

/// A ticket row with the state it left, as the write path's updates return it.
#[derive(Debug, sqlx::FromRow)]
pub struct MovedRow {
    #[sqlx(flatten)]
    pub row: TicketRow,
    pub from_state: String,
    pub was_in_line: bool,
}

/// A position as the protocol counts it.
pub fn position(count: Option<i64>) -> Option<u32> {
    count.and_then(|c| u32::try_from(c).ok()).filter(|c| *c > 0)
}
