//! Appointments: the slots a queue offers from its hours and `settings.appointments`, which
//! times may be booked, and where a booked customer who checks in enters the live line.
//!
//! **The line rule.** An appointment at `start_at` is owed the place it would have had by
//! joining at `start_at − early_minutes`: checked in, its ticket goes ahead of every walk-in who
//! joined after that moment and behind every one who joined before. So a walk-in never waits
//! behind someone who booked after they arrived (and could not have been served first anyway),
//! and a booked customer never waits behind the people who arrived while they were on their way.
//! Check-in opens at that moment too (arriving earlier, one waits to check in, so the place is
//! never handed out before it exists). Up to `late_minutes` after `start_at` the place holds;
//! after it the appointment is missed: the clock marks it (`appointment.missed`), and a late
//! arrival joins at the end like a walk-in, or is refused, as `late` says.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::hours::Hours;

/// An appointment as its customer and staff see it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "5d7c1f2e-8a9b-4c3d-9e0f-1a2b3c4d5e6f", "queue_id": "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b",
    "start_at": "2026-12-02T09:00:00Z", "end_at": "2026-12-02T09:15:00Z", "status": "booked",
    "ticket_id": null, "name": "Ada", "lang": "en", "check_in_opens_at": "2026-12-02T08:45:00Z",
    "missed_at": "2026-12-02T09:10:00Z", "checked_in_at": null, "created_at": "2026-12-01T17:02:11Z"
}))]
pub struct Appointment {
    pub id: Uuid,
    pub queue_id: Uuid,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    /// `booked`, `checked_in`, `cancelled` or `missed`.
    pub status: String,
    /// The live ticket, once checked in.
    pub ticket_id: Option<Uuid>,
    pub name: String,
    /// The language of its messages and pages.
    pub lang: String,
    /// From when check-in is taken; a join at this moment is the place it keeps.
    pub check_in_opens_at: DateTime<Utc>,
    /// When it counts as missed if nobody checked in.
    pub missed_at: DateTime<Utc>,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Staff only: how to reach the customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `settings.appointments`, validated, with its defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentSettings {
    /// The length of a slot, and the grid slots start on from each opening.
    pub slot_minutes: u16,
    /// Bookings one slot takes (counters serving booked customers at once).
    pub per_slot: u32,
    /// How far ahead one may book, in days.
    pub days_ahead: u16,
    /// Check-in opens this long before `start_at`, and the ticket's place is the one of a join
    /// at that moment.
    pub early_minutes: u16,
    /// The place holds this long after `start_at`; then the appointment is missed.
    pub late_minutes: u16,
    /// What a check-in after that gets.
    pub late: Late,
    /// Reminders, in minutes before `start_at` (the day before and an hour before by default).
    pub remind_minutes: Vec<u32>,
}

/// What a customer arriving after the late allowance gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Late {
    /// A ticket at the end of the line, as a walk-in.
    WalkIn,
    /// Nothing: 409 `appointment_missed`.
    Refuse,
}

impl Default for AppointmentSettings {
    fn default() -> Self {
        AppointmentSettings {
            slot_minutes: 15,
            per_slot: 1,
            days_ahead: 30,
            early_minutes: 15,
            late_minutes: 10,
            late: Late::WalkIn,
            remind_minutes: vec![24 * 60, 60],
        }
    }
}

/// Why `settings.appointments` was refused: a sentence naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("appointments.{0}")]
pub struct SettingsError(pub String);

impl AppointmentSettings {
    /// Reads and validates `settings.appointments`; absent keys take their defaults.
    pub fn parse(value: &Value) -> Result<AppointmentSettings, SettingsError> {
        let Some(map) = value.as_object() else {
            return Err(SettingsError(": must be an object".into()));
        };
        const KNOWN: [&str; 7] =
            ["slot_minutes", "per_slot", "days_ahead", "early_minutes", "late_minutes", "late", "remind_minutes"];
        if let Some(unknown) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(SettingsError(format!("{unknown} is not a setting (known: {})", KNOWN.join(", "))));
        }
        let mut s = AppointmentSettings::default();
        let whole = |key: &str, min: u64, max: u64| -> Result<Option<u64>, SettingsError> {
            match map.get(key).filter(|v| !v.is_null()) {
                None => Ok(None),
                Some(v) => match v.as_u64() {
                    Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                    _ => Err(SettingsError(format!("{key} must be a whole number, {min} to {max}"))),
                },
            }
        };
        if let Some(n) = whole("slot_minutes", 5, 8 * 60)? {
            s.slot_minutes = n as u16;
        }
        if let Some(n) = whole("per_slot", 1, 100)? {
            s.per_slot = n as u32;
        }
        if let Some(n) = whole("days_ahead", 1, 366)? {
            s.days_ahead = n as u16;
        }
        if let Some(n) = whole("early_minutes", 0, 240)? {
            s.early_minutes = n as u16;
        }
        if let Some(n) = whole("late_minutes", 0, 240)? {
            s.late_minutes = n as u16;
        }
        s.late = match map.get("late").filter(|v| !v.is_null()) {
            None => Late::WalkIn,
            Some(v) if v == "walk_in" => Late::WalkIn,
            Some(v) if v == "refuse" => Late::Refuse,
            Some(_) => return Err(SettingsError("late must be \"walk_in\" or \"refuse\"".into())),
        };
        if let Some(v) = map.get("remind_minutes").filter(|v| !v.is_null()) {
            let list: Option<Vec<u32>> = v
                .as_array()
                .filter(|a| a.len() <= 3)
                .and_then(|a| a.iter().map(|m| m.as_u64().filter(|m| (1..=7 * 24 * 60).contains(m))).collect())
                .map(|l: Vec<u64>| l.into_iter().map(|m| m as u32).collect());
            let Some(mut list) = list else {
                return Err(SettingsError(
                    "remind_minutes must be a list of at most 3 whole minutes, 1 to 10080".into(),
                ));
            };
            list.sort_unstable_by(|a, b| b.cmp(a));
            list.dedup();
            s.remind_minutes = list;
        }
        Ok(s)
    }

    /// The settings of a queue as stored (checked when saved): None when it takes no bookings.
    pub fn read(settings: &Value) -> Option<AppointmentSettings> {
        settings.get("appointments").filter(|v| !v.is_null()).and_then(|v| AppointmentSettings::parse(v).ok())
    }

    /// When the appointment at `start` counts as missed if nobody checked in.
    pub fn missed_at(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        start + Duration::minutes(self.late_minutes.into())
    }

    /// When check-in opens, which is also the moment whose place in line the appointment keeps.
    pub fn check_in_opens(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        start - Duration::minutes(self.early_minutes.into())
    }

    /// The reminders of an appointment at `start` still ahead at `now`, with their minutes.
    pub fn reminders(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> Vec<(u32, DateTime<Utc>)> {
        self.remind_minutes
            .iter()
            .map(|&m| (m, start - Duration::minutes(m.into())))
            .filter(|(_, at)| *at > now)
            .collect()
    }
}

/// One slot: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The slots of local `date`: from each opening of the day, every `slot_minutes`, each one
/// ending by the close. Local times the spring change skips give no slot; an autumn fold gives
/// its hour once.
pub fn slots(hours: &Hours, settings: &AppointmentSettings, date: NaiveDate) -> Vec<Slot> {
    let step = settings.slot_minutes;
    let mut out: Vec<Slot> = Vec::new();
    for &(open, close) in hours.intervals_on(date) {
        let mut m = open;
        while m + step <= close {
            let slot = Slot { start: hours.local_instant(date, m), end: hours.local_instant(date, m + step) };
            let after_last = out.last().is_none_or(|last| slot.start >= last.end);
            if slot.start < slot.end && after_last {
                out.push(slot);
            }
            m += step;
        }
    }
    out
}

/// Why a time cannot be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StartRefusal {
    #[error("start_at is in the past")]
    Past,
    #[error("start_at is further ahead than this queue books")]
    TooFarAhead,
    #[error("start_at is outside the queue's hours")]
    OutsideHours,
    #[error("start_at is not on the slot grid")]
    OffGrid,
}

/// The slot starting at `start`, if it may be booked at `now`.
pub fn bookable(
    hours: &Hours,
    settings: &AppointmentSettings,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Slot, StartRefusal> {
    if start <= now {
        return Err(StartRefusal::Past);
    }
    if start > now + Duration::days(settings.days_ahead.into()) {
        return Err(StartRefusal::TooFarAhead);
    }
    let date = hours.local_date(start);
    let day = slots(hours, settings, date);
    if let Some(slot) = day.iter().find(|s| s.start == start) {
        return Ok(*slot);
    }
    match hours.is_open(start) {
        true => Err(StartRefusal::OffGrid),
        false => Err(StartRefusal::OutsideHours),
    }
}

/// What a check-in at `now` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckIn {
    /// Too early: check-in opens at this moment.
    TooEarly(DateTime<Utc>),
    /// Into the line, at the place of a join at this moment (see the module's rule).
    PlacedAsOf(DateTime<Utc>),
    /// Past the late allowance: at the end of the line, as a walk-in.
    AtEnd,
    /// Past the late allowance, and the queue refuses late arrivals.
    Refused,
}

/// Where a booked customer who checks in at `now` goes, given when check-in opened and when the
/// appointment counts as missed (both fixed when it was booked) and what the queue does with late
/// arrivals.
pub fn check_in(opens: DateTime<Utc>, missed_at: DateTime<Utc>, late: Late, now: DateTime<Utc>) -> CheckIn {
    if now < opens {
        CheckIn::TooEarly(opens)
    } else if now <= missed_at {
        CheckIn::PlacedAsOf(opens)
    } else {
        match late {
            Late::WalkIn => CheckIn::AtEnd,
            Late::Refuse => CheckIn::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn paris(weekly: Value) -> Hours {
        Hours::parse(&json!({"tz": "Europe/Paris", "weekly": weekly, "closed_on": ["2026-12-25"]})).unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn slots_follow_each_opening_and_end_by_its_close() {
        let hours = paris(json!({"tue": [["09:00", "10:00"], ["14:00", "14:50"]]}));
        let s = AppointmentSettings { slot_minutes: 20, ..Default::default() };
        let day = slots(&hours, &s, date("2026-12-01"));
        // 09:00 09:20 09:40, then 14:00 14:20 (14:40 would end past 14:50). Paris is UTC+1.
        let starts: Vec<_> = day.iter().map(|s| s.start).collect();
        assert_eq!(
            starts,
            vec![
                utc(2026, 12, 1, 8, 0),
                utc(2026, 12, 1, 8, 20),
                utc(2026, 12, 1, 8, 40),
                utc(2026, 12, 1, 13, 0),
                utc(2026, 12, 1, 13, 20)
            ]
        );
        assert_eq!(day[0].end, utc(2026, 12, 1, 8, 20));
        assert!(slots(&hours, &s, date("2026-12-02")).is_empty(), "closed on Wednesdays");
        let christmas = paris(json!({"fri": [["09:00", "10:00"]]}));
        assert!(slots(&christmas, &s, date("2026-12-25")).is_empty(), "closed on a closed day");
    }

    #[test]
    fn slots_across_the_clock_changes_in_paris() {
        // Open 01:00–04:00 every Sunday. On 2027-03-28 the clocks jump from 02:00 to 03:00: the
        // local 02:xx slots do not exist. On 2026-10-25 they fall back from 03:00 to 02:00: the
        // 02:xx hour happens twice and is offered once.
        let hours = paris(json!({"sun": [["01:00", "04:00"]]}));
        let s = AppointmentSettings { slot_minutes: 30, ..Default::default() };
        let spring = slots(&hours, &s, date("2027-03-28"));
        let starts: Vec<_> = spring.iter().map(|s| s.start).collect();
        // 01:00 01:30 (CET, UTC+1), then 03:00 03:30 (CEST, UTC+2).
        assert_eq!(
            starts,
            vec![utc(2027, 3, 28, 0, 0), utc(2027, 3, 28, 0, 30), utc(2027, 3, 28, 1, 0), utc(2027, 3, 28, 1, 30)]
        );
        assert!(spring.iter().all(|s| s.end > s.start));
        let autumn = slots(&hours, &s, date("2026-10-25"));
        assert_eq!(autumn.len(), 6, "01:00 to 04:00 local is six slots of 30 minutes, each offered once");
        assert_eq!(autumn[0].start, utc(2026, 10, 24, 23, 0), "01:00 CEST");
        assert_eq!(autumn[5].start, utc(2026, 10, 25, 2, 30), "03:30 CET");
    }

    #[test]
    fn only_future_slots_on_the_grid_within_the_horizon_are_bookable() {
        let hours = paris(json!({"tue": [["09:00", "12:00"]], "wed": [["09:00", "12:00"]]}));
        let s = AppointmentSettings { slot_minutes: 15, days_ahead: 7, ..Default::default() };
        let now = utc(2026, 12, 1, 8, 30); // Tuesday 09:30 in Paris
        assert_eq!(bookable(&hours, &s, utc(2026, 12, 1, 9, 0), now).map(|s| s.end), Ok(utc(2026, 12, 1, 9, 15)));
        assert_eq!(bookable(&hours, &s, utc(2026, 12, 1, 8, 15), now), Err(StartRefusal::Past));
        assert_eq!(bookable(&hours, &s, utc(2026, 12, 1, 9, 5), now), Err(StartRefusal::OffGrid));
        assert_eq!(bookable(&hours, &s, utc(2026, 12, 1, 14, 0), now), Err(StartRefusal::OutsideHours));
        assert_eq!(bookable(&hours, &s, utc(2026, 12, 9, 8, 0), now), Err(StartRefusal::TooFarAhead));
        assert!(bookable(&hours, &s, utc(2026, 12, 8, 8, 0), now).is_ok(), "a week ahead is inside");
    }

    #[test]
    fn check_in_opens_early_keeps_its_place_until_late_then_follows_the_setting() {
        let start = utc(2026, 12, 1, 10, 0);
        let s = AppointmentSettings { early_minutes: 15, late_minutes: 10, ..Default::default() };
        let (opens, missed) = (s.check_in_opens(start), s.missed_at(start));
        assert_eq!(opens, utc(2026, 12, 1, 9, 45));
        let at = |now| check_in(opens, missed, Late::WalkIn, now);
        assert_eq!(at(utc(2026, 12, 1, 9, 30)), CheckIn::TooEarly(opens));
        assert_eq!(at(opens), CheckIn::PlacedAsOf(opens));
        assert_eq!(at(utc(2026, 12, 1, 10, 10)), CheckIn::PlacedAsOf(opens));
        assert_eq!(at(utc(2026, 12, 1, 10, 11)), CheckIn::AtEnd);
        assert_eq!(check_in(opens, missed, Late::Refuse, utc(2026, 12, 1, 10, 11)), CheckIn::Refused);
    }

    #[test]
    fn settings_take_defaults_and_name_what_is_wrong() {
        assert_eq!(AppointmentSettings::parse(&json!({})), Ok(AppointmentSettings::default()));
        let s =
            AppointmentSettings::parse(&json!({"slot_minutes": 30, "per_slot": 3, "remind_minutes": [60, 1440, 60]}))
                .unwrap();
        assert_eq!((s.slot_minutes, s.per_slot, s.remind_minutes), (30, 3, vec![1440, 60]));
        for (bad, word) in [
            (json!({"slot_minutes": 2}), "slot_minutes"),
            (json!({"per_slot": 0}), "per_slot"),
            (json!({"late": "maybe"}), "late"),
            (json!({"remind_minutes": [0]}), "remind_minutes"),
            (json!({"slots": 3}), "slots"),
            (json!([]), "object"),
        ] {
            let err = AppointmentSettings::parse(&bad).unwrap_err().to_string();
            assert!(err.contains(word), "{bad}: {err}");
        }
    }

    #[test]
    fn reminders_still_ahead() {
        let s = AppointmentSettings::default();
        let start = utc(2026, 12, 2, 10, 0);
        assert_eq!(s.reminders(start, utc(2026, 12, 1, 9, 0)).len(), 2);
        assert_eq!(s.reminders(start, utc(2026, 12, 1, 11, 0)), vec![(60, utc(2026, 12, 2, 9, 0))]);
    }
}
