// The hours form of the console: a queue's time-keeping settings (`hours`, `number_reset`,
// `called_timeout_seconds`, `ticket_ttl_minutes`) as form fields, and back as the `settings`
// of a PATCH. Pure: tested with node. The server checks everything again; this catches typing
// slips early and words them per field.

import { EN } from '../i18n.js';

const t = EN;

/** The week's days: their code, and their name (`console.day_<code>`). */
export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, t(`console.day_${d}`)]);

/** [["09:00","12:30"],["14:00","18:00"]] → "09:00–12:30, 14:00–18:00". */
export function intervalsText(list) {
  return (list || []).map(([a, b]) => `${a}–${b}`).join(', ');
}

const TIME = /^([01]?\d|2[0-4])[:.h]?([0-5]\d)?$/;

/** "9", "9:30", "09.30", "14h" → "09:00", "09:30", "14:00"; null when not a time of day. */
function time(s) {
  const m = TIME.exec(s.trim());
  if (!m) return null;
  const hh = Number(m[1]);
  const mm = Number(m[2] || 0);
  if (hh === 24 && mm !== 0) return null;
  return `${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}`;
}

/** "09:00–12:30, 14:00-18:00" → {value: [["09:00","12:30"],["14:00","18:00"]]} or {error}. */
export function parseIntervals(text) {
  const value = [];
  for (const part of text.split(/[,;]/).map((s) => s.trim()).filter(Boolean)) {
    const ends = part.split(/\s*(?:–|—|-|to)\s*/);
    const [a, b] = ends.length === 2 ? ends.map(time) : [null, null];
    if (!a || !b) return { error: t('console.hours_bad_range', { part }) };
    if (a >= b) return { error: t('console.hours_backwards', { a, b }) };
    value.push([a, b]);
  }
  value.sort((x, y) => (x[0] < y[0] ? -1 : 1));
  for (let i = 1; i < value.length; i += 1) {
    if (value[i][0] < value[i - 1][1]) {
      return { error: t('console.hours_overlap', { a: intervalsText([value[i - 1]]), b: intervalsText([value[i]]) }) };
    }
  }
  return { value };
}

/** The form's fields from a queue's settings. */
export function hoursForm(settings, defaultTz = 'UTC') {
  const s = settings || {};
  const h = s.hours || null;
  return {
    enabled: Boolean(h),
    tz: h?.tz || defaultTz,
    days: Object.fromEntries(DAYS.map(([d]) => [d, intervalsText(h?.weekly?.[d])])),
    closedOn: (h?.closed_on || []).join('\n'),
    lastJoin: h?.last_join_minutes ? String(h.last_join_minutes) : '',
    daily: s.number_reset === 'daily',
    timeout: s.called_timeout_seconds ? String(s.called_timeout_seconds) : '',
    ttl: s.ticket_ttl_minutes ? String(s.ticket_ttl_minutes) : '',
  };
}

/** A whole number from a field: null when empty, undefined when not a whole number ≥ 1. */
function whole(text) {
  const t = String(text ?? '').trim();
  if (!t) return null;
  return /^\d+$/.test(t) && Number(t) >= 1 ? Number(t) : undefined;
}

/**
 * The `settings` of a PATCH from the form: every key it edits, null when turned off (the server
 * then removes it). {settings} or {error, field}.
 */
export function settingsFrom(form) {
  const settings = {
    hours: null,
    number_reset: form.daily ? 'daily' : null,
    called_timeout_seconds: whole(form.timeout),
    ticket_ttl_minutes: whole(form.ttl),
  };
  if (settings.called_timeout_seconds === undefined) return { error: t('console.hours_timeout_bad'), field: 'timeout' };
  if (settings.ticket_ttl_minutes === undefined) return { error: t('console.hours_ttl_bad'), field: 'ttl' };
  if (!form.enabled) return { settings };
  const tz = String(form.tz || '').trim();
  if (!tz) return { error: t('console.hours_tz_missing'), field: 'tz' };
  const weekly = {};
  for (const [d, name] of DAYS) {
    const parsed = parseIntervals(form.days?.[d] || '');
    if (parsed.error) return { error: t('console.hours_day_bad', { day: name, error: parsed.error }), field: d };
    if (parsed.value.length) weekly[d] = parsed.value;
  }
  const closedOn = String(form.closedOn || '').split(/[\s,;]+/).filter(Boolean);
  const bad = closedOn.find((x) => !/^\d{4}-\d{2}-\d{2}$/.test(x));
  if (bad) return { error: t('console.hours_closed_bad', { bad }), field: 'closedOn' };
  const hours = { tz, weekly };
  if (closedOn.length) hours.closed_on = closedOn;
  const lastJoin = String(form.lastJoin ?? '').trim();
  if (lastJoin) {
    if (!/^\d+$/.test(lastJoin)) return { error: t('console.hours_last_bad'), field: 'lastJoin' };
    hours.last_join_minutes = Number(lastJoin);
  }
  settings.hours = hours;
  return { settings };
}

/** One line for the Manage card: "Europe/Paris · Mon 09:00–18:00 · …" or "No opening hours". */
export function hoursSummary(settings) {
  const h = settings?.hours;
  if (!h) return t('console.hours_none');
  const open = DAYS.filter(([d]) => h.weekly?.[d]?.length).map(([d]) => t('console.hours_day', { day: t(`console.day_short_${d}`), times: intervalsText(h.weekly[d]) }));
  return t('console.hours_summary', { days: open.length ? open.join(' · ') : t('console.hours_never'), tz: h.tz });
}
