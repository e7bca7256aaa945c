// The front desk and the venue: walk-ins added at the desk (W), and the device keys of the
// venue's screens and kiosks (managers). Words through the catalog (English for now).

import { EN, number } from '../i18n.js';
import { h, Problem, randomId } from '../qc.js';
import { busy, call, fail } from './actions.js';
import { $, toast } from './dom.js';
import { currentQueue, currentType, isManager } from './store.js';
import { queueTitle } from './view.js';
import { describeFields, readFields } from '../fields.js';
import { drawFields, readDrawn, showFieldErrors } from '../fields-form.js';

const t = EN;

export function openWalkIn(app) {
  if (!app.queueId) return;
  const form = $('#walk-in-form');
  form.reset();
  $('#walk-in-queue').textContent = queueTitle(currentQueue(app) || { name: '' });
  $('#walk-in-error').textContent = '';
  $('#walk-in-fill').hidden = false;
  $('#walk-in-made').hidden = true;
  $('#walk-in-ok').hidden = false;
  $('#walk-in-print').hidden = true;
  // The type's own fields, asked as the join page asks them.
  app.walkInFields = describeFields(currentType(app)?.fields_schema);
  drawFields($('#wi-fields-box'), app.walkInFields, t, 'wi-x');
  $('#wi-fields-row').hidden = app.walkInFields.length === 0;
  // One key per fill: a double submit makes one ticket.
  form.dataset.idem = randomId();
  $('#walk-in-dialog').showModal();
  form.name.focus();
}

async function addWalkIn(app, e) {
  e.preventDefault();
  const form = $('#walk-in-form');
  const err = $('#walk-in-error');
  const body = {};
  const name = form.name.value.trim();
  if (name) body.name = name;
  const party = Number(form.party_size.value || 1);
  if (!Number.isInteger(party) || party < 1) return void (err.textContent = t('console.party_bad'));
  body.party_size = party;
  if (app.walkInFields?.length) {
    const { fields, errors } = readFields(app.walkInFields, readDrawn($('#wi-fields-box')), t);
    const first = showFieldErrors($('#wi-fields-box'), errors);
    if (first) {
      err.textContent = errors[0].text;
      first.focus();
      return;
    }
    body.fields = fields;
  }
  const q = currentQueue(app);
  await busy(app, $('#walk-in-ok'), async () => {
    try {
      const { ticket } = await call(app, 'POST', `/api/v1/queues/${app.queueId}/tickets`, body, { 'Idempotency-Key': form.dataset.idem });
      $('#walk-in-number').textContent = ticket.number;
      const ahead = Math.max(0, (ticket.position ?? 1) - 1);
      $('#walk-in-ahead').textContent = ahead ? t('console.walk_in_ahead', { count: ahead, n: number(ahead) }) : t('console.walk_in_next');
      $('#slip-number').textContent = ticket.number;
      $('#slip-queue').textContent = q?.name ?? '';
      $('#slip-time').textContent = new Date(ticket.joined_at).toLocaleString();
      $('#walk-in-fill').hidden = true;
      $('#walk-in-made').hidden = false;
      $('#walk-in-ok').hidden = true;
      $('#walk-in-print').hidden = false;
      $('#walk-in-print').focus();
      toast(t('console.walk_in_added', { number: ticket.number, queue: q?.name ?? '' }), 'ok');
    } catch (x) {
      if (!x.handled) err.textContent = x instanceof Problem ? x.plain : t('common.error');
    }
  });
}

export function wireWalkIn(app) {
  $('#walk-in').addEventListener('click', () => openWalkIn(app));
  $('#walk-in-form').addEventListener('submit', (e) => addWalkIn(app, e));
  $('#walk-in-cancel').addEventListener('click', () => $('#walk-in-dialog').close());
  $('#walk-in-print').addEventListener('click', () => window.print());
}

// Device keys ---------------------------------------------------------------------------------

function queueNames(app, ids) {
  return ids.map((id) => app.queues.find((q) => q.id === id)?.name ?? '?').join(', ');
}

/** Lists the tenant's device keys and offers its queues for a new one (managers). */
export async function renderDevices(app) {
  const box = $('#devices');
  box.hidden = !isManager(app);
  if (box.hidden) return;
  $('#device-queues').replaceChildren($('#device-queues').querySelector('legend'), ...app.queues.map((q) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'queue', value: q.id, checked: q.id === app.queueId }), ` ${queueTitle(q)}`)));
  let keys;
  try {
    keys = await call(app, 'GET', '/api/v1/device-keys');
  } catch (e) {
    return fail(e);
  }
  const list = $('#device-keys');
  if (!keys.length) return list.replaceChildren(h('li', { class: 'muted small' }, t('console.device_none')));
  list.replaceChildren(...keys.map((k) => h('li', { 'data-key-id': k.id, class: 'device-key' },
    h('span', {}, t('console.device_row', { kind: t(`console.kind_${k.kind}`), queues: queueNames(app, k.queue_ids) })),
    h('span', { class: 'muted small' }, k.last_seen_at ? t('console.device_seen', { when: new Date(k.last_seen_at).toLocaleString() }) : t('console.device_never')),
    h('button', { type: 'button', class: 'btn-ghost btn-sm danger-text', 'data-revoke': k.id }, t('console.revoke')))));
}

async function createDevice(app, e) {
  e.preventDefault();
  const form = $('#device-form');
  const ids = [...form.querySelectorAll('input[name=queue]:checked')].map((i) => i.value);
  const err = $('#device-error');
  if (ids.length < 1 || ids.length > 12) return void (err.textContent = t('console.device_pick'));
  err.textContent = '';
  await busy(app, $('#device-create'), async () => {
    try {
      const made = await call(app, 'POST', '/api/v1/device-keys', { kind: form.kind.value, queue_ids: ids });
      $('#device-url').value = made.url;
      $('#device-qr').src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(made.qr_svg)}`;
      $('#device-made').hidden = false;
      toast(t('console.device_made'), 'ok');
      renderDevices(app);
    } catch (x) {
      if (!x.handled) err.textContent = x instanceof Problem ? x.plain : t('common.error');
    }
  });
}

async function revokeDevice(app, button) {
  await busy(app, button, async () => {
    try {
      await call(app, 'DELETE', `/api/v1/device-keys/${button.dataset.revoke}`);
      toast(t('console.revoked'), 'ok');
      $('#device-made').hidden = true;
      renderDevices(app);
    } catch (e) {
      fail(e);
    }
  });
}

export function wireDevices(app) {
  $('#device-form').addEventListener('submit', (e) => createDevice(app, e));
  $('#device-keys').addEventListener('click', (e) => {
    const b = e.target.closest('[data-revoke]');
    if (b) revokeDevice(app, b);
  });
}
