//! The time-keeping keys of a queue's settings: `hours`, `number_reset`,
//! `called_timeout_seconds` and `ticket_ttl_minutes`, validated together.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::fsm::Fsm;
use super::hours::{Hours, HoursError};

/// `called_timeout_seconds` at most: a day.
pub const MAX_CALLED_TIMEOUT_SECONDS: u64 = 86_400;
/// `ticket_ttl_minutes` at most: thirty days.
pub const MAX_TICKET_TTL_MINUTES: u64 = 30 * 24 * 60;

/// When display numbers start again at 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NumberReset {
    /// Numbers grow for ever (the default).
    #[default]
    Never,
    /// At the first opening of each local day.
    Daily,
}

/// What a queue's settings say about time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timing {
    pub hours: Option<Hours>,
    pub number_reset: NumberReset,
    /// A called ticket not started within this many seconds becomes absent (`no_show`).
    pub called_timeout_seconds: Option<u32>,
    /// A ticket still waiting this many minutes after it joined expires.
    pub ticket_ttl_minutes: Option<u32>,
}

impl Timing {
    /// The keys of a settings object that this module owns; a `null` value means absent.
    pub const KEYS: [&'static str; 4] = ["hours", "number_reset", "called_timeout_seconds", "ticket_ttl_minutes"];

    /// Reads and validates the time-keeping keys of `settings` (other keys are left alone).
    pub fn parse(settings: &Map<String, Value>) -> Result<Timing, HoursError> {
        let given = |key: &str| settings.get(key).filter(|v| !v.is_null());
        let hours = given("hours").map(Hours::parse).transpose()?;
        let number_reset = match given("number_reset") {
            None => NumberReset::Never,
            Some(v) if v == "never" => NumberReset::Never,
            Some(v) if v == "daily" => NumberReset::Daily,
            Some(_) => return Err(HoursError("number_reset must be \"daily\" or \"never\"".into())),
        };
        let whole = |key: &str, max: u64, unit: &str| -> Result<Option<u32>, HoursError> {
            match given(key) {
                None => Ok(None),
                Some(v) => match v.as_u64() {
                    Some(n) if (1..=max).contains(&n) => Ok(Some(n as u32)),
                    _ => Err(HoursError(format!("{key} must be a whole number of {unit}, 1 to {max}"))),
                },
            }
        };
        Ok(Timing {
            hours,
            number_reset,
            called_timeout_seconds: whole("called_timeout_seconds", MAX_CALLED_TIMEOUT_SECONDS, "seconds")?,
            ticket_ttl_minutes: whole("ticket_ttl_minutes", MAX_TICKET_TTL_MINUTES, "minutes")?,
        })
    }

    /// The timing of settings as stored: they were checked when saved, and anything unreadable
    /// (saved before these keys were checked) counts as absent.
    pub fn read(settings: &Value) -> Timing {
        settings.as_object().and_then(|map| Timing::parse(map).ok()).unwrap_or_default()
    }

    /// Checks that a ticket type can do what the timing asks of it: a called timeout needs a
    /// transition from the called state to the `absent` role, an expiry an `expired` role.
    pub fn check_against(&self, fsm: &Fsm) -> Result<(), HoursError> {
        if self.called_timeout_seconds.is_some() && timeout_transition(fsm).is_none() {
            return Err(HoursError(
                "called_timeout_seconds needs a ticket type with a transition from its called state to its \
                 `absent` role state"
                    .into(),
            ));
        }
        if self.ticket_ttl_minutes.is_some() && fsm.roles().expired.is_none() {
            return Err(HoursError("ticket_ttl_minutes needs a ticket type with an `expired` role state".into()));
        }
        Ok(())
    }

    /// The instant local `day` begins (in the hours' time zone, else UTC).
    pub fn start_of(&self, day: NaiveDate) -> DateTime<Utc> {
        match &self.hours {
            Some(h) => h.start_of(day),
            None => day.and_time(chrono::NaiveTime::MIN).and_utc(),
        }
    }

    /// The local day at `t` that daily numbers count by: in the hours' time zone, else UTC.
    pub fn local_day(&self, t: DateTime<Utc>) -> NaiveDate {
        match &self.hours {
            Some(h) => h.local_date(t),
            None => t.date_naive(),
        }
    }
}

/// The transition a called ticket takes when its call times out: from the state `call` leads to,
/// into the `absent` role state (`no_show` for the default type).
pub fn timeout_transition(fsm: &Fsm) -> Option<&str> {
    let called = fsm.leads_to(super::fsm::Special::Call)?;
    let absent = fsm.roles().absent.as_deref()?;
    fsm.transition_between(called, absent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Timing, String> {
        Timing::parse(v.as_object().unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn the_time_keys_are_read_and_others_left_alone() {
        let t = parse(json!({"number_reset": "daily", "called_timeout_seconds": 120, "ticket_ttl_minutes": 240,
            "service_seconds": 60, "hours": null}))
        .unwrap();
        assert_eq!(t.number_reset, NumberReset::Daily);
        assert_eq!(t.called_timeout_seconds, Some(120));
        assert_eq!(t.ticket_ttl_minutes, Some(240));
        assert_eq!(t.hours, None);
        assert_eq!(parse(json!({})).unwrap(), Timing::default());
    }

    #[test]
    fn negative_fractional_or_absurd_durations_are_refused() {
        for bad in [json!(-1), json!(0), json!(1.5), json!("60"), json!(86_401), json!(true)] {
            assert!(parse(json!({"called_timeout_seconds": bad})).unwrap_err().contains("1 to 86400"), "{bad}");
        }
        for bad in [json!(-30), json!(0), json!(43_201), json!(1e9)] {
            assert!(parse(json!({"ticket_ttl_minutes": bad})).unwrap_err().contains("1 to 43200"), "{bad}");
        }
        assert!(parse(json!({"number_reset": "weekly"})).unwrap_err().contains("daily"));
        assert!(parse(json!({"hours": {"tz": "Mars/Olympus", "weekly": {}}})).unwrap_err().contains("time zone"));
    }

    #[test]
    fn the_default_type_can_time_out_and_expire_and_a_type_without_the_roles_cannot() {
        let all = parse(json!({"called_timeout_seconds": 60, "ticket_ttl_minutes": 60})).unwrap();
        let default = Fsm::default_type();
        assert_eq!(timeout_transition(&default), Some("no_show"));
        assert_eq!(all.check_against(&default), Ok(()));
        let bare = Fsm::parse(&json!({"init": "a", "states": ["a", "b"],
            "transitions": [{"name": "call", "from": "a", "to": "b"}]}))
        .unwrap();
        assert!(all.check_against(&bare).unwrap_err().to_string().contains("absent"));
        let ttl_only = parse(json!({"ticket_ttl_minutes": 60})).unwrap();
        assert!(ttl_only.check_against(&bare).unwrap_err().to_string().contains("expired"));
    }
}
