import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actorLabel, auditQuery, changes, parseSettings, sitesLabel } from '../../static/admin/model.js';

test('the audit query holds the filters given, a limit and the page to read before', () => {
  assert.equal(auditQuery({ action: ' user.disabled ', entity: '', actor: 'staff:1' }), 'action=user.disabled&actor=staff%3A1&limit=50');
  assert.equal(auditQuery({}, 42, 10), 'limit=10&before=42');
});

test('a user limited to no site works at all sites', () => {
  const sites = [{ id: 'a', name: 'North' }, { id: 'b', name: 'South' }];
  assert.equal(sitesLabel({ location_ids: [] }, sites), 'All sites');
  assert.equal(sitesLabel({ location_ids: ['b', 'a'] }, sites), 'South, North');
});

test('actors read as emails when known', () => {
  const users = [{ id: 'u1', email: 'ann@acme.test' }];
  assert.equal(actorLabel('staff:u1', users), 'ann@acme.test');
  assert.equal(actorLabel('staff:u2', users), 'staff:u2');
  assert.equal(actorLabel('anonymous', users), 'anonymous');
});

test('changes list only what differs', () => {
  assert.deepEqual(changes({ role: 'staff', email: 'a' }, { role: 'manager', email: 'a' }), ['role: "staff" → "manager"']);
  assert.deepEqual(changes(null, { name: 'North' }), ['name: "North"']);
});

test('settings must be a JSON object', () => {
  assert.deepEqual(parseSettings(''), { ok: true, value: {} });
  assert.deepEqual(parseSettings('{"number_reset": "daily"}'), { ok: true, value: { number_reset: 'daily' } });
  assert.equal(parseSettings('[1]').ok, false);
  assert.equal(parseSettings('{oops').ok, false);
});
