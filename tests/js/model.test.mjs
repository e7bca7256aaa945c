// The staff console's model (static/staff/model.js): what the staff socket's frames make of the
// line and the active tickets. Run with `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { apply, initial, isReady, patchQueue, ticketById } from '../../static/staff/model.js';

const Q = 'q-1';
let n = 0;
/** A ticket of queue Q; waiting (position set) unless said otherwise. */
const ticket = (fields = {}) => ({ id: `t-${++n}`, queue_id: Q, number: `A${n}`, status: 'waiting', position: null, ...fields });
const event = (seq, kind, t, extra = {}) => ({ type: 'event', event: { seq, queue_id: Q, kind, ticket: t, ...extra } });
const numbers = (state) => state.line.map((t) => t.number);

/** A state after a snapshot at seq 10 with line A, B, C and one called ticket D. */
function started() {
  const [a, b, c] = [ticket({ position: 1 }), ticket({ position: 2 }), ticket({ position: 3 })];
  const d = ticket({ status: 'called', counter: 'Desk 1' });
  const { state } = apply(initial(Q), {
    type: 'snapshot', seq: 10, queue: { id: Q, name: 'Main', status: 'open' },
    // Out of order on purpose: the line is kept by position.
    waiting: [c, a, b], waiting_total: 3, active: [d],
  });
  return { state, a, b, c, d };
}

test('a snapshot replaces everything and orders the line by position', () => {
  const { state, a, b, c, d } = started();
  assert.equal(isReady(state), true);
  assert.equal(state.seq, 10);
  assert.deepEqual(numbers(state), [a.number, b.number, c.number]);
  assert.deepEqual([...state.active.keys()], [d.id]);
  assert.equal(ticketById(state, a.id), a);

  const e = ticket({ position: 1 });
  const { state: next, resync } = apply(state, { type: 'snapshot', seq: 15, queue: { id: Q, status: 'paused' }, waiting: [e], active: [] });
  assert.equal(resync, false);
  assert.equal(next.seq, 15);
  assert.deepEqual(numbers(next), [e.number]);
  assert.equal(next.active.size, 0);
  assert.equal(next.queue.status, 'paused');
  // The old state is left as it was.
  assert.equal(state.seq, 10);
  assert.equal(state.line.length, 3);
});

test('frames already applied are ignored, by seq', () => {
  const { state } = started();
  for (const frame of [
    event(10, 'ticket.joined', ticket({ position: 4 })),
    event(7, 'ticket.called', ticket({ status: 'called' })),
    { type: 'snapshot', seq: 9, waiting: [], active: [] },
  ]) {
    const out = apply(state, frame);
    assert.equal(out.state, state, JSON.stringify(frame));
    assert.equal(out.resync, false);
  }
});

test('a gap in seq asks for a resync and changes nothing', () => {
  const { state } = started();
  const out = apply(state, event(12, 'ticket.joined', ticket({ position: 4 })));
  assert.equal(out.resync, true);
  assert.equal(out.state, state);
  assert.equal(state.line.length, 3);
});

test('an event before any snapshot asks for a resync', () => {
  const before = initial(Q);
  const out = apply(before, event(1, 'ticket.joined', ticket({ position: 1 })));
  assert.equal(out.resync, true);
  assert.equal(out.state, before);
  assert.equal(isReady(before), false);
});

test('a join goes into the line at its position', () => {
  const { state, a, b, c } = started();
  const last = ticket({ position: 4 });
  let { state: s } = apply(state, event(11, 'ticket.joined', last));
  assert.equal(s.seq, 11);
  assert.deepEqual(numbers(s), [a.number, b.number, c.number, last.number]);
  // A priority join ahead of others pushes them down one.
  const urgent = ticket({ position: 2, priority: 5 });
  ({ state: s } = apply(s, event(12, 'ticket.joined', urgent)));
  assert.deepEqual(numbers(s), [a.number, urgent.number, b.number, c.number, last.number]);
});

test('a call moves the ticket from the line to the active tickets', () => {
  const { state, a, b, c } = started();
  const called = { ...a, status: 'called', position: null, counter: 'Desk 2' };
  const { state: s } = apply(state, event(11, 'ticket.called', called));
  assert.deepEqual(numbers(s), [b.number, c.number]);
  assert.deepEqual(s.active.get(a.id), called);
  assert.equal(s.active.size, 2);
});

test('transitions move active tickets on, back into line, or out', () => {
  const { state, a, b, c, d } = started();
  // Started: still active, with its new status.
  let { state: s } = apply(state, event(11, 'ticket.started', { ...d, status: 'serving' }));
  assert.equal(s.active.get(d.id).status, 'serving');
  // Requeued: back in line at its position.
  ({ state: s } = apply(s, event(12, 'ticket.requeued', { ...d, status: 'waiting', position: 1 })));
  assert.equal(s.active.size, 0);
  assert.deepEqual(numbers(s), [d.number, a.number, b.number, c.number]);
  // Cancelled from the line: finished, so it leaves the console.
  ({ state: s } = apply(s, event(13, 'ticket.cancelled', { ...d, status: 'cancelled', finished_at: '2026-01-01T10:00:00Z' })));
  assert.deepEqual(numbers(s), [a.number, b.number, c.number]);
  assert.equal(ticketById(s, d.id), null);
});

test('a no-show stays among the active tickets (it may be requeued)', () => {
  const { state, d } = started();
  const { state: s } = apply(state, event(11, 'ticket.no_show', { ...d, status: 'no_show' }));
  assert.equal(s.active.get(d.id).status, 'no_show');
});

test('a transfer out removes the ticket; a transfer in adds it to the line', () => {
  const { state, a, b, c } = started();
  // The ticket as the server sends it is already in the other queue; the kind alone suffices.
  for (const moved of [{ ...b, queue_id: 'q-2', position: null }, { ...b, position: null }]) {
    const { state: out } = apply(state, event(11, 'ticket.transferred_out', moved));
    assert.deepEqual(numbers(out), [a.number, c.number]);
    assert.equal(ticketById(out, b.id), null);
  }
  let { state: s } = apply(state, event(11, 'ticket.transferred_out', { ...b, queue_id: 'q-2', position: null }));

  const incoming = ticket({ position: 3 });
  ({ state: s } = apply(s, event(12, 'ticket.transferred_in', incoming)));
  assert.deepEqual(numbers(s), [a.number, c.number, incoming.number]);
});

test('a ticket of another queue never enters this one', () => {
  const { state } = started();
  const stray = ticket({ queue_id: 'q-2', position: 1 });
  const { state: s } = apply(state, event(11, 'ticket.joined', stray));
  assert.equal(s.seq, 11);
  assert.equal(ticketById(s, stray.id), null);
});

test('queue.updated merges the queue and moves no ticket', () => {
  const { state } = started();
  const { state: s } = apply(state, event(11, 'queue.updated', null, { queue: { status: 'paused' } }));
  assert.equal(s.seq, 11);
  assert.equal(s.queue.status, 'paused');
  assert.equal(s.queue.name, 'Main');
  assert.equal(s.line, state.line);
  assert.equal(state.queue.status, 'open');
  // Without the queue in it, the event still counts (its seq is taken).
  const { state: t } = apply(s, event(12, 'queue.updated', null));
  assert.equal(t.seq, 12);
  assert.equal(t.queue.status, 'paused');
});

test('frames that are neither snapshots nor events change nothing', () => {
  const { state } = started();
  for (const frame of [{ type: 'pong' }, { type: 'event' }, null]) {
    assert.deepEqual(apply(state, frame), { state, resync: false });
  }
});

test('patchQueue changes the queue of a new state only', () => {
  const { state } = started();
  const s = patchQueue(state, { status: 'closed' });
  assert.equal(s.queue.status, 'closed');
  assert.equal(state.queue.status, 'open');
  assert.equal(patchQueue(initial(Q), { status: 'closed' }).queue, null);
});

test('presence events say who is on their page, and move nobody', () => {
  const { state, a, b, c, d } = started();
  const here = { ticket_id: b.id, present: true, at: '2026-11-23T10:42:00Z' };
  const { state: s1, resync } = apply(state, { type: 'event', event: { seq: 11, queue_id: Q, kind: 'ticket.present', presence: here } });
  assert.equal(resync, false);
  assert.equal(s1.seq, 11);
  assert.deepEqual(numbers(s1), [a.number, b.number, c.number], 'nobody moved');
  assert.equal(s1.waitingTotal, 3);
  assert.deepEqual([ticketById(s1, b.id).present, ticketById(s1, b.id).present_at], [true, '2026-11-23T10:42:00Z']);
  assert.equal(ticketById(s1, a.id).present, undefined, 'only the ticket named');
  assert.equal(ticketById(state, b.id).present, undefined, 'the old state is left as it was');
  // Away, on a called ticket: it stays called, with when it was last seen.
  const away = { ticket_id: d.id, present: false, at: '2026-11-23T10:50:00Z' };
  const { state: s2 } = apply(s1, { type: 'event', event: { seq: 12, queue_id: Q, kind: 'ticket.away', presence: away } });
  assert.deepEqual([s2.active.get(d.id).present, s2.active.get(d.id).present_at, s2.active.get(d.id).status], [false, '2026-11-23T10:50:00Z', 'called']);
  assert.equal(s2.active.size, 1);
  // Someone past the head the console knows: only the seq moves.
  const { state: s3 } = apply(s2, { type: 'event', event: { seq: 13, queue_id: Q, kind: 'ticket.present', presence: { ticket_id: 'far', present: true, at: '2026-11-23T10:51:00Z' } } });
  assert.equal(s3.seq, 13);
  assert.equal(s3.line, s2.line);
  assert.equal(s3.waitingTotal, 3);
});
