// The staff console's words and orderings: which ticket is "mine", how the called list is sorted,
// how numbers and today's stats read. Pure: no DOM, importable from node (tests/js).

import { humanize } from '../ticket-type.js';
import { minutes } from '../time.js';

const QUEUE_LABEL = { open: 'Open', paused: 'Paused', closed: 'Closed' };

/** A queue's status in a word. */
export function queueLabel(status) {
  return QUEUE_LABEL[status] ?? humanize(status);
}

/** "Main desk (A)": a queue in a picker. */
export function queueTitle(q) {
  return `${q.name}${q.prefix ? ` (${q.prefix})` : ''}`;
}

/** The line under the queue's name. */
export function queueNote(q, waiting) {
  const notes = {
    open: q.capacity ? `Taking new people · room for ${Math.max(0, q.capacity - waiting)} more` : 'Taking new people.',
    paused: 'Paused: nobody new can join.',
    closed: 'Closed: nobody new can join.',
  };
  return notes[q.status] || '';
}

/** "45 s" under a minute, else "4 min"; a dash for nothing. */
export function fmtSeconds(s) {
  if (s == null || Number.isNaN(s)) return '—';
  if (s < 60) return `${Math.round(s)} s`;
  return minutes(s);
}

export function party(n) {
  return n == null ? '—' : String(n);
}

/** One collator for every comparison: localeCompare with options builds one per call. */
const NATURAL = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** "A2" before "A10"; case and accents ignored. */
function naturalCompare(a, b) {
  return NATURAL.compare(String(a ?? ''), String(b ?? ''));
}

/** Called and served tickets by counter ("Desk 2" before "Desk 10"), then the latest call first, then number. */
export function sortActive(tickets) {
  return [...tickets].sort(
    (a, b) =>
      naturalCompare(a.counter || '~', b.counter || '~') ||
      Date.parse(b.called_at || 0) - Date.parse(a.called_at || 0) ||
      naturalCompare(a.number, b.number),
  );
}

const sameCounter = (t, mine) => !!mine && (t.counter || '').toLowerCase() === mine;

/** Whether `t` was called to `counter` (case ignored). */
export function atCounter(t, counter) {
  return sameCounter(t, counter.trim().toLowerCase());
}

/**
 * My current ticket: the latest one called to my counter, unless that person did not show up
 * (the type's `absent` state): the shortcuts and the desk act on it.
 */
export function myTicket(tickets, counter, fsm) {
  const mine = counter.trim().toLowerCase();
  if (!mine) return null;
  const absent = fsm?.roles?.absent;
  let best = null;
  for (const t of tickets) {
    if (!sameCounter(t, mine) || (absent != null && t.status === absent)) continue;
    if (!best || Date.parse(t.called_at || 0) > Date.parse(best.called_at || 0)) best = t;
  }
  return best;
}

/** "1,204": a count as the console writes it. */
export const fmtCount = (n) => (n ?? 0).toLocaleString('en-US');

/** "3 waiting · next A042 (Ada)": `total` in line, of whom `line` is the head the console knows. */
export function deskNext(line, total = line.length) {
  if (!total) return 'Nobody is waiting.';
  const next = line[0];
  if (!next) return `${fmtCount(total)} waiting`;
  return `${fmtCount(total)} waiting · next ${next.number}${next.name ? ` (${next.name})` : ''}`;
}

/** Under a line shown in part: "Showing 200 of 500,000". */
export function lineShown(known, total) {
  return `Showing ${fmtCount(known)} of ${fmtCount(total)}`;
}

/**
 * The ticking line under my current ticket: "party of 2 · serving for 4 min" once service
 * started (only `start` sets `served_at`), else "… called 2 min ago". `since` is null when the
 * ticket has neither time.
 */
export function deskSub(t) {
  const lead = t.party_size ? `${t.party_size === 1 ? 'party of 1' : `party of ${t.party_size}`} · ` : '';
  if (t.served_at) return { since: t.served_at, prefix: `${lead}serving for `, suffix: '' };
  if (t.called_at) return { since: t.called_at, prefix: `${lead}called `, suffix: ' ago' };
  return { since: null, prefix: lead.replace(/ · $/, ''), suffix: '' };
}

/** When the time beside an active ticket counts from, and what it means. */
export function activeSince(t) {
  return t.served_at ? { at: t.served_at, title: 'Serving for' } : { at: t.called_at || null, title: 'Called' };
}

/** Today's numbers (GET /api/v1/queues/{id}/stats) as the cards show them. */
export function statsTexts(s) {
  const ws = s.wait_seconds || {};
  const err = s.estimate_error || {};
  const called = (s.served ?? 0) + (s.no_shows ?? 0);
  let bias = err.samples ? `${err.samples} estimates checked` : 'none checked yet';
  if (err.bias_seconds != null && Math.abs(err.bias_seconds) >= 30) {
    bias = err.bias_seconds > 0
      ? `${fmtSeconds(err.bias_seconds)} longer than told`
      : `${fmtSeconds(-err.bias_seconds)} shorter than told`;
  }
  return {
    served: String(s.served ?? '—'),
    servedSub: `${s.joined ?? 0} joined · ${s.cancelled ?? 0} cancelled`,
    wait: fmtSeconds(ws.mean),
    waitSub: ws.p90 != null ? `9 in 10 under ${fmtSeconds(ws.p90)}` : 'no one called yet',
    noshow: String(s.no_shows ?? '—'),
    noshowSub: called > 0 ? `${Math.round((100 * (s.no_shows ?? 0)) / called)}% no-show rate` : '—',
    error: err.mean_abs_seconds != null ? `±${fmtSeconds(err.mean_abs_seconds)}` : '—',
    errorSub: bias,
  };
}

/** A queue's short name from its name: "Café Crème" → "cafe-creme". */
export const slugify = (s) =>
  s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
