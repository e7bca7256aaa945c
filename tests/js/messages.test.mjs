// The desk's line of what a ticket was told off the page (static/staff/messages.js). Run with
// `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { messagesLine } from '../../static/staff/messages.js';

const m = (channel, kind, status, last_error = null) => ({ channel, kind, status, last_error });

test('a ticket that asked for nothing shows nothing', () => {
  assert.equal(messagesLine([]), '');
  assert.equal(messagesLine(undefined), '');
});

test('the last message per channel, with why a failed one failed', () => {
  const list = [
    m('sms', 'joined', 'delivered'),
    m('email', 'joined', 'failed', 'channel not configured'),
    m('sms', 'called', 'sent'),
    m('email', 'called', 'failed', 'channel not configured'),
  ];
  assert.equal(messagesLine(list), 'SMS sent (called) · E-mail failed (called): channel not configured');
  assert.equal(messagesLine([m('push', 'ahead', 'pending')]), 'Push pending (almost)');
});
