// The console's "Today's appointments": the day's list (GET …/appointments?date=, in the
// queue's zone) kept by the staff socket's appointment.* events, each appointment classed as
// upcoming, arrived, late or missed. Pure: no DOM, no fetch.

import { dayKey } from '../booking-model.js';

/** How an appointment stands at `now`: 'arrived', 'missed', 'late' (its time has passed, not here yet), 'upcoming'; null when cancelled. */
export function classify(a, now = Date.now()) {
  if (a.status === 'checked_in') return 'arrived';
  if (a.status === 'missed') return 'missed';
  if (a.status !== 'booked') return null;
  return now >= Date.parse(a.start_at) ? 'late' : 'upcoming';
}

/** The day's list with `a` (from an event or an action's answer) in it, in time order; unchanged when `a` is of another day. */
export function upsert(list, a, day, tz) {
  if (dayKey(a.start_at, tz) !== day && !list.some((x) => x.id === a.id)) return list;
  const kept = list.find((x) => x.id === a.id);
  // Events carry no contacts: keep the ones the list read.
  const merged = kept ? { ...kept, ...a, phone: a.phone ?? kept.phone, email: a.email ?? kept.email } : a;
  const next = list.filter((x) => x.id !== a.id);
  if (dayKey(merged.start_at, tz) === day) next.push(merged);
  return next.sort((x, y) => Date.parse(x.start_at) - Date.parse(y.start_at) || (x.created_at < y.created_at ? -1 : 1));
}

/** The rows to show: every appointment but cancelled ones, with its class. */
export function rows(list, now = Date.now()) {
  return list.map((a) => ({ ...a, state: classify(a, now) })).filter((a) => a.state);
}

/** Counts by class, for the panel's heading. */
export function counts(list, now = Date.now()) {
  const c = { upcoming: 0, arrived: 0, late: 0, missed: 0 };
  for (const r of rows(list, now)) c[r.state] += 1;
  return c;
}

/** Ticket id → the appointment it came from: the waiting line marks those tickets. */
export function bookedTickets(list) {
  return new Map(list.filter((a) => a.ticket_id).map((a) => [a.ticket_id, a]));
}
