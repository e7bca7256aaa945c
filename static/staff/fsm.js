// Which buttons a ticket gets in the staff console, read from its queue's ticket type (the `fsm`
// of GET /api/v1/ticket-types), and how statuses and actions are worded. The built-in names keep
// the words, keys and looks the console always had; any other name is humanized and has no key,
// so a custom type works with no code change. Pure: no DOM, importable from node (tests/js).

import { humanize } from '../ticket-type.js';
import { EN } from '../i18n.js';

const t = EN;

/**
 * The built-in actions, in the order their buttons appear. `look` is `primary` (moves the
 * ticket on), `secondary` or `danger`; `key` is the keyboard shortcut on the current ticket.
 * Their labels are `console.action_<name>`.
 */
const KNOWN = {
  start: { key: 's', look: 'primary' },
  complete: { key: 'c', look: 'primary' },
  recall: { key: 'r', look: 'secondary' },
  no_show: { key: 'x', look: 'secondary' },
  requeue: { look: 'secondary' },
  cancel: { look: 'danger' },
};
const ORDER = Object.keys(KNOWN);

/** The built-in statuses, worded `console.status_<status>`; any other is humanized. */
const STATUSES = ['waiting', 'called', 'serving', 'no_show', 'completed', 'cancelled', 'expired'];

/** `call` is what call-next applies: it has its own big button, never a ticket's. */
const CALL = 'call';

/**
 * A ticket type's machine as the console uses it: `from` always a list, `roles` always an
 * object (the server accepts `from` as one state or several).
 */
export function readFsm(raw) {
  if (!raw || !Array.isArray(raw.transitions)) return null;
  return {
    init: raw.init,
    states: raw.states ?? [],
    transitions: raw.transitions.map((t) => ({ name: t.name, from: [].concat(t.from ?? []), to: t.to })),
    roles: raw.roles && typeof raw.roles === 'object' ? raw.roles : {},
  };
}

/** The ticket types of GET /api/v1/ticket-types, by code. */
export function typesByCode(list) {
  return new Map((list || []).map((t) => [t.code, readFsm(t.fsm)]).filter(([, fsm]) => fsm));
}

const LOOK_RANK = { primary: 0, secondary: 1, danger: 2 };

/**
 * The actions a ticket in `status` offers: the transitions out of it but `call`. Those that move
 * it on come first and those that abandon it last; within a look, built-in ones in their usual
 * order, then the others in the machine's. Without a machine (the types could not be read),
 * every built-in action: the server refuses those that do not apply.
 */
export function actionsFor(fsm, status) {
  if (!fsm) return ORDER.slice();
  const names = fsm.transitions.filter((t) => t.name !== CALL && t.from.includes(status)).map((t) => t.name);
  const rank = (n) => LOOK_RANK[actionLook(fsm, n)] * (ORDER.length + 1) + (ORDER.includes(n) ? ORDER.indexOf(n) : ORDER.length);
  // Array.prototype.sort is stable: names of equal rank keep the machine's order.
  return names.sort((a, b) => rank(a) - rank(b));
}

/** Whether a ticket in line can be cancelled by staff (the line's × button). */
export function canCancelInLine(fsm) {
  return !fsm || fsm.transitions.some((t) => t.name === 'cancel' && t.from.includes(fsm.init));
}

export function actionLabel(name) {
  return KNOWN[name] ? t(`console.action_${name}`) : humanize(name);
}

export function statusLabel(status) {
  return STATUSES.includes(status) ? t(`console.status_${status}`) : humanize(status);
}

/** The action a shortcut key runs on the current ticket (`n`, call next, is not a ticket's). */
export function actionForKey(key) {
  const k = key.toLowerCase();
  return ORDER.find((name) => KNOWN[name].key === k) ?? null;
}

/**
 * How an action's button looks. Another type's transition is `danger` when it abandons the
 * ticket, `primary` when it moves the ticket forward (to a new state that is neither back in
 * line nor a special one), `secondary` otherwise.
 */
export function actionLook(fsm, name) {
  if (KNOWN[name]) return KNOWN[name].look;
  const t = fsm?.transitions.find((x) => x.name === name);
  if (!t) return 'secondary';
  const roles = Object.values(fsm.roles);
  if (t.to === fsm.roles.abandoned) return 'danger';
  if (t.to !== fsm.init && !roles.includes(t.to) && !t.from.includes(t.to)) return 'primary';
  return 'secondary';
}

/** The buttons of a ticket in `status`: name, label, key (or null) and look. */
export function buttonsFor(fsm, status) {
  return actionsFor(fsm, status).map((name) => ({
    name,
    label: actionLabel(name),
    key: KNOWN[name]?.key ?? null,
    look: actionLook(fsm, name),
  }));
}

/** What the toast says once an action went through; `after` is the ticket the server answered. */
export function doneText(name, ticket, after) {
  const n = ticket.number;
  if (KNOWN[name]) return t(`console.done_${name}`, { number: n });
  if (after?.position != null) return t('console.done_requeue', { number: n });
  return after?.status ? t('console.done_other', { number: n, status: statusLabel(after.status).toLowerCase() }) : null;
}
