//! The ticket as clients see it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A ticket view: what the customer page, staff console and events carry.
///
/// `position` is 1 for the next person and null when not in line; `seq` is the queue's event
/// number this view reflects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "0b9e5a53-2f4d-4a53-9a8e-3f1c2d7f1a01", "queue_id": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b",
    "number": "A042", "status": "waiting", "position": 3, "eta_seconds": 540, "eta_p90_seconds": 900,
    "counter": null, "joined_at": "2026-11-23T09:30:00Z", "called_at": null, "seq": 57,
    "served_at": null, "finished_at": null, "priority": 0, "name": "Ada", "party_size": 2, "fields": {},
    "present": true, "present_at": "2026-11-23T09:31:10Z", "snoozes": 0
}))]
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
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
    /// Whether the customer is watching (their ticket page is open), and since when; once away,
    /// when they were last seen.
    #[serde(default)]
    pub present: bool,
    #[serde(default)]
    pub present_at: Option<DateTime<Utc>>,
    /// How often the customer stepped back in line (`POST …/snooze`).
    #[serde(default)]
    pub snoozes: i16,
    /// Staff's notes: only in staff's reads of one ticket (never in events, sockets or the
    /// customer's reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
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
