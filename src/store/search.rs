//! The staff "finder": a tenant's tickets by display number, phone or name.

use serde::Serialize;
use uuid::Uuid;

use super::rows::{position, position_of_t, ticket_cols, TicketRow};
use super::{Identity, Result, Store, StoreError};
use crate::domain::Ticket;

/// Most tickets one search answers.
pub const MAX_SEARCH: i64 = 100;

/// A ticket found, with what only staff may see of it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Found {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub phone: Option<String>,
}

/// What a search string is taken for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Query {
    /// A display number or its start, upper-cased: `a04` → `A04`.
    Number(String),
    /// Digits: the end of a phone number, or the start of a number without prefix.
    Digits(String),
    /// Part of a name, or something like it.
    Name(String),
}

impl Query {
    fn parse(q: &str) -> Result<Query> {
        let q = q.trim();
        if q.is_empty() || q.chars().count() > 100 {
            return Err(StoreError::Invalid("q: 1 to 100 characters".into()));
        }
        let letters = q.chars().take_while(char::is_ascii_alphabetic).count();
        let rest = &q[letters..];
        if (1..=3).contains(&letters) && !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) {
            return Ok(Query::Number(q.to_ascii_uppercase()));
        }
        if q.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
            let digits: String = q.chars().filter(char::is_ascii_digit).collect();
            if digits.len() < 3 {
                return Err(StoreError::Invalid("q: at least 3 digits of a phone number".into()));
            }
            return Ok(Query::Digits(digits));
        }
        if q.chars().count() < 3 {
            return Err(StoreError::Invalid("q: at least 3 letters of a name".into()));
        }
        Ok(Query::Name(q.to_owned()))
    }

    fn kind_and_text(&self) -> (&'static str, &str) {
        match self {
            Query::Number(s) => ("number", s),
            Query::Digits(s) => ("digits", s),
            Query::Name(s) => ("name", s),
        }
    }
}

#[derive(sqlx::FromRow)]
struct FoundRow {
    #[sqlx(flatten)]
    row: TicketRow,
    customer_phone: Option<String>,
    position: Option<i64>,
    last_seq: i64,
}

impl Store {
    /// The tickets of the user's tenant (and locations, if the user is limited to some) that
    /// match `q`, newest first. The matching runs in `qc_find_tickets` (see migration 0005 for
    /// why); the tickets are then read here under row-level security.
    #[tracing::instrument(skip(self, who, q), fields(tenant = %who.tenant_id))]
    pub async fn search_tickets(&self, who: &Identity, q: &str, queue: Option<Uuid>, limit: i64) -> Result<Vec<Found>> {
        let query = Query::parse(q)?;
        let (kind, text) = query.kind_and_text();
        let mut tx = self.begin(who.tenant_id).await?;
        let rows: Vec<FoundRow> = sqlx::query_as(concat!(
            "WITH found AS (SELECT qc_find_tickets($1, $2, $3, \
                 (SELECT array_agg(location_id) FROM user_locations WHERE user_id = $4), $5) AS id) \
             SELECT t.customer_phone, q.last_seq, ",
            position_of_t!(),
            " AS position, ",
            ticket_cols!(),
            " FROM tickets t JOIN queues q ON q.id = t.queue_id \
             WHERE t.id IN (SELECT id FROM found) ORDER BY t.joined_at DESC, t.id"
        ))
        .bind(kind)
        .bind(text)
        .bind(queue)
        .bind(who.user_id)
        .bind(limit.clamp(1, MAX_SEARCH) as i32)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| Found { ticket: r.row.view(r.last_seq, position(r.position)), phone: r.customer_phone })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::Query;

    #[test]
    fn numbers_phones_and_names_are_told_apart() {
        assert_eq!(Query::parse(" a042 ").unwrap(), Query::Number("A042".into()));
        assert_eq!(Query::parse("VIP1").unwrap(), Query::Number("VIP1".into()));
        assert_eq!(Query::parse("+1 (555) 12-34").unwrap(), Query::Digits("15551234".into()));
        assert_eq!(Query::parse("1234").unwrap(), Query::Digits("1234".into()));
        assert_eq!(Query::parse("Maria").unwrap(), Query::Name("Maria".into()));
        assert_eq!(Query::parse("Ana Silva").unwrap(), Query::Name("Ana Silva".into()));
        assert_eq!(Query::parse("ABCD12").unwrap(), Query::Name("ABCD12".into()));
        for bad in ["", "  ", "12", "Al", &"x".repeat(101)] {
            assert!(Query::parse(bad).is_err(), "{bad:?}");
        }
    }
}
