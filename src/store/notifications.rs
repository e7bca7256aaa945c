//! The outbox of messages off the page (SMS, e-mail, push): what the sender claims and records,
//! what a ticket was told, delivery receipts, opt-outs, the deployment's keys and the day report.
//!
//! Messages are written by the writer, in the transaction of their event (`writer::flush`).
//! The sender claims due ones across tenants through `qc_claim_notifications` (a lease, FOR
//! UPDATE SKIP LOCKED) and records each outcome in a transaction scoped to the message's tenant.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::tickets::TicketAccess;
use super::{Identity, Result, Store, StoreError};

/// One message of a ticket, as staff and the customer see it (never with its recipient).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "1b6f0d2e-9a43-4c55-8a1e-0f3c2b4d5e6f", "channel": "sms", "kind": "called", "status": "delivered",
    "attempts": 1, "last_error": null, "sent_at": "2026-11-23T09:41:13Z", "delivered_at": "2026-11-23T09:41:15Z",
    "created_at": "2026-11-23T09:41:12Z"
}))]
pub struct SentMessage {
    pub id: Uuid,
    /// `sms`, `email` or `push`.
    pub channel: String,
    /// `joined`, `ahead`, `called`, `recalled` or `no_show`.
    pub kind: String,
    /// `pending`, `sent`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// Why the last attempt failed, or why the message was given up (`channel not configured`,
    /// `stale: …`, `opted out`).
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A message the sender has leased, with what its send needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedMessage {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub queue_id: Uuid,
    /// The ticket the message is about, or (a reminder) its appointment.
    pub ticket_id: Option<Uuid>,
    pub appointment_id: Option<Uuid>,
    pub channel: String,
    pub kind: String,
    /// The ticket's state when the message was written.
    pub state: String,
    /// Null once retention blanked it.
    pub recipient: Option<String>,
    pub lang: String,
    /// number, counter, ahead.
    pub vars: Value,
    /// Attempts made before this one.
    pub attempts: i32,
    /// The ticket's (or appointment's) state now (null: it is gone).
    pub ticket_state: Option<String>,
    pub queue_name: Option<String>,
    /// The queue's `settings.notify` (its templates).
    pub settings: Option<Value>,
    pub opted_out: bool,
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub enum MessageOutcome {
    /// Handed to the provider (its id, when it gave one, for receipts).
    Sent { provider_id: Option<String> },
    /// Failed; tried again at `at`.
    Retry { error: String, at: DateTime<Utc> },
    /// Given up, for this reason.
    Failed { error: String },
}

impl MessageOutcome {
    /// The status it leaves the message in, for metrics.
    pub fn status(&self) -> &'static str {
        match self {
            MessageOutcome::Sent { .. } => "sent",
            MessageOutcome::Retry { .. } => "retried",
            MessageOutcome::Failed { .. } => "failed",
        }
    }
}

/// What a provider's receipt says of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    Delivered,
    Failed(String),
    /// Accepted or queued on the way: nothing to record.
    Progress,
}

/// The messages of one day: sent (and delivered), failed, pending.
#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MessageCounts {
    /// Handed to a provider (delivered ones included).
    pub sent: i64,
    /// Confirmed by a receipt.
    pub delivered: i64,
    pub failed: i64,
    pub pending: i64,
}

/// A day of messages of a queue, by channel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageDay {
    pub day: NaiveDate,
    pub channel: String,
    #[serde(flatten)]
    pub counts: MessageCounts,
}

impl Store {
    /// Leases up to `limit` due messages of any tenant for `lease`.
    #[tracing::instrument(skip_all)]
    pub async fn claim_messages(&self, limit: i32, lease: std::time::Duration) -> Result<Vec<ClaimedMessage>> {
        let lease_ms = i32::try_from(lease.as_millis()).unwrap_or(i32::MAX);
        Ok(sqlx::query_as("SELECT * FROM qc_claim_notifications($1, $2)")
            .bind(limit)
            .bind(lease_ms)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Records one attempt of each of a tenant's leased messages and releases their leases, in
    /// one statement (a sender records what it claimed together: one write per claim, not per
    /// message). A receipt that came before this (a fast provider) is kept: a delivered message
    /// stays delivered.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, n = outcomes.len()))]
    pub async fn record_messages(&self, tenant: Uuid, outcomes: &[(Uuid, MessageOutcome)]) -> Result<()> {
        let (mut ids, mut statuses, mut errors, mut retries, mut providers) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, outcome) in outcomes {
            let (status, error, retry_at, provider_id) = match outcome {
                MessageOutcome::Sent { provider_id } => ("sent", None, None, provider_id.as_deref()),
                MessageOutcome::Retry { error, at } => ("pending", Some(error.as_str()), Some(*at), None),
                MessageOutcome::Failed { error } => ("failed", Some(error.as_str()), None, None),
            };
            ids.push(*id);
            statuses.push(status);
            errors.push(error);
            retries.push(retry_at);
            providers.push(provider_id);
        }
        let mut tx = self.begin(tenant).await?;
        sqlx::query(
            "UPDATE notifications n SET attempts = n.attempts + 1, locked_until = NULL, \
               status = CASE WHEN n.status = 'pending' THEN v.status ELSE n.status END, \
               last_error = COALESCE(v.error, n.last_error), next_attempt_at = COALESCE(v.retry_at, n.next_attempt_at), \
               provider_id = COALESCE(v.provider_id, n.provider_id), \
               sent_at = CASE WHEN v.status = 'sent' THEN now() ELSE n.sent_at END, \
               failed_at = CASE WHEN v.status = 'failed' AND n.status = 'pending' THEN now() ELSE n.failed_at END \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) \
               AS v(id, status, error, retry_at, provider_id) \
             WHERE n.id = v.id",
        )
        .bind(ids)
        .bind(statuses)
        .bind(errors)
        .bind(retries)
        .bind(providers)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The messages of a ticket, oldest first: for staff of its tenant or its own token.
    #[tracing::instrument(skip_all, fields(id = %ticket))]
    pub async fn ticket_messages(&self, ticket: Uuid, access: &TicketAccess) -> Result<Vec<SentMessage>> {
        // Reading the ticket checks the credential (a token that does not open it: not found).
        let tenant = self.tenant_of_readable_ticket(ticket, access).await?;
        let mut tx = self.begin(tenant).await?;
        let list = sqlx::query_as(
            "SELECT id, channel, kind, status, attempts, last_error, sent_at, delivered_at, created_at \
             FROM notifications WHERE ticket_id = $1 ORDER BY created_at, seq, channel",
        )
        .bind(ticket)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(list)
    }

    /// Adds (or replaces) the push subscription of a ticket: "notify me on this phone" from the
    /// ticket's page, after joining. Told moments from now on reach it too.
    #[tracing::instrument(skip_all, fields(id = %ticket))]
    pub async fn set_push(&self, ticket: Uuid, access: &TicketAccess, push: &Value, lang: &str) -> Result<()> {
        let tenant = self.tenant_of_readable_ticket(ticket, access).await?;
        let mut tx = self.begin(tenant).await?;
        sqlx::query(
            "INSERT INTO notify_contacts (ticket_id, tenant_id, queue_id, push, lang) \
             SELECT t.id, t.tenant_id, t.queue_id, $2, $3 FROM tickets t WHERE t.id = $1 \
             ON CONFLICT (ticket_id) DO UPDATE SET push = EXCLUDED.push",
        )
        .bind(ticket)
        .bind(push)
        .bind(lang)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a provider's receipt of message `id`; false when there is no such message.
    #[tracing::instrument(skip_all, fields(id = %id))]
    pub async fn record_receipt(&self, id: Uuid, receipt: &Receipt) -> Result<bool> {
        let tenant: Option<Uuid> =
            sqlx::query_scalar("SELECT qc_tenant_of_notification($1)").bind(id).fetch_one(&self.pool).await?;
        let Some(tenant) = tenant else { return Ok(false) };
        let (status, error) = match receipt {
            Receipt::Progress => return Ok(true),
            Receipt::Delivered => ("delivered", None),
            Receipt::Failed(why) => ("failed", Some(why.as_str())),
        };
        let mut tx = self.begin(tenant).await?;
        // A receipt may come before the sender recorded the send (the provider was quick): the
        // message is then delivered (or failed) already, and the send's record keeps that.
        sqlx::query(
            "UPDATE notifications SET status = $2, last_error = COALESCE($3, last_error), \
               delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END, \
               failed_at = CASE WHEN $2 = 'failed' THEN now() ELSE failed_at END \
             WHERE id = $1 AND status IN ('pending', 'sent')",
        )
        .bind(id)
        .bind(status)
        .bind(error)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A phone that answered STOP: no more SMS to it, and its pending ones are given up.
    #[tracing::instrument(skip_all)]
    pub async fn opt_out(&self, phone: &str) -> Result<()> {
        sqlx::query("INSERT INTO sms_optouts (phone) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(phone)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A key of the deployment, made (with `make`) and kept on first use; the first node to
    /// store it wins, and every node reads the same.
    #[tracing::instrument(skip_all, fields(name))]
    pub async fn server_key(&self, name: &str, make: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>> {
        // Read once per node: every booking seals with one, every receipt is checked with one.
        if let Some(value) = self.caches.server_keys.get(name) {
            return Ok(value.clone());
        }
        sqlx::query("INSERT INTO server_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(make())
            .execute(&self.pool)
            .await?;
        let value: Vec<u8> = sqlx::query_scalar("SELECT value FROM server_keys WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        self.caches.server_keys.insert(name.to_owned(), value.clone());
        Ok(value)
    }

    /// A queue's messages per day (in `tz`) and channel, from `from` to `to` inclusive.
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn message_days(
        &self,
        who: &Identity,
        queue_id: Uuid,
        from: NaiveDate,
        to: NaiveDate,
        tz: &str,
    ) -> Result<Vec<MessageDay>> {
        self.check_site(who, queue_id).await?;
        let mut tx = self.begin(who.tenant_id).await?;
        super::tickets::ensure_queue(&mut tx, queue_id).await?;
        #[derive(sqlx::FromRow)]
        struct Row {
            day: NaiveDate,
            channel: String,
            #[sqlx(flatten)]
            counts: MessageCounts,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT (created_at AT TIME ZONE $4)::date AS day, channel, \
               count(*) FILTER (WHERE sent_at IS NOT NULL) AS sent, \
               count(*) FILTER (WHERE status = 'delivered') AS delivered, \
               count(*) FILTER (WHERE status = 'failed') AS failed, \
               count(*) FILTER (WHERE status = 'pending') AS pending \
             FROM notifications WHERE queue_id = $1 \
               AND created_at >= ($2::date::timestamp AT TIME ZONE $4) \
               AND created_at < (($3::date + 1)::timestamp AT TIME ZONE $4) \
             GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .bind(queue_id)
        .bind(from)
        .bind(to)
        .bind(tz)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22023") => {
                StoreError::Invalid(format!("tz: unknown time zone `{tz}`"))
            }
            _ => StoreError::Db(e),
        })?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|r| MessageDay { day: r.day, channel: r.channel, counts: r.counts }).collect())
    }
}
