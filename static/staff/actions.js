// What the console asks of the server: signed calls, and the actions on tickets and the queue.
// Every action disables its button while it runs and tells the outcome in a toast; the change
// itself is shown when its event comes back on the socket.

import { api, Problem } from '../qc.js';
import { EN } from '../i18n.js';
import { $, toast, myCounter } from './dom.js';
import { doneText, typesByCode } from './fsm.js';
import { patchQueue } from './model.js';
import { renderDesk, renderQueue, renderQueueSelect } from './render.js';
import { queueLabel } from './view.js';

const t = EN;

export const ENDED = t('console.session_ended');

/** `api()` with the bearer token; a 401 signs out (and marks the error handled). */
export async function call(app, method, path, body, headers = {}) {
  try {
    return await api(method, path, { body, token: app.session?.token, headers });
  } catch (e) {
    if (e instanceof Problem && e.status === 401 && app.session) {
      e.handled = true;
      app.signOut(ENDED);
    }
    throw e;
  }
}

/** Shows what went wrong in plain words (never raw JSON). */
export function fail(e, context) {
  if (e?.handled) return;
  const msg = e instanceof Problem ? e.plain : t('common.error');
  toast(context ? t('console.error_in', { context, message: msg }) : msg, 'error');
  if (!(e instanceof Problem)) console.error(e);
}

/** Runs `fn` with `button` disabled meanwhile (no double sends). */
export async function busy(app, button, fn) {
  if (button) {
    if (button.dataset.busy) return undefined;
    button.dataset.busy = '1';
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
  }
  try {
    return await fn();
  } finally {
    if (button) {
      delete button.dataset.busy;
      button.disabled = false;
      button.removeAttribute('aria-busy');
      // The desk may have changed meanwhile (the call-next button's state, for one).
      renderDesk(app);
    }
  }
}

/**
 * The queues and the ticket types their buttons come from. Types that cannot be read keep what
 * was known (none at first: every built-in action is then offered, and the server refuses
 * those that do not apply).
 */
export async function loadQueues(app) {
  const [queues, types] = await Promise.all([
    call(app, 'GET', '/api/v1/queues'),
    call(app, 'GET', '/api/v1/ticket-types').catch((e) => {
      if (e.handled) throw e;
      return null;
    }),
  ]);
  app.queues = queues || [];
  if (types) {
    app.types = typesByCode(types);
    app.typeList = types;
  }
  renderQueueSelect(app);
}

export async function callNext(app, button = $('#call-next')) {
  if (!app.queueId) return;
  const counter = myCounter();
  if (!counter) {
    toast(t('console.counter_first'), 'error');
    $('#counter').focus();
    return;
  }
  await busy(app, button, async () => {
    try {
      const c = await call(app, 'POST', `/api/v1/queues/${app.queueId}/call-next`, { counter });
      toast(t(c.name ? 'console.called_named' : 'console.called', { number: c.number, name: c.name, counter }), 'ok');
    } catch (e) {
      if (e instanceof Problem && e.code === 'queue_empty') toast(t('console.nobody_waiting'), 'info');
      else fail(e);
    }
  });
}

/** Applies transition `name` to `ticket`. */
export async function transition(app, ticket, name, button) {
  if (!ticket) return;
  await busy(app, button, async () => {
    try {
      let after;
      if (name === 'cancel') {
        // The same transition through the endpoint customers use to leave.
        after = await call(app, 'POST', `/api/v1/tickets/${ticket.id}/cancel`);
      } else {
        const body = { name };
        // A recall announces the ticket again at the counter it was called to.
        if (name === 'recall' && ticket.counter) body.counter = ticket.counter;
        after = await call(app, 'POST', `/api/v1/tickets/${ticket.id}/transitions`, body);
      }
      const done = doneText(name, ticket, after);
      if (done) toast(done, 'ok');
    } catch (e) {
      fail(e, `${ticket.number}`);
    }
  });
}

export async function setQueueStatus(app, status, button) {
  await busy(app, button, async () => {
    try {
      const q = await call(app, 'PATCH', `/api/v1/queues/${app.queueId}`, { status });
      if (q?.status) app.live = patchQueue(app.live, { status: q.status });
      renderQueue(app);
      toast(t('console.queue_now', { queue: q?.name || t('console.the_queue'), status: queueLabel(q?.status || status).toLowerCase() }), 'ok');
    } catch (e) {
      fail(e);
    }
  });
}

export async function createDisplayKey(app, button) {
  await busy(app, button, async () => {
    try {
      const { key } = await call(app, 'POST', `/api/v1/queues/${app.queueId}/display-keys`);
      $('#kiosk-url').value = `${location.origin}/display/${app.queueId}?key=${encodeURIComponent(key)}`;
      $('#kiosk-row').hidden = false;
      button.textContent = t('console.display_key_another');
      toast(t('console.display_key_made'), 'ok');
    } catch (e) {
      fail(e);
    }
  });
}
