// What a queue's ticket type means to the customer holding a ticket: whether it has ended, and
// how its status reads. The type comes from the queue's public summary (`ticket_type` of
// GET /api/v1/queues/{queue_id}: init, states, final, roles), so a custom type needs no code
// here. Words come from the page's catalog (a translator of i18n.js; English without one).
// Pure: no DOM, importable from node (tests/js).
import { EN } from './i18n.js';

/** "in_progress" → "In progress": how a state or transition with no wording of its own reads. */
export function humanize(name) {
  if (!name) return '—';
  return name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
}

/**
 * The summary's `ticket_type` with every part present. A summary without one (a server from
 * before the field) gives an empty type: then only the ticket's own `finished_at` says it ended.
 */
export function readType(raw) {
  return {
    init: raw?.init ?? null,
    final: Array.isArray(raw?.final) ? raw.final : [],
    roles: raw?.roles && typeof raw.roles === 'object' ? raw.roles : {},
  };
}

/** The role (`absent`, `abandoned`, `expired`) the type gives `status`, if any. */
function roleOf(type, status) {
  return Object.keys(type.roles).find((role) => type.roles[role] === status) ?? null;
}

/**
 * Whether nothing more will happen to the ticket for its customer: a final state, or the
 * "absent" one (the customer was called and did not come: staff may requeue them, but the
 * customer is told they were missed, as they always were for `no_show`).
 */
export function ended(ticket, type) {
  return (
    type.final.includes(ticket.status) ||
    (type.roles.absent != null && ticket.status === type.roles.absent) ||
    ticket.finished_at != null
  );
}

/**
 * Where the ticket stands for its customer: `line`, `called` (their turn: go to the counter),
 * `serving`, `other` (a state of a custom type past the line that is neither), or, once ended,
 * its role (`absent`, `abandoned`, `expired`) or `done`. The summary carries no transitions, so
 * being called and served are read from the ticket's own times: `called_at` is set by the `call`
 * transition and `served_at` by `start` (server side), which is exactly `called` and `serving`
 * for the default type.
 */
export function phase(ticket, type) {
  if (ended(ticket, type)) return roleOf(type, ticket.status) ?? 'done';
  if (ticket.position != null || ticket.status === type.init) return 'line';
  if (ticket.served_at) return 'serving';
  if (ticket.called_at) return 'called';
  return 'other';
}

/** Phases with words of their own; `done` and `other` read as the status itself. */
const PHASES = ['line', 'called', 'serving', 'absent', 'abandoned', 'expired'];
/** Final states of the default type that keep their own words. */
const DONE_STATES = ['completed'];

/** The ticket's status in a word or two ("In line", "Missed", "Ready"). */
export function statusLabel(ticket, type, t = EN) {
  const p = phase(ticket, type);
  if (PHASES.includes(p)) return t(`phase.${p}`);
  return DONE_STATES.includes(ticket.status) ? t(`phase.${ticket.status}`) : humanize(ticket.status);
}

/** The status pill: its look (a `.status-pill` class) and text ("Called to Desk 3"). */
export function statusPill(ticket, type, t = EN) {
  const p = phase(ticket, type);
  const look = p === 'called' || p === 'serving' ? 'live' : ended(ticket, type) ? '' : 'reconnecting';
  const text = p === 'called' && ticket.counter ? t('phase.called_to', { counter: ticket.counter }) : statusLabel(ticket, type, t);
  return { look, text };
}

/** The title and sentence of an ended ticket's card. */
export function doneText(ticket, type, t = EN) {
  const p = phase(ticket, type);
  const k = ['absent', 'abandoned', 'expired'].includes(p) ? p : 'done';
  return [t(`done.${k}.title`), t(`done.${k}.text`)];
}
