// The staff console's pure helpers (static/staff/view.js, history.js): my current ticket, the
// called list's order, the words of the desk and of today's stats, the chart's points.
// Run with `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { chartPoints, newHistory, record } from '../../static/staff/history.js';
import { deskNext, deskSub, fmtCount, fmtSeconds, lineShown, myTicket, queueLabel, queueNote, slugify, sortActive, statsTexts } from '../../static/staff/view.js';

const at = (min) => new Date(Date.UTC(2026, 10, 23, 9, min)).toISOString();
const DEFAULT_ROLES = { roles: { absent: 'no_show', abandoned: 'cancelled' } };

test('my ticket is the latest called to my counter, not a no-show', () => {
  const older = { id: 'a', counter: 'Desk 1', status: 'serving', called_at: at(1) };
  const newer = { id: 'b', counter: 'desk 1', status: 'called', called_at: at(5) };
  const missed = { id: 'c', counter: 'Desk 1', status: 'no_show', called_at: at(9) };
  const elsewhere = { id: 'd', counter: 'Desk 2', status: 'called', called_at: at(10) };
  const all = [older, newer, missed, elsewhere];
  assert.equal(myTicket(all, ' Desk 1 ', DEFAULT_ROLES), newer);
  assert.equal(myTicket(all, 'Desk 2', DEFAULT_ROLES), elsewhere);
  assert.equal(myTicket(all, 'Desk 9', DEFAULT_ROLES), null);
  assert.equal(myTicket(all, '', DEFAULT_ROLES), null);
  // In a type whose `absent` state has another name, no_show is an ordinary state.
  assert.equal(myTicket(all, 'Desk 1', { roles: {} }), missed);
});

test('called tickets sort by counter (naturally), then latest call', () => {
  const t = (id, counter, min) => ({ id, number: id, counter, called_at: at(min) });
  const sorted = sortActive([t('a', 'Desk 10', 1), t('c', 'desk 2', 1), t('d', 'Desk 2', 5)]);
  assert.deepEqual(sorted.map((x) => x.id), ['d', 'c', 'a']);
});

test('the desk tells how long since the call, or since service started', () => {
  const called = { party_size: 2, called_at: at(1), served_at: null };
  assert.deepEqual(deskSub(called), { since: at(1), prefix: 'party of 2 · called ', suffix: ' ago' });
  assert.deepEqual(deskSub({ ...called, party_size: 1, served_at: at(3) }), { since: at(3), prefix: 'party of 1 · serving for ', suffix: '' });
  assert.equal(deskSub({ called_at: null }).since, null);
});

test('today’s stats read in plain words', () => {
  const s = statsTexts({
    served: 8, joined: 12, cancelled: 1, no_shows: 2,
    wait_seconds: { mean: 45, p90: 600 },
    estimate_error: { mean_abs_seconds: 90, bias_seconds: -120, samples: 6 },
  });
  assert.equal(s.servedSub, '12 joined · 1 cancelled');
  assert.equal(s.wait, '45 s');
  assert.equal(s.waitSub, '9 in 10 under 10 min');
  assert.equal(s.noshowSub, '20% no-show rate');
  assert.equal(s.error, '±2 min');
  assert.equal(s.errorSub, '2 min shorter than told');
  const empty = statsTexts({});
  assert.deepEqual([empty.served, empty.wait, empty.noshowSub, empty.errorSub], ['—', '—', '—', 'none checked yet']);
});

test('small words: durations, queue states, notes, short names', () => {
  assert.equal(fmtSeconds(null), '—');
  assert.equal(fmtSeconds(59.4), '59 s');
  assert.equal(fmtSeconds(3900), '1 h 05 min');
  assert.equal(queueLabel('paused'), 'Paused');
  assert.equal(queueNote({ status: 'open', capacity: 10 }, 7), 'Taking new people · room for 3 more');
  assert.equal(queueNote({ status: 'closed' }, 0), 'Closed: nobody new can join.');
  assert.equal(slugify('  Café Crème — Desk #2 '), 'cafe-creme-desk-2');
});

test('the chart is built from the socket when the server has no history', () => {
  const h = newHistory();
  h.mode = 'local';
  const t0 = Date.UTC(2026, 10, 23, 9, 0, 30);
  record(h, 3, null, t0);
  const call = { kind: 'ticket.called', at: at(0), ticket: { joined_at: new Date(t0 - 120_000).toISOString(), called_at: new Date(t0).toISOString() } };
  record(h, 2, call, t0 + 1000);
  const { points, note } = chartPoints(h, 2, t0 + 2000);
  assert.equal(points.length, 2);
  assert.deepEqual(points[0], { at: Date.UTC(2026, 10, 23, 9, 0), waiting: 2, mean_wait_seconds: 120 });
  assert.equal(points[1].waiting, 2);
  assert.match(note, /Collecting live/);
  // An hour later the old minute is dropped.
  record(h, 1, null, t0 + 62 * 60_000);
  assert.equal(h.local.size, 1);
});

test('the desk and the line count everyone waiting, not just the head shown', () => {
  const head = [{ number: 'A042', name: 'Ada' }, { number: 'A043' }];
  assert.equal(deskNext(head, 500_000), '500,000 waiting · next A042 (Ada)');
  assert.equal(deskNext(head), '2 waiting · next A042 (Ada)');
  assert.equal(deskNext([], 1_000), '1,000 waiting');
  assert.equal(deskNext([], 0), 'Nobody is waiting.');
  assert.equal(fmtCount(1000), '1,000');
  assert.equal(lineShown(200, 500_000), 'Showing 200 of 500,000');
});
