// The staff console's words all come from the catalog (issue 16, part 5): nothing hard-coded in
// static/staff.html (its text and its title, aria-label, placeholder and alt attributes are
// `data-i18n` / `data-i18n-attr` keys), every key the console uses is in English, and its JS
// writes no sentence of its own. The console speaks English only: `console.*` keys live in
// en.js (tests/js/i18n.test.mjs lets the other catalogs leave them out).
// Run with `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';

import en from '../../static/i18n/en.js';

const STATIC = new URL('../../static/', import.meta.url);
const read = (path) => readFileSync(new URL(path, STATIC), 'utf8');
const HTML = read('staff.html');
const SOURCES = ['staff.js', ...readdirSync(new URL('staff/', STATIC)).filter((f) => f.endsWith('.js')).map((f) => `staff/${f}`)];
const JS = Object.fromEntries(SOURCES.map((f) => [f, read(f)]));

/**
 * Text the console may show as it is, not from the catalog: the brand, and anything made of
 * digits, punctuation and symbols only ("—", "#", "?", "·", "0", "2026-12-25"). Key caps inside
 * <kbd> are allowed too (they name the keys on the keyboard).
 */
const BRAND = new Set(['Queuecast']);
const allowedText = (s) => BRAND.has(s) || /^[\d\s\p{P}\p{S}]*$/u.test(s);
/** The attributes a person reads or hears. */
const WORDED_ATTRS = ['title', 'aria-label', 'placeholder', 'alt'];
const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);

/** A key of en.js, counting a plural key (`key.one`/`key.other`) by its stem. */
const inEnglish = (key) => key in en || `${key}.other` in en;

const decode = (s) =>
  s.replace(/&nbsp;/g, '\u00a0').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

function attrsOf(text) {
  const out = {};
  for (const m of text.matchAll(/([\w:-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    out[m[1].toLowerCase()] = decode(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

/** staff.html as a list of problems: words not from the catalog, keys English lacks. */
function htmlProblems(html) {
  const problems = [];
  const keys = [];
  const src = html.replace(/<!--[\s\S]*?-->/g, '').replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, '');
  const stack = [];
  for (const m of src.matchAll(/<(\/?)([a-zA-Z][\w-]*)([^>]*?)(\/?)>|([^<]+)/g)) {
    const [, closing, rawTag, rawAttrs, , text] = m;
    if (text != null) {
      const s = decode(text).replace(/\s+/g, ' ').trim();
      const parent = stack.at(-1);
      if (!s || !parent) continue;
      if (parent.attrs['data-i18n']) {
        const key = parent.attrs['data-i18n'];
        if (inEnglish(key) && en[key] !== s) problems.push(`<${parent.tag} data-i18n="${key}">: the page says “${s}”, en.js “${en[key]}”`);
      } else if (parent.tag !== 'kbd' && !allowedText(s)) {
        problems.push(`<${parent.tag}>: “${s}” is not from the catalog (add data-i18n)`);
      }
      continue;
    }
    const tag = rawTag.toLowerCase();
    if (closing) {
      const at = stack.map((e) => e.tag).lastIndexOf(tag);
      if (at >= 0) stack.length = at;
      continue;
    }
    const attrs = attrsOf(rawAttrs);
    const parent = stack.at(-1);
    if (parent?.attrs['data-i18n']) problems.push(`<${parent.tag} data-i18n="${parent.attrs['data-i18n']}"> holds a <${tag}>, which its text would replace`);
    if (attrs['data-i18n']) keys.push(attrs['data-i18n']);
    const translated = new Map(
      (attrs['data-i18n-attr'] || '').split(/\s+/).filter(Boolean).map((pair) => pair.split(':')),
    );
    for (const key of translated.values()) keys.push(key);
    for (const name of WORDED_ATTRS) {
      const value = attrs[name];
      if (!value || allowedText(value)) continue;
      const key = translated.get(name);
      if (!key) problems.push(`<${tag} ${name}="${value}">: not from the catalog (add data-i18n-attr="${name}:…")`);
      else if (inEnglish(key) && en[key] !== value) problems.push(`<${tag} ${name}>: the page says “${value}”, en.js “${en[key]}”`);
    }
    if (!VOID.has(tag) && !m[4]) stack.push({ tag, attrs });
  }
  for (const key of keys) if (!inEnglish(key)) problems.push(`staff.html uses ${key}, which en.js lacks`);
  return { problems, keys };
}

/**
 * A JS source's string and template literals (comments skipped), each with its static text
 * (`${…}` as `{}`), where it starts and the code just before it. Template expressions are
 * scanned for literals of their own.
 */
function literals(src) {
  const out = [];
  let i = 0;
  const template = () => {
    const start = i;
    let text = '';
    i += 1;
    while (i < src.length && src[i] !== '`') {
      if (src[i] === '\\') {
        text += src[i + 1];
        i += 2;
      } else if (src[i] === '$' && src[i + 1] === '{') {
        i += 2;
        code(1);
        text += '{}';
      } else text += src[i++];
    }
    i += 1;
    out.push({ text, at: start, before: src.slice(Math.max(0, start - 40), start) });
  };
  // Code up to the closing brace of a `${`, or to the end (depth 0).
  const code = (depth) => {
    while (i < src.length) {
      const c = src[i];
      if (c === '/' && src[i + 1] === '/') i = src.indexOf('\n', i) < 0 ? src.length : src.indexOf('\n', i);
      else if (c === '/' && src[i + 1] === '*') i = src.indexOf('*/', i + 2) + 2;
      else if (c === '"' || c === "'") {
        const start = i;
        let text = '';
        i += 1;
        while (i < src.length && src[i] !== c) {
          if (src[i] === '\\') {
            text += src[i + 1];
            i += 2;
          } else text += src[i++];
        }
        i += 1;
        out.push({ text, at: start, before: src.slice(Math.max(0, start - 40), start) });
      } else if (c === '`') template();
      else if (c === '{') {
        depth += depth ? 1 : 0;
        i += 1;
      } else if (c === '}' && depth) {
        depth -= 1;
        i += 1;
        if (!depth) return;
      } else i += 1;
    }
  };
  code(0);
  return out;
}

/** Literals that are not words: keys, and the few English-looking names code needs. */
const NOT_WORDS = new Set(['Idempotency-Key', 'Enter', 'Escape']);
const KEY = /^[a-z]+(?:\.[\w{}]+)+$/;

/**
 * Whether a literal reads as words for a person: a capitalized word, or two plain words or more
 * (of two letters or more: SVG path data such as `H${x}V${y}` is not words). A heuristic: a
 * lone lowercase word ('now') passes unseen.
 */
function looksLikeWords(text) {
  const s = text.replace(/\{\}/g, ' ').trim();
  if (!s || KEY.test(s) || NOT_WORDS.has(s)) return false;
  if (/(?:^|[\s(“"])[A-Z][a-z]+\b/.test(s)) return true;
  const tokens = s.split(/\s+/).map((w) => w.replace(/[.,:;!?…]+$/, ''));
  return tokens.length >= 2 && tokens.every((w) => /^[a-z][a-z']+$/i.test(w));
}

test('staff.html has no word that is not from the catalog, and English has every key it uses', () => {
  const { problems, keys } = htmlProblems(HTML);
  assert.deepEqual(problems, []);
  assert.ok(keys.length > 100, `only ${keys.length} keys found in staff.html: is the scan still reading it?`);
});

test('the scan of staff.html finds a hard-coded word, a bare attribute and a key English lacks', () => {
  // The <kbd> key cap, the brand and the dash are allowed; the rest is one problem each.
  const html = [
    '<p>Hello there</p>',
    '<button title="Help me">?</button>',
    '<span data-i18n="console.no_such_key">x</span>',
    '<label data-i18n="console.queue">Queue <b>!</b></label>',
    '<kbd>Esc</kbd><span>Queuecast</span><span>—</span>',
  ].join('\n');
  const { problems } = htmlProblems(html);
  assert.equal(problems.length, 4, problems.join('\n'));
  assert.match(problems[0], /Hello there/);
  assert.match(problems[1], /title="Help me"/);
  assert.match(problems.join('\n'), /holds a <b>/);
  assert.match(problems[3], /console\.no_such_key, which en\.js lacks/);
});

test('every key the console’s JS uses is in English', () => {
  const missing = [];
  for (const [file, src] of Object.entries(JS)) {
    for (const { text } of literals(src)) {
      if (!/^(?:console|common|join|kiosk|time|conn)\./.test(text)) continue;
      if (text.includes('{}')) {
        // A key built from a prefix (`console.status_${status}`): some English key has that prefix.
        const prefix = text.slice(0, text.indexOf('{}'));
        if (!Object.keys(en).some((k) => k.startsWith(prefix))) missing.push(`${file}: ${text}`);
      } else if (!inEnglish(text)) missing.push(`${file}: ${text}`);
    }
  }
  assert.deepEqual(missing, []);
});

test('every console.* key of en.js is used by the console', () => {
  const used = new Set(htmlProblems(HTML).keys);
  const prefixes = [];
  for (const src of Object.values(JS)) {
    for (const { text } of literals(src)) {
      if (!text.startsWith('console.')) continue;
      if (text.includes('{}')) prefixes.push(text.slice(0, text.indexOf('{}')));
      else used.add(text);
    }
  }
  const unused = Object.keys(en)
    .filter((k) => k.startsWith('console.'))
    .map((k) => k.replace(/\.(zero|one|two|few|many|other)$/, ''))
    .filter((k) => !used.has(k) && !prefixes.some((p) => k.startsWith(p)));
  assert.deepEqual([...new Set(unused)], []);
});

test('the console’s JS writes no words of its own: they come from t(…) keys', () => {
  const found = [];
  for (const [file, src] of Object.entries(JS)) {
    for (const { text, at, before } of literals(src)) {
      // Class names (`class: 'muted small'`) and module paths are not words.
      if (/(?:class|className)\s*[:=]\s*$/.test(before) || /\b(?:from|import)\s*$/.test(before)) continue;
      if (looksLikeWords(text)) found.push(`${file}:${src.slice(0, at).split('\n').length}: ${JSON.stringify(text)}`);
    }
  }
  assert.deepEqual(found, []);
});

test('the scan of the JS finds a hard-coded toast and a sentence in a template', () => {
  const src = "toast('Nobody is waiting.', 'info');\nconst a = `${n} waiting now`;\nh('li', { class: 'muted small' }, t('console.x'));\n// A comment 'With words'\n";
  const words = literals(src).filter(({ text, before }) => !/class\s*:\s*$/.test(before) && looksLikeWords(text)).map((l) => l.text);
  assert.deepEqual(words, ['Nobody is waiting.', '{} waiting now']);
});
