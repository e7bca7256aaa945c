// What the console's ticket drawer (and its rows) say of one ticket: whether its customer is on
// their ticket page and since when, its history (GET /api/v1/tickets/{id}/history) as lines a
// person reads, the priorities offered, and the body of a move. Pure: no DOM, no fetch;
// importable from node (tests/js). Times are written by the `time` function given (the page
// passes the browser's clock; tests a fixed one).

import { humanize } from '../ticket-type.js';
import { EN } from '../i18n.js';
import { statusLabel } from './fsm.js';

const t = EN;

/** The highest priority (PATCH …/tickets/{id} takes 0 to 9; higher is served first). */
export const MAX_PRIORITY = 9;

/**
 * Whether a ticket's customer is on their ticket page: `{state, text}` with `state` `here`
 * (`present`, with the time it began) or `away` (with when they were last seen, if ever); null
 * when the ticket says nothing of it (a server from before presence).
 */
export function presence(tk, time) {
  if (!tk || typeof tk.present !== 'boolean') return null;
  if (tk.present) {
    return { state: 'here', text: tk.present_at ? t('console.here_since', { time: time(tk.present_at) }) : t('console.here') };
  }
  // Away: `present_at` is when they were last seen.
  return { state: 'away', text: tk.present_at ? t('console.last_seen', { time: time(tk.present_at) }) : t('console.away') };
}

/** The priorities a ticket may be given, for a picker: `{value, label}`, 0 (normal) to 9. */
export function priorityOptions() {
  return Array.from({ length: MAX_PRIORITY + 1 }, (_, p) => ({
    value: p,
    label: p === 0 ? t('console.priority_normal') : p === MAX_PRIORITY ? t('console.priority_top', { n: p }) : String(p),
  }));
}

/** The priority badge's words, or null for a ticket of normal priority. */
export function priorityBadge(tk) {
  const p = Number(tk?.priority) || 0;
  return p > 0 ? t('console.priority_badge', { n: p }) : null;
}

/**
 * Who made a change, from an event's `actor`: `customer`, `staff:<user id>` (`you` when it is
 * `me`, the signed-in user's id), `kiosk:<key id>`, `system`.
 */
export function actorText(actor, me) {
  if (!actor) return '';
  if (actor === 'customer') return t('console.by_customer');
  if (actor === 'system') return t('console.by_system');
  if (actor === 'staff' || actor.startsWith('staff:')) return me && actor === `staff:${me}` ? t('console.by_you') : t('console.by_staff');
  if (actor.startsWith('kiosk:')) return t('console.by_kiosk');
  return actor;
}

/** Event kinds with words of their own: `console.h_<what>` for `ticket.<what>`. */
const WORDED = [
  'joined', 'started', 'completed', 'no_show', 'requeued', 'cancelled', 'expired',
  'present', 'away', 'transferred_in', 'transferred_out',
];

/**
 * One event of a ticket's history as a line: `{at, text, by}` — when (by `time`), what happened
 * in words, and who did it. A transition of a custom type reads as its states
 * ("In progress → Ready"); an unknown kind as its name.
 */
export function historyLine(ev, { time, me } = {}) {
  const what = String(ev?.kind || '').replace(/^ticket\./, '');
  const tk = ev?.ticket || {};
  const vars = { counter: tk.counter, position: tk.position, priority: tk.priority ?? 0 };
  let text;
  if (what === 'joined' && ev.actor?.startsWith('staff:')) text = t('console.h_joined_desk');
  else if (what === 'joined' && ev.actor?.startsWith('kiosk:')) text = t('console.h_joined_kiosk');
  else if (what === 'called' || what === 'recalled') text = t(`console.h_${what}${tk.counter ? '_to' : ''}`, vars);
  else if (what === 'snoozed' || what === 'moved') text = t(`console.h_${what}${tk.position != null ? '_to' : ''}`, vars);
  else if (what === 'updated') text = t('console.h_updated', vars);
  else if (WORDED.includes(what)) text = t(`console.h_${what}`);
  else if (ev?.from && ev?.to) text = t('console.h_moved_state', { from: statusLabel(ev.from), to: statusLabel(ev.to) });
  else text = humanize(what);
  return { at: time && ev?.at ? time(ev.at) : '', text, by: actorText(ev?.actor, me) };
}

/**
 * The body of POST /api/v1/tickets/{id}/move: `{position: N}` for "to place N" (1 to the
 * line's length) or `{before: id}` for "ahead of that ticket" (another one of the line).
 * Answers `{body}`, or `{error}` in words.
 */
export function moveBody({ to, position, before }, ticket, total) {
  if (to === 'before') {
    if (!before || before === ticket?.id) return { error: t('console.move_pick') };
    return { body: { before } };
  }
  const s = String(position ?? '').trim();
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || (total > 0 && n > total)) return { error: t('console.move_position_bad', { n: Math.max(1, total || 1) }) };
  return { body: { position: n } };
}

/** Whether staff may call this ticket in particular: it is in line and its type calls from there. */
export function canCallThis(fsm, tk) {
  if (!tk || tk.position == null) return false;
  return !fsm || fsm.transitions.some((x) => x.name === 'call' && x.from.includes(tk.status));
}
