//! The ticket as clients see it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A ticket view: what the customer page, staff console and events carry.
///
/// `position` is 1 for the next person and null when not in line; `seq` is the queue's event
/// number this view reflects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: Uuid,
    pub queue_id: Uuid,
    pub number: String,
    pub status: String,
    pub position: Option<u32>,
    pub eta_seconds: Option<i64>,
    pub eta_p90_seconds: Option<i64>,
    pub counter: Option<String>,
    pub joined_at: DateTime<Utc>,
    pub called_at: Option<DateTime<Utc>>,
    pub seq: i64,
    pub served_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub priority: i16,
    pub name: Option<String>,
    pub party_size: Option<i32>,
    pub fields: serde_json::Value,
}

/// The display number of the `n`th ticket of a queue: `A042`, `P007`, `A1234`.
pub fn display_number(prefix: &str, n: i32) -> String {
    format!("{prefix}{n:03}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_numbers_have_at_least_three_digits() {
        assert_eq!(display_number("A", 42), "A042");
        assert_eq!(display_number("P", 7), "P007");
        assert_eq!(display_number("", 5), "005");
        assert_eq!(display_number("VIP", 1234), "VIP1234");
    }
}
