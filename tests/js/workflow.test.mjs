// Line control and any workflow (issue 17), the pages' pure parts: the ticket page's "I need
// more time", "here" and rating (static/ticket-model.js), and what the console's drawer says of a
// ticket (static/staff/ticket-info.js): presence, history lines, priorities, moves.
// Run with `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { asksFeedback, feedbackBody, hereDue, HERE_EVERY_MS, snoozeChoices, snoozedText, snoozeNote, snoozeOffer } from '../../static/ticket-model.js';
import { actorText, canCallThis, historyLine, moveBody, presence, priorityBadge, priorityOptions } from '../../static/staff/ticket-info.js';
import { readFsm } from '../../static/staff/fsm.js';
import { load } from '../../static/i18n.js';

const LIMITS = { max_times: 2, max_places: 10 };

test('snooze is offered to a ticket in line, within the queue’s limits and the people behind', () => {
  assert.deepEqual(snoozeOffer(LIMITS, { position: 3, snoozes: 0 }, 50), { left: 2, max: 10, reason: null });
  assert.deepEqual(snoozeOffer(LIMITS, { position: 3, snoozes: 1 }, 50), { left: 1, max: 10, reason: null });
  // Four behind: no further than them.
  assert.deepEqual(snoozeOffer(LIMITS, { position: 6, snoozes: 0 }, 10), { left: 2, max: 4, reason: null });
  // Last in line: nobody to let pass.
  assert.deepEqual(snoozeOffer(LIMITS, { position: 10, snoozes: 0 }, 10), { left: 2, max: 0, reason: 'last' });
  // Used up.
  assert.deepEqual(snoozeOffer(LIMITS, { position: 3, snoozes: 2 }, 50), { left: 0, max: 0, reason: 'used' });
  // The count of the line unknown: the queue's limit alone.
  assert.deepEqual(snoozeOffer(LIMITS, { position: 3 }, undefined), { left: 2, max: 10, reason: null });
});

test('snooze is not offered when the queue has it off or the ticket is not in line', () => {
  assert.equal(snoozeOffer(null, { position: 3, snoozes: 0 }, 50), null);
  assert.equal(snoozeOffer({ max_times: 0, max_places: 10 }, { position: 3 }, 50), null);
  assert.equal(snoozeOffer(LIMITS, { position: null, status: 'called' }, 50), null);
  assert.equal(snoozeOffer(LIMITS, null, 50), null);
});

test('the snooze choices and sentences follow the offer, in the customer’s language', async () => {
  assert.deepEqual(snoozeChoices({ left: 1, max: 3 }), [1, 2, 3]);
  assert.deepEqual(snoozeChoices({ left: 1, max: 0, reason: 'last' }), []);
  assert.deepEqual(snoozeChoices(null), []);
  assert.equal(snoozeNote({ left: 2, max: 10 }), 'You can do this 2 more times.');
  assert.equal(snoozeNote({ left: 1, max: 10 }), 'You can do this 1 more time.');
  assert.equal(snoozeNote({ left: 0, max: 0, reason: 'used' }), 'You have used all your extra time.');
  assert.match(snoozeNote({ left: 2, max: 0, reason: 'last' }), /Nobody is behind you/);
  assert.equal(snoozeNote(null), '');
  const fr = await load('fr');
  assert.equal(snoozeNote({ left: 2, max: 10 }, fr), 'Vous pouvez encore le faire 2 fois.');
  assert.equal(snoozedText({ position: 8 }), 'Done: 7 people are now ahead of you.');
  assert.equal(snoozedText({ position: 2 }), 'Done: 1 person is now ahead of you.');
  const ja = await load('ja');
  assert.equal(snoozedText({ position: 8 }, ja), '完了しました。前に7人います。');
});

test('errors of a snooze read in the customer’s language by their code', async () => {
  const { Problem } = await import('../../static/qc.js');
  const es = await load('es');
  assert.equal(new Problem(409, 'snooze_limit', 'Conflict').plainIn(es), 'No puede retroceder tanto, o ya ha usado todo su tiempo extra.');
  assert.match(new Problem(409, 'already_last', 'Conflict').plainIn(es), /No hay nadie detrás/);
  assert.match(new Problem(409, 'feedback_given', 'Conflict').plain, /already rated/);
});

test('"here" is said on opening and coming back, and otherwise at most once a minute while seen', () => {
  const now = 1_000_000;
  assert.equal(hereDue({ reason: 'open', last: now - 1, now, visible: false }), true);
  assert.equal(hereDue({ reason: 'visible', last: now - 1, now, visible: true }), true);
  assert.equal(hereDue({ reason: 'visible', last: null, now, visible: false }), false);
  assert.equal(hereDue({ reason: 'tick', last: now - HERE_EVERY_MS + 1, now, visible: true }), false);
  assert.equal(hereDue({ reason: 'tick', last: now - HERE_EVERY_MS, now, visible: true }), true);
  assert.equal(hereDue({ reason: 'tick', last: null, now, visible: true }), true);
  assert.equal(hereDue({ reason: 'tick', last: now - 10 * HERE_EVERY_MS, now, visible: false }), false, 'a hidden page says nothing');
});

test('a rating is asked once the ticket ended, when none was given or waved away', () => {
  assert.equal(asksFeedback({ ended: true, existing: null, dismissed: false }), true);
  assert.equal(asksFeedback({ ended: false, existing: null, dismissed: false }), false);
  assert.equal(asksFeedback({ ended: true, existing: { rating: 4 }, dismissed: false }), false);
  assert.equal(asksFeedback({ ended: true, existing: undefined, dismissed: false }), false, 'not known yet');
  assert.equal(asksFeedback({ ended: true, existing: null, dismissed: true }), false);
  assert.deepEqual(feedbackBody('4', '  quick, thanks '), { body: { rating: 4, comment: 'quick, thanks' } });
  assert.deepEqual(feedbackBody('5', '   '), { body: { rating: 5 } });
  for (const bad of [null, '', '0', '6', '2.5', 'x']) assert.deepEqual(feedbackBody(bad, 'c'), { error: 'feedback.pick' }, String(bad));
});

const time = (at) => at.slice(11, 16);

test('the console says who is on their ticket page, and since when', () => {
  assert.deepEqual(presence({ present: true, present_at: '2026-11-23T10:42:05Z' }, time), { state: 'here', text: 'Here since 10:42' });
  assert.deepEqual(presence({ present: true, present_at: null }, time), { state: 'here', text: 'Here' });
  assert.deepEqual(presence({ present: false, present_at: '2026-11-23T10:42:05Z' }, time), { state: 'away', text: 'Not on the page (last seen 10:42)' });
  assert.deepEqual(presence({ present: false, present_at: null }, time), { state: 'away', text: 'Not on the page' });
  assert.equal(presence({ status: 'waiting' }, time), null, 'a ticket that says nothing of presence');
});

test('priorities run from 0 (normal) to 9, and only those above 0 get a badge', () => {
  const options = priorityOptions();
  assert.deepEqual(options.map((o) => o.value), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(options[0].label, '0 · normal');
  assert.equal(options[9].label, '9 · first');
  assert.equal(priorityBadge({ priority: 0 }), null);
  assert.equal(priorityBadge({}), null);
  assert.equal(priorityBadge({ priority: 3 }), 'Priority 3');
});

const ev = (kind, ticket = {}, extra = {}) => ({ seq: 1, kind, actor: 'customer', at: '2026-11-23T09:30:00Z', ticket, ...extra });

test('a ticket’s history reads as lines a person understands', () => {
  const me = 'u-1';
  const line = (e) => historyLine(e, { time, me });
  assert.deepEqual(line(ev('ticket.joined')), { at: '09:30', text: 'Joined the line', by: 'by the customer' });
  assert.equal(line(ev('ticket.joined', {}, { actor: 'staff:u-2' })).text, 'Added at the desk');
  assert.equal(line(ev('ticket.joined', {}, { actor: 'kiosk:k' })).text, 'Took a number at a kiosk');
  assert.deepEqual(line(ev('ticket.called', { counter: 'Desk 3' }, { actor: 'staff:u-1' })), { at: '09:30', text: 'Called to Desk 3', by: 'by you' });
  assert.equal(line(ev('ticket.called', { counter: null })).text, 'Called');
  assert.equal(line(ev('ticket.recalled', { counter: 'Desk 3' })).text, 'Called again to Desk 3');
  assert.equal(line(ev('ticket.snoozed', { position: 7 })).text, 'Asked for more time: now place 7');
  assert.equal(line(ev('ticket.moved', { position: 1 }, { actor: 'staff:u-2' })).text, 'Moved to place 1');
  assert.equal(line(ev('ticket.moved', { position: 1 }, { actor: 'staff:u-2' })).by, 'by staff');
  assert.equal(line(ev('ticket.updated', { priority: 5 })).text, 'Details changed (priority 5)');
  assert.equal(line(ev('ticket.present')).text, 'Opened their ticket page');
  assert.equal(line(ev('ticket.away')).text, 'Left their ticket page');
  assert.equal(line(ev('ticket.transferred_out')).text, 'Transferred to another queue');
  assert.deepEqual(line(ev('ticket.no_show', {}, { actor: 'system' })), { at: '09:30', text: 'Marked as a no-show', by: 'automatically' });
  // A custom type's transition: by its states.
  assert.equal(line(ev('ticket.readyed', {}, { from: 'in_progress', to: 'ready' })).text, 'In progress → Ready');
  assert.equal(line(ev('ticket.started', {}, { from: 'called', to: 'serving' })).text, 'Service started');
  // Nothing known of it: its name.
  assert.equal(line(ev('ticket.frobbed')).text, 'Frobbed');
  assert.equal(actorText('webhook:x'), 'webhook:x');
  assert.equal(actorText(''), '');
});

test('a move is to a place in the line, or ahead of another ticket of it', () => {
  const tk = { id: 'a' };
  assert.deepEqual(moveBody({ to: 'position', position: '1' }, tk, 5), { body: { position: 1 } });
  assert.deepEqual(moveBody({ to: 'position', position: ' 5 ' }, tk, 5), { body: { position: 5 } });
  for (const bad of ['0', '6', '', '2.5', 'x', '-1']) {
    assert.deepEqual(moveBody({ to: 'position', position: bad }, tk, 5), { error: 'Give a place from 1 to 5.' }, bad);
  }
  assert.deepEqual(moveBody({ to: 'before', before: 'b' }, tk, 5), { body: { before: 'b' } });
  assert.deepEqual(moveBody({ to: 'before', before: 'a' }, tk, 5), { error: 'Choose the ticket to go ahead of.' });
  assert.deepEqual(moveBody({ to: 'before', before: '' }, tk, 5), { error: 'Choose the ticket to go ahead of.' });
});

test('"call this person" is offered for a ticket in line whose type calls from its state', () => {
  const pharmacy = readFsm({
    init: 'received',
    states: ['received', 'in_progress', 'ready', 'completed'],
    transitions: [
      { name: 'call', from: 'received', to: 'in_progress' },
      { name: 'ready', from: 'in_progress', to: 'ready' },
      { name: 'complete', from: 'ready', to: 'completed' },
    ],
  });
  const noCall = readFsm({ init: 'in', states: ['in', 'out'], transitions: [{ name: 'out', from: 'in', to: 'out' }] });
  assert.equal(canCallThis(pharmacy, { status: 'received', position: 2 }), true);
  assert.equal(canCallThis(pharmacy, { status: 'in_progress', position: null }), false);
  assert.equal(canCallThis(noCall, { status: 'in', position: 1 }), false);
  assert.equal(canCallThis(null, { status: 'waiting', position: 1 }), true, 'types unknown: offered, the server decides');
});
