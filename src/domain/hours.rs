//! Opening hours: `{"tz", "weekly", "closed_on", "last_join_minutes"}`, validated once and then
//! asked when a queue is open, when it opens and closes next, and whether it still takes joins.
//!
//! Intervals are local wall-clock times in the queue's time zone. Every question is answered from
//! one list of open periods as instants, so "is it open at t" and "when does it change next"
//! never disagree, whatever daylight saving does:
//!
//! - a local time that does not exist (the spring gap, 02:30 on the last Sunday of March in
//!   Paris) is the moment the clocks jump over it (03:00 CEST): the first instant whose local time
//!   has reached it;
//! - a local time that happens twice (the autumn fold) is its first occurrence.
//!
//! Periods that touch (`["12:00","24:00"]` on Monday and `["00:00","02:00"]` on Tuesday) are one
//! period: the queue neither closes nor opens between them.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

/// The most dates `closed_on` may list: a year of them.
pub const MAX_CLOSED_DAYS: usize = 366;
/// The most intervals one day may have.
pub const MAX_INTERVALS_PER_DAY: usize = 24;
/// `last_join_minutes` at most: a whole day.
pub const MAX_LAST_JOIN_MINUTES: u64 = 1440;
/// Days looked ahead for the next opening: every closed day of a year, and a week past them.
const HORIZON_DAYS: u64 = MAX_CLOSED_DAYS as u64 + 8;
/// The longest a time may be skipped by a clock change (Samoa skipped a whole day in 2011).
const LONGEST_GAP_MINUTES: u32 = 24 * 60 + 60;

/// The days of `weekly`, Monday first (chrono's `num_days_from_monday` indexes it).
pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const MINUTES_PER_DAY: u16 = 24 * 60;

/// Validated opening hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hours {
    tz: Tz,
    /// Per weekday (Monday first): sorted, disjoint, non-touching `[start, end)` in minutes after
    /// local midnight; `end` may be 1440 (24:00).
    weekly: [Vec<(u16, u16)>; 7],
    closed_on: BTreeSet<NaiveDate>,
    last_join_minutes: u32,
}

/// One open period, as instants. `end` is None when the queue stays open past the horizon (open
/// around the clock): it is not known to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// Why hours were refused: a sentence naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HoursError(pub String);

fn refuse<T>(msg: impl Into<String>) -> Result<T, HoursError> {
    Err(HoursError(msg.into()))
}

impl Hours {
    /// Parses and validates hours as clients send them (`settings.hours`).
    pub fn parse(value: &Value) -> Result<Hours, HoursError> {
        let Some(map) = value.as_object() else {
            return refuse("hours must be an object {tz, weekly, closed_on?, last_join_minutes?}");
        };
        for key in map.keys() {
            if !["tz", "weekly", "closed_on", "last_join_minutes"].contains(&key.as_str()) {
                return refuse(format!("hours: unknown field `{key}` (tz, weekly, closed_on, last_join_minutes)"));
            }
        }
        let tz = match map.get("tz") {
            Some(Value::String(name)) => match name.parse::<Tz>() {
                Ok(tz) => tz,
                Err(_) => return refuse(format!("hours.tz: `{name}` is not a time zone (an IANA name: Europe/Paris)")),
            },
            _ => return refuse("hours.tz is required: an IANA time zone name such as Europe/Paris"),
        };
        let weekly = match map.get("weekly") {
            Some(Value::Object(days)) => parse_weekly(days)?,
            _ => return refuse("hours.weekly is required: {\"mon\": [[\"09:00\", \"18:00\"]], …}"),
        };
        let closed_on = match map.get("closed_on") {
            None | Some(Value::Null) => BTreeSet::new(),
            Some(Value::Array(days)) => parse_closed_on(days)?,
            Some(_) => return refuse("hours.closed_on must be a list of dates (YYYY-MM-DD)"),
        };
        let last_join_minutes = match map.get("last_join_minutes") {
            None | Some(Value::Null) => 0,
            Some(v) => match v.as_u64() {
                Some(m) if m <= MAX_LAST_JOIN_MINUTES => m as u32,
                _ => {
                    return refuse(format!(
                        "hours.last_join_minutes must be a whole number of minutes, 0 to {MAX_LAST_JOIN_MINUTES}"
                    ))
                }
            },
        };
        Ok(Hours { tz, weekly, closed_on, last_join_minutes })
    }

    /// The time zone the hours are kept in.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The local date at `t`.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The instant local `date` begins.
    pub fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        self.instant(date, 0)
    }

    /// The open intervals of local `date` as `[start, end)` minutes after local midnight: none on
    /// a closed day.
    pub fn intervals_on(&self, date: NaiveDate) -> &[(u16, u16)] {
        match self.closed_on.contains(&date) {
            true => &[],
            false => &self.weekly[date.weekday().num_days_from_monday() as usize],
        }
    }

    /// The instant of local time `minute` after midnight of `date` (1440: the next midnight): in
    /// a fold the first occurrence, in a spring gap the moment the clocks jump over it.
    pub fn local_instant(&self, date: NaiveDate, minute: u16) -> DateTime<Utc> {
        self.instant(date, minute)
    }

    /// Whether the queue is open at `t`.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        self.period(t).is_some_and(|p| p.start <= t)
    }

    /// Whether a join at `t` is taken: open, and not within `last_join_minutes` of closing.
    pub fn takes_joins(&self, t: DateTime<Utc>) -> bool {
        match self.period(t) {
            Some(Period { start, end }) if start <= t => {
                end.is_none_or(|end| t < end - chrono::Duration::minutes(self.last_join_minutes.into()))
            }
            _ => false,
        }
    }

    /// When the period open at `t` ends; None when closed at `t` (or open around the clock).
    pub fn closes_at(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.period(t).filter(|p| p.start <= t).and_then(|p| p.end)
    }

    /// The next opening strictly after `t` (after the current period, when open); None when the
    /// queue never opens again within a year, or never closes.
    pub fn opens_at(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let p = self.period(t)?;
        if p.start > t {
            return Some(p.start);
        }
        let next = self.period(p.end?)?;
        Some(next.start)
    }

    /// The first moment after `t` at which the queue opens or closes; None when nothing changes
    /// within the horizon.
    pub fn next_change(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let p = self.period(t)?;
        if p.start > t {
            Some(p.start)
        } else {
            p.end
        }
    }

    /// The period open at `t`, or else the next one to open; None when none opens within the
    /// horizon.
    pub fn period(&self, t: DateTime<Utc>) -> Option<Period> {
        // A period open at t may have started the day before (or earlier, when it goes on around
        // the clock: then its start is only known to be before t).
        let first = self.local_date(t).checked_sub_days(Days::new(1))?;
        let last = first.checked_add_days(Days::new(HORIZON_DAYS))?;
        let horizon = self.instant(last, 0);
        let mut acc: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        for (start, end) in self.raw_periods(first, last) {
            match acc {
                // Touching or overlapping (across midnight, or a clock change): one period.
                Some((s, e)) if start <= e => acc = Some((s, e.max(end))),
                Some((s, e)) if e > t => return Some(Period { start: s, end: Some(e) }),
                _ => acc = Some((start, end)),
            }
        }
        let (s, e) = acc.filter(|&(_, e)| e > t)?;
        Some(Period { start: s, end: (e < horizon).then_some(e) })
    }

    /// The open intervals of the days `first..last` as instants, in order; empty ones (an
    /// interval inside a spring gap) left out.
    fn raw_periods(
        &self,
        first: NaiveDate,
        last: NaiveDate,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        first
            .iter_days()
            .take_while(move |d| *d < last)
            .filter(|d| !self.closed_on.contains(d))
            .flat_map(move |d| {
                let day = d.weekday().num_days_from_monday() as usize;
                self.weekly[day].iter().map(move |&(s, e)| (self.instant(d, s), self.instant(d, e)))
            })
            .filter(|(s, e)| s < e)
    }

    /// The instant of local time `minute` (after midnight; 1440 is the next midnight) on `date`:
    /// the first occurrence in a fold; in a gap, the moment the clocks jump over it.
    fn instant(&self, date: NaiveDate, minute: u16) -> DateTime<Utc> {
        let midnight = date.and_time(NaiveTime::MIN);
        let local = midnight + chrono::Duration::minutes(minute.into());
        // In a gap, the first local minute that exists again is the jump itself (the clocks go
        // from 01:59:59 CET to 03:00 CEST), so its instant is the moment the gap ends.
        (0..=LONGEST_GAP_MINUTES)
            .find_map(|skip| self.tz.from_local_datetime(&(local + chrono::Duration::minutes(skip.into()))).earliest())
            .map(|t| t.with_timezone(&Utc))
            // No zone skips more than a day; should one, read the time as UTC rather than fail.
            .unwrap_or_else(|| Utc.from_utc_datetime(&local))
    }
}

fn parse_weekly(days: &Map<String, Value>) -> Result<[Vec<(u16, u16)>; 7], HoursError> {
    let mut weekly: [Vec<(u16, u16)>; 7] = Default::default();
    for (day, intervals) in days {
        let Some(index) = DAYS.iter().position(|d| d == day) else {
            return refuse(format!("hours.weekly: `{day}` is not a day (mon, tue, wed, thu, fri, sat, sun)"));
        };
        let Some(list) = intervals.as_array() else {
            return refuse(format!("hours.weekly.{day} must be a list of [\"HH:MM\", \"HH:MM\"] intervals"));
        };
        if list.len() > MAX_INTERVALS_PER_DAY {
            return refuse(format!("hours.weekly.{day}: at most {MAX_INTERVALS_PER_DAY} intervals a day"));
        }
        let mut parsed = Vec::with_capacity(list.len());
        for interval in list {
            let pair = interval.as_array().filter(|p| p.len() == 2);
            let Some(pair) = pair else {
                return refuse(format!("hours.weekly.{day}: an interval is a pair [\"HH:MM\", \"HH:MM\"]"));
            };
            let (start, end) = (time_of(day, &pair[0])?, time_of(day, &pair[1])?);
            if start == MINUTES_PER_DAY {
                return refuse(format!("hours.weekly.{day}: an interval cannot start at 24:00"));
            }
            if start >= end {
                return refuse(format!(
                    "hours.weekly.{day}: {}–{} does not end after it starts (split a night across two days)",
                    hhmm(start),
                    hhmm(end)
                ));
            }
            parsed.push((start, end));
        }
        parsed.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(parsed.len());
        for (start, end) in parsed {
            match merged.last_mut() {
                Some(prev) if start < prev.1 => {
                    return refuse(format!(
                        "hours.weekly.{day}: {}–{} and {}–{} overlap",
                        hhmm(prev.0),
                        hhmm(prev.1),
                        hhmm(start),
                        hhmm(end)
                    ))
                }
                // Touching intervals are one: no closing and opening in between.
                Some(prev) if start == prev.1 => prev.1 = end,
                _ => merged.push((start, end)),
            }
        }
        weekly[index] = merged;
    }
    Ok(weekly)
}

/// `HH:MM` from 00:00 to 24:00, as minutes after midnight.
fn time_of(day: &str, value: &Value) -> Result<u16, HoursError> {
    let bad = || refuse(format!("hours.weekly.{day}: {value} is not a time (HH:MM, 00:00 to 24:00)"));
    let Some(s) = value.as_str() else { return bad() };
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit()) {
        return bad();
    }
    let (h, m) =
        (u16::from(b[0] - b'0') * 10 + u16::from(b[1] - b'0'), u16::from(b[3] - b'0') * 10 + u16::from(b[4] - b'0'));
    match (h, m) {
        (0..=23, 0..=59) => Ok(h * 60 + m),
        (24, 0) => Ok(MINUTES_PER_DAY),
        _ => bad(),
    }
}

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn parse_closed_on(days: &[Value]) -> Result<BTreeSet<NaiveDate>, HoursError> {
    if days.len() > MAX_CLOSED_DAYS {
        return refuse(format!("hours.closed_on: at most {MAX_CLOSED_DAYS} dates"));
    }
    days.iter()
        .map(|d| {
            d.as_str()
                .filter(|s| s.len() == 10)
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .ok_or_else(|| HoursError(format!("hours.closed_on: {d} is not a date (YYYY-MM-DD)")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn paris(weekly: Value) -> Hours {
        Hours::parse(&json!({"tz": "Europe/Paris", "weekly": weekly})).unwrap()
    }

    fn every_day(intervals: Value) -> Value {
        Value::Object(DAYS.iter().map(|d| (d.to_string(), intervals.clone())).collect())
    }

    fn refused(v: Value) -> String {
        Hours::parse(&v).unwrap_err().to_string()
    }

    #[test]
    fn a_weekday_opens_and_closes_in_local_time() {
        let h = Hours::parse(&json!({"tz": "Europe/Paris", "weekly": {
            "mon": [["09:00","12:30"],["14:00","18:00"]], "tue": [["09:00","18:00"]]
        }, "last_join_minutes": 15}))
        .unwrap();
        // Monday 2026-11-23, CET (UTC+1).
        assert!(!h.is_open(at("2026-11-23T07:59:59Z")));
        assert!(h.is_open(at("2026-11-23T08:00:00Z")));
        assert_eq!(h.closes_at(at("2026-11-23T08:00:00Z")), Some(at("2026-11-23T11:30:00Z")));
        assert_eq!(h.next_change(at("2026-11-23T08:00:00Z")), Some(at("2026-11-23T11:30:00Z")));
        assert!(h.takes_joins(at("2026-11-23T11:14:59Z")));
        assert!(!h.takes_joins(at("2026-11-23T11:15:00Z")), "within last_join_minutes of closing");
        assert!(h.is_open(at("2026-11-23T11:15:00Z")), "still open for those in line");
        assert_eq!(h.opens_at(at("2026-11-23T11:15:00Z")), Some(at("2026-11-23T13:00:00Z")));
        assert_eq!(h.opens_at(at("2026-11-23T12:00:00Z")), Some(at("2026-11-23T13:00:00Z")));
        assert_eq!(h.next_change(at("2026-11-23T11:30:00Z")), Some(at("2026-11-23T13:00:00Z")));
        // After Tuesday, the next opening is next Monday.
        assert_eq!(h.opens_at(at("2026-11-24T17:00:00Z")), Some(at("2026-11-30T08:00:00Z")));
        assert_eq!(h.closes_at(at("2026-11-24T17:00:00Z")), None);
    }

    #[test]
    fn closed_days_are_skipped() {
        let h = Hours::parse(&json!({"tz": "Europe/Paris", "weekly": every_day(json!([["09:00","18:00"]])),
            "closed_on": ["2026-12-25", "2026-12-26"]}))
        .unwrap();
        assert!(!h.is_open(at("2026-12-25T10:00:00Z")));
        assert_eq!(h.opens_at(at("2026-12-24T17:00:00Z")), Some(at("2026-12-27T08:00:00Z")));
    }

    /// Sunday 2026-03-29, the last Sunday of March: at 02:00 CET the clocks go to 03:00 CEST.
    #[test]
    fn the_spring_change_in_paris_moves_opening_by_an_hour_of_utc() {
        let h = paris(every_day(json!([["09:00", "18:00"]])));
        // Saturday in CET (UTC+1), Sunday and Monday in CEST (UTC+2).
        assert_eq!(h.opens_at(at("2026-03-28T00:00:00Z")), Some(at("2026-03-28T08:00:00Z")));
        assert_eq!(h.opens_at(at("2026-03-28T20:00:00Z")), Some(at("2026-03-29T07:00:00Z")));
        assert_eq!(h.closes_at(at("2026-03-29T07:00:00Z")), Some(at("2026-03-29T16:00:00Z")));
        assert!(!h.is_open(at("2026-03-29T06:59:59Z")));
        assert!(h.is_open(at("2026-03-29T07:00:00Z")));
        assert_eq!(h.next_change(at("2026-03-29T16:00:00Z")), Some(at("2026-03-30T07:00:00Z")));
    }

    /// Sunday 2026-10-25, the last Sunday of October: at 03:00 CEST the clocks go back to 02:00 CET.
    #[test]
    fn the_autumn_change_in_paris_moves_opening_by_an_hour_of_utc() {
        let h = paris(every_day(json!([["09:00", "18:00"]])));
        assert_eq!(h.opens_at(at("2026-10-24T20:00:00Z")), Some(at("2026-10-25T08:00:00Z")));
        assert_eq!(h.closes_at(at("2026-10-25T08:00:00Z")), Some(at("2026-10-25T17:00:00Z")));
        assert_eq!(h.closes_at(at("2026-10-24T07:00:00Z")), Some(at("2026-10-24T16:00:00Z")));
    }

    #[test]
    fn times_inside_the_spring_gap_are_when_the_clocks_jump_and_those_of_the_fold_their_first_occurrence() {
        let h = paris(json!({"sun": [["02:30","04:00"]]}));
        // 02:30 does not exist on 2026-03-29: the queue opens when the clocks jump (01:00 UTC).
        assert_eq!(h.opens_at(at("2026-03-28T12:00:00Z")), Some(at("2026-03-29T01:00:00Z")));
        assert_eq!(h.closes_at(at("2026-03-29T01:00:00Z")), Some(at("2026-03-29T02:00:00Z")));
        // 02:30 happens twice on 2026-10-25: the first (CEST, 00:30 UTC); 04:00 is CET (03:00 UTC).
        assert_eq!(h.opens_at(at("2026-10-24T12:00:00Z")), Some(at("2026-10-25T00:30:00Z")));
        assert_eq!(h.closes_at(at("2026-10-25T00:30:00Z")), Some(at("2026-10-25T03:00:00Z")));
        // An interval wholly inside the gap never opens.
        let gap = paris(json!({"sun": [["02:10","02:50"]]}));
        assert_eq!(gap.opens_at(at("2026-03-28T12:00:00Z")), Some(at("2026-04-05T00:10:00Z")));
    }

    #[test]
    fn periods_that_touch_across_midnight_are_one() {
        let h = paris(json!({"mon": [["18:00","24:00"]], "tue": [["00:00","02:00"]]}));
        assert_eq!(h.closes_at(at("2026-11-23T22:00:00Z")), Some(at("2026-11-24T01:00:00Z")));
        assert_eq!(h.next_change(at("2026-11-23T17:00:00Z")), Some(at("2026-11-24T01:00:00Z")));
        let touching = paris(json!({"mon": [["09:00","12:00"], ["12:00","18:00"]]}));
        assert_eq!(touching.closes_at(at("2026-11-23T09:00:00Z")), Some(at("2026-11-23T17:00:00Z")));
    }

    #[test]
    fn a_queue_open_around_the_clock_never_changes_and_one_never_open_never_opens() {
        let always = paris(every_day(json!([["00:00", "24:00"]])));
        assert!(always.is_open(at("2026-11-23T03:00:00Z")));
        assert!(always.takes_joins(at("2026-11-23T03:00:00Z")));
        assert_eq!(always.closes_at(at("2026-11-23T03:00:00Z")), None);
        assert_eq!(always.next_change(at("2026-11-23T03:00:00Z")), None);
        let never = paris(json!({}));
        assert!(!never.is_open(at("2026-11-23T03:00:00Z")));
        assert_eq!(never.opens_at(at("2026-11-23T03:00:00Z")), None);
        assert_eq!(never.next_change(at("2026-11-23T03:00:00Z")), None);
    }

    #[test]
    fn malformed_hours_are_refused_with_a_reason() {
        let ok = json!({"mon": [["09:00","18:00"]]});
        assert!(refused(json!({"tz": "Europe/Pariss", "weekly": ok})).contains("not a time zone"));
        assert!(refused(json!({"weekly": ok})).contains("tz is required"));
        assert!(refused(json!({"tz": "UTC"})).contains("weekly is required"));
        assert!(refused(json!({"tz": "UTC", "weekly": {"mondays": [["09:00","18:00"]]}})).contains("not a day"));
        assert!(refused(json!({"tz": "UTC", "weekly": {"mon": [["25:00","26:00"]]}})).contains("not a time"));
        assert!(refused(json!({"tz": "UTC", "weekly": {"mon": [["9:00","18:00"]]}})).contains("not a time"));
        assert!(refused(json!({"tz": "UTC", "weekly": {"mon": [["09:60","18:00"]]}})).contains("not a time"));
        assert!(refused(json!({"tz": "UTC", "weekly": {"mon": [["24:00","24:00"]]}})).contains("24:00"));
        assert!(refused(json!({"tz": "UTC", "weekly": {"mon": [["18:00","09:00"]]}})).contains("does not end"));
        assert!(
            refused(json!({"tz": "UTC", "weekly": {"mon": [["09:00","12:30"],["12:00","18:00"]]}})).contains("overlap")
        );
        assert!(refused(json!({"tz": "UTC", "weekly": {"mon": [["09:00"]]}})).contains("pair"));
        assert!(refused(json!({"tz": "UTC", "weekly": {"mon": "09:00-18:00"}})).contains("list"));
        assert!(refused(json!({"tz": "UTC", "weekly": ok, "closed_on": ["2026-02-30"]})).contains("not a date"));
        assert!(refused(json!({"tz": "UTC", "weekly": ok, "closed_on": ["2026-2-3"]})).contains("not a date"));
        let many: Vec<String> =
            (0..367).map(|i| (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Days::new(i)).to_string()).collect();
        assert!(refused(json!({"tz": "UTC", "weekly": ok, "closed_on": many})).contains("at most 366"));
        assert!(refused(json!({"tz": "UTC", "weekly": ok, "last_join_minutes": -5})).contains("last_join_minutes"));
        assert!(refused(json!({"tz": "UTC", "weekly": ok, "last_join_minutes": 1441})).contains("last_join_minutes"));
        assert!(refused(json!({"tz": "UTC", "weekly": ok, "open": true})).contains("unknown field"));
        assert!(refused(json!("09:00-18:00")).contains("object"));
    }

    #[test]
    fn a_year_of_closed_days_still_finds_the_next_opening() {
        let closed: Vec<String> =
            (0..366).map(|i| (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Days::new(i)).to_string()).collect();
        let h =
            Hours::parse(&json!({"tz": "UTC", "weekly": {"fri": [["09:00","10:00"]]}, "closed_on": closed})).unwrap();
        // 2026-01-01 + 366 days = 2027-01-02, a Saturday: the first open Friday is 2027-01-08.
        assert_eq!(h.opens_at(at("2026-01-01T00:00:00Z")), Some(at("2027-01-08T09:00:00Z")));
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn interval() -> impl Strategy<Value = (u16, u16)> {
        (0u16..1440, 1u16..720).prop_map(|(s, len)| (s, (s + len).min(1440)))
    }

    proptest! {
        /// Whatever the (valid) hours and the instant: the state does not change before the next
        /// change, and does change at it.
        #[test]
        fn nothing_changes_before_the_next_change_and_something_does_at_it(
            days in prop::collection::vec(prop::collection::vec(interval(), 0..3), 7),
            tz in prop::sample::select(vec!["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "UTC"]),
            secs in 1_760_000_000i64..1_800_000_000,
        ) {
            let weekly: serde_json::Map<String, Value> = DAYS.iter().zip(&days).map(|(d, list)| {
                let mut list = list.clone();
                list.sort_unstable();
                list.dedup_by(|b, a| b.0 < a.1);
                let pairs: Vec<Value> = list.iter().map(|&(s, e)| json!([hhmm(s), hhmm(e)])).collect();
                (d.to_string(), Value::Array(pairs))
            }).collect();
            let Ok(h) = Hours::parse(&json!({"tz": tz, "weekly": weekly})) else { return Ok(()) };
            let t = DateTime::from_timestamp(secs, 0).unwrap();
            let open = h.is_open(t);
            if let Some(next) = h.next_change(t) {
                prop_assert!(next > t);
                let before = next - chrono::Duration::seconds(1);
                prop_assert_eq!(h.is_open(before), open, "changed before {}", next);
                prop_assert_eq!(h.is_open(next), !open, "did not change at {}", next);
            }
        }
    }
}
