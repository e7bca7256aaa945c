//! Queue status and who may join.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Open queues take joins; paused ones keep their line but take no one new; closed ones neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueueStatus {
    Open,
    Paused,
    Closed,
}

impl QueueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStatus::Open => "open",
            QueueStatus::Paused => "paused",
            QueueStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<QueueStatus> {
        match s {
            "open" => Some(QueueStatus::Open),
            "paused" => Some(QueueStatus::Paused),
            "closed" => Some(QueueStatus::Closed),
            _ => None,
        }
    }
}

/// A queue as staff see it (lists, snapshots, `queue.updated` events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b", "slug": "main", "name": "Main desk", "prefix": "A",
    "capacity": null, "status": "open", "ticket_type": "default", "waiting": 12, "last_seq": 57,
    "settings": {}, "location_id": null, "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T09:41:12Z"
}))]
pub struct Queue {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub prefix: String,
    pub capacity: Option<i32>,
    pub status: QueueStatus,
    pub ticket_type: String,
    pub waiting: i32,
    pub last_seq: i64,
    #[schema(value_type = Object)]
    pub settings: Value,
    pub location_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Why a join was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    Closed,
    Paused,
    Full,
}

/// Whether one more person may join a queue with `waiting` in line.
pub fn admit(status: QueueStatus, capacity: Option<i32>, waiting: i32) -> Result<(), JoinRefusal> {
    match status {
        QueueStatus::Closed => Err(JoinRefusal::Closed),
        QueueStatus::Paused => Err(JoinRefusal::Paused),
        QueueStatus::Open if capacity.is_some_and(|c| waiting >= c) => Err(JoinRefusal::Full),
        QueueStatus::Open => Ok(()),
    }
}

/// A slug: lowercase letters, digits and dashes, 1 to 63, not starting with a dash.
pub fn valid_slug(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '0'..='9'))
        && s.len() <= 63
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
}

/// A ticket number prefix: up to three capital letters.
pub fn valid_prefix(s: &str) -> bool {
    s.len() <= 3 && s.chars().all(|c| c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_and_prefixes_are_checked() {
        assert!(valid_slug("main") && valid_slug("x-ray-2") && valid_slug("9"));
        assert!(!valid_slug("") && !valid_slug("-a") && !valid_slug("Main") && !valid_slug("a b"));
        assert!(!valid_slug(&"a".repeat(64)));
        assert!(valid_prefix("A") && valid_prefix("") && valid_prefix("VIP"));
        assert!(!valid_prefix("a") && !valid_prefix("ABCD") && !valid_prefix("A1"));
    }

    use super::*;

    #[test]
    fn only_open_queues_with_room_admit() {
        assert_eq!(admit(QueueStatus::Open, None, 10_000), Ok(()));
        assert_eq!(admit(QueueStatus::Open, Some(3), 2), Ok(()));
        assert_eq!(admit(QueueStatus::Open, Some(3), 3), Err(JoinRefusal::Full));
        assert_eq!(admit(QueueStatus::Paused, Some(3), 0), Err(JoinRefusal::Paused));
        assert_eq!(admit(QueueStatus::Closed, None, 0), Err(JoinRefusal::Closed));
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in [QueueStatus::Open, QueueStatus::Paused, QueueStatus::Closed] {
            assert_eq!(QueueStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(QueueStatus::parse("Open"), None);
    }
}
