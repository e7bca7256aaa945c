// The staff console's buttons from a ticket type (static/staff/fsm.js), with the built-in type
// and a pharmacy-like custom one. Run with `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  actionForKey, actionLabel, actionLook, actionsFor, buttonsFor, canCancelInLine, doneText, readFsm,
  statusLabel, typesByCode,
} from '../../static/staff/fsm.js';

/** The built-in type as GET /api/v1/ticket-types gives it (`from` a string or a list). */
const DEFAULT = readFsm({
  init: 'waiting',
  states: ['waiting', 'called', 'serving', 'completed', 'cancelled', 'no_show'],
  transitions: [
    { name: 'call', from: 'waiting', to: 'called' },
    { name: 'recall', from: 'called', to: 'called' },
    { name: 'start', from: 'called', to: 'serving' },
    { name: 'complete', from: 'serving', to: 'completed' },
    { name: 'no_show', from: 'called', to: 'no_show' },
    { name: 'requeue', from: ['called', 'no_show'], to: 'waiting' },
    { name: 'cancel', from: ['waiting', 'called'], to: 'cancelled' },
  ],
  roles: { absent: 'no_show', abandoned: 'cancelled' },
});

const PHARMACY = readFsm({
  init: 'received',
  states: ['received', 'in_progress', 'ready', 'completed', 'withdrawn'],
  transitions: [
    { name: 'call', from: 'received', to: 'in_progress' },
    { name: 'mark_ready', from: 'in_progress', to: 'ready' },
    { name: 'hand_over', from: 'ready', to: 'completed' },
    { name: 'send_back', from: ['in_progress', 'ready'], to: 'in_progress' },
    { name: 'withdraw', from: ['in_progress', 'ready'], to: 'withdrawn' },
  ],
  roles: { abandoned: 'withdrawn' },
});

test('the default type offers today’s buttons in today’s order', () => {
  assert.deepEqual(actionsFor(DEFAULT, 'called'), ['start', 'recall', 'no_show', 'requeue', 'cancel']);
  assert.deepEqual(actionsFor(DEFAULT, 'serving'), ['complete']);
  assert.deepEqual(actionsFor(DEFAULT, 'no_show'), ['requeue']);
  // In line: only cancel (call is call-next's); finished states offer nothing.
  assert.deepEqual(actionsFor(DEFAULT, 'waiting'), ['cancel']);
  assert.deepEqual(actionsFor(DEFAULT, 'completed'), []);
  assert.equal(canCancelInLine(DEFAULT), true);
});

test('the default type keeps its labels, keys and looks', () => {
  const buttons = buttonsFor(DEFAULT, 'called');
  assert.deepEqual(
    buttons.map((b) => [b.label, b.key, b.look]),
    [['Start', 's', 'primary'], ['Recall', 'r', 'secondary'], ['No-show', 'x', 'secondary'],
      ['Requeue', null, 'secondary'], ['Cancel', null, 'danger']],
  );
  assert.deepEqual(buttonsFor(DEFAULT, 'serving').map((b) => [b.label, b.key, b.look]), [['Complete', 'c', 'primary']]);
  for (const [key, action] of [['s', 'start'], ['C', 'complete'], ['x', 'no_show'], ['r', 'recall'], ['n', null], ['q', null]]) {
    assert.equal(actionForKey(key), action, key);
  }
});

test('a custom type gets its own buttons, humanized, with no keys', () => {
  assert.deepEqual(actionsFor(PHARMACY, 'in_progress'), ['mark_ready', 'send_back', 'withdraw']);
  assert.deepEqual(actionsFor(PHARMACY, 'ready'), ['hand_over', 'send_back', 'withdraw']);
  assert.deepEqual(
    buttonsFor(PHARMACY, 'ready').map((b) => [b.name, b.label, b.key, b.look]),
    [
      ['hand_over', 'Hand over', null, 'primary'],
      ['send_back', 'Send back', null, 'secondary'],
      ['withdraw', 'Withdraw', null, 'danger'],
    ],
  );
  assert.deepEqual(actionsFor(PHARMACY, 'received'), []);
  assert.equal(canCancelInLine(PHARMACY), false);
  assert.equal(actionLook(PHARMACY, 'mark_ready'), 'primary');
});

test('built-in names keep their words in a custom type; moving on comes first, abandoning last', () => {
  const mixed = readFsm({
    init: 'in_line',
    states: ['in_line', 'at_desk', 'done'],
    transitions: [
      { name: 'call', from: 'in_line', to: 'at_desk' },
      { name: 'drop', from: 'at_desk', to: 'gone' },
      { name: 'put_on_hold', from: 'at_desk', to: 'at_desk' },
      { name: 'cancel', from: 'at_desk', to: 'gone' },
      { name: 'escalate', from: 'at_desk', to: 'senior' },
      { name: 'complete', from: 'at_desk', to: 'done' },
    ],
    roles: { abandoned: 'gone' },
  });
  assert.deepEqual(actionsFor(mixed, 'at_desk'), ['complete', 'escalate', 'put_on_hold', 'cancel', 'drop']);
  assert.equal(actionLabel('complete'), 'Complete');
  assert.equal(actionLabel('put_on_hold'), 'Put on hold');
  assert.equal(actionLook(mixed, 'put_on_hold'), 'secondary', 'a transition that stays put does not move on');
  assert.deepEqual(readFsm({ init: 'a', transitions: [] }).roles, {});
});

test('without a known type, every built-in action is offered', () => {
  assert.deepEqual(actionsFor(null, 'anything'), ['start', 'complete', 'recall', 'no_show', 'requeue', 'cancel']);
  assert.equal(canCancelInLine(null), true);
});

test('status labels: known ones keep theirs, others are humanized', () => {
  assert.equal(statusLabel('no_show'), 'No-show');
  assert.equal(statusLabel('serving'), 'Serving');
  assert.equal(statusLabel('in_progress'), 'In progress');
  assert.equal(statusLabel('ready'), 'Ready');
  assert.equal(statusLabel(''), '—');
});

test('the toast after an action', () => {
  const t = { number: 'P007' };
  assert.equal(doneText('start', t, { status: 'serving' }), 'Serving P007.');
  assert.equal(doneText('cancel', t, { status: 'cancelled' }), 'Cancelled P007.');
  assert.equal(doneText('mark_ready', t, { status: 'ready' }), 'P007 is now ready.');
  assert.equal(doneText('send_back', t, { status: 'received', position: 4 }), 'P007 is back in line.');
  assert.equal(doneText('mark_ready', t, null), null);
});

test('ticket types are read by code, skipping broken ones', () => {
  const types = typesByCode([
    { id: '1', code: 'default', fsm: { init: 'waiting', states: [], transitions: [{ name: 'call', from: 'waiting', to: 'called' }] } },
    { id: '2', code: 'broken', fsm: null },
  ]);
  assert.deepEqual([...types.keys()], ['default']);
  assert.deepEqual(types.get('default').transitions[0].from, ['waiting']);
});
