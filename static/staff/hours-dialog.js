// The hours dialog (managers): a queue's opening hours, daily numbers and time limits, saved
// with PATCH /api/v1/queues/{id} {settings}. The form's logic is the pure staff/hours.js.

import { Problem } from '../qc.js';
import { EN } from '../i18n.js';
import { busy, call, loadQueues } from './actions.js';
import { $, toast } from './dom.js';
import { DAYS, hoursForm, hoursSummary, settingsFrom } from './hours.js';
import { currentQueue } from './store.js';

const t = EN;

/** The Manage card's line about the open queue's hours. */
export function renderHoursLine(app) {
  $('#hours-line').textContent = hoursSummary(currentQueue(app)?.settings);
}

function open(app) {
  const q = currentQueue(app);
  if (!q) return;
  const f = $('#hours-form');
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const v = hoursForm(q.settings, here);
  f.enabled.checked = v.enabled;
  f.tz.value = v.tz;
  for (const [d] of DAYS) f[d].value = v.days[d];
  f.closedOn.value = v.closedOn;
  f.lastJoin.value = v.lastJoin;
  f.daily.checked = v.daily;
  f.timeout.value = v.timeout;
  f.ttl.value = v.ttl;
  $('#hours-fields').disabled = !v.enabled;
  $('#hours-form-error').textContent = '';
  $('#hours-dialog').showModal();
}

function read(f) {
  return {
    enabled: f.enabled.checked,
    tz: f.tz.value,
    days: Object.fromEntries(DAYS.map(([d]) => [d, f[d].value])),
    closedOn: f.closedOn.value,
    lastJoin: f.lastJoin.value,
    daily: f.daily.checked,
    timeout: f.timeout.value,
    ttl: f.ttl.value,
  };
}

async function save(app, e) {
  e.preventDefault();
  const f = $('#hours-form');
  const err = $('#hours-form-error');
  const out = settingsFrom(read(f));
  if (out.error) {
    err.textContent = out.error;
    f[out.field]?.focus?.();
    return;
  }
  err.textContent = '';
  await busy(app, $('#hours-save'), async () => {
    try {
      const q = await call(app, 'PATCH', `/api/v1/queues/${app.queueId}`, { settings: out.settings });
      $('#hours-dialog').close();
      await loadQueues(app);
      renderHoursLine(app);
      toast(t('console.hours_saved', { queue: q.name, status: q.status }), 'ok');
    } catch (x) {
      if (!x.handled) err.textContent = x instanceof Problem ? x.plain : t('common.error');
    }
  });
}

/** Binds the hours dialog and the Manage card's button. */
export function wireHoursDialog(app) {
  $('#edit-hours').addEventListener('click', () => open(app));
  $('#hours-form').addEventListener('submit', (e) => save(app, e));
  $('#hours-cancel').addEventListener('click', () => $('#hours-dialog').close());
  $('#h-enabled').addEventListener('change', (e) => {
    $('#hours-fields').disabled = !e.target.checked;
  });
}
