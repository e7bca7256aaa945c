//! Line control, the rules: how far and how often a customer may step back (`settings.snooze`),
//! priorities, where a moved ticket lands, and what feedback may say.

use serde_json::Value;

/// The highest priority; higher is served first.
pub const MAX_PRIORITY: i16 = 9;
/// Staff notes on a ticket, at most (characters).
pub const MAX_NOTES: usize = 2000;
/// A feedback comment, at most (characters).
pub const MAX_COMMENT: usize = 1000;

/// `settings.snooze`: `{"max_times": 2, "max_places": 10}`. Absent: snoozing is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SnoozeLimits {
    /// How often one ticket may step back, 1 to 20.
    pub max_times: u16,
    /// How many places at most per step, 1 to 100.
    pub max_places: u32,
}

impl SnoozeLimits {
    /// Reads and checks `settings.snooze` (null or absent: None).
    pub fn parse(v: Option<&Value>) -> Result<Option<SnoozeLimits>, String> {
        let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(None) };
        let bad = || "snooze must be {\"max_times\": 1 to 20, \"max_places\": 1 to 100}".to_owned();
        let map = v.as_object().ok_or_else(bad)?;
        if map.keys().any(|k| k != "max_times" && k != "max_places") {
            return Err(bad());
        }
        let whole = |key: &str, max: u64| map.get(key).and_then(Value::as_u64).filter(|n| (1..=max).contains(n));
        match (whole("max_times", 20), whole("max_places", 100)) {
            (Some(times), Some(places)) => {
                Ok(Some(SnoozeLimits { max_times: times as u16, max_places: places as u32 }))
            }
            _ => Err(bad()),
        }
    }

    /// The limits of stored settings (checked when saved; anything unreadable counts as off).
    pub fn read(settings: &Value) -> Option<SnoozeLimits> {
        SnoozeLimits::parse(settings.get("snooze")).ok().flatten()
    }

    /// Why a ticket that snoozed `done` times may not step back `places` more, if it may not.
    pub fn refuse(limits: Option<SnoozeLimits>, done: i16, places: u32) -> Option<String> {
        let Some(l) = limits else { return Some("this queue does not let customers step back".into()) };
        if i32::from(done) >= i32::from(l.max_times) {
            let times = if l.max_times == 1 { "once" } else { "times" };
            return Some(format!("a ticket may step back {} {times} in this queue", l.max_times));
        }
        if places > l.max_places {
            return Some(format!("a ticket may step back at most {} places at a time", l.max_places));
        }
        None
    }
}

/// The priority a ticket takes when it is put between a ticket of priority `after` (None: it goes
/// first) and one of priority `before` (None: it goes last): its own when that keeps the line in
/// order (higher priorities first), else the nearest that does.
pub fn priority_between(own: i16, after: Option<i16>, before: Option<i16>) -> i16 {
    let ceiling = after.unwrap_or(i16::MAX);
    let floor = before.unwrap_or(i16::MIN);
    own.min(ceiling).max(floor)
}

/// A rating and comment as given: 1 to 5, a comment trimmed (empty: none) of at most
/// [`MAX_COMMENT`] characters.
pub fn feedback(rating: i64, comment: Option<String>) -> Result<(i16, Option<String>), String> {
    if !(1..=5).contains(&rating) {
        return Err("rating: a whole number from 1 to 5".into());
    }
    let comment = comment.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    if comment.as_ref().is_some_and(|c| c.chars().count() > MAX_COMMENT) {
        return Err(format!("comment: at most {MAX_COMMENT} characters"));
    }
    Ok((rating as i16, comment))
}

/// Notes as given: trimmed (empty: none), at most [`MAX_NOTES`] characters.
pub fn notes(notes: String) -> Result<Option<String>, String> {
    let notes = notes.trim().to_owned();
    if notes.chars().count() > MAX_NOTES {
        return Err(format!("notes: at most {MAX_NOTES} characters"));
    }
    Ok(Some(notes).filter(|n| !n.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snooze_settings_are_checked() {
        assert_eq!(SnoozeLimits::parse(None), Ok(None));
        assert_eq!(SnoozeLimits::parse(Some(&Value::Null)), Ok(None));
        assert_eq!(
            SnoozeLimits::parse(Some(&json!({"max_times": 2, "max_places": 10}))),
            Ok(Some(SnoozeLimits { max_times: 2, max_places: 10 }))
        );
        for bad in [
            json!({"max_times": 0, "max_places": 10}),
            json!({"max_times": 21, "max_places": 10}),
            json!({"max_times": 2, "max_places": 101}),
            json!({"max_times": 2}),
            json!({"max_times": 2, "max_places": 3, "other": 1}),
            json!({"max_times": 2.5, "max_places": 3}),
            json!([2, 10]),
        ] {
            assert!(SnoozeLimits::parse(Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn snoozes_stop_at_the_limits() {
        let l = Some(SnoozeLimits { max_times: 2, max_places: 10 });
        assert_eq!(SnoozeLimits::refuse(l, 0, 10), None);
        assert_eq!(SnoozeLimits::refuse(l, 1, 1), None);
        assert!(SnoozeLimits::refuse(l, 2, 1).is_some());
        assert!(SnoozeLimits::refuse(l, 0, 11).is_some());
        assert!(SnoozeLimits::refuse(None, 0, 1).is_some());
    }

    #[test]
    fn a_moved_ticket_keeps_its_priority_when_the_line_allows() {
        assert_eq!(priority_between(0, Some(0), Some(0)), 0);
        assert_eq!(priority_between(3, Some(5), Some(1)), 3);
        // A priority ticket moved among ordinary ones becomes ordinary, and the other way round.
        assert_eq!(priority_between(5, Some(0), Some(0)), 0);
        assert_eq!(priority_between(0, Some(5), Some(5)), 5);
        // At either end, only one side bounds it.
        assert_eq!(priority_between(7, None, Some(2)), 7);
        assert_eq!(priority_between(0, None, Some(2)), 2);
        assert_eq!(priority_between(7, Some(2), None), 2);
        assert_eq!(priority_between(7, None, None), 7);
    }

    #[test]
    fn feedback_and_notes_are_checked() {
        assert_eq!(feedback(5, Some("  great ".into())), Ok((5, Some("great".into()))));
        assert_eq!(feedback(1, Some("   ".into())), Ok((1, None)));
        assert!(feedback(0, None).is_err());
        assert!(feedback(6, None).is_err());
        assert!(feedback(3, Some("x".repeat(MAX_COMMENT + 1))).is_err());
        assert_eq!(notes(" ".into()), Ok(None));
        assert!(notes("é".repeat(MAX_NOTES + 1)).is_err());
        assert_eq!(notes("é".repeat(MAX_NOTES)).map(|n| n.map(|n| n.chars().count())), Ok(Some(MAX_NOTES)));
    }
}
