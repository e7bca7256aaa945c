// A queue's custom fields: its ticket type's `fields_schema` (a JSON Schema object, on the
// queue's public summary and in GET /api/v1/ticket-types) as the inputs of a form, the values
// typed there checked as the schema would check them, and a ticket's `fields` as staff read them.
// The server checks the same schema (400 `invalid_fields`); these checks only say it sooner, in
// the customer's language. Pure: no DOM, importable from node (tests/js).
import { EN } from './i18n.js';

/** Longer strings than this are asked in a text area rather than one line. */
const LONG_TEXT = 200;

/** The one type a property's `type` names (`["string", "null"]` reads as `string`). */
function typeOf(prop) {
  const ty = Array.isArray(prop.type) ? prop.type.find((x) => x !== 'null') : prop.type;
  if (ty) return ty;
  return Array.isArray(prop.enum) ? 'enum' : 'string';
}

/** A field's label: the schema's `title`, else its key as written. */
export const labelOf = (key, prop) => (typeof prop?.title === 'string' && prop.title.trim() ? prop.title.trim() : key);

/**
 * The inputs a schema asks for, in its order: `{key, label, kind, required, hint, …}` where
 * `kind` is `text`, `textarea`, `integer`, `number`, `enum` (with `options`: the allowed values)
 * or `boolean`, with the bounds the schema sets (`min`, `max`, `minLength`, `maxLength`,
 * `pattern`). Properties of other types (objects, lists) cannot be typed in a form: they are
 * left out. No schema (or one without properties) asks nothing.
 */
export function describeFields(schema) {
  const props = schema && typeof schema === 'object' && schema.properties && typeof schema.properties === 'object' ? schema.properties : {};
  const required = new Set(Array.isArray(schema?.required) ? schema.required : []);
  const out = [];
  for (const [key, raw] of Object.entries(props)) {
    const prop = raw && typeof raw === 'object' ? raw : {};
    const base = { key, label: labelOf(key, prop), required: required.has(key), hint: typeof prop.description === 'string' ? prop.description : '' };
    if (Array.isArray(prop.enum) && prop.enum.length) {
      out.push({ ...base, kind: 'enum', options: prop.enum.slice() });
      continue;
    }
    const ty = typeOf(prop);
    if (ty === 'string') {
      const long = prop.format === 'textarea' || (prop.maxLength ?? 0) > LONG_TEXT;
      out.push({
        ...base,
        kind: long ? 'textarea' : 'text',
        minLength: prop.minLength ?? null,
        maxLength: prop.maxLength ?? null,
        pattern: typeof prop.pattern === 'string' ? prop.pattern : null,
      });
    } else if (ty === 'integer' || ty === 'number') {
      const min = prop.minimum ?? (prop.exclusiveMinimum != null ? prop.exclusiveMinimum + (ty === 'integer' ? 1 : 0) : null);
      const max = prop.maximum ?? (prop.exclusiveMaximum != null ? prop.exclusiveMaximum - (ty === 'integer' ? 1 : 0) : null);
      out.push({ ...base, kind: ty, min, max });
    } else if (ty === 'boolean') {
      out.push({ ...base, kind: 'boolean' });
    }
  }
  return out;
}

/** How an option of an `enum` field reads in a picker: strings as they are, others as JSON. */
export const optionText = (v) => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * Reads a form's values against its description. `raw` holds, by key, what the form has: the
 * text typed (number and text inputs), the index of the chosen option as a string (`''`: none;
 * enum pickers) or a boolean (checkboxes). Answers `{fields, errors}`: `fields` is what to send as
 * the join's `fields` (empty inputs left out; booleans always sent), `errors` one `{key, text}`
 * per field that does not fit, worded by `t`.
 */
export function readFields(desc, raw, t = EN) {
  const fields = {};
  const errors = [];
  const fail = (f, what, vars = {}) => errors.push({ key: f.key, text: t(`fields.${what}`, { label: f.label, ...vars }) });
  for (const f of desc) {
    const v = raw?.[f.key];
    if (f.kind === 'boolean') {
      fields[f.key] = v === true;
      continue;
    }
    const s = v == null ? '' : String(v).trim();
    if (s === '') {
      if (f.required) fail(f, f.kind === 'enum' ? 'choose' : 'required');
      continue;
    }
    if (f.kind === 'enum') {
      const i = Number(s);
      if (!Number.isInteger(i) || i < 0 || i >= f.options.length) fail(f, 'choose');
      else fields[f.key] = f.options[i];
    } else if (f.kind === 'integer' || f.kind === 'number') {
      const n = Number(s.replace(',', '.'));
      if (f.kind === 'integer' && !/^[+-]?\d+$/.test(s)) fail(f, 'integer');
      else if (!Number.isFinite(n)) fail(f, 'number');
      else if (f.min != null && n < f.min) fail(f, 'min', { min: f.min });
      else if (f.max != null && n > f.max) fail(f, 'max', { max: f.max });
      else fields[f.key] = n;
    } else {
      const len = [...s].length;
      if (f.minLength != null && len < f.minLength) fail(f, 'too_short', { n: f.minLength });
      else if (f.maxLength != null && len > f.maxLength) fail(f, 'too_long', { n: f.maxLength });
      else if (f.pattern && !matches(f.pattern, s)) fail(f, 'pattern');
      else fields[f.key] = s;
    }
  }
  return { fields, errors };
}

/** Whether `s` matches a schema's `pattern` (unanchored, as JSON Schema says); a pattern this
 * browser cannot read is left to the server. */
function matches(pattern, s) {
  try {
    return new RegExp(pattern, 'u').test(s);
  } catch {
    return true;
  }
}

/**
 * A ticket's `fields` as staff read them: `[{key, label, text}]`, the schema's fields first in
 * its order, then any others the ticket carries. Empty values are left out; booleans read as
 * yes or no.
 */
export function fieldsShown(schema, fields, t = EN) {
  if (!fields || typeof fields !== 'object') return [];
  const props = schema?.properties && typeof schema.properties === 'object' ? schema.properties : {};
  const keys = [...Object.keys(props).filter((k) => k in fields), ...Object.keys(fields).filter((k) => !(k in props))];
  const out = [];
  for (const key of keys) {
    const v = fields[key];
    if (v == null || v === '') continue;
    const text = typeof v === 'boolean' ? t(v ? 'fields.yes' : 'fields.no') : typeof v === 'object' ? JSON.stringify(v) : String(v);
    out.push({ key, label: labelOf(key, props[key]), text });
  }
  return out;
}

/** "Prescription: RX-1 · Urgent: yes": a ticket's fields on one line. */
export function fieldsLine(schema, fields, t = EN) {
  return fieldsShown(schema, fields, t).map((f) => `${f.label}: ${f.text}`).join(' · ');
}
