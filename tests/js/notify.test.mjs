// The join page's consent to messages off the page (static/notify.js): nothing is sent without
// its box ticked, a ticked box needs its value, the language follows the browser. Run with
// `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { LANGS, WORDS, notifyRequest, pickLang } from '../../static/notify.js';

test('nothing is asked for without a ticked box, whatever was typed', () => {
  assert.deepEqual(notifyRequest({ phone: '+33612345678', email: 'a@b.example', lang: 'fr' }), { notify: undefined });
});

test('a ticked box sends its channel and the language, and only that channel', () => {
  assert.deepEqual(notifyRequest({ smsOptIn: true, phone: ' +33 6 12 34 56 78 ', email: 'a@b.example', lang: 'fr' }), {
    notify: { sms: '+33 6 12 34 56 78', lang: 'fr' },
  });
  assert.deepEqual(notifyRequest({ emailOptIn: true, email: 'a@b.example', lang: 'xx' }), {
    notify: { email: 'a@b.example', lang: 'en' },
  });
});

test('a ticked box without its value is refused in the customer’s language', () => {
  assert.deepEqual(notifyRequest({ smsOptIn: true, phone: '0612345678', lang: 'fr' }), { error: WORDS.fr.needPhone });
  assert.deepEqual(notifyRequest({ emailOptIn: true, email: 'nope', lang: 'de' }), { error: WORDS.de.needEmail });
});

test('the language is the browser’s first we speak', () => {
  assert.equal(pickLang(['pt-BR', 'es-ES', 'en']), 'es');
  assert.equal(pickLang(['ja-JP']), 'ja');
  assert.equal(pickLang(['ko']), 'en');
  assert.equal(pickLang(undefined), 'en');
});

test('every language has every word of the consent', () => {
  for (const [code] of LANGS) {
    assert.deepEqual(Object.keys(WORDS[code]).sort(), Object.keys(WORDS.en).sort(), code);
  }
});

test('the server key is decoded from base64url', async () => {
  const { keyBytes } = await import('../../static/notify.js');
  assert.deepEqual([...keyBytes('BAEC_-8')], [4, 1, 2, 255, 239]);
  assert.equal(keyBytes('A'.repeat(87)).length, 65);
});
