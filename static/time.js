// How durations are written on every page, in the page's language (a translator of i18n.js;
// English without one). Pure (no DOM), so the page logic that uses it can be tested with node;
// qc.js re-exports it for the pages.
import { EN, duration, number } from './i18n.js';

/** "4 min", "1 h 05 min", "under a minute". */
export function minutes(seconds, t = EN) {
  return duration(seconds, t);
}

/** A wait as a range: "about 8–12 min", "a few minutes", "about 1–2 h". */
export function waitRange(p50, p90, t = EN) {
  if (p50 == null) return '—';
  const lo = Math.max(0, Math.floor(p50 / 60));
  const hi = Math.max(lo + 1, Math.ceil((p90 ?? p50) / 60));
  const n = (x) => number(x, t.lang);
  if (hi <= 2) return t('time.minute_or_two');
  if (hi < 90) return lo === 0 ? t('time.under_min', { hi: n(hi) }) : t('time.about_min', { lo: n(lo), hi: n(hi) });
  return t('time.about_h', { lo: n(Math.floor(lo / 60)), hi: n(Math.ceil(hi / 60)) });
}

/** Seconds since an RFC 3339 time, as "3 min" or "45 s". */
export function since(at, now = Date.now()) {
  const s = Math.max(0, Math.round((now - Date.parse(at)) / 1000));
  return s < 60 ? `${s} s` : minutes(s);
}
