// The console's dialogs and forms: transferring a ticket, creating a queue (managers), copying a
// link. Each `wire…` function binds its dialog's controls once, at start.

import { h, Problem } from '../qc.js';
import { EN } from '../i18n.js';
import { busy, call, fail, loadQueues } from './actions.js';
import { $, $$, setText, toast } from './dom.js';
import { openQueue } from './live.js';
import { queueTitle, slugify } from './view.js';

const t = EN;

function openTransfer(app, ticket) {
  const others = app.queues.filter((q) => q.id !== app.queueId && q.status !== 'closed');
  if (!others.length) {
    toast(t('console.transfer_none'), 'error');
    return;
  }
  app.transferTicket = ticket;
  setText($('#transfer-number'), ticket.number);
  $('#transfer-queue').replaceChildren(
    ...others.map((q) => h('option', { value: q.id }, t('console.transfer_option', { queue: queueTitle(q), n: q.waiting ?? 0 }))),
  );
  $('#transfer-dialog').showModal();
  $('#transfer-queue').focus();
}

async function doTransfer(app, e) {
  e.preventDefault();
  const ticket = app.transferTicket;
  const to = $('#transfer-queue').value;
  if (!ticket || !to) return;
  const target = app.queues.find((q) => q.id === to);
  await busy(app, $('#transfer-ok'), async () => {
    try {
      await call(app, 'POST', `/api/v1/tickets/${ticket.id}/transfer`, { queue_id: to });
      $('#transfer-dialog').close();
      toast(t('console.transfer_done', { number: ticket.number, queue: target ? target.name : t('console.other_queue') }), 'ok');
    } catch (err) {
      fail(err, ticket.number);
    }
  });
}

/** Binds the transfer dialog; answers the function that opens it for a ticket. */
export function wireTransfer(app) {
  $('#transfer-form').addEventListener('submit', (e) => doTransfer(app, e));
  $('#transfer-cancel').addEventListener('click', () => $('#transfer-dialog').close());
  return (ticket) => openTransfer(app, ticket);
}

function openQueueDialog() {
  const form = $('#queue-form');
  form.reset();
  form.dataset.slugTouched = '';
  form.dataset.prefixTouched = '';
  $('#queue-form-error').textContent = '';
  $('#queue-dialog').showModal();
  form.name.focus();
}

async function createQueue(app, e) {
  e.preventDefault();
  const form = $('#queue-form');
  const err = $('#queue-form-error');
  const name = form.name.value.trim();
  const slug = form.slug.value.trim();
  const prefix = form.prefix.value.trim().toUpperCase();
  if (!name) return void (err.textContent = t('console.nq_name_missing'));
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(slug)) {
    err.textContent = t('console.nq_slug_bad');
    return;
  }
  if (!/^[A-Z]{0,3}$/.test(prefix)) return void (err.textContent = t('console.nq_prefix_bad'));
  const body = { slug, name };
  if (prefix) body.prefix = prefix;
  await busy(app, form.querySelector('[type=submit]'), async () => {
    try {
      const q = await call(app, 'POST', '/api/v1/queues', body);
      $('#queue-dialog').close();
      toast(t('console.nq_created', { queue: q.name }), 'ok');
      await loadQueues(app);
      if (!app.queueId) openQueue(app, q.id);
    } catch (x) {
      if (!x.handled) err.textContent = x instanceof Problem ? x.plain : t('common.error');
    }
  });
}

/** Binds the new-queue dialog: the short name and prefix follow the name until typed in. */
export function wireQueueDialog(app) {
  $('#new-queue').addEventListener('click', openQueueDialog);
  $('#first-queue').addEventListener('click', openQueueDialog);
  $('#queue-form').addEventListener('submit', (e) => createQueue(app, e));
  $('#queue-form-cancel').addEventListener('click', () => $('#queue-dialog').close());
  const qf = $('#queue-form');
  qf.name.addEventListener('input', () => {
    if (!qf.dataset.slugTouched) qf.slug.value = slugify(qf.name.value);
    if (!qf.dataset.prefixTouched) qf.prefix.value = (qf.name.value.trim()[0] || '').toUpperCase().replace(/[^A-Z]/, '');
  });
  qf.slug.addEventListener('input', () => {
    qf.dataset.slugTouched = '1';
  });
  qf.prefix.addEventListener('input', () => {
    qf.dataset.prefixTouched = '1';
    qf.prefix.value = qf.prefix.value.toUpperCase();
  });
}

async function copyField(id, button) {
  const input = document.getElementById(id);
  const text = input.value;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (plain http, or refused): the old way.
    input.select();
    document.execCommand('copy');
  }
  const was = button.textContent;
  button.textContent = t('console.copied');
  setTimeout(() => {
    button.textContent = was;
  }, 1500);
}

/** Binds the Copy buttons beside the links, and the help dialog's button. */
export function wireCopyAndHelp() {
  for (const b of $$('[data-copy]')) b.addEventListener('click', () => copyField(b.dataset.copy, b));
  $('#help-open').addEventListener('click', () => $('#help').showModal());
}
