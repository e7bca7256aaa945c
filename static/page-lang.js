// A page's language, applied: chosen as static/i18n.js says (`?lang=` is remembered for the
// next visit), set on <html lang>, and the page's own words (`data-i18n="key"`, and
// `data-i18n-attr="aria-label:key alt:key"`) read from its catalog.
import { chooseLang, load, supported } from './i18n.js';
import { store } from './qc.js';

const KEPT = 'qc.lang';

/** The page's translator, once its words are in place. */
export async function pageLang() {
  const query = new URLSearchParams(location.search).get('lang');
  if (supported(query)) store.set(KEPT, supported(query));
  const lang = chooseLang({ query, stored: store.get(KEPT), accepted: navigator.languages || [] });
  return useLang(lang);
}

/** Speaks `lang` from now on (a kiosk's language buttons): answers its translator. */
export async function useLang(lang) {
  const t = await load(lang);
  document.documentElement.lang = t.lang;
  translate(document, t);
  return t;
}

/** Words every `data-i18n` element under `root` (and the attributes of `data-i18n-attr`). */
export function translate(root, t) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(/\s+/).filter(Boolean)) {
      const [attr, key] = pair.split(':');
      el.setAttribute(attr, t(key));
    }
  }
}
