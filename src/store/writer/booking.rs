//! Appointment changes: booked, rescheduled, cancelled, missed. Each runs under its queue's row
//! lock (the batch locked every queue it touches), so counting a slot's bookings and adding one
//! is never raced, on this node or another: `per_slot` holds.

use sqlx::PgConnection;

use super::apply::{event, queue, record};
use super::{AppointmentChange, BatchState, Booked, Booking};
use crate::domain::EventKind;
use crate::store::appointments::{appointment_cols, AppointmentRow, Sealed};
use crate::store::{Conflict, Result, StoreError};

/// The actor of a customer's own changes.
const CUSTOMER: &str = "customer";

pub(super) async fn apply(tx: &mut PgConnection, state: &mut BatchState, change: &AppointmentChange) -> Result<Booked> {
    match change {
        AppointmentChange::Book(booking) => book(tx, state, booking).await,
        AppointmentChange::Reschedule {
            queue_id,
            appointment_id,
            slot,
            opens_at,
            missed_at,
            per_slot,
            reminders,
            actor,
        } => {
            queue(state, *queue_id)?;
            let current = locked(tx, *queue_id, *appointment_id).await?;
            if current.status != "booked" {
                return Err(
                    Conflict::InvalidTransition(format!("a {} appointment cannot be moved", current.status)).into()
                );
            }
            if current.start_at != slot.start && taken(tx, *queue_id, slot.start).await? >= i64::from(*per_slot) {
                return Err(Conflict::SlotFull.into());
            }
            let row: AppointmentRow = sqlx::query_as(concat!(
                "UPDATE appointments a SET start_at = $2, end_at = $3, opens_at = $4, missed_at = $5, updated_at = now(), \
                   reminders = CASE WHEN a.notify_sms IS NULL AND a.notify_email IS NULL THEN '{}' ELSE $6 END, \
                   reminded = 0, \
                   next_reminder_at = CASE WHEN a.notify_sms IS NULL AND a.notify_email IS NULL THEN NULL \
                                           ELSE $2 - make_interval(mins => ($6::int4[])[1]) END \
                 WHERE a.id = $1 RETURNING ",
                appointment_cols!()
            ))
            .bind(appointment_id)
            .bind(slot.start)
            .bind(slot.end)
            .bind(opens_at)
            .bind(missed_at)
            .bind(reminders)
            .fetch_one(&mut *tx)
            .await?;
            told(state, &row, "rescheduled", actor)?;
            Ok(Booked { row, replayed: None })
        }
        AppointmentChange::Cancel { queue_id, appointment_id, actor } => {
            queue(state, *queue_id)?;
            let current = locked(tx, *queue_id, *appointment_id).await?;
            if current.status != "booked" {
                let why = format!("a {} appointment cannot be cancelled", current.status.replace('_', " "));
                return Err(Conflict::InvalidTransition(why).into());
            }
            let row = set_status(tx, &current, "cancelled").await?;
            told(state, &row, "cancelled", actor)?;
            Ok(Booked { row, replayed: None })
        }
        AppointmentChange::Miss { queue_id, appointment_id, missed_at, actor } => {
            queue(state, *queue_id)?;
            let current = locked(tx, *queue_id, *appointment_id).await?;
            // Checked in, cancelled or moved since the clock looked, or missed by another node.
            if current.status != "booked" || missed_at.is_some_and(|at| current.missed_at != at) {
                let why = format!("a {} appointment cannot be marked missed", current.status.replace('_', " "));
                return Err(Conflict::InvalidTransition(why).into());
            }
            let row = set_status(tx, &current, "missed").await?;
            told(state, &row, "missed", actor)?;
            Ok(Booked { row, replayed: None })
        }
    }
}

async fn book(tx: &mut PgConnection, state: &mut BatchState, b: &Booking) -> Result<Booked> {
    queue(state, b.queue_id)?;
    if let Some(idem) = &b.idempotency {
        // Committed by an earlier batch (or this one) after the requester looked.
        let earlier: Option<Sealed> = sqlx::query_as(concat!(
            "SELECT a.token_hash, a.request_hash, a.token_sealed, ",
            appointment_cols!(),
            " FROM appointments a WHERE a.tenant_id = app_tenant() AND a.key_hash = $1"
        ))
        .bind(&idem.key_hash)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(Sealed { row, request_hash, token_sealed, .. }) = earlier {
            if request_hash.as_deref() != Some(idem.request_hash.as_slice()) {
                return Err(Conflict::IdempotencyConflict.into());
            }
            return Ok(Booked { row, replayed: Some(token_sealed.unwrap_or_default()) });
        }
    }
    if taken(tx, b.queue_id, b.slot.start).await? >= i64::from(b.per_slot) {
        return Err(Conflict::SlotFull.into());
    }
    let idem = b.idempotency.as_ref();
    let row: AppointmentRow = sqlx::query_as(concat!(
        "INSERT INTO appointments AS a (id, tenant_id, queue_id, start_at, end_at, customer_name, customer_phone, \
           customer_email, lang, token_hash, key_hash, request_hash, token_sealed, opens_at, missed_at, \
           notify_sms, notify_email, reminders, next_reminder_at, link_sealed) \
         VALUES ($1, app_tenant(), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                 $3 - make_interval(mins => ($17::int4[])[1]), $18) RETURNING ",
        appointment_cols!()
    ))
    .bind(b.appointment_id)
    .bind(b.queue_id)
    .bind(b.slot.start)
    .bind(b.slot.end)
    .bind(&b.name)
    .bind(&b.phone)
    .bind(&b.email)
    .bind(&b.lang)
    .bind(&b.token_hash)
    .bind(idem.map(|i| &i.key_hash))
    .bind(idem.map(|i| &i.request_hash))
    .bind(idem.map(|i| &i.token_sealed))
    .bind(b.opens_at)
    .bind(b.missed_at)
    .bind(&b.notify_sms)
    .bind(&b.notify_email)
    .bind(&b.reminders)
    .bind(&b.link_sealed)
    .fetch_one(&mut *tx)
    .await?;
    told(state, &row, "booked", CUSTOMER)?;
    Ok(Booked { row, replayed: None })
}

/// The appointment's row, locked; not found unless it is of this queue (and tenant).
async fn locked(tx: &mut PgConnection, queue_id: uuid::Uuid, id: uuid::Uuid) -> Result<AppointmentRow> {
    sqlx::query_as(concat!(
        "SELECT ",
        appointment_cols!(),
        " FROM appointments a WHERE a.id = $1 AND a.queue_id = $2 FOR UPDATE"
    ))
    .bind(id)
    .bind(queue_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound)
}

async fn set_status(tx: &mut PgConnection, current: &AppointmentRow, status: &str) -> Result<AppointmentRow> {
    Ok(sqlx::query_as(concat!(
        "UPDATE appointments a SET status = $2, updated_at = now() WHERE a.id = $1 RETURNING ",
        appointment_cols!()
    ))
    .bind(current.id)
    .bind(status)
    .fetch_one(&mut *tx)
    .await?)
}

/// Bookings that hold a place in the slot starting at `start`.
async fn taken(tx: &mut PgConnection, queue_id: uuid::Uuid, start: chrono::DateTime<chrono::Utc>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM appointments WHERE queue_id = $1 AND start_at = $2 AND status IN ('booked', 'checked_in')",
    )
    .bind(queue_id)
    .bind(start)
    .fetch_one(&mut *tx)
    .await?)
}

/// Records `appointment.<what>` in the queue's log, with the appointment as staff see it (its
/// name, never its phone or e-mail: events also go to webhooks).
pub(super) fn told(state: &mut BatchState, row: &AppointmentRow, what: &str, actor: &str) -> Result<()> {
    let q = queue(state, row.queue_id)?;
    let seq = q.last_seq + 1;
    q.last_seq = seq;
    q.dirty = true;
    let mut e = event(row.queue_id, seq, EventKind::Appointment(what.to_owned()), None, actor, None, None);
    let view = row.view(false);
    e.appointment = Some(serde_json::to_value(&view).map_err(anyhow::Error::from)?);
    record(state, e);
    Ok(())
}
