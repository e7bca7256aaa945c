// What a ticket's status means to its customer (static/ticket-type.js): when it has ended, and
// how it reads, for the default type and a custom one. Run with `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { doneText, ended, humanize, phase, readType, statusLabel, statusPill } from '../../static/ticket-type.js';

/** The `ticket_type` of the default type's public summary. */
const DEFAULT = readType({
  code: 'default',
  init: 'waiting',
  states: ['waiting', 'called', 'serving', 'completed', 'cancelled', 'no_show'],
  final: ['completed', 'cancelled'],
  roles: { absent: 'no_show', abandoned: 'cancelled' },
});

const PHARMACY = readType({
  code: 'pharmacy',
  init: 'received',
  states: ['received', 'in_progress', 'ready', 'collected', 'withdrawn', 'lapsed'],
  final: ['collected', 'withdrawn', 'lapsed'],
  roles: { abandoned: 'withdrawn', expired: 'lapsed' },
});

const AT = '2026-11-23T09:41:12Z';
const waiting = { status: 'waiting', position: 3, called_at: null, served_at: null, finished_at: null, counter: null };
const called = { ...waiting, status: 'called', position: null, called_at: AT, counter: 'Desk 3' };
const serving = { ...called, status: 'serving', served_at: AT };
const completed = { ...serving, status: 'completed', finished_at: AT };
const cancelled = { ...waiting, status: 'cancelled', position: null, finished_at: AT };
const noShow = { ...called, status: 'no_show' };

test('a default ticket has ended when completed, cancelled or a no-show, as before', () => {
  for (const t of [completed, cancelled, noShow]) assert.equal(ended(t, DEFAULT), true, t.status);
  for (const t of [waiting, called, serving]) assert.equal(ended(t, DEFAULT), false, t.status);
});

test('a default ticket reads as it always did', () => {
  const read = (t) => [phase(t, DEFAULT), statusLabel(t, DEFAULT), statusPill(t, DEFAULT)];
  assert.deepEqual(read(waiting), ['line', 'In line', { look: 'reconnecting', text: 'In line' }]);
  assert.deepEqual(read(called), ['called', 'Called', { look: 'live', text: 'Called to Desk 3' }]);
  assert.deepEqual(read({ ...called, counter: null }), ['called', 'Called', { look: 'live', text: 'Called' }]);
  assert.deepEqual(read(serving), ['serving', 'Being served', { look: 'live', text: 'Being served' }]);
  assert.deepEqual(read(completed), ['done', 'Done', { look: '', text: 'Done' }]);
  assert.deepEqual(read(cancelled), ['abandoned', 'Cancelled', { look: '', text: 'Cancelled' }]);
  assert.deepEqual(read(noShow), ['absent', 'Missed', { look: '', text: 'Missed' }]);
  // Requeued after a call: back in line although it was called once.
  assert.equal(phase({ ...called, status: 'waiting', position: 1 }, DEFAULT), 'line');
});

test('an ended ticket’s card says why', () => {
  assert.deepEqual(doneText(completed, DEFAULT), ['All done', 'Thank you for your visit.']);
  assert.equal(doneText(cancelled, DEFAULT)[0], 'You left the queue');
  assert.equal(doneText(noShow, DEFAULT)[0], 'We missed you');
});

test('a custom type ends in its own final states, and reads in its own words', () => {
  const received = { ...waiting, status: 'received' };
  const inProgress = { ...called, status: 'in_progress' };
  const ready = { ...called, status: 'ready' };
  const collected = { ...ready, status: 'collected', finished_at: AT };
  const lapsed = { ...received, status: 'lapsed', position: null, finished_at: AT };
  assert.equal(ended(received, PHARMACY), false);
  assert.equal(ended(ready, PHARMACY), false);
  assert.equal(ended(collected, PHARMACY), true);
  assert.equal(phase(received, PHARMACY), 'line');
  assert.equal(statusLabel(received, PHARMACY), 'In line');
  // Called to a counter (the `call` transition set called_at): the customer's turn.
  assert.equal(phase(inProgress, PHARMACY), 'called');
  assert.deepEqual(statusPill(ready, PHARMACY), { look: 'live', text: 'Called to Desk 3' });
  assert.equal(phase(collected, PHARMACY), 'done');
  assert.equal(statusLabel(collected, PHARMACY), 'Collected');
  assert.equal(phase(lapsed, PHARMACY), 'expired');
  assert.equal(doneText(lapsed, PHARMACY)[0], 'Your ticket expired');
  // A state past the line that was never called reads as itself.
  const other = { ...received, status: 'on_hold', position: null };
  assert.deepEqual([phase(other, PHARMACY), statusLabel(other, PHARMACY)], ['other', 'On hold']);
});

test('the named states of the default type mean nothing to another type', () => {
  // A custom type whose `no_show` is an ordinary state: not ended, not "Missed".
  const custom = readType({ init: 'waiting', final: ['done'], roles: {} });
  const t = { ...called, status: 'no_show' };
  assert.equal(ended(t, custom), false);
  assert.equal(statusLabel({ ...t, called_at: null }, custom), 'No show');
});

test('a summary without a ticket type still knows a finished ticket', () => {
  const unknown = readType(undefined);
  assert.deepEqual(unknown, { init: null, final: [], roles: {} });
  assert.equal(ended(completed, unknown), true);
  assert.equal(ended(waiting, unknown), false);
  assert.equal(phase(waiting, unknown), 'line');
});

test('humanize', () => {
  assert.equal(humanize('in_progress'), 'In progress');
  assert.equal(humanize('ready'), 'Ready');
  assert.equal(humanize(''), '—');
  assert.equal(humanize(null), '—');
});
