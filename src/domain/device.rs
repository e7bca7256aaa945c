//! Devices of a venue: what a device key is for, and the queues it covers.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The most queues one device key covers (a screen shows them side by side).
pub const MAX_DEVICE_QUEUES: usize = 12;

/// What a device key lets its device do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// A screen: opens the display sockets of its queues.
    Display,
    /// A lobby tablet: issues tickets in its queues.
    Kiosk,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Display => "display",
            DeviceKind::Kiosk => "kiosk",
        }
    }

    pub fn parse(s: &str) -> Option<DeviceKind> {
        match s {
            "display" => Some(DeviceKind::Display),
            "kiosk" => Some(DeviceKind::Kiosk),
            _ => None,
        }
    }
}

/// A live device key, as its device presents it.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// The key's id (a per-queue display key's id, for keys made before device keys).
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: DeviceKind,
    pub queue_ids: Vec<Uuid>,
}

impl Device {
    /// Whether the device may show (a display) or issue tickets for (a kiosk) `queue`.
    pub fn covers(&self, kind: DeviceKind, queue: Uuid) -> bool {
        self.kind == kind && self.queue_ids.contains(&queue)
    }

    /// The actor recorded on the events this device causes.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.id)
    }
}

/// The queues asked for a new key, checked: 1 to [`MAX_DEVICE_QUEUES`], no repeats (the order
/// is kept).
pub fn check_queue_ids(ids: &[Uuid]) -> Result<(), String> {
    if ids.is_empty() || ids.len() > MAX_DEVICE_QUEUES {
        return Err(format!("queue_ids: 1 to {MAX_DEVICE_QUEUES} queues"));
    }
    if ids.iter().enumerate().any(|(i, id)| ids[..i].contains(id)) {
        return Err("queue_ids: a queue is listed twice".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_covers_only_its_queues_and_only_for_its_kind() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let d = Device { id: Uuid::new_v4(), tenant_id: Uuid::new_v4(), kind: DeviceKind::Kiosk, queue_ids: vec![a] };
        assert!(d.covers(DeviceKind::Kiosk, a));
        assert!(!d.covers(DeviceKind::Kiosk, b));
        assert!(!d.covers(DeviceKind::Display, a));
        assert!(d.actor().starts_with("kiosk:"));
    }

    #[test]
    fn queue_lists_are_one_to_twelve_without_repeats() {
        let a = Uuid::new_v4();
        assert!(check_queue_ids(&[a]).is_ok());
        assert!(check_queue_ids(&[]).is_err());
        assert!(check_queue_ids(&[a, a]).is_err());
        let many: Vec<Uuid> = (0..13).map(|_| Uuid::new_v4()).collect();
        assert!(check_queue_ids(&many).is_err());
        assert!(check_queue_ids(&many[..12]).is_ok());
    }
}
