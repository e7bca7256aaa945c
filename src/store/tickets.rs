//! Tickets: joining, reading, moving through the state machine, events.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::cache::Pace;
use super::rows::{position, position_of_t, ticket_cols, TicketRow};
use super::rules::ticket_rules;
use super::writer::{Idempotency, JoinRequest, Placed, TicketChange, Transfer, Transition};
use super::{Conflict, Identity, Result, Store, StoreError};
use crate::domain::{Event, EventKind, Ticket};
use crate::secret;

/// Events per page at most.
pub const MAX_EVENTS_PAGE: i64 = 1000;

/// A new ticket (or, on replay, the one the same request made before) and its secret.
#[derive(Debug, Clone)]
pub struct Joined {
    pub ticket: Ticket,
    pub token: String,
    pub replayed: bool,
}

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
struct Read {
    ticket: Ticket,
    tenant_id: Uuid,
    ticket_type_id: Uuid,
}

#[derive(sqlx::FromRow)]
struct ReadRow {
    #[sqlx(flatten)]
    row: TicketRow,
    position: Option<i64>,
    token_hash: Vec<u8>,
    tenant_id: Uuid,
    last_seq: i64,
}

fn check_join(request: &mut JoinRequest) -> Result<()> {
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
    /// Joins a queue. With an idempotency key (checked by the caller: it is outside input),
    /// the same request answers the same ticket.
    #[tracing::instrument(skip(self, request, idempotency_key))]
    pub async fn join(
        &self,
        queue_id: Uuid,
        mut request: JoinRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Joined> {
        check_join(&mut request)?;
        let meta = self.queue_meta(queue_id).await?.ok_or(StoreError::NotFound)?;
        let pace = match self.caches.pace(queue_id, false) {
            Ok(pace) => pace,
            Err(claim) => {
                let mut tx = self.begin(meta.tenant_id).await?;
                let pace = self.read_pace(&mut tx, queue_id).await?;
                tx.commit().await?;
                claim.fulfil(pace)
            }
        };
        let rules = match self.caches.ticket_types.get(&meta.ticket_type_id).map(|r| r.clone()) {
            Some(rules) => rules,
            None => {
                let mut tx = self.begin(meta.tenant_id).await?;
                let rules = ticket_rules(&mut tx, &self.caches, meta.ticket_type_id).await?;
                tx.commit().await?;
                rules
            }
        };
        if let Some(schema) = &rules.fields {
            let errors: Vec<String> = schema.iter_errors(&request.fields).take(3).map(|e| e.to_string()).collect();
            if !errors.is_empty() {
                return Err(StoreError::Invalid(format!("fields: {}", errors.join("; "))));
            }
        }

        let token = secret::new_token();
        let idempotency = match idempotency_key {
            Some(key) => {
                let mut request_bytes = queue_id.as_bytes().to_vec();
                request_bytes.extend(serde_json::to_vec(&request).map_err(anyhow::Error::from)?);
                Some(Idempotency {
                    key_hash: secret::sha256(key.as_bytes()),
                    request_hash: secret::sha256(&request_bytes),
                    token_sealed: secret::seal_token(&token, key),
                })
            }
            None => None,
        };
        let change = TicketChange::Join {
            queue_id,
            ticket_id: Uuid::new_v4(),
            request,
            token_hash: secret::hash_token(&token),
            idempotency,
            pace: pace.clone(),
        };
        let Placed { row, seq, position, replayed } = self.writer.submit(meta.tenant_id, change).await?;
        let ticket = with_eta(row.view(seq, position), &pace);
        Ok(match (replayed, idempotency_key) {
            (Some(sealed), Some(key)) => Joined { ticket, token: secret::unseal_token(&sealed, key), replayed: true },
            _ => Joined { ticket, token, replayed: false },
        })
    }

    /// A ticket with its live position and estimate.
    #[tracing::instrument(skip_all, fields(id = %id))]
    pub async fn ticket(&self, id: Uuid, access: &TicketAccess) -> Result<Ticket> {
        Ok(self.read_ticket(id, access).await?.ticket)
    }

    async fn read_ticket(&self, id: Uuid, access: &TicketAccess) -> Result<Read> {
        let mut tx = self.pool.begin().await?;
        match access {
            TicketAccess::Token(_) => {
                sqlx::query("SELECT set_config('app.tenant_id', coalesce(qc_tenant_of_ticket($1)::text, ''), true)")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            TicketAccess::Staff(who) => super::set_tenant(&mut tx, who.tenant_id).await?,
        }
        let read: Option<ReadRow> = sqlx::query_as(concat!(
            "SELECT t.token_hash, t.tenant_id, q.last_seq, ",
            position_of_t!(),
            " AS position, ",
            ticket_cols!(),
            " FROM tickets t JOIN queues q ON q.id = t.queue_id WHERE t.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let read = read.ok_or(StoreError::NotFound)?;
        if let TicketAccess::Token(token) = access {
            // A token that does not open this ticket learns nothing, not even that it exists.
            if secret::hash_token(token) != read.token_hash {
                return Err(StoreError::NotFound);
            }
        }
        let pace = self.pace_in(&mut tx, read.row.queue_id).await?;
        tx.commit().await?;
        let ticket = with_eta(read.row.view(read.last_seq, position(read.position)), &pace);
        Ok(Read { ticket, tenant_id: read.tenant_id, ticket_type_id: read.row.ticket_type_id })
    }

    /// Cancels a ticket: its customer leaving the line, or staff removing it.
    #[tracing::instrument(skip_all, fields(id = %id))]
    pub async fn cancel(&self, id: Uuid, access: &TicketAccess) -> Result<Ticket> {
        let read = self.read_ticket(id, access).await?;
        self.move_ticket(read, "cancel", None, access.actor()).await
    }

    /// Applies a named transition of the ticket's state machine.
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn transition(&self, who: &Identity, id: Uuid, name: &str, counter: Option<String>) -> Result<Ticket> {
        if let Some(c) = &counter {
            check_counter(c)?;
        }
        let read = self.read_ticket(id, &TicketAccess::Staff(who.clone())).await?;
        self.move_ticket(read, name, counter, who.actor()).await
    }

    async fn move_ticket(&self, read: Read, name: &str, counter: Option<String>, actor: String) -> Result<Ticket> {
        let rules = {
            let mut tx = self.begin(read.tenant_id).await?;
            let rules = ticket_rules(&mut tx, &self.caches, read.ticket_type_id).await?;
            tx.commit().await?;
            rules
        };
        // Checked here for a precise answer; the writer checks again against the locked row.
        rules.fsm.check(&read.ticket.status, name).map_err(|_| {
            Conflict::InvalidTransition(match rules.fsm.transition(name) {
                None => format!("`{name}` is not a transition of ticket type `{}`", rules.code),
                Some(_) => format!("a ticket that is `{}` cannot `{name}`", read.ticket.status),
            })
        })?;
        let change = TicketChange::Transition(Transition {
            queue_id: read.ticket.queue_id,
            ticket_id: read.ticket.id,
            ticket_type_id: read.ticket_type_id,
            name: name.to_owned(),
            counter,
            actor,
        });
        self.ticket_outcome(read.tenant_id, change).await
    }

    /// Calls the head of the line to `counter`.
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn call_next(&self, who: &Identity, queue_id: Uuid, counter: String) -> Result<Ticket> {
        check_counter(&counter)?;
        let change = TicketChange::CallNext { queue_id, counter: counter.trim().to_owned(), actor: who.actor() };
        self.ticket_outcome(who.tenant_id, change).await
    }

    /// Moves a ticket to the end of another queue's line.
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn transfer(&self, who: &Identity, id: Uuid, to_queue: Uuid) -> Result<Ticket> {
        let read = self.read_ticket(id, &TicketAccess::Staff(who.clone())).await?;
        let change = TicketChange::Transfer(Transfer {
            queue_id: read.ticket.queue_id,
            ticket_id: id,
            to_queue,
            actor: who.actor(),
        });
        self.ticket_outcome(who.tenant_id, change).await
    }

    async fn ticket_outcome(&self, tenant: Uuid, change: TicketChange) -> Result<Ticket> {
        let Placed { row, seq, position, .. } = self.writer.submit(tenant, change).await?;
        let view = row.view(seq, position);
        if view.position.is_none() {
            return Ok(view);
        }
        let mut tx = self.begin(tenant).await?;
        let pace = self.pace_in(&mut tx, view.queue_id).await?;
        tx.commit().await?;
        Ok(with_eta(view, &pace))
    }

    /// A queue's events after `after`, in seq order (at most `MAX_EVENTS_PAGE`).
    #[tracing::instrument(skip_all, fields(tenant = %who.tenant_id, queue_id = %queue_id))]
    pub async fn events(&self, who: &Identity, queue_id: Uuid, after: i64, limit: i64) -> Result<Vec<Event>> {
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
