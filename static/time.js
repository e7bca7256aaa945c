// How durations are written on every page. Pure (no DOM), so the page logic that uses it can be
// tested with node; qc.js re-exports it for the pages.

/** "4 min", "1 h 05 min", "under a minute". */
export function minutes(seconds) {
  if (seconds == null) return '—';
  const m = Math.round(seconds / 60);
  if (m < 1) return 'under a minute';
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** A wait as a range: "about 8–12 min", "a few minutes", "about 1–2 h". */
export function waitRange(p50, p90) {
  if (p50 == null) return '—';
  const lo = Math.max(0, Math.floor(p50 / 60));
  const hi = Math.max(lo + 1, Math.ceil((p90 ?? p50) / 60));
  if (hi <= 2) return 'a minute or two';
  if (hi < 90) return lo === 0 ? `under ${hi} min` : `about ${lo}–${hi} min`;
  return `about ${Math.floor(lo / 60)}–${Math.ceil(hi / 60)} h`;
}

/** Seconds since an RFC 3339 time, as "3 min" or "45 s". */
export function since(at, now = Date.now()) {
  const s = Math.max(0, Math.round((now - Date.parse(at)) / 1000));
  return s < 60 ? `${s} s` : minutes(s);
}
