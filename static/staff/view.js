// The staff console's words and orderings: which ticket is "mine", how the called list is sorted,
// how numbers and today's stats read. Pure: no DOM, importable from node (tests/js).

import { humanize } from '../ticket-type.js';
import { minutes } from '../time.js';
import { EN } from '../i18n.js';

const t = EN;

/** The queue statuses with a word of their own (`console.queue_<status>`); others are humanized. */
const QUEUE_STATUSES = ['open', 'paused', 'closed'];

/** A queue's status in a word. */
export function queueLabel(status) {
  return QUEUE_STATUSES.includes(status) ? t(`console.queue_${status}`) : humanize(status);
}

/** "Main desk (A)": a queue in a picker. */
export function queueTitle(q) {
  return `${q.name}${q.prefix ? ` (${q.prefix})` : ''}`;
}

/** The line under the queue's name. */
export function queueNote(q, waiting) {
  if (q.status === 'open') {
    return q.capacity ? t('console.note_open_room', { n: Math.max(0, q.capacity - waiting) }) : t('console.note_open');
  }
  return q.status === 'paused' || q.status === 'closed' ? t(`console.note_${q.status}`) : '';
}

/** "45 s" under a minute, else "4 min"; a dash for nothing. */
export function fmtSeconds(s) {
  if (s == null || Number.isNaN(s)) return '—';
  if (s < 60) return t('console.seconds', { n: Math.round(s) });
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
  if (!total) return t('console.nobody_waiting');
  const next = line[0];
  if (!next) return t('console.n_waiting', { n: fmtCount(total) });
  const vars = { n: fmtCount(total), number: next.number, name: next.name };
  return t(next.name ? 'console.next_named' : 'console.next', vars);
}

/** Under a line shown in part: "Showing 200 of 500,000". */
export function lineShown(known, total) {
  return t('console.showing', { known: fmtCount(known), total: fmtCount(total) });
}

/**
 * The ticking line under my current ticket: "party of 2 · serving for 4 min" once service
 * started (only `start` sets `served_at`), else "… called 2 min ago". `since` is null when the
 * ticket has neither time.
 */
export function deskSub(tk) {
  const party = tk.party_size ? t('console.party_of', { count: tk.party_size, n: tk.party_size }) : '';
  const lead = party ? t('console.lead', { party }) : '';
  if (tk.served_at) return { since: tk.served_at, prefix: lead + t('console.serving_for'), suffix: '' };
  if (tk.called_at) return { since: tk.called_at, prefix: lead + t('console.called_prefix'), suffix: t('console.called_suffix') };
  return { since: null, prefix: party, suffix: '' };
}

/** When the time beside an active ticket counts from, and what it means. */
export function activeSince(tk) {
  return tk.served_at ? { at: tk.served_at, title: t('console.since_serving') } : { at: tk.called_at || null, title: t('console.since_called') };
}

/** Today's numbers (GET /api/v1/queues/{id}/stats) as the cards show them. */
export function statsTexts(s) {
  const ws = s.wait_seconds || {};
  const err = s.estimate_error || {};
  const called = (s.served ?? 0) + (s.no_shows ?? 0);
  let bias = err.samples ? t('console.stat_checked', { n: err.samples }) : t('console.stat_none_checked');
  if (err.bias_seconds != null && Math.abs(err.bias_seconds) >= 30) {
    bias = err.bias_seconds > 0
      ? t('console.stat_longer', { time: fmtSeconds(err.bias_seconds) })
      : t('console.stat_shorter', { time: fmtSeconds(-err.bias_seconds) });
  }
  return {
    served: String(s.served ?? '—'),
    servedSub: t('console.stat_served_sub', { joined: s.joined ?? 0, cancelled: s.cancelled ?? 0 }),
    wait: fmtSeconds(ws.mean),
    waitSub: ws.p90 != null ? t('console.stat_p90', { time: fmtSeconds(ws.p90) }) : t('console.stat_none_called'),
    noshow: String(s.no_shows ?? '—'),
    noshowSub: called > 0 ? t('console.stat_noshow_rate', { n: Math.round((100 * (s.no_shows ?? 0)) / called) }) : '—',
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
