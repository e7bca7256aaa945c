//! Tickets: reading them, moving them through their state machine, and their events.

use std::sync::Arc;

use serde_json::Value;
use sqlx::{FromRow, PgConnection, Row};
use uuid::Uuid;

use super::cache::{LiveLines, Pace};
use super::rows::{position, TicketRow};
use super::rules::ticket_rules;
use super::writer::{JoinRequest, Place, Placed, TicketChange, Transfer, Transition};
use super::{Conflict, Identity, PreparedRead, Result, Store, StoreError};
use crate::domain::{Event, EventKind, Ticket};
use crate::secret;

/// Events per page at most.
pub const MAX_EVENTS_PAGE: i64 = 1000;

/// Who is asking about a ticket.
#[derive(Debug, Clone)]
pub enum TicketAccess {
    /// The customer, by the ticket's own token.
    Token(String),
    Staff(Identity),
}

impl TicketAccess {
    fn actor(&self) -> String {
        match self {
            TicketAccess::Token(_) => "customer".into(),
            TicketAccess::Staff(who) => who.actor(),
        }
    }
}

/// A ticket as read, with what the write path needs to know of it.
pub(super) struct Read {
    pub seen: Seen,
    pub tenant_id: Uuid,
    pub ticket_type_id: Uuid,
}

impl Read {
    pub(super) fn ticket(&self) -> &Ticket {
        self.seen.ticket()
    }
}

/// A ticket as the store read or changed it: with its place, or in line with its place still
/// to find. A read counts the place itself when this node holds no live line of the queue
/// (see [`super::cache::LiveLines`]); otherwise it leaves it to the caller: this node's hub of
/// the queue answers it from its live line (O(log n)), and [`Store::place`] counts it where that
/// hub turns out to be missing.
#[derive(Debug, Clone)]
pub enum Seen {
    Placed(Ticket),
    InLine(Ticket),
}

impl Seen {
    fn of(ticket: Ticket, in_line: bool) -> Seen {
        if in_line {
            Seen::InLine(ticket)
        } else {
            Seen::Placed(ticket)
        }
    }

    pub fn ticket(&self) -> &Ticket {
        match self {
            Seen::Placed(t) | Seen::InLine(t) => t,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ReadRow {
    #[sqlx(flatten)]
    row: TicketRow,
    token_hash: Vec<u8>,
    tenant_id: Uuid,
    last_seq: i64,
    /// The place in line, when it was counted with the read.
    place: Option<i64>,
}

/// Whether a read of a ticket in line also finds its place.
#[derive(Clone, Copy)]
enum Placing {
    /// Counted by the same round trip, unless this node may hold the queue's live line, which
    /// then answers it (see [`Seen`]).
    UnlessLive,
    /// Not wanted: the caller changes the ticket next.
    No,
}

pub(super) fn check_join(request: &mut JoinRequest) -> Result<()> {
    let invalid = |m: &str| Err(StoreError::Invalid(m.into()));
    request.name = request.name.take().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    request.phone = request.phone.take().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if request.name.as_ref().is_some_and(|n| n.chars().count() > 100) {
        return invalid("name: at most 100 characters");
    }
    if let Some(phone) = &request.phone {
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        if phone.len() > 32 || digits < 3 || !phone.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
            return invalid("phone: digits, spaces and + - ( ) . only, at most 32");
        }
    }
    if request.party_size.is_some_and(|p| !(1..=1000).contains(&p)) {
        return invalid("party_size: 1 to 1000");
    }
    if request.fields.is_null() {
        request.fields = Value::Object(Default::default());
    }
    if !request.fields.is_object() {
        return invalid("fields must be an object");
    }
    // Contacts are checked whole; a join with none keeps `notify` absent.
    request.notify = match request.notify.take() {
        Some(contacts) => Some(Box::new(contacts.checked()?)).filter(|c| c.any()),
        None => None,
    };
    Ok(())
}

fn check_counter(counter: &str) -> Result<()> {
    if counter.trim().is_empty() || counter.chars().count() > 32 {
        return Err(StoreError::Invalid("counter: 1 to 32 characters".into()));
    }
    Ok(())
}

/// Fills in the estimate of a view in line.
fn with_eta(mut ticket: Ticket, pace: &Pace) -> Ticket {
    if let Some(p) = ticket.position {
        let e = pace.estimate(p);
        ticket.eta_seconds = Some(e.p50);
        ticket.eta_p90_seconds = Some(e.p90);
    }
    ticket
}

impl Store {
    /// A ticket as the database has it now, with its place in line when the read counted it;
    /// otherwise the caller finds it (see [`Seen`]).
    #[tracing::instrument(skip_all, fields(id = %id))]
    pub async fn ticket(&self, id: Uuid, access: &TicketAccess) -> Result<Seen> {
        Ok(self.read_ticket(id, access, Placing::UnlessLive).await?.seen)
    }

    /// A ticket's place in line and estimate, counted in the database: for a node that has no
    /// live line of the queue (see [`Seen`]).
    #[tracing::instrument(skip_all, fields(id = %ticket.id))]
    pub async fn place(&self, ticket: Ticket) -> Result<Ticket> {
        let meta = self.queue_meta(ticket.queue_id).await?.ok_or(StoreError::NotFound)?;
        let rows = self.read_once(&format!("'{}'", meta.tenant_id), PreparedRead::Place, ticket.id).await?;
        let row = rows.first().ok_or(StoreError::NotFound)?;
        let (seq, place): (i64, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
        let pace = self.pace_of(meta.tenant_id, ticket.queue_id, true).await?;
        Ok(with_eta(Ticket { seq, position: position(place), ..ticket }, &pace))
    }

    /// The tenant of a ticket the caller may read (its token, or staff of its tenant).
    pub(super) async fn tenant_of_readable_ticket(&self, id: Uuid, access: &TicketAccess) -> Result<Uuid> {
        Ok(self.read_ticket(id, access, Placing::No).await?.tenant_id)
    }

    /// A ticket the caller may read and is about to change (its place is not counted).
    pub(super) async fn ticket_to_change(&self, id: Uuid, access: &TicketAccess) -> Result<Read> {
        self.read_ticket(id, access, Placing::No).await
    }

    async fn read_ticket(&self, id: Uuid, access: &TicketAccess, placing: Placing) -> Result<Read> {
        match access {
            TicketAccess::Token(token) => self.read_as(id, None, Some(token), placing).await,
            TicketAccess::Staff(who) => {
                let read = self.read_as(id, Some(who.tenant_id), None, placing).await?;
                // Staff limited to some sites see only their tickets.
                self.check_site(who, read.ticket().queue_id).await?;
                Ok(read)
            }
        }
    }

    /// A ticket of the tenant's own, read without a credential (the ticket a replayed join
    /// made).
    pub(super) async fn ticket_of_tenant(&self, tenant: Uuid, id: Uuid) -> Result<Seen> {
        Ok(self.read_as(id, Some(tenant), None, Placing::UnlessLive).await?.seen)
    }

    /// A ticket by id: in `tenant`, or (by token) in whichever tenant holds it, the token then
    /// checked against its hash.
    async fn read_as(&self, id: Uuid, tenant: Option<Uuid>, token: Option<&str>, placing: Placing) -> Result<Read> {
        let tenant = match tenant {
            Some(tenant) => format!("'{tenant}'"),
            None => format!("coalesce(qc_tenant_of_ticket('{id}')::text, '')"),
        };
        let live = match placing {
            Placing::UnlessLive => self.caches.live_lines.filter(),
            Placing::No => LiveLines::ALL,
        };
        let rows = self.read_once(&tenant, PreparedRead::Ticket(live), id).await?;
        let read = ReadRow::from_row(rows.first().ok_or(StoreError::NotFound)?)?;
        if let Some(token) = token {
            // A token that does not open this ticket learns nothing, not even that it exists.
            if secret::hash_token(token) != read.token_hash {
                return Err(StoreError::NotFound);
            }
        }
        let mut ticket = read.row.view(read.last_seq, position(read.place));
        // Staff's notes are for staff: read by a token, a ticket has none.
        if token.is_none() {
            ticket.notes = read.row.notes.clone();
        }
        let seen = match read.place {
            Some(_) if read.row.in_line => {
                metrics::counter!("queuecast_places_total", "by" => "read").increment(1);
                let pace = self.pace_of(read.tenant_id, ticket.queue_id, true).await?;
                Seen::Placed(with_eta(ticket, &pace))
            }
            _ => Seen::of(ticket, read.row.in_line),
        };
        Ok(Read { seen, tenant_id: read.tenant_id, ticket_type_id: read.row.ticket_type_id })
    }

    /// Cancels a ticket: its customer leaving the line, or staff removing it.
    #[tracing::instrument(skip_all, fields(id = %id))]
    pub async fn cancel(&self, id: Uuid, access: &TicketAccess) -> Result<Seen> {
        let read = self.ticket_to_change(id, access).await?;
        self.move_ticket(read, "cancel", None, access.actor()).await
    }

    /// Applies a named transition of the ticket's state machine.
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn transition(&self, who: &Identity, id: Uuid, name: &str, counter: Option<String>) -> Result<Seen> {
        if let Some(c) = &counter {
            check_counter(c)?;
        }
        let read = self.ticket_to_change(id, &TicketAccess::Staff(who.clone())).await?;
        self.move_ticket(read, name, counter, who.actor()).await
    }

    async fn move_ticket(&self, read: Read, name: &str, counter: Option<String>, actor: String) -> Result<Seen> {
        let rules = {
            let mut tx = self.begin(read.tenant_id).await?;
            let rules = ticket_rules(&mut tx, &self.caches, read.ticket_type_id).await?;
            tx.commit().await?;
            rules
        };
        // Checked here for a precise answer; the writer checks again against the locked row.
        rules.fsm.check(&read.ticket().status, name).map_err(|_| {
            Conflict::InvalidTransition(match rules.fsm.transition(name) {
                None => format!("`{name}` is not a transition of ticket type `{}`", rules.code),
                Some(_) => format!("a ticket that is `{}` cannot `{name}`", read.ticket().status),
            })
        })?;
        let change = TicketChange::Transition(Transition {
            queue_id: read.ticket().queue_id,
            ticket_id: read.ticket().id,
            ticket_type_id: read.ticket_type_id,
            name: name.to_owned(),
            counter,
            actor,
        });
        self.ticket_outcome(read.tenant_id, change).await
    }

    /// Calls the head of the line to `counter`.
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn call_next(&self, who: &Identity, queue_id: Uuid, counter: String) -> Result<Seen> {
        check_counter(&counter)?;
        self.check_site(who, queue_id).await?;
        let change = TicketChange::CallNext { queue_id, counter: counter.trim().to_owned(), actor: who.actor() };
        self.ticket_outcome(who.tenant_id, change).await
    }

    /// Moves a ticket to the end of another queue's line.
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn transfer(&self, who: &Identity, id: Uuid, to_queue: Uuid) -> Result<Seen> {
        let read = self.ticket_to_change(id, &TicketAccess::Staff(who.clone())).await?;
        // The target queue too: a limited user moves tickets only between their sites.
        self.check_site(who, to_queue).await?;
        let change = TicketChange::Transfer(Transfer {
            queue_id: read.ticket().queue_id,
            ticket_id: id,
            to_queue,
            actor: who.actor(),
        });
        self.ticket_outcome(who.tenant_id, change).await
    }

    pub(super) async fn ticket_outcome(&self, tenant: Uuid, change: TicketChange) -> Result<Seen> {
        let placed = self.writer.submit(tenant, change).await?;
        self.seen_with(tenant, placed, None).await
    }

    /// What a committed change answers: a place counted by the writer gets its estimate here,
    /// from `pace` when the caller has it (a join read it before), else the cache, and only
    /// when both miss, a read.
    pub(super) async fn seen_with(&self, tenant: Uuid, placed: Placed, pace: Option<&Arc<Pace>>) -> Result<Seen> {
        let Placed { row, seq, place, .. } = placed;
        let p = match place {
            Place::Out => return Ok(Seen::Placed(row.view(seq, None))),
            Place::Owed => return Ok(Seen::InLine(row.view(seq, None))),
            Place::At(p) => p,
        };
        let pace = match pace {
            Some(pace) => pace.clone(),
            None => self.pace_of(tenant, row.queue_id, true).await?,
        };
        Ok(Seen::Placed(with_eta(row.view(seq, Some(p)), &pace)))
    }

    /// A queue's events after `after`, in seq order (at most `MAX_EVENTS_PAGE`).
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, queue_id = %queue_id))]
    pub async fn events(&self, who: &Identity, queue_id: Uuid, after: i64, limit: i64) -> Result<Vec<Event>> {
        self.check_site(who, queue_id).await?;
        self.events_in(who.tenant_id, queue_id, after, limit.clamp(1, MAX_EVENTS_PAGE)).await
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    seq: i64,
    queue_id: Uuid,
    kind: EventKind,
    actor: String,
    at: chrono::DateTime<chrono::Utc>,
    from_state: Option<String>,
    to_state: Option<String>,
    data: Value,
}

impl EventRow {
    pub(super) fn into_event(mut self) -> Result<Event> {
        let ticket = match self.data.get_mut("ticket").map(Value::take) {
            None | Some(Value::Null) => None,
            Some(t) => Some(serde_json::from_value(t).map_err(anyhow::Error::from)?),
        };
        let queue = self.data.get_mut("queue").map(Value::take).filter(|q| !q.is_null());
        let appointment = self.data.get_mut("appointment").map(Value::take).filter(|a| !a.is_null());
        let line = self.data.get("line").and_then(Value::as_i64);
        let presence = match self.data.get_mut("presence").map(Value::take) {
            None | Some(Value::Null) => None,
            Some(p) => Some(serde_json::from_value(p).map_err(anyhow::Error::from)?),
        };
        Ok(Event {
            seq: self.seq,
            queue_id: self.queue_id,
            kind: self.kind,
            ticket,
            actor: self.actor,
            at: self.at,
            from: self.from_state,
            to: self.to_state,
            queue,
            appointment,
            line,
            presence,
        })
    }
}

/// Not found unless the queue is the current tenant's.
#[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
pub(super) async fn ensure_queue(conn: &mut PgConnection, id: Uuid) -> Result<()> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM queues WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}
