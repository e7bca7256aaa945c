// Small DOM helpers of the staff console: lookups, text that only changes when it must, lists
// kept in order without rebuilding them, toasts and the ticking "3 min" times.

import { h, since } from '../qc.js';

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** The counter this desk calls people to, as typed in the top bar. */
export const myCounter = () => $('#counter').value.trim();

/** Sets a node's text only when it differs (no needless layout, no lost selection). */
export function setText(node, text) {
  const s = String(text);
  if (node.textContent !== s) node.textContent = s;
}

/** Keeps `list`'s children in the order of `items`, reusing the element of each id. */
export function reconcile(list, items, create, update) {
  const old = new Map($$(':scope > [data-id]', list).map((el) => [el.dataset.id, el]));
  // Rows that go are removed first, so that the others keep their places: someone called from
  // the head of a long line then moves no row at all (no node is inserted again).
  const keep = new Set(items.map((item) => item.id));
  for (const [id, node] of old) {
    if (!keep.has(id)) {
      node.remove();
      old.delete(id);
    }
  }
  let prev = null;
  items.forEach((item, i) => {
    let node = old.get(item.id);
    if (node) old.delete(item.id);
    else node = create(item);
    update(node, item, i);
    const want = prev ? prev.nextElementSibling : list.firstElementChild;
    if (want !== node) list.insertBefore(node, want);
    prev = node;
  });
}

/** A short message in the corner; errors stay longer and are announced. At most three at once. */
export function toast(text, kind = 'info') {
  const box = $('#toast');
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : null }, text);
  box.append(item);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => {
    item.classList.add('leaving');
    setTimeout(() => item.remove(), 300);
  }, kind === 'error' ? 7000 : 3000);
}

/** Writes a node's ticking time with the words around it (`data-prefix`, `data-suffix`). */
export function tickText(node) {
  if (!node.dataset.since) return;
  setText(node, `${node.dataset.prefix || ''}${since(node.dataset.since)}${node.dataset.suffix || ''}`);
}

/** Brings every `data-since` time on the page up to now (once a second). */
export function tick() {
  const now = Date.now();
  for (const node of $$('[data-since]')) {
    if (node.dataset.prefix !== undefined || node.dataset.suffix !== undefined) tickText(node);
    else setText(node, since(node.dataset.since, now));
  }
}
