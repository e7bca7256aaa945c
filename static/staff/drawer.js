// The ticket drawer: opened from a ticket's number in the line or the called list. It shows who
// the ticket is (its custom fields by their labels, whether its customer is on their page), and
// does what a desk does to one person: call them in particular, move them in line, give them a
// priority, keep notes, apply any action of the ticket's type; and it reads their history
// (GET /api/v1/tickets/{id}/history). The words come from staff/ticket-info.js (pure).

import { clock, EN } from '../i18n.js';
import { h, Problem } from '../qc.js';
import { fieldsShown } from '../fields.js';
import { busy, call, fail, transition } from './actions.js';
import { $, myCounter, setText, toast } from './dom.js';
import { buttonsFor, statusLabel } from './fsm.js';
import { ticketById } from './model.js';
import { currentFsm, currentSchema } from './store.js';
import { canCallThis, historyLine, moveBody, presence, priorityBadge, priorityOptions } from './ticket-info.js';
import { party } from './view.js';

const t = EN;

/** How soon the history is read again after an event about the ticket (events come in bursts). */
const HISTORY_AGAIN_MS = 400;

/** A time of day as this browser writes it ("10:42"). */
const time = (at) => clock(at, navigator.language || 'en');

const isOpen = () => $('#drawer').open;

/** Opens the drawer on ticket `id` of the open queue. */
export function openDrawer(app, id) {
  const tk = ticketById(app.live, id);
  if (!tk) return;
  app.drawer.id = id;
  app.drawer.ticket = tk;
  app.drawer.notes = null;
  const form = $('#drawer-edit');
  form.reset();
  $('#edit-error').textContent = '';
  $('#move-error').textContent = '';
  $('#move-position').value = '';
  $('#edit-priority').replaceChildren(...priorityOptions().map((o) => h('option', { value: String(o.value) }, o.label)));
  $('#edit-priority').value = String(tk.priority ?? 0);
  $('#drawer-history').replaceChildren();
  setText($('#drawer-history-note'), '');
  renderDrawer(app);
  if (!isOpen()) $('#drawer').showModal();
  $('#drawer-close').focus();
  readTicket(app, id);
  readHistory(app, id);
}

/** Draws the drawer's ticket as the console knows it now (no-op while the drawer is closed). */
export function renderDrawer(app) {
  if (!isOpen() || !app.drawer.id) return;
  const live = ticketById(app.live, app.drawer.id);
  // A ticket that left the console (finished, transferred, past the head) keeps its last view.
  if (live) app.drawer.ticket = { ...app.drawer.ticket, ...live };
  const tk = app.drawer.ticket;
  $('#drawer-gone').hidden = !!live;
  setText($('#drawer-number'), tk.number);
  const badge = $('#drawer-status');
  badge.dataset.status = tk.status;
  setText(badge, statusLabel(tk.status));
  const prio = priorityBadge(tk);
  $('#drawer-priority').hidden = !prio;
  setText($('#drawer-priority'), prio ?? '');
  const here = presence(tk, time);
  const dot = $('#drawer-presence');
  dot.hidden = !here;
  dot.dataset.state = here?.state ?? '';
  setText(dot, here?.text ?? '');

  // Its place now: where it stands in the line known here (others moved since its last event).
  const at = live ? app.live.line.findIndex((x) => x.id === tk.id) : -1;
  const place = at >= 0 ? at + 1 : live ? tk.position : null;
  const rows = [
    [t('console.d_name'), tk.name || '—'],
    [t('console.d_party'), party(tk.party_size)],
    [t('console.d_joined'), tk.joined_at ? time(tk.joined_at) : '—'],
    ...(place != null ? [[t('console.d_place'), String(place)]] : []),
    ...(tk.counter ? [[t('console.d_counter'), tk.counter]] : []),
    ...fieldsShown(currentSchema(app), tk.fields).map((f) => [f.label, f.text]),
  ];
  const key = JSON.stringify(rows);
  const dl = $('#drawer-details');
  if (dl.dataset.shown !== key) {
    dl.dataset.shown = key;
    dl.replaceChildren(...rows.map(([k, v]) => h('div', { class: 'detail' }, h('dt', {}, k), h('dd', {}, v))));
  }

  // What can be done to it: call this person while in line, and the actions of its type.
  const fsm = currentFsm(app);
  const inLine = place != null;
  const buttons = live ? buttonsFor(fsm, tk.status) : [];
  const set = `${inLine && canCallThis(fsm, tk)}|${buttons.map((b) => b.name).join(' ')}`;
  const box = $('#drawer-actions');
  if (box.dataset.set !== set) {
    box.dataset.set = set;
    box.replaceChildren(
      ...(inLine && canCallThis(fsm, tk) ? [h('button', { type: 'button', class: 'btn-sm', 'data-drawer-call': '' }, t('console.call_this'))] : []),
      ...buttons.map((b) => h('button', { type: 'button', class: `btn-sm ${b.look === 'primary' ? '' : 'secondary'} ${b.look === 'danger' ? 'danger-text' : ''}`.trim(), 'data-drawer-action': b.name }, b.label)),
    );
  }

  $('#drawer-move').hidden = !inLine;
  if (inLine) {
    const others = app.live.line.filter((x) => x.id !== tk.id);
    const sel = $('#move-before');
    const optionsKey = others.map((x) => `${x.id}:${x.name || ''}`).join(',');
    if (sel.dataset.shown !== optionsKey) {
      const was = sel.value;
      sel.dataset.shown = optionsKey;
      sel.replaceChildren(...others.map((x) => h('option', { value: x.id }, x.name ? `${x.number} · ${x.name}` : x.number)));
      if (others.some((x) => x.id === was)) sel.value = was;
    }
    $('#move-position').setAttribute('max', String(app.live.waitingTotal));
  }
}

/** The ticket as staff read it (with its notes, which no event carries). */
async function readTicket(app, id) {
  try {
    const tk = await call(app, 'GET', `/api/v1/tickets/${id}`);
    if (app.drawer.id !== id || !tk) return;
    app.drawer.ticket = { ...app.drawer.ticket, ...tk };
    const notes = $('#edit-notes');
    // What was typed meanwhile stays.
    if (!notes.value) notes.value = tk.notes ?? '';
    app.drawer.notes = tk.notes ?? '';
    $('#edit-priority').value = String(tk.priority ?? 0);
    renderDrawer(app);
  } catch (e) {
    if (!e.handled && app.drawer.id === id) fail(e, app.drawer.ticket?.number);
  }
}

async function readHistory(app, id) {
  try {
    const list = await call(app, 'GET', `/api/v1/tickets/${id}/history`);
    if (app.drawer.id !== id) return;
    const me = app.session?.user?.id;
    const lines = (list || []).map((ev) => historyLine(ev, { time, me }));
    $('#drawer-history').replaceChildren(
      ...lines.map((l) => h('li', {}, h('time', { class: 'tnum muted' }, l.at), ' ', h('span', {}, l.text), l.by ? h('span', { class: 'muted' }, ` · ${l.by}`) : null)),
    );
    setText($('#drawer-history-note'), lines.length ? '' : t('console.history_empty'));
  } catch (e) {
    if (!e.handled && app.drawer.id === id) setText($('#drawer-history-note'), t('console.history_failed'));
  }
}

/** An event of the staff socket: the drawer follows its ticket, and reads its history again. */
export function drawerEvent(app, ev) {
  if (!isOpen()) return;
  renderDrawer(app);
  const about = ev?.ticket?.id ?? ev?.presence?.ticket_id;
  if (!about || about !== app.drawer.id) return;
  clearTimeout(app.drawer.historyTimer);
  const id = app.drawer.id;
  app.drawer.historyTimer = setTimeout(() => readHistory(app, id), HISTORY_AGAIN_MS);
}

/** Calls this ticket (not the next one) to my counter: the `call` transition on it. */
export async function callThis(app, tk, button) {
  if (!tk) return;
  const counter = myCounter();
  if (!counter) {
    toast(t('console.counter_first'), 'error');
    return;
  }
  await busy(app, button, async () => {
    try {
      await call(app, 'POST', `/api/v1/tickets/${tk.id}/transitions`, { name: 'call', counter });
      toast(t(tk.name ? 'console.called_named' : 'console.called', { number: tk.number, name: tk.name, counter }), 'ok');
    } catch (e) {
      fail(e, tk.number);
    }
  });
}

async function move(app, to, button) {
  const tk = app.drawer.ticket;
  const err = $('#move-error');
  const { body, error } = moveBody({ to, position: $('#move-position').value, before: $('#move-before').value }, tk, app.live.waitingTotal);
  if (error) return void (err.textContent = error);
  err.textContent = '';
  await busy(app, button, async () => {
    try {
      const after = await call(app, 'POST', `/api/v1/tickets/${tk.id}/move`, body);
      toast(t('console.moved', { number: tk.number, n: after?.position ?? body.position ?? '?' }), 'ok');
      $('#move-position').value = '';
    } catch (e) {
      if (!e.handled) err.textContent = e instanceof Problem ? e.plain : t('common.error');
    }
  });
}

async function save(app, e) {
  e.preventDefault();
  const tk = app.drawer.ticket;
  if (!tk) return;
  const body = { priority: Number($('#edit-priority').value) };
  const notes = $('#edit-notes').value;
  // Notes unread (the staff read failed) are not overwritten with nothing.
  if (app.drawer.notes !== null || notes) body.notes = notes;
  const err = $('#edit-error');
  err.textContent = '';
  await busy(app, $('#edit-save'), async () => {
    try {
      const after = await call(app, 'PATCH', `/api/v1/tickets/${tk.id}`, body);
      if (app.drawer.id === tk.id && after) {
        app.drawer.ticket = { ...app.drawer.ticket, ...after };
        app.drawer.notes = after.notes ?? notes;
      }
      toast(t('console.saved', { number: tk.number }), 'ok');
      renderDrawer(app);
    } catch (x) {
      if (!x.handled) err.textContent = x instanceof Problem ? x.plain : t('common.error');
    }
  });
}

/** Binds the drawer's controls, once. */
export function wireDrawer(app) {
  const drawer = $('#drawer');
  $('#drawer-close').addEventListener('click', () => drawer.close());
  drawer.addEventListener('close', () => {
    clearTimeout(app.drawer.historyTimer);
    app.drawer.id = null;
  });
  $('#drawer-actions').addEventListener('click', (e) => {
    const tk = app.drawer.ticket;
    const b = e.target.closest('button');
    if (!b || !tk) return;
    if (b.hasAttribute('data-drawer-call')) callThis(app, tk, b);
    else if (b.dataset.drawerAction) transition(app, ticketById(app.live, tk.id) ?? tk, b.dataset.drawerAction, b);
  });
  $('#drawer-move').addEventListener('submit', (e) => {
    e.preventDefault();
    move(app, 'position', $('#move-go'));
  });
  $('#move-go-before').addEventListener('click', (e) => move(app, 'before', e.currentTarget));
  $('#drawer-edit').addEventListener('submit', (e) => save(app, e));
}
