//! A queue's figures day by day: volumes, waits, service times, abandonment and how good the
//! estimates were, for reports and the CSV export.

use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;

use super::tickets::ensure_queue;
use super::{Identity, Result, Store, StoreError};

/// The longest range a report covers, in days.
pub const MAX_REPORT_DAYS: i64 = 366;

/// Figures per day of joining (in `tz`), from `from` to `to` inclusive, and over the whole range.
#[derive(Debug, Clone, Serialize)]
pub struct DailyStats {
    pub queue_id: Uuid,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The time zone whose days these are.
    pub tz: String,
    /// Every day of the range, days without tickets included (with zeros).
    pub days: Vec<Day>,
    pub totals: Figures,
}

#[derive(Debug, Clone, Serialize)]
pub struct Day {
    pub day: NaiveDate,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The figures of the tickets that joined in a period.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    pub joined: i64,
    /// Tickets whose service started and ended.
    pub served: i64,
    pub no_shows: i64,
    pub cancelled: i64,
    /// Cancelled before ever being called: people who gave up waiting.
    pub abandoned: i64,
    /// `abandoned / joined`; null without joins.
    pub abandonment_rate: Option<f64>,
    /// From joining to the first call, over the tickets that were called.
    pub wait_seconds: Wait,
    /// From the start of service to its end.
    pub service_seconds: Service,
    /// The estimate given at joining against the wait that followed.
    pub estimate_error: Error,
    /// The wait of tickets of checked-in appointments, and of everyone else.
    pub wait_seconds_booked: Wait,
    pub wait_seconds_walk_in: Wait,
    /// Appointments of the period (by their start): made, kept (checked in), missed, cancelled.
    pub appointments: Appointments,
    /// No-shows whose customer's page was open when last heard of (`present`): called while
    /// watching and still did not come, against those who had stopped watching.
    pub no_shows_present: i64,
    /// The customers' ratings of the tickets that joined in the period.
    pub rating: Rating,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Rating {
    pub count: i64,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Appointments {
    pub booked: i64,
    pub kept: i64,
    pub missed: i64,
    pub cancelled: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Wait {
    pub mean: Option<f64>,
    pub p90: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Service {
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Error {
    pub mean_abs_seconds: Option<f64>,
    /// Mean of (actual − estimated): positive when people waited longer than told.
    pub bias_seconds: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    day: Option<NaiveDate>,
    joined: i64,
    served: i64,
    no_shows: i64,
    cancelled: i64,
    abandoned: i64,
    wait_mean: Option<f64>,
    wait_p90: Option<f64>,
    service_mean: Option<f64>,
    err_mean_abs: Option<f64>,
    err_bias: Option<f64>,
    booked_wait_mean: Option<f64>,
    booked_wait_p90: Option<f64>,
    walk_in_wait_mean: Option<f64>,
    walk_in_wait_p90: Option<f64>,
    no_shows_present: i64,
    rating_count: i64,
    rating_mean: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct AppointmentRow {
    day: Option<NaiveDate>,
    booked: i64,
    kept: i64,
    missed: i64,
    cancelled: i64,
}

impl From<Row> for Figures {
    fn from(r: Row) -> Figures {
        Figures {
            joined: r.joined,
            served: r.served,
            no_shows: r.no_shows,
            cancelled: r.cancelled,
            abandoned: r.abandoned,
            abandonment_rate: (r.joined > 0).then(|| r.abandoned as f64 / r.joined as f64),
            wait_seconds: Wait { mean: r.wait_mean, p90: r.wait_p90 },
            service_seconds: Service { mean: r.service_mean },
            estimate_error: Error { mean_abs_seconds: r.err_mean_abs, bias_seconds: r.err_bias },
            wait_seconds_booked: Wait { mean: r.booked_wait_mean, p90: r.booked_wait_p90 },
            wait_seconds_walk_in: Wait { mean: r.walk_in_wait_mean, p90: r.walk_in_wait_p90 },
            appointments: Appointments::default(),
            no_shows_present: r.no_shows_present,
            rating: Rating { count: r.rating_count, mean: r.rating_mean },
        }
    }
}

/// Whether `tz` looks like an IANA zone name (`UTC`, `Europe/Paris`, `America/Argentina/Salta`,
/// `Etc/GMT+3`); PostgreSQL then says whether it knows it.
pub fn plausible_tz(tz: &str) -> bool {
    !tz.is_empty()
        && tz.len() <= 64
        && tz.starts_with(|c: char| c.is_ascii_alphabetic())
        && tz.chars().all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
}

impl Store {
    /// The figures of a queue per day of `tz` from `from` to `to` (inclusive).
    #[tracing::instrument(skip(self, who), fields(tenant = %who.tenant_id))]
    pub async fn daily_stats(
        &self,
        who: &Identity,
        queue_id: Uuid,
        from: NaiveDate,
        to: NaiveDate,
        tz: &str,
    ) -> Result<DailyStats> {
        self.check_site(who, queue_id).await?;
        if from > to {
            return Err(StoreError::Invalid("from is after to".into()));
        }
        if (to - from).num_days() + 1 > MAX_REPORT_DAYS {
            return Err(StoreError::Invalid(format!("a report covers at most {MAX_REPORT_DAYS} days")));
        }
        if !plausible_tz(tz) {
            return Err(StoreError::Invalid(format!("tz: `{tz}` is not a time zone name")));
        }
        let mut tx = self.begin(who.tenant_id).await?;
        ensure_queue(&mut tx, queue_id).await?;
        let roles = self.roles_of(&mut tx, queue_id).await?;
        // A year of a busy queue is a million rows to sort for the percentiles: in memory.
        sqlx::query("SET LOCAL work_mem = '64MB'").execute(&mut *tx).await?;
        // One pass over the queue's tickets of the range (index `tickets_joined`): a row per
        // day, and one (`GROUPING(day) = 1`) for the whole range.
        let rows: Vec<Row> = sqlx::query_as(
            "WITH t AS (SELECT (joined_at AT TIME ZONE $4)::date AS day, status, called_at, \
                               actual_wait_seconds AS wait, \
                               EXISTS (SELECT 1 FROM appointments a WHERE a.ticket_id = tickets.id) AS booked, \
                               present, \
                               (SELECT f.rating FROM ticket_feedback f WHERE f.ticket_id = tickets.id) AS rating, \
                               EXTRACT(epoch FROM finished_at - served_at)::float8 AS service, \
                               (actual_wait_seconds - estimated_wait_seconds)::float8 AS err \
                        FROM tickets WHERE queue_id = $1 \
                          AND joined_at >= ($2::date::timestamp AT TIME ZONE $4) \
                          AND joined_at < (($3::date + 1)::timestamp AT TIME ZONE $4)) \
             SELECT CASE WHEN GROUPING(day) = 0 THEN day END AS day, \
               count(*) AS joined, count(service) AS served, \
               count(*) FILTER (WHERE status = $5) AS no_shows, \
               count(*) FILTER (WHERE status = $5 AND present) AS no_shows_present, \
               count(rating) AS rating_count, avg(rating)::float8 AS rating_mean, \
               count(*) FILTER (WHERE status = $6) AS cancelled, \
               count(*) FILTER (WHERE status = $6 AND called_at IS NULL) AS abandoned, \
               avg(wait)::float8 AS wait_mean, \
               percentile_cont(0.9) WITHIN GROUP (ORDER BY wait) AS wait_p90, \
               avg(service) AS service_mean, avg(abs(err)) AS err_mean_abs, avg(err) AS err_bias, \
               avg(wait) FILTER (WHERE booked)::float8 AS booked_wait_mean, \
               percentile_cont(0.9) WITHIN GROUP (ORDER BY wait) FILTER (WHERE booked) AS booked_wait_p90, \
               avg(wait) FILTER (WHERE NOT booked)::float8 AS walk_in_wait_mean, \
               percentile_cont(0.9) WITHIN GROUP (ORDER BY wait) FILTER (WHERE NOT booked) AS walk_in_wait_p90 \
             FROM t GROUP BY GROUPING SETS ((day), ())",
        )
        .bind(queue_id)
        .bind(from)
        .bind(to)
        .bind(tz)
        // The type's absent and abandoned states, whatever their names (none: counted as 0).
        .bind(roles.absent)
        .bind(roles.abandoned)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22023") => {
                StoreError::Invalid(format!("tz: unknown time zone `{tz}`"))
            }
            _ => StoreError::Db(e),
        })?;
        // Appointments by the local day they were for (index `appointments_by_start`).
        let booked: Vec<AppointmentRow> = sqlx::query_as(
            "WITH a AS (SELECT (start_at AT TIME ZONE $4)::date AS day, status FROM appointments \
                        WHERE queue_id = $1 AND start_at >= ($2::date::timestamp AT TIME ZONE $4) \
                          AND start_at < (($3::date + 1)::timestamp AT TIME ZONE $4)) \
             SELECT CASE WHEN GROUPING(day) = 0 THEN day END AS day, count(*) AS booked, \
               count(*) FILTER (WHERE status = 'checked_in') AS kept, \
               count(*) FILTER (WHERE status = 'missed') AS missed, \
               count(*) FILTER (WHERE status = 'cancelled') AS cancelled \
             FROM a GROUP BY GROUPING SETS ((day), ())",
        )
        .bind(queue_id)
        .bind(from)
        .bind(to)
        .bind(tz)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut booked_by_day = std::collections::HashMap::new();
        let mut booked_total = Appointments::default();
        for r in booked {
            let counts = Appointments { booked: r.booked, kept: r.kept, missed: r.missed, cancelled: r.cancelled };
            match r.day {
                Some(day) => {
                    booked_by_day.insert(day, counts);
                }
                None => booked_total = counts,
            }
        }

        let mut totals = Figures::default();
        let mut by_day = std::collections::HashMap::new();
        for row in rows {
            match row.day {
                Some(day) => {
                    by_day.insert(day, Figures::from(row));
                }
                None => totals = Figures::from(row),
            }
        }
        let days = from
            .iter_days()
            .take_while(|d| *d <= to)
            .map(|day| {
                let mut figures: Figures = by_day.remove(&day).unwrap_or_default();
                figures.appointments = booked_by_day.remove(&day).unwrap_or_default();
                Day { day, figures }
            })
            .collect();
        totals.appointments = booked_total;
        Ok(DailyStats { queue_id, from, to, tz: tz.to_owned(), days, totals })
    }
}

#[cfg(test)]
mod tests {
    use super::plausible_tz;

    #[test]
    fn zone_names_are_told_from_junk() {
        for ok in ["UTC", "Europe/Paris", "America/Argentina/Salta", "Etc/GMT+3", "America/Port-au-Prince"] {
            assert!(plausible_tz(ok), "{ok}");
        }
        for bad in ["", "+03", "Europe/Paris'; --", "UTC 1", "../etc", &"A".repeat(65)] {
            assert!(!plausible_tz(bad), "{bad}");
        }
    }
}
