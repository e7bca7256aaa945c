// Opening hours as the pages say them: "Opens at 09:00", "Closes at 18:00", in the queue's own
// time zone (the summary's `tz`) whatever the phone's, in the page's language (a translator of
// i18n.js; English without one). Pure (Intl only, no DOM): tested with node.
import { EN } from './i18n.js';

const DAY_MS = 86_400_000;

/** The local date of `at` in `tz`, as a day count: two instants on one local day count the same. */
function dayOf(at, tz) {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(at);
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  return Math.round(Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day)) / DAY_MS);
}

/** The locale Intl writes `lang` with (English times on the 24-hour clock, as British English). */
const locale = (lang) => (lang === 'en' ? 'en-GB' : lang);

/** "09:00": the time of day of `at` in `tz`, on the 24-hour clock. */
export function clockTime(at, tz, lang = 'en') {
  return new Intl.DateTimeFormat(locale(lang), { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    .format(at);
}

/** When `iso` is, seen from `now`: "at 09:00", "tomorrow at 09:00", "Tuesday at 09:00", "on 25 Dec at 09:00". */
export function when(iso, tz, now = Date.now(), t = EN) {
  const at = new Date(iso);
  const days = dayOf(at, tz) - dayOf(new Date(now), tz);
  const time = clockTime(at, tz, t.lang);
  if (days <= 0) return t('hours.at', { time });
  if (days === 1) return t('hours.tomorrow_at', { time });
  const loc = locale(t.lang);
  if (days < 7) return t('hours.day_at', { day: new Intl.DateTimeFormat(loc, { timeZone: tz, weekday: 'long' }).format(at), time });
  return t('hours.date_at', { date: new Intl.DateTimeFormat(loc, { timeZone: tz, day: 'numeric', month: 'short' }).format(at), time });
}

/**
 * What a queue's public summary says of its hours: `opens` ("Opens at 09:00") while it takes
 * no one new, `closes` ("Closes at 18:00") while it is open; each '' when the summary has none.
 */
export function hoursTexts(q, now = Date.now(), t = EN) {
  const tz = q?.tz || undefined;
  return {
    opens: q?.opens_at ? t('hours.opens', { when: when(q.opens_at, tz, now, t) }) : '',
    closes: q?.closes_at && q.status === 'open' ? t('hours.closes', { when: when(q.closes_at, tz, now, t) }) : '',
  };
}
