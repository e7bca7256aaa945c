// The booking pages' logic (static/booking-model.js) and the console's day of appointments
// (static/staff/appointments-model.js). Run with `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  addMonths, bookingProblem, calendar, checkInState, dayKey, firstFreeDay, groupByDay, icsText, monthQuery,
} from '../../static/booking-model.js';
import { bookedTickets, classify, counts, rows, upsert } from '../../static/staff/appointments-model.js';
import en from '../../static/i18n/en.js';

const slot = (start, available = 1, minutes = 30) => ({
  start_at: start, end_at: new Date(Date.parse(start) + minutes * 60_000).toISOString().replace('.000', ''), available,
});

test('slots are grouped by their local day in the queue’s zone, not UTC’s', () => {
  // 23:30 UTC on 1 December is 08:30 on 2 December in Tokyo, and 00:30 on 2 December in Paris.
  const slots = [slot('2026-12-01T22:00:00Z'), slot('2026-12-01T23:30:00Z'), slot('2026-12-02T08:00:00Z')];
  assert.deepEqual([...groupByDay(slots, 'UTC').keys()], ['2026-12-01', '2026-12-02']);
  const paris = groupByDay(slots, 'Europe/Paris');
  assert.deepEqual([...paris.keys()], ['2026-12-01', '2026-12-02']);
  assert.equal(paris.get('2026-12-02').length, 2);
  assert.deepEqual([...groupByDay(slots, 'Asia/Tokyo').keys()], ['2026-12-02']);
  assert.equal(dayKey('2026-03-29T00:30:00Z', 'America/Los_Angeles'), '2026-03-28');
});

test('a month’s calendar starts on Monday and counts each day’s free places', () => {
  const slots = [slot('2026-12-02T09:00:00Z', 2), slot('2026-12-02T09:30:00Z', 0), slot('2026-12-03T09:00:00Z', 0)];
  const weeks = calendar('2026-12', slots, 'UTC', '2026-12-02');
  // 1 December 2026 is a Tuesday: one empty cell before it; 31 days in five weeks.
  assert.equal(weeks.length, 5);
  assert.equal(weeks[0][0], null);
  assert.deepEqual(weeks[0][1], { date: '2026-12-01', day: 1, free: 0, past: true });
  assert.deepEqual(weeks[0][2], { date: '2026-12-02', day: 2, free: 2, past: false });
  assert.equal(weeks[0][3].free, 0, 'a day whose slots are all taken has nothing free');
  assert.equal(weeks.flat().filter(Boolean).length, 31);
  assert.equal(weeks[4][3].date, '2026-12-31');
  assert.equal(weeks[4][4], null);
  assert.equal(firstFreeDay(slots, 'UTC'), '2026-12-02');
  assert.equal(firstFreeDay([slot('2026-12-02T09:00:00Z', 0)], 'UTC'), null);
});

test('one request per month shown, for the month’s days (never past the server’s 31)', () => {
  assert.equal(monthQuery('2026-02'), 'date=2026-02-01&days=28');
  assert.equal(monthQuery('2028-02'), 'date=2028-02-01&days=29');
  assert.equal(monthQuery('2026-12'), 'date=2026-12-01&days=31');
  assert.equal(addMonths('2026-12', 1), '2027-01');
  assert.equal(addMonths('2027-01', -1), '2026-12');
});

test('check-in opens at check_in_opens_at, and only for a booking still booked', () => {
  const a = { status: 'booked', check_in_opens_at: '2026-12-02T08:45:00Z' };
  assert.equal(checkInState(a, Date.parse('2026-12-02T08:44:59Z')), 'early');
  assert.equal(checkInState(a, Date.parse('2026-12-02T08:45:00Z')), 'open');
  assert.equal(checkInState({ ...a, status: 'checked_in' }, Date.parse('2026-12-02T09:00:00Z')), 'done');
});

test('every booking problem the server names has words in the catalog', () => {
  for (const code of ['slot_full', 'slot_in_past', 'slot_off_grid', 'slot_outside_hours', 'slot_too_far_ahead',
    'no_appointments', 'invalid_phone', 'invalid_email', 'too_early', 'appointment_missed', 'invalid_transition']) {
    const key = bookingProblem(code);
    assert.ok(key && en[key], `${code}: ${key}`);
  }
  assert.equal(bookingProblem('network'), null);
});

test('the .ics file is RFC 5545: CRLF lines, UTC times, a UID, escaped and folded text', () => {
  const appointment = { id: '7b0c1e0e-0000-4000-8000-000000000001', start_at: '2026-12-02T09:00:00Z', end_at: '2026-12-02T09:15:00Z', status: 'booked' };
  const title = 'Clinic; Dr. Smith, room 4 — a title long enough to be folded over two lines of the file';
  const text = icsText({ appointment, title, url: 'https://q.example/a/7b0c', now: Date.parse('2026-11-30T10:20:30.456Z') });
  assert.ok(text.endsWith('\r\n'));
  assert.ok(!/[^\r]\n/.test(text), 'every line ends with CRLF');
  const lines = text.split('\r\n');
  assert.equal(lines[0], 'BEGIN:VCALENDAR');
  assert.ok(lines.includes('VERSION:2.0'));
  assert.ok(lines.includes('UID:7b0c1e0e-0000-4000-8000-000000000001@queuecast'));
  assert.ok(lines.includes('DTSTART:20261202T090000Z'));
  assert.ok(lines.includes('DTEND:20261202T091500Z'));
  assert.ok(lines.includes('DTSTAMP:20261130T102030Z'));
  assert.ok(lines.every((l) => new TextEncoder().encode(l).length <= 75), 'no line longer than 75 octets');
  const unfolded = text.replace(/\r\n /g, '');
  assert.ok(unfolded.includes('SUMMARY:Clinic\\; Dr. Smith\\, room 4 — a title long enough'), unfolded);
  assert.equal(text.match(/BEGIN:VEVENT/g).length, 1);
  assert.ok(icsText({ appointment: { ...appointment, status: 'cancelled' }, title: 'x' }).includes('STATUS:CANCELLED'));
});

const appt = (id, start, status = 'booked', extra = {}) => ({
  id, start_at: start, end_at: start, status, ticket_id: null, name: id, created_at: '2026-12-01T00:00:00Z', ...extra,
});

test('the console classes the day: upcoming, late, arrived, missed; cancelled ones are not shown', () => {
  const now = Date.parse('2026-12-02T10:00:00Z');
  assert.equal(classify(appt('a', '2026-12-02T10:15:00Z'), now), 'upcoming');
  assert.equal(classify(appt('b', '2026-12-02T10:00:00Z'), now), 'late', 'its time has come and they are not here');
  assert.equal(classify(appt('c', '2026-12-02T09:00:00Z', 'checked_in'), now), 'arrived');
  assert.equal(classify(appt('d', '2026-12-02T09:00:00Z', 'missed'), now), 'missed');
  assert.equal(classify(appt('e', '2026-12-02T11:00:00Z', 'cancelled'), now), null);
  const list = ['a', 'b', 'c', 'd', 'e'].map((id, i) =>
    appt(id, `2026-12-02T0${i + 5}:00:00Z`, ['booked', 'booked', 'checked_in', 'missed', 'cancelled'][i]));
  assert.deepEqual(rows(list, now).map((r) => r.state), ['late', 'late', 'arrived', 'missed']);
  assert.deepEqual(counts(list, Date.parse('2026-12-02T05:30:00Z')), { upcoming: 1, arrived: 1, late: 1, missed: 1 });
});

test('events keep the day’s list: a booking of today comes in, a move to another day leaves, contacts stay', () => {
  const day = '2026-12-02';
  let list = [appt('a', '2026-12-02T09:00:00Z', 'booked', { email: 'a@example.org' })];
  list = upsert(list, appt('b', '2026-12-02T08:00:00Z'), day, 'UTC');
  assert.deepEqual(list.map((a) => a.id), ['b', 'a'], 'in time order');
  assert.equal(upsert(list, appt('c', '2026-12-03T08:00:00Z'), day, 'UTC'), list, 'another day: unchanged');
  list = upsert(list, appt('a', '2026-12-02T09:00:00Z', 'checked_in', { ticket_id: 't1' }), day, 'UTC');
  assert.equal(list[1].status, 'checked_in');
  assert.equal(list[1].email, 'a@example.org', 'an event carries no contacts: the list keeps them');
  assert.equal(bookedTickets(list).get('t1').id, 'a');
  list = upsert(list, appt('b', '2026-12-05T08:00:00Z'), day, 'UTC');
  assert.deepEqual(list.map((a) => a.id), ['a'], 'moved to another day: it leaves');
  // In Tokyo, 23:30 UTC on the 1st is the 2nd.
  assert.equal(upsert([], appt('t', '2026-12-01T23:30:00Z'), day, 'Asia/Tokyo').length, 1);
});
