// The pages' words for opening hours, and the console's hours form.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { clockTime, hoursTexts, when } from '../../static/hours.js';
import { hoursForm, hoursSummary, parseIntervals, settingsFrom } from '../../static/staff/hours.js';

// Monday 2026-12-07 10:00 in Paris (CET, UTC+1).
const NOW = Date.parse('2026-12-07T09:00:00Z');

test('times are the queue\'s local time, whatever the machine\'s zone', () => {
  assert.equal(clockTime(new Date('2026-12-07T08:00:00Z'), 'Europe/Paris'), '09:00');
  assert.equal(clockTime(new Date('2026-12-07T08:00:00Z'), 'America/New_York'), '03:00');
  // Summer time: 09:00 in Paris is 07:00Z.
  assert.equal(clockTime(new Date('2026-03-29T07:00:00Z'), 'Europe/Paris'), '09:00');
});

test('when: today, tomorrow, this week, later', () => {
  const tz = 'Europe/Paris';
  assert.equal(when('2026-12-07T17:00:00Z', tz, NOW), 'at 18:00');
  assert.equal(when('2026-12-08T08:00:00Z', tz, NOW), 'tomorrow at 09:00');
  assert.equal(when('2026-12-10T08:00:00Z', tz, NOW), 'Thursday at 09:00');
  assert.equal(when('2026-12-25T08:00:00Z', tz, NOW), 'on 25 Dec at 09:00');
  // 23:30Z on the 7th is already the 8th in Paris.
  assert.equal(when('2026-12-07T23:30:00Z', tz, NOW), 'tomorrow at 00:30');
});

test('the summary says when a closed queue opens and when an open one closes', () => {
  const base = { tz: 'Europe/Paris', opens_at: null, closes_at: null };
  assert.deepEqual(hoursTexts({ ...base, status: 'closed', opens_at: '2026-12-07T17:30:00Z' }, NOW),
    { opens: 'Opens at 18:30', closes: '' });
  assert.deepEqual(hoursTexts({ ...base, status: 'open', closes_at: '2026-12-07T17:00:00Z' }, NOW),
    { opens: '', closes: 'Closes at 18:00' });
  // The last minutes before closing: open for those in line, no one new until tomorrow.
  assert.deepEqual(
    hoursTexts({ ...base, status: 'open', closes_at: '2026-12-07T17:00:00Z', opens_at: '2026-12-08T08:00:00Z' }, NOW),
    { opens: 'Opens tomorrow at 09:00', closes: 'Closes at 18:00' },
  );
  assert.deepEqual(hoursTexts({ status: 'open', opens_at: null, closes_at: null, tz: null }, NOW), { opens: '', closes: '' });
  // Closed by hand during its hours: no "closes at".
  assert.deepEqual(hoursTexts({ ...base, status: 'closed', closes_at: '2026-12-07T17:00:00Z' }, NOW), { opens: '', closes: '' });
});

test('intervals are read leniently and refused with a reason', () => {
  assert.deepEqual(parseIntervals('09:00–12:30, 14:00-18:00').value, [['09:00', '12:30'], ['14:00', '18:00']]);
  assert.deepEqual(parseIntervals('14h to 18h; 9 - 12.30').value, [['09:00', '12:30'], ['14:00', '18:00']]);
  assert.deepEqual(parseIntervals('18:00–24:00').value, [['18:00', '24:00']]);
  assert.deepEqual(parseIntervals('  ').value, []);
  assert.match(parseIntervals('9 to 5').error, /ends before it starts/);
  assert.match(parseIntervals('25:00-26:00').error, /not a time range/);
  assert.match(parseIntervals('09:00-12:30, 12:00-18:00').error, /overlap/);
  assert.match(parseIntervals('morning').error, /not a time range/);
});

test('the form round-trips a queue\'s settings', () => {
  const settings = {
    service_seconds: 90,
    hours: { tz: 'Europe/Paris', weekly: { mon: [['09:00', '12:30'], ['14:00', '18:00']], sat: [['10:00', '12:00']] },
      closed_on: ['2026-12-25'], last_join_minutes: 15 },
    number_reset: 'daily',
    called_timeout_seconds: 120,
  };
  const form = hoursForm(settings);
  assert.equal(form.days.mon, '09:00–12:30, 14:00–18:00');
  assert.equal(form.days.tue, '');
  const { settings: back } = settingsFrom(form);
  assert.deepEqual(back, {
    hours: settings.hours, number_reset: 'daily', called_timeout_seconds: 120, ticket_ttl_minutes: null,
  });
  assert.equal(hoursSummary(settings), 'Mon 09:00–12:30, 14:00–18:00 · Sat 10:00–12:00 (Europe/Paris)');
});

test('turning hours off removes them; bad fields are named', () => {
  const form = hoursForm({}, 'Europe/Paris');
  assert.equal(form.enabled, false);
  assert.equal(form.tz, 'Europe/Paris');
  assert.deepEqual(settingsFrom(form).settings, { hours: null, number_reset: null, called_timeout_seconds: null, ticket_ttl_minutes: null });
  assert.equal(hoursSummary({}), 'No opening hours: opened and closed by hand.');
  const on = { ...form, enabled: true, days: { ...form.days, tue: '9-17' } };
  assert.deepEqual(settingsFrom(on).settings.hours, { tz: 'Europe/Paris', weekly: { tue: [['09:00', '17:00']] } });
  assert.equal(settingsFrom({ ...on, days: { ...on.days, wed: 'all day' } }).field, 'wed');
  assert.equal(settingsFrom({ ...on, closedOn: '25/12/2026' }).field, 'closedOn');
  assert.equal(settingsFrom({ ...on, timeout: '-5' }).field, 'timeout');
  assert.equal(settingsFrom({ ...on, ttl: '1.5' }).field, 'ttl');
  assert.equal(settingsFrom({ ...on, tz: ' ' }).field, 'tz');
});
