//! Appointments: the slots a queue offers, bookings (through the writer, so each is an event of
//! the queue's log and `per_slot` holds across nodes), and check-in, which turns a booking into
//! a ticket placed in the live line by the rule of `domain::appointment`.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::joins::Joined;
use super::writer::{AppointmentChange, Booked, Booking, CheckInPlan, Idempotency, JoinRequest, TicketChange};
use super::{Conflict, Identity, Result, Store, StoreError};
use crate::domain::appointment::{self, Appointment, AppointmentSettings, CheckIn, Late, StartRefusal};
use crate::domain::notify::{e164, email_address, Lang};
use crate::domain::Hours;
use crate::secret;

/// The columns of an `AppointmentRow`, from `appointments a`.
macro_rules! appointment_cols {
    () => {
        "a.id, a.queue_id, a.start_at, a.end_at, a.status, a.customer_name, a.customer_phone, a.customer_email, \
         a.lang, a.ticket_id, a.opens_at, a.missed_at, a.checked_in_at, a.created_at"
    };
}
pub(crate) use appointment_cols;

/// An appointment as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppointmentRow {
    pub id: Uuid,
    pub queue_id: Uuid,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    pub status: String,
    pub customer_name: String,
    pub customer_phone: Option<String>,
    pub customer_email: Option<String>,
    pub lang: String,
    pub ticket_id: Option<Uuid>,
    pub opens_at: DateTime<Utc>,
    pub missed_at: DateTime<Utc>,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl AppointmentRow {
    /// As the protocol shows it; with how to reach the customer only when `contacts`.
    pub fn view(&self, contacts: bool) -> Appointment {
        Appointment {
            id: self.id,
            queue_id: self.queue_id,
            start_at: self.start_at,
            end_at: self.end_at,
            status: self.status.clone(),
            ticket_id: self.ticket_id,
            name: self.customer_name.clone(),
            lang: self.lang.clone(),
            check_in_opens_at: self.opens_at,
            missed_at: self.missed_at,
            checked_in_at: self.checked_in_at,
            created_at: self.created_at,
            phone: self.customer_phone.clone().filter(|_| contacts),
            email: self.customer_email.clone().filter(|_| contacts),
        }
    }
}

/// An appointment with its secrets: the token's hash, and the booking's idempotency record.
#[derive(sqlx::FromRow)]
pub(crate) struct Sealed {
    #[sqlx(flatten)]
    pub row: AppointmentRow,
    pub token_hash: Vec<u8>,
    pub request_hash: Option<Vec<u8>>,
    pub token_sealed: Option<Vec<u8>>,
}

/// One slot of a day, with the places left in it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlotView {
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    /// Places left: 0 when full or past.
    pub available: u32,
}

/// What a customer gives to book.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewBooking {
    pub start_at: DateTime<Utc>,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub lang: Option<String>,
    /// Where reminders go, given with the customer's consent.
    pub notify_sms: Option<String>,
    pub notify_email: Option<String>,
}

/// Who is asking about an appointment.
pub enum AppointmentAccess {
    /// Its customer, by the token the booking answered.
    Token(String),
    Staff(Identity),
    /// A lobby kiosk (its key's kind `kiosk`) covering the appointment's queue: checks a
    /// customer in who scanned their booking's code.
    Kiosk(crate::domain::Device),
}

/// A booking and its secret (on replay, the one the same request made before).
pub struct Made {
    pub appointment: Appointment,
    pub token: String,
    pub replayed: bool,
}

/// The most days one slots request covers: a month.
pub const MAX_DAYS: u32 = 31;

impl Store {
    /// A queue's hours and appointment settings; 400 `no_appointments` when it takes none.
    async fn booking_rules(&self, tenant: Uuid, queue: Uuid) -> Result<(Hours, AppointmentSettings)> {
        let settings = self.queue_settings(tenant, queue).await?;
        let rules = AppointmentSettings::read(&settings);
        let hours = crate::domain::Timing::read(&settings).hours;
        match (hours, rules) {
            (Some(hours), Some(rules)) => Ok((hours, rules)),
            _ => Err(StoreError::Rejected(
                "no_appointments",
                "this queue takes no appointments (its settings need `hours` and `appointments`)".into(),
            )),
        }
    }

    /// The slots of `days` local days from `date`, with the places left in each: one read of the
    /// bookings of those days.
    #[tracing::instrument(skip(self))]
    pub async fn slots(&self, queue: Uuid, date: NaiveDate, days: u32) -> Result<Vec<SlotView>> {
        let meta = self.queue_meta(queue).await?.ok_or(StoreError::NotFound)?;
        let (hours, rules) = self.booking_rules(meta.tenant_id, queue).await?;
        let dates: Vec<NaiveDate> = date.iter_days().take(days.clamp(1, MAX_DAYS) as usize).collect();
        let slots: Vec<appointment::Slot> = dates.iter().flat_map(|d| appointment::slots(&hours, &rules, *d)).collect();
        let (Some(first), Some(last)) = (slots.first(), slots.last()) else {
            return Ok(Vec::new());
        };
        let mut tx = self.begin(meta.tenant_id).await?;
        let taken: Vec<(DateTime<Utc>, i64)> = sqlx::query_as(
            "SELECT start_at, count(*) FROM appointments WHERE queue_id = $1 AND start_at >= $2 AND start_at <= $3 \
               AND status IN ('booked', 'checked_in') GROUP BY 1",
        )
        .bind(queue)
        .bind(first.start)
        .bind(last.start)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let taken: std::collections::HashMap<DateTime<Utc>, i64> = taken.into_iter().collect();
        let now = self.clock.now();
        let horizon = now + Duration::days(rules.days_ahead.into());
        Ok(slots
            .into_iter()
            .map(|s| {
                let left = i64::from(rules.per_slot) - taken.get(&s.start).copied().unwrap_or(0);
                let open = s.start > now && s.start <= horizon;
                SlotView { start_at: s.start, end_at: s.end, available: if open { left.max(0) as u32 } else { 0 } }
            })
            .collect())
    }

    /// Books a slot. With an idempotency key, the same request answers the same booking; another
    /// request with that key, a conflict.
    #[tracing::instrument(skip(self, booking, idempotency_key))]
    pub async fn book(&self, queue: Uuid, mut booking: NewBooking, idempotency_key: Option<&str>) -> Result<Made> {
        let meta = self.queue_meta(queue).await?.ok_or(StoreError::NotFound)?;
        let (hours, rules) = self.booking_rules(meta.tenant_id, queue).await?;
        check_booking(&mut booking)?;
        let slot = appointment::bookable(&hours, &rules, booking.start_at, self.clock.now()).map_err(refusal)?;
        let idempotency = match idempotency_key {
            Some(key) => {
                let mut request = queue.as_bytes().to_vec();
                request.extend(serde_json::to_vec(&booking).map_err(anyhow::Error::from)?);
                Some((key, secret::sha256(key.as_bytes()), secret::sha256(&request)))
            }
            None => None,
        };
        let token = secret::new_token();
        let reminders = match booking.notify_sms.is_some() || booking.notify_email.is_some() {
            true => owed(&rules, slot.start, self.clock.now()),
            false => Vec::new(),
        };
        let appointment_id = Uuid::new_v4();
        let link_key = self.server_key("receipts", || rand::random::<[u8; 32]>().to_vec()).await?;
        let link_sealed = secret::seal_token(&token, &secret::booking_link_key(&link_key, appointment_id));
        let change = AppointmentChange::Book(Box::new(Booking {
            queue_id: queue,
            appointment_id,
            slot,
            per_slot: rules.per_slot,
            opens_at: rules.check_in_opens(slot.start),
            missed_at: rules.missed_at(slot.start),
            name: booking.name,
            phone: booking.phone,
            email: booking.email,
            lang: booking.lang.unwrap_or_else(|| "en".into()),
            notify_sms: booking.notify_sms,
            notify_email: booking.notify_email,
            reminders,
            link_sealed,
            token_hash: secret::hash_token(&token),
            idempotency: idempotency.as_ref().map(|(key, key_hash, request_hash)| Idempotency {
                key_hash: key_hash.clone(),
                request_hash: request_hash.clone(),
                token_sealed: secret::seal_token(&token, key),
            }),
        }));
        let Booked { row, replayed } = self.writer.book(meta.tenant_id, change).await?;
        Ok(match (replayed, idempotency_key) {
            (Some(sealed), Some(key)) => {
                Made { appointment: row.view(true), token: secret::unseal_token(&sealed, key), replayed: true }
            }
            _ => Made { appointment: row.view(true), token, replayed: false },
        })
    }

    /// An appointment, for its customer (by token) or the staff of its tenant.
    #[tracing::instrument(skip(self, who))]
    pub async fn appointment(&self, id: Uuid, who: &AppointmentAccess) -> Result<Appointment> {
        Ok(self.find_appointment(id, who).await?.1.view(true))
    }

    async fn find_appointment(&self, id: Uuid, who: &AppointmentAccess) -> Result<(Uuid, AppointmentRow)> {
        let tenant = match who {
            AppointmentAccess::Staff(who) => who.tenant_id,
            AppointmentAccess::Kiosk(device) => device.tenant_id,
            AppointmentAccess::Token(_) => {
                let tenant: Option<Uuid> =
                    sqlx::query_scalar("SELECT qc_tenant_of_appointment($1)").bind(id).fetch_one(&self.pool).await?;
                tenant.ok_or(StoreError::NotFound)?
            }
        };
        let mut tx = self.begin(tenant).await?;
        let found: Option<Sealed> = sqlx::query_as(concat!(
            "SELECT a.token_hash, a.request_hash, a.token_sealed, ",
            appointment_cols!(),
            " FROM appointments a WHERE a.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let Sealed { row, token_hash, .. } = found.ok_or(StoreError::NotFound)?;
        if let AppointmentAccess::Staff(who) = who {
            // Staff limited to some sites see only their appointments.
            self.check_site(who, row.queue_id).await?;
        }
        match who {
            // A wrong token learns nothing, not even that the appointment exists.
            AppointmentAccess::Token(token) if token_hash != secret::hash_token(token) => {
                return Err(StoreError::NotFound)
            }
            // Nor does a kiosk of other queues.
            AppointmentAccess::Kiosk(device) if !device.queue_ids.contains(&row.queue_id) => {
                return Err(StoreError::NotFound)
            }
            _ => {}
        }
        Ok((tenant, row))
    }

    /// Cancels a booked appointment (its customer or staff).
    #[tracing::instrument(skip(self, who))]
    pub async fn cancel_appointment(&self, id: Uuid, who: &AppointmentAccess) -> Result<Appointment> {
        let (tenant, row) = self.find_appointment(id, who).await?;
        let change = AppointmentChange::Cancel { queue_id: row.queue_id, appointment_id: id, actor: actor(who) };
        Ok(self.writer.book(tenant, change).await?.row.view(true))
    }

    /// Marks a booked appointment missed by hand (staff: the customer called to say they will
    /// not come, or the day's list is being tidied).
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn mark_missed(&self, id: Uuid, who: &Identity) -> Result<Appointment> {
        let access = AppointmentAccess::Staff(who.clone());
        let (tenant, row) = self.find_appointment(id, &access).await?;
        let change =
            AppointmentChange::Miss { queue_id: row.queue_id, appointment_id: id, missed_at: None, actor: who.actor() };
        Ok(self.writer.book(tenant, change).await?.row.view(true))
    }

    /// Moves a booked appointment to another free slot of its queue.
    #[tracing::instrument(skip(self, who))]
    pub async fn reschedule(&self, id: Uuid, who: &AppointmentAccess, start_at: DateTime<Utc>) -> Result<Appointment> {
        let (tenant, row) = self.find_appointment(id, who).await?;
        let (hours, rules) = self.booking_rules(tenant, row.queue_id).await?;
        let slot = appointment::bookable(&hours, &rules, start_at, self.clock.now()).map_err(refusal)?;
        let change = AppointmentChange::Reschedule {
            queue_id: row.queue_id,
            appointment_id: id,
            slot,
            opens_at: rules.check_in_opens(slot.start),
            missed_at: rules.missed_at(slot.start),
            per_slot: rules.per_slot,
            reminders: owed(&rules, slot.start, self.clock.now()),
            actor: actor(who),
        };
        Ok(self.writer.book(tenant, change).await?.row.view(true))
    }

    /// Reminders due at `now`, across tenants, for the clock.
    pub async fn due_reminders(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<DueReminder>> {
        Ok(sqlx::query_as(
            "SELECT tenant_id, queue_id, appointment_id, start_at, reminders, reminded, next_reminder_at \
             FROM qc_due_reminders($1, $2)",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Writes a due reminder's messages to the outbox (SMS and e-mail, as the booking gave), in
    /// the customer's language, and moves the appointment to its next reminder; only if its
    /// `next_reminder_at` is still the one found due (another node's clock may have done it).
    /// After downtime only the latest reminder due is written.
    pub async fn remind(&self, due: &DueReminder, now: DateTime<Utc>) -> Result<super::Applied> {
        let left = due.reminders.get(due.reminded.max(0) as usize..).unwrap_or_default();
        let at = |m: i32| due.start_at - Duration::minutes(m.into());
        // The latest owed reminder whose time has come, and the one after it.
        let k = left.iter().take_while(|m| at(**m) <= now).count().max(1) - 1;
        let Some(&minutes) = left.get(k) else { return Ok(super::Applied::Already) };
        let next = left.get(k + 1).map(|m| at(*m));
        let settings = self.queue_settings(due.tenant_id, due.queue_id).await?;
        let wanted = crate::domain::notify::QueueNotify::parse(settings.get("notify"))
            .unwrap_or_default()
            .wants(crate::domain::notify::MessageKind::Reminder);
        let when = match crate::domain::Timing::read(&settings).hours {
            Some(h) => due.start_at.with_timezone(&h.tz()).format("%Y-%m-%d %H:%M").to_string(),
            None => due.start_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        };
        let mut tx = self.begin(due.tenant_id).await?;
        let moved = sqlx::query(
            "WITH a AS ( \
               UPDATE appointments SET reminded = reminded + $3, next_reminder_at = $4 \
               WHERE id = $1 AND status = 'booked' AND next_reminder_at = $2 \
               RETURNING id, tenant_id, queue_id, lang, notify_sms, notify_email, link_sealed), \
             msg AS ( \
               INSERT INTO notifications (id, tenant_id, queue_id, appointment_id, channel, kind, position, seq, \
                                          state, recipient, lang, vars) \
               SELECT gen_random_uuid(), a.tenant_id, a.queue_id, a.id, ch.channel, 'reminder', $5, \
                      (SELECT last_seq FROM queues WHERE id = a.queue_id), 'booked', ch.recipient, a.lang, \
                      jsonb_strip_nulls(jsonb_build_object('when', $6::text, 'link', encode(a.link_sealed, 'hex'))) \
               FROM a CROSS JOIN LATERAL (VALUES ('sms', a.notify_sms), ('email', a.notify_email)) AS ch(channel, recipient) \
               WHERE $7 AND ch.recipient IS NOT NULL \
               ON CONFLICT DO NOTHING) \
             SELECT count(*) FROM a",
        )
        .bind(due.appointment_id)
        .bind(due.next_reminder_at)
        .bind((k + 1) as i32)
        .bind(next)
        .bind(minutes)
        .bind(when)
        .bind(wanted)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let done: i64 = sqlx::Row::try_get(&moved, 0)?;
        if done > 0 && wanted {
            self.writer.outboxes().messages.notify_one();
        }
        Ok(if done > 0 { super::Applied::Here } else { super::Applied::Already })
    }

    /// Checks a booked customer in: a ticket, placed in the live line by the rule of
    /// `domain::appointment`; 409 when too early, already checked in, or missed where late
    /// arrivals are refused.
    #[tracing::instrument(skip(self, who))]
    pub async fn check_in(&self, id: Uuid, who: &AppointmentAccess) -> Result<Joined> {
        let (tenant, row) = self.find_appointment(id, who).await?;
        if row.status == "checked_in" || row.status == "cancelled" {
            let why = format!("this appointment is {}", row.status.replace('_', " "));
            return Err(Conflict::InvalidTransition(why).into());
        }
        let (_, rules) = self.booking_rules(tenant, row.queue_id).await?;
        let placed_as_of = match appointment::check_in(row.opens_at, row.missed_at, rules.late, self.clock.now()) {
            CheckIn::TooEarly(at) => return Err(Conflict::CheckInNotYet(at).into()),
            CheckIn::Refused => return Err(Conflict::AppointmentMissed.into()),
            CheckIn::PlacedAsOf(at) if row.status == "booked" => Some(at),
            // Missed already (the clock was quicker than the allowance's end): at the end.
            CheckIn::PlacedAsOf(_) | CheckIn::AtEnd if rules.late == Late::WalkIn => None,
            _ => return Err(Conflict::AppointmentMissed.into()),
        };
        let pace = self.pace_of(tenant, row.queue_id, false).await?;
        let token = secret::new_token();
        let mut request = JoinRequest { name: Some(row.customer_name.clone()), ..JoinRequest::default() };
        request.fields = serde_json::json!({});
        request.phone = row.customer_phone.clone();
        let change = TicketChange::Join {
            queue_id: row.queue_id,
            ticket_id: Uuid::new_v4(),
            request,
            token_hash: secret::hash_token(&token),
            idempotency: None,
            pace: pace.clone(),
            actor: actor(who),
            check_in: Some(CheckInPlan { appointment_id: id, placed_as_of }),
        };
        let placed = self.writer.submit(tenant, change).await?;
        let ticket = self.seen_with(tenant, placed, Some(&pace)).await?;
        Ok(Joined { ticket, token, replayed: false })
    }

    /// A queue's appointments of local `date` (in its hours' zone), with names and contacts.
    #[tracing::instrument(skip(self, who))]
    pub async fn appointments_on(&self, who: &Identity, queue: Uuid, date: NaiveDate) -> Result<Vec<Appointment>> {
        self.check_site(who, queue).await?;
        let timing = crate::domain::Timing::read(&self.queue_settings(who.tenant_id, queue).await?);
        let mut tx = self.begin(who.tenant_id).await?;
        let from = timing.start_of(date);
        let to = timing.start_of(date.succ_opt().unwrap_or(date));
        let rows: Vec<AppointmentRow> = sqlx::query_as(concat!(
            "SELECT ",
            appointment_cols!(),
            " FROM appointments a WHERE a.queue_id = $1 AND a.start_at >= $2 AND a.start_at < $3 \
             ORDER BY a.start_at, a.created_at"
        ))
        .bind(queue)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.iter().map(|r| r.view(true)).collect())
    }

    /// Appointments nobody checked in for by their `missed_at`, across tenants, for the clock.
    pub async fn due_appointments(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<DueAppointment>> {
        Ok(sqlx::query_as("SELECT tenant_id, queue_id, appointment_id, missed_at FROM qc_due_appointments($1, $2)")
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Marks a due appointment missed, through the writer, if no one has yet.
    pub async fn apply_missed(&self, due: &DueAppointment) -> Result<super::Applied> {
        let change = AppointmentChange::Miss {
            queue_id: due.queue_id,
            appointment_id: due.appointment_id,
            missed_at: Some(due.missed_at),
            actor: super::writer::SYSTEM.to_owned(),
        };
        match self.writer.book(due.tenant_id, change).await {
            Ok(_) => Ok(super::Applied::Here),
            Err(StoreError::Conflict(_) | StoreError::NotFound) => Ok(super::Applied::Already),
            Err(err) => Err(err),
        }
    }
}

/// A reminder the clock found due.
#[derive(Debug, sqlx::FromRow)]
pub struct DueReminder {
    pub tenant_id: Uuid,
    pub queue_id: Uuid,
    pub appointment_id: Uuid,
    pub start_at: DateTime<Utc>,
    pub reminders: Vec<i32>,
    pub reminded: i32,
    pub next_reminder_at: DateTime<Utc>,
}

/// The reminders owed to an appointment at `start` booked (or moved) at `now`.
fn owed(rules: &AppointmentSettings, start: DateTime<Utc>, now: DateTime<Utc>) -> Vec<i32> {
    rules.reminders(start, now).into_iter().map(|(m, _)| m as i32).collect()
}

/// An appointment the clock found due.
#[derive(Debug, sqlx::FromRow)]
pub struct DueAppointment {
    pub tenant_id: Uuid,
    pub queue_id: Uuid,
    pub appointment_id: Uuid,
    pub missed_at: DateTime<Utc>,
}

fn actor(who: &AppointmentAccess) -> String {
    match who {
        AppointmentAccess::Token(_) => "customer".into(),
        AppointmentAccess::Staff(who) => who.actor(),
        AppointmentAccess::Kiosk(device) => device.actor(),
    }
}

/// A time that cannot be booked, with its stable code.
fn refusal(r: StartRefusal) -> StoreError {
    let code = match r {
        StartRefusal::Past => "slot_in_past",
        StartRefusal::TooFarAhead => "slot_too_far_ahead",
        StartRefusal::OutsideHours => "slot_outside_hours",
        StartRefusal::OffGrid => "slot_off_grid",
    };
    StoreError::Rejected(code, r.to_string())
}

/// A booking's name, contacts and language, trimmed and checked.
fn check_booking(b: &mut NewBooking) -> Result<()> {
    let invalid = |m: &str| Err(StoreError::Invalid(m.into()));
    b.name = b.name.trim().to_owned();
    if b.name.is_empty() || b.name.chars().count() > 100 {
        return invalid("name: 1 to 100 characters");
    }
    b.phone = match b.phone.take().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()) {
        Some(p) => Some(e164(&p).ok_or_else(|| {
            StoreError::Rejected("invalid_phone", "phone: an international number, e.g. +33612345678".into())
        })?),
        None => None,
    };
    b.email = match b.email.take().map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()) {
        Some(e) => Some(
            email_address(&e)
                .ok_or_else(|| StoreError::Rejected("invalid_email", "email: an address such as a@b.example".into()))?,
        ),
        None => None,
    };
    b.notify_sms = match b.notify_sms.take().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()) {
        Some(p) => Some(e164(&p).ok_or_else(|| {
            StoreError::Rejected("invalid_phone", "notify.sms: an international number, e.g. +33612345678".into())
        })?),
        None => None,
    };
    b.notify_email = match b.notify_email.take().map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()) {
        Some(e) => Some(email_address(&e).ok_or_else(|| {
            StoreError::Rejected("invalid_email", "notify.email: an address such as a@b.example".into())
        })?),
        None => None,
    };
    b.lang = match b.lang.take() {
        Some(l) => Some(
            Lang::parse(&l)
                .ok_or_else(|| StoreError::Invalid("lang: one of en, fr, de, es, ja".into()))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    Ok(())
}
