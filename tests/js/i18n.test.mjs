// The pages' languages (static/i18n.js and its catalogs): which language a page speaks, every
// catalog with every English key, plural forms, and numbers and durations written by Intl.
// Run with `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { EN, LANGS, chooseLang, duration, load, number, translator } from '../../static/i18n.js';
import en from '../../static/i18n/en.js';
import { minutes, waitRange } from '../../static/time.js';
import { hoursTexts } from '../../static/hours.js';
import { statusPill, doneText, readType } from '../../static/ticket-type.js';
import { spoken } from '../../static/display-voice.js';
import { ahead, service } from '../../static/kiosk-model.js';

test('?lang= wins, then the remembered choice, then the browser’s first language we speak', () => {
  assert.equal(chooseLang({ query: 'ja', stored: 'fr', accepted: ['es'] }), 'ja');
  assert.equal(chooseLang({ query: 'xx', stored: 'fr', accepted: ['es'] }), 'fr');
  assert.equal(chooseLang({ accepted: ['de-DE', 'es-419', 'en'] }), 'es');
  assert.equal(chooseLang({ accepted: ['FR-ca'] }), 'fr');
  assert.equal(chooseLang({ accepted: ['de'] }), 'en');
  assert.equal(chooseLang(), 'en');
});

test('every catalog has every English key, and no key of its own', async () => {
  const keys = Object.keys(en).filter((k) => !k.endsWith('.one'));
  for (const lang of LANGS) {
    const { default: catalog } = await import(`../../static/i18n/${lang}.js`);
    const missing = keys.filter((k) => !(k in catalog) && !k.startsWith('console.'));
    assert.deepEqual(missing, [], `${lang} lacks ${missing.join(', ')}`);
    const extra = Object.keys(catalog).filter((k) => !(k in en));
    assert.deepEqual(extra, [], `${lang} has keys English lacks: ${extra.join(', ')}`);
  }
});

test('plural forms follow the language, and a missing key reads in English', async () => {
  assert.equal(EN('ticket.ahead_count', { count: 1, n: 1 }), '1 person ahead of you');
  assert.equal(EN('ticket.ahead_count', { count: 3, n: 3 }), '3 people ahead of you');
  const fr = await load('fr');
  assert.equal(fr('ticket.ahead_count', { count: 1, n: 1 }), '1 personne devant vous');
  assert.equal(fr('ticket.ahead_count', { count: 0, n: 0 }), '0 personne devant vous', 'French counts 0 as one');
  const ja = await load('ja');
  assert.equal(ja('ticket.ahead_count', { count: 1, n: 1 }), '前に1人');
  assert.equal(translator('fr', {})('kiosk.done'), 'Done');
  assert.equal(EN('no.such.key'), 'no.such.key');
});

test('numbers and durations are written by Intl in the page’s language', async () => {
  const [fr, es, ja] = await Promise.all(['fr', 'es', 'ja'].map(load));
  assert.equal(number(1234, 'en'), '1,234');
  assert.equal(number(1234, 'fr'), '1\u202f234');
  assert.equal(duration(4 * 60), '4 min');
  assert.equal(duration(65 * 60), '1 h 05 min');
  assert.equal(duration(65 * 60, fr), '1 h 05');
  assert.equal(duration(65 * 60, ja), '1時間05分');
  assert.equal(minutes(20, es), 'menos de un minuto');
  assert.equal(waitRange(8 * 60, 12 * 60), 'about 8–12 min');
  assert.equal(waitRange(8 * 60, 12 * 60, fr), 'environ 8 à 12 min');
  assert.equal(waitRange(8 * 60, 12 * 60, ja), '約8〜12分');
});

test('hours and ticket states read in the page’s language', async () => {
  const fr = await load('fr');
  const now = Date.parse('2026-11-23T10:00:00Z'); // a Monday
  const q = { status: 'closed', opens_at: '2026-11-24T08:00:00Z', tz: 'Europe/Paris' };
  assert.equal(hoursTexts(q, now).opens, 'Opens tomorrow at 09:00');
  assert.equal(hoursTexts(q, now, fr).opens, 'Ouvre demain à 09:00');
  const type = readType({ init: 'waiting', final: ['completed', 'cancelled'], roles: { absent: 'no_show', abandoned: 'cancelled' } });
  const called = { status: 'called', position: null, called_at: '2026-11-23T10:00:00Z', counter: 'Guichet 2' };
  assert.equal(statusPill(called, type, fr).text, 'Appelé à Guichet 2');
  assert.equal(statusPill(called, type).text, 'Called to Guichet 2');
  assert.deepEqual(doneText({ status: 'no_show' }, type, fr), ['Nous vous avons manqué', 'Vous avez été appelé mais n’êtes pas venu. Vous pouvez rejoindre à nouveau la file.']);
});

test('a display says the number sign by sign, then the counter, in its language', async () => {
  assert.equal(spoken({ number: 'A042', counter: 'Desk 3' }), 'Ticket A 0 4 2, Desk 3');
  assert.equal(spoken({ number: 'A042', counter: null }), 'Ticket A 0 4 2');
  assert.equal(spoken({ number: 'P7', counter: '3番窓口' }, await load('ja')), 'P 7番の方、3番窓口へお越しください');
});

test('a kiosk’s service says who waits and for how long, and is off while the queue takes no one', async () => {
  const q = { id: 'q', name: 'Pharmacy', status: 'open', waiting: 3, eta_new_seconds: 600, opens_at: null };
  assert.deepEqual(service(q), { id: 'q', name: 'Pharmacy', open: true, waiting: '3 waiting', wait: 'about 10 min' });
  assert.equal(service({ ...q, waiting: 0 }).wait, 'no wait');
  assert.equal(service({ ...q, status: 'paused' }).open, false);
  assert.equal(service({ ...q, status: 'paused' }, await load('es')).wait, 'En pausa');
  assert.equal(service({ ...q, opens_at: '2026-11-24T08:00:00Z' }).open, false, 'outside its hours');
  assert.equal(ahead({ position: 1 }), 'You are next');
  assert.equal(ahead({ position: 3 }, await load('fr')), '2 personnes devant vous');
});
