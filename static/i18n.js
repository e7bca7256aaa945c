// The pages' languages: which one a page speaks, its words from a catalog (static/i18n/<lang>.js,
// one file per language), and numbers, times and durations written by Intl in that language.
// Pure (no DOM): tested with node. `page.js` applies it to a page.

import en from './i18n/en.js';

/** The languages the customer pages, the kiosk and the display speak; the first is the fallback. */
export const LANGS = ['en', 'fr', 'es', 'ja'];

/** Each language's name in itself, for a picker. */
export const LANG_NAMES = { en: 'English', fr: 'Français', es: 'Español', ja: '日本語' };

/** `fr-CA` → `fr` when we speak it, else null. */
export function supported(tag) {
  const base = String(tag || '').trim().toLowerCase().split(/[-_]/)[0];
  return LANGS.includes(base) ? base : null;
}

/**
 * The page's language: `?lang=` (the override), else the one remembered from an earlier
 * override, else the browser's first we speak (its Accept-Language), else English.
 */
export function chooseLang({ query, stored, accepted = [] } = {}) {
  return supported(query) || supported(stored) || accepted.map(supported).find(Boolean) || LANGS[0];
}

/** Replaces `{name}` in `text` with `vars.name`. */
function fill(text, vars) {
  return text.replace(/\{(\w+)\}/g, (m, k) => (vars[k] == null ? m : String(vars[k])));
}

/**
 * A translator for `lang` from its catalog: `t(key, vars)`. A key with plural forms
 * (`key.one`, `key.other`, …) is chosen by `vars.count` with Intl.PluralRules. A key missing
 * from the catalog reads in English; one missing there too reads as the key (a test finds it).
 */
export function translator(lang, catalog = en) {
  const plural = new Intl.PluralRules(lang);
  const t = (key, vars = {}) => {
    let k = key;
    if (vars.count != null) {
      const form = `${key}.${plural.select(vars.count)}`;
      k = form in catalog || form in en ? form : `${key}.other`;
    }
    const text = catalog[k] ?? en[k] ?? catalog[key] ?? en[key];
    return text == null ? key : fill(text, vars);
  };
  t.lang = lang;
  return t;
}

/** English, for pure code called without a translator (and its tests). */
export const EN = translator('en', en);

/** "12", "1 234", "1,234": a count in the page's language. */
export function number(n, lang = 'en') {
  return n == null ? '–' : new Intl.NumberFormat(lang).format(n);
}

/** "09:05" (or "9:05 AM"): a time of day as the language writes it. */
export function clock(at, lang = 'en', timeZone = undefined) {
  return new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', timeZone }).format(new Date(at));
}

/** A duration in whole minutes as the language writes it: "4 min", "1 h 05 min", "1時間05分". */
export function duration(seconds, t = EN) {
  if (seconds == null) return '—';
  const m = Math.round(seconds / 60);
  if (m < 1) return t('time.under_minute');
  if (m < 60) return t('time.min', { n: number(m, t.lang) });
  const mm = new Intl.NumberFormat(t.lang, { minimumIntegerDigits: 2 }).format(m % 60);
  return t('time.h_min', { h: number(Math.floor(m / 60), t.lang), mm });
}

/** Loads the catalog of `lang` (a module of static/i18n/), English when it cannot. */
export async function load(lang) {
  if (lang === 'en') return translator('en', en);
  try {
    return translator(lang, (await import(`./i18n/${lang}.js`)).default);
  } catch {
    return translator('en', en);
  }
}
