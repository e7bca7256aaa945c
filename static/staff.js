// The staff console: sign in, pick a queue, then run it live over the staff socket of
// PROTOCOL.md. Plain ES modules, no framework, no build step. This entry owns the console's state
// (staff/store.js) and wires the page; the modules of staff/ hold the rest:
//   model.js (pure)    the line's head, its count and the active tickets, from the socket's
//                      frames and the pages of the line
//   fsm.js (pure)      the buttons of a ticket, from its queue's ticket type
//   view.js, history.js (pure)  words, orderings, the chart's points
//   live.js            one open queue: its socket, pages of the line, stats and chart history
//   hours.js (pure)    the hours form: a queue's time-keeping settings as fields and back
//   render.js, dom.js  drawing;  actions.js  server calls;  dialogs.js, hours-dialog.js, keys.js

import { api, Problem } from './qc.js';
import { busy, callNext, createDisplayKey, ENDED, loadQueues, setQueueStatus, transition } from './staff/actions.js';
import { WaitChart } from './staff/chart.js';
import { wireCopyAndHelp, wireQueueDialog, wireTransfer } from './staff/dialogs.js';
import { wireHoursDialog } from './staff/hours-dialog.js';
import { wireDevices, wireWalkIn } from './staff/venue.js';
import { wireAppointments } from './staff/appointments.js';
import { callThis, openDrawer, wireDrawer } from './staff/drawer.js';
import { EN } from './i18n.js';
import { translate } from './page-lang.js';
import { $, myCounter, tick } from './staff/dom.js';
import { onKey } from './staff/keys.js';
import { openQueue, queueToOpen, showMoreLine, stopQueue } from './staff/live.js';
import { ticketById } from './staff/model.js';
import { renderActive, renderAll, renderDesk, setWaitingRoom, updateChart } from './staff/render.js';
import { createApp, currentFsm, isManager } from './staff/store.js';
import { myTicket } from './staff/view.js';

const SESSION_KEY = 'qc.staff';
const TENANT_KEY = 'qc.staff.tenant';
const COUNTER_KEY = 'qc.staff.counter';

function readSession() {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
    if (s && s.token && s.user) return s;
  } catch {
    /* a damaged entry: sign in again */
  }
  return null;
}

const sessionExpired = (s) => s && s.expires_at && Date.parse(s.expires_at) <= Date.now();

const t = EN;

const app = createApp(readSession());

function showLogin(message = '') {
  stopQueue(app);
  $('#app').hidden = true;
  $('#login-view').hidden = false;
  document.body.dataset.view = 'login';
  $('#login-error').textContent = message;
  const form = $('#login');
  const last = localStorage.getItem(TENANT_KEY);
  if (last && !form.tenant.value) form.tenant.value = last;
  (form.tenant.value ? (form.email.value ? form.password : form.email) : form.tenant).focus();
}

function signOut(message = '') {
  // Ends the sign-in on the server too (every node), not only in this browser.
  if (app.session && !message) api('POST', '/api/v1/auth/logout', { token: app.session.token }).catch(() => {});
  app.session = null;
  localStorage.removeItem(SESSION_KEY);
  $('#login').password.value = '';
  showLogin(message);
}
app.signOut = signOut;

async function enterApp() {
  $('#login-view').hidden = true;
  $('#app').hidden = false;
  document.body.dataset.view = 'app';
  const { email, role } = app.session.user;
  $('#user-email').textContent = email;
  $('#user-role').textContent = role;
  $('#user-avatar').textContent = (email || '?').slice(0, 1).toUpperCase();
  $('#new-queue').hidden = !isManager(app);
  $('#admin-link').hidden = role !== 'admin';
  $('#first-queue').hidden = true;
  setWaitingRoom(t('console.loading_queues'), true);
  try {
    await loadQueues(app);
  } catch (e) {
    if (e.handled) return;
    setWaitingRoom(t('console.queues_failed', { why: e.plain || '' }).trim(), false);
    setTimeout(() => app.session && app.queues.length === 0 && enterApp(), 5000);
    return;
  }
  const pick = queueToOpen(app);
  if (!pick) {
    setWaitingRoom(t(isManager(app) ? 'console.no_queues_manager' : 'console.no_queues_staff'), false);
    $('#first-queue').hidden = !isManager(app);
    return;
  }
  openQueue(app, pick);
}

async function signIn(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const tenant = form.tenant.value.trim();
  const email = form.email.value.trim();
  const password = form.password.value;
  const err = $('#login-error');
  if (!tenant || !email || !password) {
    err.textContent = t('console.login_missing');
    return;
  }
  err.textContent = '';
  await busy(app, form.querySelector('[type=submit]'), async () => {
    try {
      const res = await api('POST', '/api/v1/auth/login', { body: { tenant, email, password } });
      app.session = { token: res.token, expires_at: res.expires_at, user: res.user, tenant };
      localStorage.setItem(SESSION_KEY, JSON.stringify(app.session));
      localStorage.setItem(TENANT_KEY, tenant);
      form.password.value = '';
      enterApp();
    } catch (x) {
      if (x instanceof Problem && (x.status === 401 || x.code === 'unauthorized')) {
        err.textContent = t('console.login_wrong');
      } else if (x instanceof Problem && x.status === 400) {
        err.textContent = t('console.login_check');
      } else {
        err.textContent = x instanceof Problem ? x.plain : t('common.error');
      }
      form.password.focus();
    }
  });
}

/** Binds every control of the page, once. */
function wire() {
  $('#login').addEventListener('submit', signIn);
  $('#sign-out').addEventListener('click', () => signOut(''));
  $('#queue-select').addEventListener('change', (e) => {
    if (e.target.value && e.target.value !== app.queueId) openQueue(app, e.target.value);
  });

  const counter = $('#counter');
  counter.value = localStorage.getItem(COUNTER_KEY) ?? t('console.default_counter');
  counter.addEventListener('input', () => {
    localStorage.setItem(COUNTER_KEY, myCounter());
    renderActive(app);
    renderDesk(app);
  });
  counter.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === 'Escape') counter.blur();
  });

  $('#call-next').addEventListener('click', (e) => callNext(app, e.currentTarget));
  $('#desk-actions').addEventListener('click', (e) => {
    const b = e.target.closest('[data-hero-action]');
    if (b) transition(app, myTicket(app.live.active.values(), myCounter(), currentFsm(app)), b.dataset.heroAction, b);
  });
  // A ticket's number opens its drawer, in the line and in the called list.
  for (const list of ['#waiting', '#active']) {
    $(list).addEventListener('click', (e) => {
      const b = e.target.closest('[data-open-ticket]');
      if (b) openDrawer(app, b.dataset.openTicket);
    });
  }
  $('#active').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-action]');
    const li = b?.closest('li[data-id]');
    if (b && li) transition(app, ticketById(app.live, li.dataset.id), b.dataset.action, b);
  });
  const openTransfer = wireTransfer(app);
  $('#waiting').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-line-action]');
    const t = ticketById(app.live, b?.closest('li[data-id]')?.dataset.id);
    if (!b || !t) return;
    if (b.dataset.lineAction === 'cancel') transition(app, t, 'cancel', b);
    else if (b.dataset.lineAction === 'call') callThis(app, t, b);
    else openTransfer(t);
  });
  $('#show-more').addEventListener('click', () => showMoreLine(app));
  $('#queue-controls').addEventListener('click', (e) => {
    const b = e.target.closest('[data-queue-status]');
    if (b) setQueueStatus(app, b.dataset.queueStatus, b);
  });
  $('#conn-retry').addEventListener('click', () => {
    if (app.queueId) openQueue(app, app.queueId);
  });
  $('#display-key').addEventListener('click', (e) => createDisplayKey(app, e.currentTarget));
  wireQueueDialog(app);
  wireHoursDialog(app);
  wireWalkIn(app);
  wireDevices(app);
  wireAppointments(app, () => renderAll(app));
  wireCopyAndHelp();
  wireDrawer(app);

  document.addEventListener('keydown', (e) => onKey(app, e));
  app.chart = new WaitChart($('#chart'), $('#chart-readout'));
  setInterval(tick, 1000);
  setInterval(() => updateChart(app), 30_000);
  // Back from sleep or another tab: let the socket retry at once.
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) app.socket?.retryNow();
  });
  // A session that runs out while the page is open.
  setInterval(() => {
    if (app.session && sessionExpired(app.session)) signOut(ENDED);
  }, 30_000);
}

// The console speaks English for now; its words go through the catalog all the same.
translate(document, EN);
wire();
if (!app.session) showLogin();
else if (sessionExpired(app.session)) signOut(ENDED);
else enterApp();
