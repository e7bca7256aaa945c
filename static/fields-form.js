// Draws the inputs of a queue's custom fields (fields.js `describeFields`) into a form, reads
// them back, and shows what does not fit beside each input (named by aria-describedby and
// marked aria-invalid, so a screen reader hears it on the input). The join page uses it.

import { optionText } from './fields.js';

/** `<el attrs>children</el>`, without qc.js (this module stays free of the page's sockets). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

/** The id of a field's input and of its error line, under `prefix`. */
const ids = (prefix, key) => {
  const safe = key.replace(/[^A-Za-z0-9_-]/g, '_');
  return { input: `${prefix}-${safe}`, error: `${prefix}-${safe}-error`, hint: `${prefix}-${safe}-hint` };
};

/**
 * Fills `box` with one `.field` per described field. `t` words "(optional)" and the pickers'
 * empty choice. Inputs carry `data-field` (their key).
 */
export function drawFields(box, desc, t, prefix = 'x') {
  box.replaceChildren(
    ...desc.map((f) => {
      const id = ids(prefix, f.key);
      const describedBy = [f.hint ? id.hint : null, id.error].filter(Boolean).join(' ');
      const common = { id: id.input, name: `field:${f.key}`, 'data-field': f.key, 'aria-describedby': describedBy, required: f.required };
      let input;
      if (f.kind === 'boolean') {
        input = el('input', { ...common, type: 'checkbox', required: false });
        return el(
          'div',
          { class: 'field field-check' },
          el('label', { class: 'check', for: id.input }, input, ' ', el('span', {}, f.label)),
          f.hint ? el('p', { class: 'hint', id: id.hint }, f.hint) : null,
          el('p', { class: 'field-error', id: id.error }),
        );
      }
      if (f.kind === 'enum') {
        input = el('select', common, el('option', { value: '' }, t('join.choose')), ...f.options.map((o, i) => el('option', { value: String(i) }, optionText(o))));
      } else if (f.kind === 'textarea') {
        input = el('textarea', { ...common, rows: 3, maxlength: f.maxLength });
      } else if (f.kind === 'integer' || f.kind === 'number') {
        input = el('input', { ...common, type: 'text', inputmode: f.kind === 'integer' && !(f.min < 0) ? 'numeric' : 'decimal', autocomplete: 'off' });
      } else {
        input = el('input', { ...common, type: 'text', maxlength: f.maxLength, autocomplete: 'off' });
      }
      return el(
        'div',
        { class: 'field' },
        el('label', { for: id.input }, el('span', {}, f.label), f.required ? null : ' ', f.required ? null : el('span', { class: 'opt' }, t('common.optional'))),
        f.hint ? el('p', { class: 'hint', id: id.hint }, f.hint) : null,
        input,
        el('p', { class: 'field-error', id: id.error }),
      );
    }),
  );
  box.hidden = desc.length === 0;
}

/** What the drawn inputs hold, by key: text, the option's index, or a checkbox's state. */
export function readDrawn(box) {
  const raw = {};
  for (const input of box.querySelectorAll('[data-field]')) {
    raw[input.dataset.field] = input.type === 'checkbox' ? input.checked : input.value;
  }
  return raw;
}

/** Shows `errors` (fields.js `readFields`) beside their inputs and clears the others; answers
 * the first input that does not fit (to focus), or null. */
export function showFieldErrors(box, errors) {
  const byKey = new Map(errors.map((e) => [e.key, e.text]));
  let first = null;
  for (const input of box.querySelectorAll('[data-field]')) {
    const text = byKey.get(input.dataset.field) ?? '';
    const line = input.closest('.field')?.querySelector('.field-error');
    if (line) line.textContent = text;
    if (text) {
      input.setAttribute('aria-invalid', 'true');
      first ??= input;
    } else {
      input.removeAttribute('aria-invalid');
    }
  }
  return first;
}
