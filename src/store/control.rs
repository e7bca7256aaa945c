//! Line control: snoozes, moves, priorities and notes, presence (each through the writer, an
//! event like any other; presence without waiting for it), a ticket's history, and feedback
//! once it ended.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::tickets::EventRow;
use super::writer::{LineChange, LineOp, Mark, MoveTo, TicketChange};
use super::{Conflict, Identity, Result, Seen, Store, StoreError, TicketAccess};
use crate::domain::control::{self, MAX_PRIORITY};
use crate::domain::Event;

/// A ticket's events, at most (a ticket has a handful; a long-lived one a few hundred).
const MAX_HISTORY: i64 = 1000;

/// A customer's rating of a finished ticket.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Feedback {
    pub rating: i16,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Staff's change to a ticket: its priority, its notes (`Some(None)`: cleared), or both.
#[derive(Debug, Clone, Default)]
pub struct TicketPatch {
    pub priority: Option<i16>,
    pub notes: Option<Option<String>>,
}

impl Store {
    /// The customer steps back `places` places in line, within the queue's `settings.snooze`.
    #[tracing::instrument(skip(self, token), fields(id = %id))]
    pub async fn snooze(&self, id: Uuid, token: &str, places: u32) -> Result<Seen> {
        if places == 0 {
            return Err(StoreError::Invalid("places: 1 or more".into()));
        }
        let read = self.ticket_to_change(id, &TicketAccess::Token(token.to_owned())).await?;
        let op = LineOp::Snooze { places };
        self.line_change(read.tenant_id, read.ticket().queue_id, id, op, "customer".into()).await
    }

    /// Staff move a ticket within its line.
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn move_within(&self, who: &Identity, id: Uuid, to: MoveTo) -> Result<Seen> {
        let read = self.ticket_to_change(id, &TicketAccess::Staff(who.clone())).await?;
        self.line_change(who.tenant_id, read.ticket().queue_id, id, LineOp::Move(to), who.actor()).await
    }

    /// Staff change a ticket's priority or notes; answered with the notes.
    #[tracing::instrument(skip(self, who, patch), fields(tenant = %who.tenant_id))]
    pub async fn update_ticket(&self, who: &Identity, id: Uuid, patch: TicketPatch) -> Result<Seen> {
        if patch.priority.is_some_and(|p| !(0..=MAX_PRIORITY).contains(&p)) {
            return Err(StoreError::Invalid(format!("priority: 0 to {MAX_PRIORITY}")));
        }
        if patch.priority.is_none() && patch.notes.is_none() {
            return Err(StoreError::Invalid("give priority, notes or both".into()));
        }
        let read = self.ticket_to_change(id, &TicketAccess::Staff(who.clone())).await?;
        let op = LineOp::Update { priority: patch.priority, notes: patch.notes };
        let queue_id = read.ticket().queue_id;
        let change = TicketChange::Line(LineChange { queue_id, ticket_id: id, op, actor: who.actor() });
        let placed = self.writer.submit(who.tenant_id, change).await?;
        let notes = placed.row.notes.clone();
        Ok(match self.seen_with(who.tenant_id, placed, None).await? {
            Seen::Placed(t) => Seen::Placed(crate::domain::Ticket { notes, ..t }),
            Seen::InLine(t) => Seen::InLine(crate::domain::Ticket { notes, ..t }),
        })
    }

    /// The customer of a ticket came (their page opened) or went: an event when that changes.
    /// Told by the live sockets, which know the ticket's tenant and queue already; nobody waits
    /// for it, and when the writer cannot take it now it is dropped (false).
    pub fn presence(&self, tenant: Uuid, queue_id: Uuid, ticket_id: Uuid, present: bool) -> bool {
        let mark = Mark { tenant, queue_id, ticket_id, present, at: Utc::now() };
        self.writer.mark(mark)
    }

    async fn line_change(&self, tenant: Uuid, queue_id: Uuid, id: Uuid, op: LineOp, actor: String) -> Result<Seen> {
        let change = TicketChange::Line(LineChange { queue_id, ticket_id: id, op, actor });
        self.ticket_outcome(tenant, change).await
    }

    /// A ticket's events in order, across the queues it was in. Its customer sees who acted as
    /// `staff`, not which member of staff.
    #[tracing::instrument(skip(self, access), fields(id = %id))]
    pub async fn ticket_history(&self, id: Uuid, access: &TicketAccess) -> Result<Vec<Event>> {
        let tenant = self.tenant_of_readable_ticket(id, access).await?;
        let mut tx = self.begin(tenant).await?;
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT seq, queue_id, kind, actor, at, from_state, to_state, data FROM queue_events \
             WHERE ticket_id = $1 ORDER BY at, seq LIMIT $2",
        )
        .bind(id)
        .bind(MAX_HISTORY)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut events: Vec<Event> = rows.into_iter().map(EventRow::into_event).collect::<Result<_>>()?;
        if matches!(access, TicketAccess::Token(_)) {
            for e in &mut events {
                if e.actor.starts_with("staff:") {
                    e.actor = "staff".into();
                }
            }
        }
        Ok(events)
    }

    /// The customer's rating of their ticket, once it has ended; once.
    #[tracing::instrument(skip(self, token, comment), fields(id = %id))]
    pub async fn give_feedback(&self, id: Uuid, token: &str, rating: i64, comment: Option<String>) -> Result<Feedback> {
        let (rating, comment) = control::feedback(rating, comment).map_err(StoreError::Invalid)?;
        let read = self.ticket_to_change(id, &TicketAccess::Token(token.to_owned())).await?;
        if read.ticket().finished_at.is_none() {
            return Err(Conflict::NotFinished.into());
        }
        let mut tx = self.begin(read.tenant_id).await?;
        let given: Option<Feedback> = sqlx::query_as(
            "INSERT INTO ticket_feedback (ticket_id, tenant_id, queue_id, rating, comment) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ticket_id) DO NOTHING \
             RETURNING rating, comment, created_at",
        )
        .bind(id)
        .bind(read.tenant_id)
        .bind(read.ticket().queue_id)
        .bind(rating)
        .bind(comment)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        given.ok_or_else(|| Conflict::FeedbackGiven.into())
    }

    /// A ticket's feedback, if its customer gave some.
    #[tracing::instrument(skip(self, access), fields(id = %id))]
    pub async fn feedback(&self, id: Uuid, access: &TicketAccess) -> Result<Option<Feedback>> {
        let tenant = self.tenant_of_readable_ticket(id, access).await?;
        let mut tx = self.begin(tenant).await?;
        let given = sqlx::query_as("SELECT rating, comment, created_at FROM ticket_feedback WHERE ticket_id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(given)
    }
}
