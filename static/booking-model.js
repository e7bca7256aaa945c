// The booking pages' logic (/b/ to book a time, /a/ for a booking): local days in the queue's
// time zone, the month calendar built from the slots, the check-in window, and the booking as an
// .ics file (RFC 5545). Pure (Intl only, no DOM): tested with node.

const DAY_MS = 86_400_000;

/** "2026-12-02": the local date of `at` (an instant or ISO text) in time zone `tz`. */
export function dayKey(at, tz) {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(new Date(at));
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}`;
}

/** The slots by local day in `tz` (insertion order: the server's, which is time order). */
export function groupByDay(slots, tz) {
  const days = new Map();
  for (const s of slots || []) {
    const k = dayKey(s.start_at, tz);
    if (!days.has(k)) days.set(k, []);
    days.get(k).push(s);
  }
  return days;
}

/** Days in the month of `month` ("2026-12" or a date in it). */
export function daysInMonth(month) {
  const [y, m] = month.split('-').map(Number);
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** "2026-12" shifted by `n` months. */
export function addMonths(month, n) {
  const [y, m] = month.split('-').map(Number);
  const d = new Date(Date.UTC(y, m - 1 + n, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The query of one month's slots: its first day and all its days (at most 31, the server's limit). */
export function monthQuery(month) {
  return `date=${month}-01&days=${daysInMonth(month)}`;
}

/**
 * The calendar of `month` ("2026-12"): weeks from Monday, each day `{date, day, free, past}`
 * (`free`: places left that day, from `slots`), null outside the month. `today` ("2026-12-02",
 * in the queue's zone) marks the days before it as past.
 */
export function calendar(month, slots, tz, today) {
  const free = new Map();
  for (const [k, list] of groupByDay(slots, tz)) free.set(k, list.reduce((n, s) => n + (s.available || 0), 0));
  const [y, m] = month.split('-').map(Number);
  const first = new Date(Date.UTC(y, m - 1, 1));
  const lead = (first.getUTCDay() + 6) % 7; // Monday first
  const cells = Array(lead).fill(null);
  for (let d = 1; d <= daysInMonth(month); d++) {
    const date = `${month}-${String(d).padStart(2, '0')}`;
    cells.push({ date, day: d, free: free.get(date) || 0, past: date < today });
  }
  while (cells.length % 7) cells.push(null);
  const weeks = [];
  for (let i = 0; i < cells.length; i += 7) weeks.push(cells.slice(i, i + 7));
  return weeks;
}

/** The first day of `slots` with a free place (its local date in `tz`), or null. */
export function firstFreeDay(slots, tz) {
  const s = (slots || []).find((x) => x.available > 0);
  return s ? dayKey(s.start_at, tz) : null;
}

/** The weekday names of a calendar's columns (Monday first) in `lang`, short. */
export function weekdays(lang) {
  const monday = Date.UTC(2024, 0, 1); // a Monday
  const f = new Intl.DateTimeFormat(lang, { weekday: 'short', timeZone: 'UTC' });
  return Array.from({ length: 7 }, (_, i) => f.format(new Date(monday + i * DAY_MS)));
}

/** "December 2026" in `lang`. */
export function monthTitle(month, lang) {
  const [y, m] = month.split('-').map(Number);
  return new Intl.DateTimeFormat(lang, { month: 'long', year: 'numeric', timeZone: 'UTC' }).format(new Date(Date.UTC(y, m - 1, 1)));
}

/** "Wednesday 2 December 2026" in `lang`: a local date ("2026-12-02") written out. */
export function longDate(date, lang) {
  const [y, m, d] = date.split('-').map(Number);
  return new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : lang, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' })
    .format(new Date(Date.UTC(y, m - 1, d)));
}

/** Where a booking's check-in stands at `now`: 'open', 'early' (not yet), or 'done' (not booked any more). */
export function checkInState(appointment, now = Date.now()) {
  if (appointment?.status !== 'booked') return 'done';
  return now >= Date.parse(appointment.check_in_opens_at) ? 'open' : 'early';
}

/** The catalog key that says what went wrong with a booking or a change, by the problem's code. */
export function bookingProblem(code) {
  return [
    'slot_full', 'slot_in_past', 'slot_off_grid', 'slot_outside_hours', 'slot_too_far_ahead', 'no_appointments',
    'invalid_phone', 'invalid_email', 'too_early', 'appointment_missed', 'invalid_transition',
  ].includes(code) ? `book.problem.${code}` : null;
}

/** "20261202T090000Z": an instant in the iCalendar UTC form. */
export function icsTime(at) {
  return new Date(at).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** Text escaped for an iCalendar TEXT value (RFC 5545, 3.3.11). */
function icsEscape(s) {
  return String(s).replace(/\\/g, '\\\\').replace(/;/g, '\\;').replace(/,/g, '\\,').replace(/\r?\n/g, '\\n');
}

/** A content line folded at 75 octets (RFC 5545, 3.1): continuation lines start with a space. */
function fold(line) {
  const bytes = new TextEncoder();
  const out = [];
  let cur = '';
  let limit = 75;
  for (const ch of line) {
    if (bytes.encode(cur + ch).length > limit) {
      out.push(cur);
      cur = ' ';
      limit = 75;
    }
    cur += ch;
  }
  out.push(cur);
  return out.join('\r\n');
}

/**
 * The booking as an iCalendar file (RFC 5545): one VEVENT in UTC times, its UID the
 * appointment's id (so a second download updates the same event), CRLF line ends.
 */
export function icsText({ appointment, title, url = '', now = Date.now() }) {
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Queuecast//Appointments//EN',
    'CALSCALE:GREGORIAN',
    'METHOD:PUBLISH',
    'BEGIN:VEVENT',
    `UID:${appointment.id}@queuecast`,
    `DTSTAMP:${icsTime(now)}`,
    `DTSTART:${icsTime(appointment.start_at)}`,
    `DTEND:${icsTime(appointment.end_at)}`,
    `SUMMARY:${icsEscape(title)}`,
    ...(url ? [`URL:${url}`, `DESCRIPTION:${icsEscape(url)}`] : []),
    `STATUS:${appointment.status === 'cancelled' ? 'CANCELLED' : 'CONFIRMED'}`,
    'END:VEVENT',
    'END:VCALENDAR',
  ];
  return `${lines.map(fold).join('\r\n')}\r\n`;
}
