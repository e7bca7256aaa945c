// A queue's custom fields (static/fields.js): the inputs a `fields_schema` asks for, the values
// typed checked as the schema checks them, and a ticket's fields as staff read them.
// Run with `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { describeFields, fieldsLine, fieldsShown, labelOf, optionText, readFields } from '../../static/fields.js';
import { load } from '../../static/i18n.js';

/** The schema of the brief: one of each kind, one required. */
const SCHEMA = {
  type: 'object',
  properties: {
    prescription_id: { type: 'string', title: 'Prescription' },
    count: { type: 'integer', minimum: 1, maximum: 12 },
    kind: { enum: ['a', 'b'] },
    urgent: { type: 'boolean' },
    weight: { type: ['number', 'null'], title: 'Weight (kg)', exclusiveMinimum: 0 },
    note: { type: 'string', maxLength: 500 },
    code: { type: 'string', pattern: '^RX-[0-9]+$', minLength: 4 },
    extra: { type: 'object' },
  },
  required: ['prescription_id', 'kind'],
};

const byKey = (desc) => Object.fromEntries(desc.map((f) => [f.key, f]));

test('a schema becomes one input per property, of its kind, with its bounds and whether it is required', () => {
  const desc = describeFields(SCHEMA);
  assert.deepEqual(desc.map((f) => [f.key, f.kind, f.required]), [
    ['prescription_id', 'text', true],
    ['count', 'integer', false],
    ['kind', 'enum', true],
    ['urgent', 'boolean', false],
    ['weight', 'number', false],
    ['note', 'textarea', false],
    ['code', 'text', false],
  ], 'an object property cannot be typed in: left out');
  const f = byKey(desc);
  assert.equal(f.prescription_id.label, 'Prescription', 'the title');
  assert.equal(f.count.label, 'count', 'no title: the key');
  assert.deepEqual([f.count.min, f.count.max], [1, 12]);
  assert.deepEqual(f.kind.options, ['a', 'b']);
  assert.deepEqual([f.weight.min, f.weight.max], [0, null]);
  assert.deepEqual([f.code.pattern, f.code.minLength], ['^RX-[0-9]+$', 4]);
});

test('no schema, or one without properties, asks nothing', () => {
  for (const s of [null, undefined, {}, { type: 'object' }, { properties: null }]) assert.deepEqual(describeFields(s), []);
});

test('good values become the join’s fields, typed as the schema says', () => {
  const desc = describeFields(SCHEMA);
  const { fields, errors } = readFields(desc, {
    prescription_id: '  RX-1  ', count: '3', kind: '1', urgent: true, weight: '2,5', note: '', code: 'RX-12',
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(fields, { prescription_id: 'RX-1', count: 3, kind: 'b', urgent: true, weight: 2.5, code: 'RX-12' });
  // Unchecked booleans are sent as false; empty optional inputs are left out.
  const min = readFields(desc, { prescription_id: 'x', kind: '0' });
  assert.deepEqual(min.fields, { prescription_id: 'x', kind: 'a', urgent: false });
});

test('each value that does not fit is named, with its label, and left out', () => {
  const desc = describeFields(SCHEMA);
  const { fields, errors } = readFields(desc, { prescription_id: '   ', count: '2.5', kind: '', weight: 'heavy', code: 'AB-1' });
  assert.deepEqual(errors.map((e) => e.key), ['prescription_id', 'count', 'kind', 'weight', 'code']);
  assert.deepEqual(errors.map((e) => e.text), [
    'Prescription: please fill this in.',
    'count: a whole number, please.',
    'kind: please choose one.',
    'Weight (kg): a number, please.',
    'code: this is not in the expected form.',
  ]);
  assert.deepEqual(fields, { urgent: false });
});

test('bounds are checked at their edges', () => {
  const desc = describeFields(SCHEMA);
  const count = (v) => readFields(desc, { prescription_id: 'x', kind: '0', count: v });
  assert.equal(count('1').errors.length, 0);
  assert.equal(count('12').errors.length, 0);
  assert.equal(count('0').errors[0].text, 'count: at least 1.');
  assert.equal(count('13').errors[0].text, 'count: at most 12.');
  assert.equal(count('-').errors[0].text, 'count: a whole number, please.');
  const code = (v) => readFields(desc, { prescription_id: 'x', kind: '0', code: v }).errors.map((e) => e.text);
  assert.deepEqual(code('RX-'), ['code: at least 4 characters.']);
  assert.deepEqual(code('RX-1'), []);
  const long = readFields(describeFields({ properties: { n: { type: 'string', maxLength: 3 } } }), { n: 'abcd' });
  assert.equal(long.errors[0].text, 'n: at most 3 characters.');
  // An enum index outside the options is no choice.
  assert.equal(readFields(desc, { prescription_id: 'x', kind: '2' }).errors[0].key, 'kind');
});

test('errors speak the customer’s language', async () => {
  const fr = await load('fr');
  const { errors } = readFields(describeFields(SCHEMA), { kind: '0' }, fr);
  assert.deepEqual(errors.map((e) => e.text), ['Prescription : veuillez le remplir.']);
});

test('staff read a ticket’s fields by their labels, schema order first, others after', () => {
  const fields = { extra_key: 'z', urgent: true, prescription_id: 'RX-9', kind: 'a', note: '', count: 0 };
  assert.deepEqual(fieldsShown(SCHEMA, fields), [
    { key: 'prescription_id', label: 'Prescription', text: 'RX-9' },
    { key: 'count', label: 'count', text: '0' },
    { key: 'kind', label: 'kind', text: 'a' },
    { key: 'urgent', label: 'urgent', text: 'yes' },
    { key: 'extra_key', label: 'extra_key', text: 'z' },
  ]);
  assert.equal(fieldsLine(SCHEMA, { prescription_id: 'RX-9', urgent: false }), 'Prescription: RX-9 · urgent: no');
  assert.equal(fieldsLine(null, { a: 1 }), 'a: 1', 'no schema: keys as labels');
  assert.equal(fieldsLine(SCHEMA, {}), '');
  assert.equal(fieldsLine(SCHEMA, null), '');
});

test('labels and options read plainly', () => {
  assert.equal(labelOf('k', { title: '  Kind ' }), 'Kind');
  assert.equal(labelOf('k', { title: '' }), 'k');
  assert.equal(optionText('a'), 'a');
  assert.equal(optionText(3), '3');
  assert.equal(optionText(null), 'null');
});
