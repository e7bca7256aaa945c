//! Joining a queue, and answering a join sent again with the same `Idempotency-Key`.
//!
//! A replay must cost what a read costs, whatever the share of retries and however long the
//! line: a key already committed is found with one indexed lookup before anything reaches the
//! writer, so retries never wait for a batch nor slow one down. A replay that races the commit
//! of its original (the original in flight when the retry looked) is answered by the writer
//! from memory (same batch) or by one set-based read (a later batch); neither counts the line.

use sqlx::PgPool;
use uuid::Uuid;

use super::batched::Batched;
use super::rules::ticket_rules;
use super::tickets::{check_join, Seen};
use super::writer::{Idempotency, JoinRequest, Placed, TicketChange};
use super::{Conflict, Identity, Result, Store, StoreError};
use crate::domain::{Device, DeviceKind};
use crate::secret;
use crate::tasks::Tasks;

/// A new ticket (or, on replay, the one the same request made before) and its secret.
#[derive(Debug, Clone)]
pub struct Joined {
    pub ticket: Seen,
    pub token: String,
    pub replayed: bool,
}

/// An idempotency record as committed: what the first request was, and what it made.
#[derive(Clone, sqlx::FromRow)]
pub(super) struct KeyRecord {
    request_hash: Vec<u8>,
    ticket_id: Uuid,
    token_sealed: Vec<u8>,
}

/// Committed idempotency keys, by tenant and key hash, looked up together (see `batched`): a
/// crowd's keyed joins each made a round trip of their own before, about two fifths of what a
/// keyed join cost.
pub(super) type KeyLookups = Batched<(Uuid, Vec<u8>), Option<KeyRecord>>;

/// A committed key found by a batch of lookups: whose, which, and its record.
#[derive(sqlx::FromRow)]
struct FoundKey {
    tenant: Uuid,
    key_hash: Vec<u8>,
    #[sqlx(flatten)]
    record: KeyRecord,
}

/// Starts the node's lookups of committed keys.
pub(super) fn key_lookups(pool: PgPool, tasks: &Tasks) -> KeyLookups {
    Batched::start("idempotency-keys", tasks, move |asked: Vec<(Uuid, Vec<u8>)>| {
        let pool = pool.clone();
        async move {
            let (tenants, hashes): (Vec<Uuid>, Vec<Vec<u8>>) = asked.iter().cloned().unzip();
            let found: Vec<FoundKey> = sqlx::query_as(
                "SELECT r_tenant AS tenant, r_key_hash AS key_hash, r_request_hash AS request_hash, \
                        r_ticket_id AS ticket_id, r_token_sealed AS token_sealed \
                 FROM qc_idempotency_records($1, $2)",
            )
            .bind(&tenants)
            .bind(&hashes)
            .fetch_all(&pool)
            .await?;
            Ok(asked
                .iter()
                .map(|(tenant, hash)| {
                    found.iter().find(|f| f.tenant == *tenant && f.key_hash == *hash).map(|f| f.record.clone())
                })
                .collect())
        }
    })
}

/// Who makes a ticket: the customer, a staff member at the desk (a walk-in), or a lobby kiosk.
#[derive(Debug, Clone, Copy)]
pub enum Joiner<'a> {
    Customer,
    Staff(&'a Identity),
    Kiosk(&'a Device),
}

impl Joiner<'_> {
    /// The event's actor, when the joiner may make a ticket in `queue` of `tenant`: staff of its
    /// tenant, a kiosk covering it. Anyone else finds no such queue.
    fn actor(&self, tenant: Uuid, queue: Uuid) -> Option<String> {
        match self {
            Joiner::Customer => Some("customer".into()),
            Joiner::Staff(who) => (who.tenant_id == tenant).then(|| who.actor()),
            Joiner::Kiosk(d) => (d.tenant_id == tenant && d.covers(DeviceKind::Kiosk, queue)).then(|| d.actor()),
        }
    }
}

impl Store {
    /// A customer joins a queue; see [`Store::join_by`].
    pub async fn join(&self, queue_id: Uuid, request: JoinRequest, idempotency_key: Option<&str>) -> Result<Joined> {
        self.join_by(Joiner::Customer, queue_id, request, idempotency_key).await
    }

    /// Joins a queue for `by`. With an idempotency key (checked by the caller: it is outside
    /// input), the same request answers the same ticket; another request with that key, a
    /// conflict.
    #[tracing::instrument(skip(self, by, request, idempotency_key))]
    pub async fn join_by(
        &self,
        by: Joiner<'_>,
        queue_id: Uuid,
        mut request: JoinRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Joined> {
        check_join(&mut request)?;
        let meta = self.queue_meta(queue_id).await?.ok_or(StoreError::NotFound)?;
        let actor = by.actor(meta.tenant_id, queue_id).ok_or(StoreError::NotFound)?;
        if let Joiner::Staff(who) = by {
            // A walk-in only at the user's own sites.
            self.check_site(who, queue_id).await?;
        }
        let idempotency = match idempotency_key {
            Some(key) => {
                let mut request_bytes = queue_id.as_bytes().to_vec();
                request_bytes.extend(serde_json::to_vec(&request).map_err(anyhow::Error::from)?);
                Some((key, secret::sha256(key.as_bytes()), secret::sha256(&request_bytes)))
            }
            None => None,
        };
        if let Some((key, key_hash, request_hash)) = &idempotency {
            if let Some(record) = self.committed_key(meta.tenant_id, key_hash).await? {
                return self.replay(meta.tenant_id, record, request_hash, key).await;
            }
        }

        // Outside the queue's hours (or in their last minutes) no one joins, whatever its status.
        let timing = self.check_hours(meta.tenant_id, queue_id).await?;
        let pace = self.pace_of(meta.tenant_id, queue_id, false).await?;
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
        let change = TicketChange::Join {
            queue_id,
            ticket_id: Uuid::new_v4(),
            request,
            token_hash: secret::hash_token(&token),
            idempotency: idempotency.as_ref().map(|(key, key_hash, request_hash)| Idempotency {
                key_hash: key_hash.clone(),
                request_hash: request_hash.clone(),
                token_sealed: secret::seal_token(&token, key),
            }),
            pace: pace.clone(),
            actor,
            check_in: None,
        };
        let placed: Placed =
            self.writer.submit(meta.tenant_id, change).await.map_err(|err| match (err, &timing.hours) {
                // Closed by its status, with hours that will open it: say when.
                (StoreError::Conflict(Conflict::QueueClosed), Some(hours)) => {
                    Conflict::ClosedUntil(hours.opens_at(self.clock.now())).into()
                }
                (err, _) => err,
            })?;
        let replayed = placed.replayed.clone();
        let ticket = self.seen_with(meta.tenant_id, placed, Some(&pace)).await?;
        Ok(match (replayed, idempotency_key) {
            (Some(sealed), Some(key)) => Joined { ticket, token: secret::unseal_token(&sealed, key), replayed: true },
            _ => Joined { ticket, token, replayed: false },
        })
    }

    /// The live record of an idempotency key, if one was committed: a primary-key lookup, read
    /// with the others asked about the same time (migration 0069).
    async fn committed_key(&self, tenant: Uuid, key_hash: &[u8]) -> Result<Option<KeyRecord>> {
        self.keys.ask((tenant, key_hash.to_vec())).await
    }

    /// The answer of a committed key: the ticket it made, as it is now, and its token.
    async fn replay(&self, tenant: Uuid, record: KeyRecord, request_hash: &[u8], key: &str) -> Result<Joined> {
        if record.request_hash != request_hash {
            return Err(Conflict::IdempotencyConflict.into());
        }
        let ticket = self.ticket_of_tenant(tenant, record.ticket_id).await?;
        Ok(Joined { ticket, token: secret::unseal_token(&record.token_sealed, key), replayed: true })
    }
}
