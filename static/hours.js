// Opening hours as the pages say them: "Opens at 09:00", "Closes at 18:00", in the queue's own
// time zone (the summary's `tz`) whatever the phone's. Pure (Intl only, no DOM): tested with node.

const DAY_MS = 86_400_000;

/** The local date of `at` in `tz`, as a day count: two instants on one local day count the same. */
function dayOf(at, tz) {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(at);
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  return Math.round(Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day)) / DAY_MS);
}

/** "09:00": the time of day of `at` in `tz`, on the 24-hour clock. */
export function clockTime(at, tz) {
  return new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    .format(at);
}

/** When `iso` is, seen from `now`: "at 09:00", "tomorrow at 09:00", "Tuesday at 09:00", "on 25 Dec at 09:00". */
export function when(iso, tz, now = Date.now()) {
  const at = new Date(iso);
  const days = dayOf(at, tz) - dayOf(new Date(now), tz);
  const time = `at ${clockTime(at, tz)}`;
  if (days <= 0) return time;
  if (days === 1) return `tomorrow ${time}`;
  if (days < 7) return `${new Intl.DateTimeFormat('en-GB', { timeZone: tz, weekday: 'long' }).format(at)} ${time}`;
  return `on ${new Intl.DateTimeFormat('en-GB', { timeZone: tz, day: 'numeric', month: 'short' }).format(at)} ${time}`;
}

/**
 * What a queue's public summary says of its hours: `opens` ("Opens at 09:00") while it takes
 * no one new, `closes` ("Closes at 18:00") while it is open; each '' when the summary has none.
 */
export function hoursTexts(q, now = Date.now()) {
  const tz = q?.tz || undefined;
  return {
    opens: q?.opens_at ? `Opens ${when(q.opens_at, tz, now)}` : '',
    closes: q?.closes_at && q.status === 'open' ? `Closes ${when(q.closes_at, tz, now)}` : '',
  };
}
