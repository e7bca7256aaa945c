// The staff console: sign in, pick a queue, then run it live over the staff socket of
// PROTOCOL.md. Plain ES module; no framework, no build step.

import { api, Problem, LiveSocket, minutes, since, h } from '/static/qc.js';
import { WaitChart } from '/static/staff-chart.js';

const SESSION_KEY = 'qc.staff';
const QUEUE_KEY = 'qc.staff.queue';
const COUNTER_KEY = 'qc.staff.counter';
const STATS_EVERY = 30_000;
const HISTORY_EVERY = 60_000;
const ENDED = 'Your session has ended. Please sign in again.';

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** What each status of the built-in ticket type can do next (others: everything is offered). */
const ACTIONS = {
  called: ['start', 'recall', 'no_show', 'requeue', 'cancel'],
  serving: ['complete'],
  no_show: ['requeue'],
};
const ALL_ACTIONS = ['start', 'complete', 'recall', 'no_show', 'requeue', 'cancel'];
const ACTION_LABEL = {
  start: 'Start',
  complete: 'Complete',
  recall: 'Recall',
  no_show: 'No-show',
  requeue: 'Requeue',
  cancel: 'Cancel',
};
const STATUS_LABEL = {
  waiting: 'Waiting',
  called: 'Called',
  serving: 'Serving',
  no_show: 'No-show',
  completed: 'Completed',
  cancelled: 'Cancelled',
};
const QUEUE_LABEL = { open: 'Open', paused: 'Paused', closed: 'Closed' };
const actionsFor = (status) => ACTIONS[status] || ALL_ACTIONS;
const label = (map, key) => map[key] || (key ? key.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()) : '—');

// ---- State ----------------------------------------------------------------------------------

let session = readSession();
let queues = [];
let queueId = null;
let socket = null;
let timers = [];
let chart = null;

/** The queue as the socket last told it: line in call order, active tickets by id. */
const live = {
  seq: null,
  queue: null,
  line: [],
  active: new Map(),
  ready: false,
};

/** Minute buckets built from the socket, for the chart when the history endpoint is missing. */
let history = { mode: 'server', points: [], local: new Map() };

function readSession() {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
    if (s && s.token && s.user) return s;
  } catch {
    /* a damaged entry: sign in again */
  }
  return null;
}

function sessionExpired(s) {
  return s && s.expires_at && Date.parse(s.expires_at) <= Date.now();
}

const isManager = () => ['manager', 'admin'].includes(session?.user?.role);
const myCounter = () => $('#counter').value.trim();

// ---- Talking to the server --------------------------------------------------------------------

/** `api()` with the bearer token; a 401 signs out. */
async function call(method, path, body) {
  try {
    return await api(method, path, { body, token: session?.token });
  } catch (e) {
    if (e instanceof Problem && e.status === 401 && session) {
      e.handled = true;
      signOut(ENDED);
    }
    throw e;
  }
}

/** Shows what went wrong in plain words (never raw JSON). */
function fail(e, context) {
  if (e?.handled) return;
  const msg = e instanceof Problem ? e.plain : 'Something went wrong. Please try again.';
  toast(context ? `${context}: ${msg}` : msg, 'error');
  if (!(e instanceof Problem)) console.error(e);
}

/** Runs `fn` with `button` disabled meanwhile (no double sends). */
async function busy(button, fn) {
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
      renderDesk();
    }
  }
}

// ---- Toasts ---------------------------------------------------------------------------------

function toast(text, kind = 'info') {
  const box = $('#toast');
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : null }, text);
  box.append(item);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => {
    item.classList.add('leaving');
    setTimeout(() => item.remove(), 300);
  }, kind === 'error' ? 7000 : 3000);
}

// ---- Views ----------------------------------------------------------------------------------

function showLogin(message = '') {
  stopQueue();
  $('#app').hidden = true;
  $('#login-view').hidden = false;
  document.body.dataset.view = 'login';
  $('#login-error').textContent = message;
  const form = $('#login');
  const last = localStorage.getItem('qc.staff.tenant');
  if (last && !form.tenant.value) form.tenant.value = last;
  (form.tenant.value ? (form.email.value ? form.password : form.email) : form.tenant).focus();
}

function signOut(message = '') {
  session = null;
  localStorage.removeItem(SESSION_KEY);
  $('#login').password.value = '';
  showLogin(message);
}

async function enterApp() {
  $('#login-view').hidden = true;
  $('#app').hidden = false;
  document.body.dataset.view = 'app';
  const { email, role } = session.user;
  $('#user-email').textContent = email;
  $('#user-role').textContent = role;
  $('#user-avatar').textContent = (email || '?').slice(0, 1).toUpperCase();
  $('#new-queue').hidden = !isManager();
  $('#first-queue').hidden = true;
  setWaitingRoom('Loading your queues…', true);
  try {
    await loadQueues();
  } catch (e) {
    if (e.handled) return;
    setWaitingRoom(`Could not load the queues. ${e.plain || ''}`, false);
    setTimeout(() => session && queues.length === 0 && enterApp(), 5000);
    return;
  }
  if (!queues.length) {
    setWaitingRoom(isManager() ? 'There are no queues yet. Create the first one.' : 'There are no queues yet. Ask a manager to create one.', false);
    $('#first-queue').hidden = !isManager();
    return;
  }
  const remembered = localStorage.getItem(QUEUE_KEY);
  const pick = queues.some((q) => q.id === remembered) ? remembered : queues[0].id;
  openQueue(pick);
}

function setWaitingRoom(text, spinning) {
  $('#console').hidden = true;
  $('#waiting-room').hidden = false;
  $('#waiting-room-text').textContent = text;
  $('#waiting-room .spinner').hidden = !spinning;
}

async function loadQueues() {
  queues = (await call('GET', '/api/v1/queues')) || [];
  renderQueueSelect();
}

function renderQueueSelect() {
  const sel = $('#queue-select');
  sel.replaceChildren(
    ...queues.map((q) => h('option', { value: q.id }, `${q.name}${q.prefix ? ` (${q.prefix})` : ''}`)),
  );
  if (queueId) sel.value = queueId;
}

// ---- One queue, live --------------------------------------------------------------------------

function stopQueue() {
  if (socket) socket.stop();
  socket = null;
  timers.forEach(clearInterval);
  timers = [];
  queueId = null;
  live.seq = null;
  live.queue = null;
  live.line = [];
  live.active = new Map();
  live.ready = false;
  delete document.body.dataset.seq;
  $('#waiting').replaceChildren();
  $('#active').replaceChildren();
}

/** The staff socket can also be told to resume after a gap it noticed. */
class StaffSocket extends LiveSocket {
  /** Drops the socket and comes back with `since` (after a gap in seq). */
  resync() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(3000, 'resync');
  }
}

function openQueue(id) {
  stopQueue();
  queueId = id;
  localStorage.setItem(QUEUE_KEY, id);
  $('#queue-select').value = id;
  const q = queues.find((x) => x.id === id);
  setWaitingRoom(`Connecting to ${q ? q.name : 'the queue'}…`, true);
  if (q) renderQueueStatus(q);
  history = { mode: 'server', points: [], local: new Map() };
  chart?.setPoints([], 'Loading…');
  renderManage();

  socket = new StaffSocket({
    url: async (sinceSeq) => {
      const { pass } = await call('POST', '/api/v1/socket-passes');
      const params = new URLSearchParams({ pass });
      if (sinceSeq != null) params.set('since', String(sinceSeq));
      return `/ws/queues/${id}?${params}`;
    },
    onMessage: (msg) => {
      if (queueId === id) onFrame(msg);
    },
    onState: (state) => {
      if (queueId === id) setConn(state);
    },
    onEnd: (code, reason) => {
      if (queueId !== id || !session) return;
      if (code === 401 || code === 4401) return signOut(ENDED);
      if (code === 404 || code === 4404) {
        toast('This queue is no longer available.', 'error');
      } else {
        toast(`Live updates stopped${reason ? `: ${reason}` : '.'}`, 'error');
      }
    },
  }).start();

  loadStats();
  loadHistory();
  timers.push(setInterval(loadStats, STATS_EVERY));
  timers.push(setInterval(loadHistory, HISTORY_EVERY));
}

function setConn(state) {
  const pill = $('#conn');
  pill.dataset.state = state;
  pill.className = `status-pill conn ${state}`;
  pill.textContent = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', ended: 'Offline' }[state] || state;
  pill.title = {
    live: 'Updates arrive as they happen',
    reconnecting: 'Connection lost: trying again',
    ended: 'Live updates stopped',
  }[state] || '';
  $('#conn-retry').hidden = state !== 'ended';
}

// ---- Frames and events ------------------------------------------------------------------------

function onFrame(msg) {
  if (msg.type === 'snapshot') return applySnapshot(msg);
  if (msg.type === 'event' && msg.event) return applyEventFrame(msg.event);
  return undefined;
}

function applySnapshot(msg) {
  live.seq = msg.seq;
  live.queue = msg.queue || live.queue;
  live.line = (msg.waiting || []).slice().sort((a, b) => (a.position ?? 1e9) - (b.position ?? 1e9));
  live.active = new Map((msg.active || []).map((t) => [t.id, t]));
  socket?.seen(msg.seq);
  document.body.dataset.seq = String(msg.seq);
  if (!live.ready) {
    live.ready = true;
    $('#waiting-room').hidden = true;
    $('#console').hidden = false;
  }
  recordLive();
  renderAll();
}

function applyEventFrame(ev) {
  if (!live.ready || live.seq == null) {
    // Events before any snapshot (cannot happen on a first connect): start over.
    socket?.resync();
    return;
  }
  if (ev.seq <= live.seq) return; // already applied
  if (ev.seq !== live.seq + 1) {
    // A hole: come back with since= and receive what was missed, rather than guess.
    socket?.resync();
    return;
  }
  applyEvent(ev);
  live.seq = ev.seq;
  socket?.seen(ev.seq);
  document.body.dataset.seq = String(ev.seq);
  recordLive(ev);
  renderAll();
  if (ev.ticket) statsSoon();
}

/** Today's numbers again shortly after the line moves (at most every 5 s). */
let statsTimer = null;
let statsAt = 0;
function statsSoon() {
  if (statsTimer) return;
  const wait = Math.max(1500, statsAt + 5000 - Date.now());
  statsTimer = setTimeout(() => {
    statsTimer = null;
    loadStats();
  }, wait);
}

function removeFromLine(id) {
  const i = live.line.findIndex((t) => t.id === id);
  if (i >= 0) live.line.splice(i, 1);
  return i;
}

function applyEvent(ev) {
  if (ev.queue && typeof ev.queue === 'object') {
    live.queue = { ...live.queue, ...ev.queue };
    const q = queues.find((x) => x.id === queueId);
    if (q) Object.assign(q, ev.queue);
  } else if (ev.kind === 'queue.updated') {
    refreshQueueInfo();
  }
  const t = ev.ticket;
  if (!t) return;
  removeFromLine(t.id);
  live.active.delete(t.id);
  // Transferred away, or finished (completed, cancelled…): it leaves this console.
  if (ev.kind === 'ticket.transferred_out' || t.finished_at || (t.queue_id && t.queue_id !== queueId)) return;
  if (t.position != null) {
    // In line at `position` (1 = next); everyone after it moves down one.
    const at = Math.max(0, Math.min(live.line.length, t.position - 1));
    live.line.splice(at, 0, t);
  } else {
    live.active.set(t.id, t);
  }
  if (ev.kind === 'ticket.joined' || ev.kind === 'ticket.transferred_in') flashIds.add(t.id);
}

async function refreshQueueInfo() {
  try {
    await loadQueues();
    const q = queues.find((x) => x.id === queueId);
    if (q && live.queue) {
      live.queue.status = q.status;
      renderQueue();
    }
  } catch (e) {
    fail(e);
  }
}

// ---- Rendering --------------------------------------------------------------------------------

const flashIds = new Set();

function renderAll() {
  renderQueue();
  renderLine();
  renderActive();
  renderDesk();
  updateChartLive();
}

function renderQueueStatus(q) {
  const status = q?.status || '';
  const pill = $('#queue-status');
  pill.dataset.status = status;
  pill.textContent = label(QUEUE_LABEL, status);
  const badge = $('#queue-badge');
  badge.dataset.status = status;
  badge.textContent = label(QUEUE_LABEL, status);
}

function renderQueue() {
  const q = live.queue;
  if (!q) return;
  renderQueueStatus(q);
  $('#queue-name').textContent = q.name || '—';
  $('#queue-prefix').textContent = q.prefix ? `· ${q.prefix}` : '';
  const notes = {
    open: q.capacity ? `Taking new people · room for ${Math.max(0, q.capacity - live.line.length)} more` : 'Taking new people.',
    paused: 'Paused: nobody new can join.',
    closed: 'Closed: nobody new can join.',
  };
  $('#queue-note').textContent = notes[q.status] || '';
  const ctl = $('#queue-controls');
  ctl.hidden = !isManager();
  $('#q-pause').hidden = q.status !== 'open';
  $('#q-resume').hidden = q.status !== 'paused';
  $('#q-open').hidden = q.status !== 'closed';
  $('#q-close').hidden = q.status === 'closed';
  // Keep the picker's label current.
  const listed = queues.find((x) => x.id === queueId);
  if (listed) {
    listed.status = q.status;
    listed.waiting = live.line.length;
  }
}

/** Keeps `list`'s children in the order of `items`, reusing the element of each id. */
function reconcile(list, items, create, update) {
  const old = new Map($$(':scope > [data-id]', list).map((el) => [el.dataset.id, el]));
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
  for (const node of old.values()) node.remove();
}

function setText(node, text) {
  const s = String(text);
  if (node.textContent !== s) node.textContent = s;
}

const ICON_TRANSFER =
  '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true"><path d="M2.5 5h10m0 0-3-3m3 3-3 3M13.5 11h-10m0 0 3-3m-3 3 3 3" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/></svg>';
const ICON_CANCEL =
  '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true"><path d="M4 4l8 8M12 4l-8 8" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linecap="round"/></svg>';

/** A small square button with an icon; its name is in aria-label and the tooltip. */
function iconButton(action, name, svg, extra = '') {
  const b = h('button', { type: 'button', class: `btn-ghost btn-iconxs ${extra}`, 'data-line-action': action, 'aria-label': name, title: name });
  b.innerHTML = svg;
  return b;
}

function party(n) {
  return n == null ? '—' : String(n);
}

function renderLine() {
  const list = $('#waiting');
  reconcile(
    list,
    live.line,
    (t) => {
      const li = h(
        'li',
        { class: 'row line-grid', 'data-id': t.id },
        h('span', { class: 'pos tnum' }),
        h('span', { class: 'num-cell tnum' }),
        h('span', { class: 'name-cell' }),
        h('span', { class: 'party tnum num' }),
        h('span', { class: 'waited tnum num', 'data-since': t.joined_at }),
        h(
          'span',
          { class: 'row-actions' },
          iconButton('transfer', `Transfer ${t.number} to another queue`, ICON_TRANSFER),
          iconButton('cancel', `Cancel ${t.number}`, ICON_CANCEL, 'danger-text'),
        ),
      );
      if (flashIds.has(t.id)) {
        li.classList.add('flash');
        li.addEventListener('animationend', () => li.classList.remove('flash'), { once: true });
      }
      return li;
    },
    (li, t, i) => {
      li.dataset.number = t.number;
      li.dataset.status = t.status;
      const [pos, num, name, size, waited] = li.children;
      setText(pos, i + 1);
      setText(num, t.number);
      setText(name, t.name || '—');
      name.classList.toggle('muted', !t.name);
      name.title = t.name || '';
      setText(size, party(t.party_size));
      waited.dataset.since = t.joined_at;
      setText(waited, since(t.joined_at));
      li.classList.toggle('priority', (t.priority || 0) > 0);
    },
  );
  flashIds.clear();
  setText($('#waiting-count'), live.line.length);
  $('#waiting-empty').hidden = live.line.length > 0;
}

function naturalCompare(a, b) {
  return String(a ?? '').localeCompare(String(b ?? ''), undefined, { numeric: true, sensitivity: 'base' });
}

function activeSorted() {
  return [...live.active.values()].sort(
    (a, b) =>
      naturalCompare(a.counter || '~', b.counter || '~') ||
      Date.parse(b.called_at || 0) - Date.parse(a.called_at || 0) ||
      naturalCompare(a.number, b.number),
  );
}

function renderActive() {
  const list = $('#active');
  const mine = myCounter().toLowerCase();
  const items = activeSorted();
  reconcile(
    list,
    items,
    (t) =>
      h(
        'li',
        { class: 'row active-row', 'data-id': t.id },
        h('span', { class: 'counter-chip' }),
        h('span', { class: 'num-cell tnum' }),
        h('span', { class: 'name-cell' }),
        h('span', { class: 'badge' }),
        h('span', { class: 'waited tnum num' }),
        h('span', { class: 'row-actions' }),
      ),
    (li, t) => {
      li.dataset.number = t.number;
      li.dataset.status = t.status;
      const [chip, num, name, badge, sinceCalled, actions] = li.children;
      setText(chip, t.counter || 'No counter');
      chip.classList.toggle('mine', !!mine && (t.counter || '').toLowerCase() === mine);
      li.classList.toggle('mine', !!mine && (t.counter || '').toLowerCase() === mine);
      setText(num, t.number);
      setText(name, t.name || '—');
      name.classList.toggle('muted', !t.name);
      badge.dataset.status = t.status;
      setText(badge, label(STATUS_LABEL, t.status));
      const from = t.status === 'serving' && t.served_at ? t.served_at : t.called_at;
      if (from) {
        sinceCalled.dataset.since = from;
        setText(sinceCalled, since(from));
      } else {
        delete sinceCalled.dataset.since;
        setText(sinceCalled, '—');
      }
      sinceCalled.title = t.status === 'serving' ? 'Serving for' : 'Called';
      const wanted = actionsFor(t.status).join(' ');
      if (actions.dataset.set !== wanted) {
        actions.dataset.set = wanted;
        actions.replaceChildren(
          ...actionsFor(t.status).map((a) =>
            h(
              'button',
              {
                type: 'button',
                'data-action': a,
                class: `btn-xs ${a === 'start' || a === 'complete' ? 'btn-primary' : 'btn-ghost'}${a === 'cancel' ? ' danger-text' : ''}`,
              },
              ACTION_LABEL[a],
            ),
          ),
        );
      }
    },
  );
  setText($('#active-count'), items.length);
  $('#active-empty').hidden = items.length > 0;
}

/** My current ticket: the latest one called to my counter that is called or being served. */
function myTicket() {
  const mine = myCounter().toLowerCase();
  if (!mine) return null;
  let best = null;
  for (const t of live.active.values()) {
    if ((t.counter || '').toLowerCase() !== mine) continue;
    if (t.status === 'no_show') continue;
    if (!best || Date.parse(t.called_at || 0) > Date.parse(best.called_at || 0)) best = t;
  }
  return best;
}

function renderDesk() {
  if (!live.ready) return;
  setText($('#desk-counter'), myCounter() || 'no counter set');
  const next = live.line[0];
  const n = live.line.length;
  setText(
    $('#desk-next'),
    n === 0 ? 'Nobody is waiting.' : `${n} waiting · next ${next.number}${next.name ? ` (${next.name})` : ''}`,
  );
  const callBtn = $('#call-next');
  if (!callBtn.dataset.busy) callBtn.disabled = false;
  callBtn.classList.toggle('is-idle', n === 0);

  const t = myTicket();
  const box = $('#desk-current');
  box.dataset.state = t ? t.status : 'empty';
  $('#desk-empty').hidden = !!t;
  $('#desk-ticket').hidden = !t;
  if (!t) {
    box.removeAttribute('data-id');
    return;
  }
  box.dataset.id = t.id;
  setText($('#desk-number'), t.number);
  const badge = $('#desk-status');
  badge.dataset.status = t.status;
  setText(badge, label(STATUS_LABEL, t.status));
  setText($('#desk-name'), t.name || 'No name given');
  $('#desk-name').classList.toggle('muted', !t.name);
  const bits = [];
  if (t.party_size) bits.push(t.party_size === 1 ? 'party of 1' : `party of ${t.party_size}`);
  const sub = $('#desk-sub');
  if (t.status === 'serving' && t.served_at) {
    sub.dataset.since = t.served_at;
    sub.dataset.prefix = `${bits.length ? `${bits.join(' · ')} · ` : ''}serving for `;
  } else if (t.called_at) {
    sub.dataset.since = t.called_at;
    sub.dataset.prefix = `${bits.length ? `${bits.join(' · ')} · ` : ''}called `;
    sub.dataset.suffix = ' ago';
  } else {
    delete sub.dataset.since;
  }
  if (t.status === 'serving') delete sub.dataset.suffix;
  tickText(sub);
  const allowed = new Set(actionsFor(t.status));
  for (const b of $$('[data-hero-action]')) b.hidden = !allowed.has(b.dataset.heroAction);
}

function tickText(node) {
  if (!node.dataset.since) return;
  setText(node, `${node.dataset.prefix || ''}${since(node.dataset.since)}${node.dataset.suffix || ''}`);
}

function tick() {
  const now = Date.now();
  for (const node of $$('[data-since]')) {
    if (node.dataset.prefix !== undefined || node.dataset.suffix !== undefined) tickText(node);
    else setText(node, since(node.dataset.since, now));
  }
}

// ---- Actions ----------------------------------------------------------------------------------

async function callNext(button = $('#call-next')) {
  if (!queueId) return;
  const counter = myCounter();
  if (!counter) {
    toast('Type your counter first (e.g. “Desk 3”), so people know where to go.', 'error');
    $('#counter').focus();
    return;
  }
  await busy(button, async () => {
    try {
      const t = await call('POST', `/api/v1/queues/${queueId}/call-next`, { counter });
      toast(`Called ${t.number}${t.name ? ` (${t.name})` : ''} to ${counter}.`, 'ok');
    } catch (e) {
      if (e instanceof Problem && e.code === 'queue_empty') toast('Nobody is waiting.', 'info');
      else fail(e);
    }
  });
}

async function transition(ticket, name, button) {
  if (!ticket) return;
  await busy(button, async () => {
    try {
      if (name === 'cancel') {
        await call('POST', `/api/v1/tickets/${ticket.id}/cancel`);
        toast(`Cancelled ${ticket.number}.`, 'ok');
        return;
      }
      const body = { name };
      if (name === 'recall' && ticket.counter) body.counter = ticket.counter;
      await call('POST', `/api/v1/tickets/${ticket.id}/transitions`, body);
      const done = {
        start: `Serving ${ticket.number}.`,
        complete: `Completed ${ticket.number}.`,
        recall: `Called ${ticket.number} again.`,
        no_show: `${ticket.number} marked as a no-show.`,
        requeue: `${ticket.number} is back in line.`,
      }[name];
      if (done) toast(done, 'ok');
    } catch (e) {
      fail(e, `${ticket.number}`);
    }
  });
}

function ticketById(id) {
  return live.active.get(id) || live.line.find((t) => t.id === id) || null;
}

let transferTicket = null;

function openTransfer(ticket) {
  const others = queues.filter((q) => q.id !== queueId && q.status !== 'closed');
  if (!others.length) {
    toast('There is no other open queue to transfer to.', 'error');
    return;
  }
  transferTicket = ticket;
  setText($('#transfer-number'), ticket.number);
  $('#transfer-queue').replaceChildren(
    ...others.map((q) => h('option', { value: q.id }, `${q.name}${q.prefix ? ` (${q.prefix})` : ''} · ${q.waiting ?? 0} waiting`)),
  );
  $('#transfer-dialog').showModal();
  $('#transfer-queue').focus();
}

async function doTransfer(e) {
  e.preventDefault();
  const t = transferTicket;
  const to = $('#transfer-queue').value;
  if (!t || !to) return;
  const target = queues.find((q) => q.id === to);
  await busy($('#transfer-ok'), async () => {
    try {
      await call('POST', `/api/v1/tickets/${t.id}/transfer`, { queue_id: to });
      $('#transfer-dialog').close();
      toast(`Moved ${t.number} to ${target ? target.name : 'the other queue'}.`, 'ok');
    } catch (err) {
      fail(err, t.number);
    }
  });
}

async function setQueueStatus(status, button) {
  await busy(button, async () => {
    try {
      const q = await call('PATCH', `/api/v1/queues/${queueId}`, { status });
      if (live.queue && q && q.status) live.queue.status = q.status;
      renderQueue();
      toast(`${q?.name || 'The queue'} is now ${label(QUEUE_LABEL, q?.status || status).toLowerCase()}.`, 'ok');
    } catch (e) {
      fail(e);
    }
  });
}

// ---- Today's numbers and the chart ------------------------------------------------------------

function fmtSeconds(s) {
  if (s == null || Number.isNaN(s)) return '—';
  if (s < 60) return `${Math.round(s)} s`;
  return minutes(s);
}

async function loadStats() {
  const id = queueId;
  if (!id) return;
  statsAt = Date.now();
  let s;
  try {
    s = await call('GET', `/api/v1/queues/${id}/stats`);
  } catch (e) {
    if (!e.handled && id === queueId) setText($('#stat-served-sub'), 'could not load');
    return;
  }
  if (id !== queueId || !s) return;
  const ws = s.wait_seconds || {};
  const err = s.estimate_error || {};
  setText($('#stat-served'), s.served ?? '—');
  setText($('#stat-served-sub'), `${s.joined ?? 0} joined · ${s.cancelled ?? 0} cancelled`);
  setText($('#stat-wait'), fmtSeconds(ws.mean));
  setText($('#stat-wait-sub'), ws.p90 != null ? `9 in 10 under ${fmtSeconds(ws.p90)}` : 'no one called yet');
  setText($('#stat-noshow'), s.no_shows ?? '—');
  const called = (s.served ?? 0) + (s.no_shows ?? 0);
  setText($('#stat-noshow-sub'), called > 0 ? `${Math.round((100 * (s.no_shows ?? 0)) / called)}% no-show rate` : '—');
  setText($('#stat-error'), err.mean_abs_seconds != null ? `±${fmtSeconds(err.mean_abs_seconds)}` : '—');
  let biasText = err.samples ? `${err.samples} estimates checked` : 'none checked yet';
  if (err.bias_seconds != null && Math.abs(err.bias_seconds) >= 30) {
    biasText = err.bias_seconds > 0
      ? `${fmtSeconds(err.bias_seconds)} longer than told`
      : `${fmtSeconds(-err.bias_seconds)} shorter than told`;
  }
  setText($('#stat-error-sub'), biasText);
  if (s.since) $('#stats-when').title = `Since ${new Date(s.since).toLocaleString()}`;
}

async function loadHistory() {
  const id = queueId;
  if (!id) return;
  try {
    const res = await call('GET', `/api/v1/queues/${id}/history?minutes=60`);
    if (id !== queueId) return;
    history.mode = 'server';
    history.points = (res?.points || []).map((p) => ({
      at: Date.parse(p.at),
      waiting: p.waiting,
      mean_wait_seconds: p.mean_wait_seconds,
    }));
  } catch (e) {
    if (e.handled || id !== queueId) return;
    // No history endpoint (404) or it failed: build the chart from what the socket tells us,
    // one point per minute, from when this page opened the queue.
    history.mode = 'local';
  }
  updateChartLive();
}

/** Folds the current state (and a call's wait) into this minute's local bucket. */
function recordLive(ev) {
  const minute = Math.floor(Date.now() / 60_000) * 60_000;
  let b = history.local.get(minute);
  if (!b) {
    b = { at: minute, waiting: 0, waits: [] };
    history.local.set(minute, b);
    for (const k of history.local.keys()) if (k < minute - 61 * 60_000) history.local.delete(k);
  }
  b.waiting = live.line.length;
  if (ev && ev.kind === 'ticket.called' && ev.ticket?.joined_at) {
    const at = Date.parse(ev.ticket.called_at || ev.at);
    b.waits.push(Math.max(0, (at - Date.parse(ev.ticket.joined_at)) / 1000));
  }
}

function updateChartLive() {
  if (!chart || !live.ready) return;
  const now = Date.now();
  let points;
  let note = '';
  if (history.mode === 'server') {
    points = history.points.slice();
    // The live count, now.
    points.push({ at: now, waiting: live.line.length, mean_wait_seconds: null });
  } else {
    points = [...history.local.values()].map((b) => ({
      at: b.at,
      waiting: b.waiting,
      mean_wait_seconds: b.waits.length ? b.waits.reduce((x, y) => x + y, 0) / b.waits.length : null,
    }));
    points.push({ at: now, waiting: live.line.length, mean_wait_seconds: null });
    if (points.length <= 2) note = 'Collecting live: history fills in as you work';
  }
  chart.setPoints(points, note);
}

// ---- Manage (managers and admins) -------------------------------------------------------------

function renderManage() {
  const box = $('#manage');
  box.hidden = !isManager();
  if (!isManager() || !queueId) return;
  $('#join-url').value = `${location.origin}/q/${queueId}`;
  $('#qr').src = `/api/v1/queues/${queueId}/qr.svg`;
  $('#kiosk-row').hidden = true;
  $('#kiosk-url').value = '';
  $('#display-key').hidden = false;
}

async function createDisplayKey(button) {
  await busy(button, async () => {
    try {
      const { key } = await call('POST', `/api/v1/queues/${queueId}/display-keys`);
      $('#kiosk-url').value = `${location.origin}/display/${queueId}?key=${encodeURIComponent(key)}`;
      $('#kiosk-row').hidden = false;
      button.textContent = 'Create another key';
      toast('Display key created. Open the link on the kiosk screen.', 'ok');
    } catch (e) {
      fail(e);
    }
  });
}

async function copyField(id, button) {
  const input = document.getElementById(id);
  const text = input.value;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    input.select();
    document.execCommand('copy');
  }
  const was = button.textContent;
  button.textContent = 'Copied';
  setTimeout(() => {
    button.textContent = was;
  }, 1500);
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

const slugify = (s) =>
  s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);

async function createQueue(e) {
  e.preventDefault();
  const form = $('#queue-form');
  const err = $('#queue-form-error');
  const name = form.name.value.trim();
  const slug = form.slug.value.trim();
  const prefix = form.prefix.value.trim().toUpperCase();
  if (!name) return void (err.textContent = 'Give the queue a name.');
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(slug)) {
    err.textContent = 'The short name uses lowercase letters, digits and dashes, and starts with a letter or digit.';
    return;
  }
  if (!/^[A-Z]{0,3}$/.test(prefix)) return void (err.textContent = 'The prefix is up to three capital letters.');
  const body = { slug, name };
  if (prefix) body.prefix = prefix;
  await busy(form.querySelector('[type=submit]'), async () => {
    try {
      const q = await call('POST', '/api/v1/queues', body);
      $('#queue-dialog').close();
      toast(`Queue “${q.name}” created.`, 'ok');
      await loadQueues();
      if (!queueId) openQueue(q.id);
    } catch (x) {
      if (!x.handled) err.textContent = x instanceof Problem ? x.plain : 'Something went wrong. Please try again.';
    }
  });
}

// ---- Keyboard ---------------------------------------------------------------------------------

function typing(target) {
  if (!target || !(target instanceof Element)) return false;
  return !!target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]');
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  if (document.querySelector('dialog[open]')) return;
  if (typing(e.target)) return;
  if ($('#console').hidden) return;
  const key = e.key;
  if (key === '?') {
    e.preventDefault();
    $('#help').showModal();
    return;
  }
  const map = { n: 'call', s: 'start', c: 'complete', x: 'no_show', r: 'recall' };
  const what = map[key.toLowerCase()];
  if (!what) return;
  e.preventDefault();
  if (what === 'call') {
    callNext();
    return;
  }
  const t = myTicket();
  if (!t) {
    toast(`Nobody is at ${myCounter() || 'your counter'} right now.`, 'info');
    return;
  }
  if (!actionsFor(t.status).includes(what)) {
    toast(`${t.number} is ${label(STATUS_LABEL, t.status).toLowerCase()}: ${ACTION_LABEL[what].toLowerCase()} is not possible now.`, 'info');
    return;
  }
  transition(t, what, $(`[data-hero-action="${what}"]`));
}

// ---- Wiring -----------------------------------------------------------------------------------

function wire() {
  $('#login').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const tenant = form.tenant.value.trim();
    const email = form.email.value.trim();
    const password = form.password.value;
    const err = $('#login-error');
    if (!tenant || !email || !password) {
      err.textContent = 'Fill in your organisation, email and password.';
      return;
    }
    err.textContent = '';
    const button = form.querySelector('[type=submit]');
    await busy(button, async () => {
      try {
        const res = await api('POST', '/api/v1/auth/login', { body: { tenant, email, password } });
        session = { token: res.token, expires_at: res.expires_at, user: res.user, tenant };
        localStorage.setItem(SESSION_KEY, JSON.stringify(session));
        localStorage.setItem('qc.staff.tenant', tenant);
        form.password.value = '';
        enterApp();
      } catch (x) {
        if (x instanceof Problem && (x.status === 401 || x.code === 'unauthorized')) {
          err.textContent = 'Wrong organisation, email or password.';
        } else if (x instanceof Problem && x.status === 400) {
          err.textContent = 'Check what you typed and try again.';
        } else {
          err.textContent = x instanceof Problem ? x.plain : 'Something went wrong. Please try again.';
        }
        form.password.focus();
      }
    });
  });

  $('#sign-out').addEventListener('click', () => signOut(''));
  $('#queue-select').addEventListener('change', (e) => {
    if (e.target.value && e.target.value !== queueId) openQueue(e.target.value);
  });

  const counter = $('#counter');
  counter.value = localStorage.getItem(COUNTER_KEY) ?? 'Desk 1';
  counter.addEventListener('input', () => {
    localStorage.setItem(COUNTER_KEY, counter.value.trim());
    renderActive();
    renderDesk();
  });
  counter.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === 'Escape') counter.blur();
  });

  $('#call-next').addEventListener('click', (e) => callNext(e.currentTarget));

  $('#desk-actions').addEventListener('click', (e) => {
    const b = e.target.closest('[data-hero-action]');
    if (b) transition(myTicket(), b.dataset.heroAction, b);
  });

  $('#active').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-action]');
    const li = b?.closest('li[data-id]');
    if (b && li) transition(ticketById(li.dataset.id), b.dataset.action, b);
  });

  $('#waiting').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-line-action]');
    const li = b?.closest('li[data-id]');
    if (!b || !li) return;
    const t = ticketById(li.dataset.id);
    if (!t) return;
    if (b.dataset.lineAction === 'cancel') transition(t, 'cancel', b);
    else openTransfer(t);
  });

  $('#queue-controls').addEventListener('click', (e) => {
    const b = e.target.closest('[data-queue-status]');
    if (b) setQueueStatus(b.dataset.queueStatus, b);
  });

  $('#conn-retry').addEventListener('click', () => {
    if (queueId) openQueue(queueId);
  });
  $('#help-open').addEventListener('click', () => $('#help').showModal());
  $('#transfer-form').addEventListener('submit', doTransfer);
  $('#transfer-cancel').addEventListener('click', () => $('#transfer-dialog').close());
  $('#display-key').addEventListener('click', (e) => createDisplayKey(e.currentTarget));
  $('#new-queue').addEventListener('click', openQueueDialog);
  $('#first-queue').addEventListener('click', openQueueDialog);
  $('#queue-form').addEventListener('submit', createQueue);
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
  for (const b of $$('[data-copy]')) b.addEventListener('click', () => copyField(b.dataset.copy, b));

  document.addEventListener('keydown', onKey);
  chart = new WaitChart($('#chart'), $('#chart-readout'));
  setInterval(tick, 1000);
  setInterval(updateChartLive, 30_000);
  // Back from sleep or another tab: let the socket retry at once.
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) socket?.retryNow();
  });
  // A session that runs out while the page is open.
  setInterval(() => {
    if (session && sessionExpired(session)) signOut(ENDED);
  }, 30_000);
}

wire();
if (!session) showLogin();
else if (sessionExpired(session)) {
  session = null;
  localStorage.removeItem(SESSION_KEY);
  showLogin(ENDED);
} else enterApp();
