// Draws the console from the app's state (store.js): the queue, the line, the called list, my
// desk and the chart. Nothing here changes the state or talks to the server.

import { api, h, since } from '../qc.js';
import { EN } from '../i18n.js';
import { $, myCounter, reconcile, setText, tickText } from './dom.js';
import { buttonsFor, canCancelInLine, statusLabel } from './fsm.js';
import { chartPoints } from './history.js';
import { messagesLine } from './messages.js';
import { isReady } from './model.js';
import { hoursSummary } from './hours.js';
import { currentFsm, currentQueue, currentSchema, isManager } from './store.js';
import { fieldsLine } from '../fields.js';
import { clock } from '../i18n.js';
import { canCallThis, presence, priorityBadge } from './ticket-info.js';
import { bookedMark } from './appointments.js';
import { activeSince, atCounter, deskNext, deskSub, fmtCount, lineShown, myTicket, party, queueLabel, queueNote, queueTitle, sortActive } from './view.js';

const ICON_TRANSFER =
  '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true"><path d="M2.5 5h10m0 0-3-3m3 3-3 3M13.5 11h-10m0 0 3-3m-3 3 3 3" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/></svg>';
const ICON_CALL =
  '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true"><path d="M2.5 8h8m0 0-3-3m3 3-3 3M13.5 3v10" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/></svg>';
const ICON_CANCEL =
  '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true"><path d="M4 4l8 8M12 4l-8 8" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linecap="round"/></svg>';

/** Button classes by look (fsm.js), in a called row and on the desk. */
const ROW_CLASS = { primary: 'btn-xs btn-primary', secondary: 'btn-xs btn-ghost', danger: 'btn-xs btn-ghost danger-text' };
const DESK_CLASS = { primary: null, secondary: 'secondary', danger: 'secondary danger-text' };

const t = EN;

/** The connection pill's word and tooltip by state: `console.conn_<state>`, `console.conn_<state>_title`. */
const CONN_STATES = ['connecting', 'live', 'reconnecting', 'ended'];
const CONN_TITLED = ['live', 'reconnecting', 'ended'];

/** The placeholder shown while there is no console to show (loading, connecting, no queue). */
export function setWaitingRoom(text, spinning) {
  $('#console').hidden = true;
  $('#waiting-room').hidden = false;
  $('#waiting-room-text').textContent = text;
  $('#waiting-room .spinner').hidden = !spinning;
}

export function showConsole() {
  $('#waiting-room').hidden = true;
  $('#console').hidden = false;
}

export function setConn(state) {
  const pill = $('#conn');
  pill.dataset.state = state;
  pill.className = `status-pill conn ${state}`;
  pill.textContent = CONN_STATES.includes(state) ? t(`console.conn_${state}`) : state;
  pill.title = CONN_TITLED.includes(state) ? t(`console.conn_${state}_title`) : '';
  $('#conn-retry').hidden = state !== 'ended';
}

export function renderQueueSelect(app) {
  const sel = $('#queue-select');
  sel.replaceChildren(...app.queues.map((q) => h('option', { value: q.id }, queueTitle(q))));
  if (app.queueId) sel.value = app.queueId;
}

export function renderQueueStatus(q) {
  const status = q?.status || '';
  for (const el of [$('#queue-status'), $('#queue-badge')]) {
    el.dataset.status = status;
    el.textContent = queueLabel(status);
  }
}

export function renderQueue(app) {
  const q = app.live.queue;
  if (!q) return;
  const waiting = app.live.waitingTotal;
  renderQueueStatus(q);
  $('#queue-name').textContent = q.name || '—';
  $('#queue-prefix').textContent = q.prefix ? `· ${q.prefix}` : '';
  $('#queue-note').textContent = queueNote(q, waiting);
  $('#queue-controls').hidden = !isManager(app);
  $('#q-pause').hidden = q.status !== 'open';
  $('#q-resume').hidden = q.status !== 'paused';
  $('#q-open').hidden = q.status !== 'closed';
  $('#q-close').hidden = q.status === 'closed';
  // Keep the picker's entry (and the transfer dialog's counts) current.
  const listed = app.queues.find((x) => x.id === app.queueId);
  if (listed) {
    listed.status = q.status;
    listed.waiting = waiting;
  }
}

/** A small square button with an icon; its name is in aria-label and the tooltip. */
function iconButton(action, name, svg, extra = '') {
  const b = h('button', { type: 'button', class: `btn-ghost btn-iconxs ${extra}`, 'data-line-action': action, 'aria-label': name, title: name });
  b.innerHTML = svg;
  return b;
}

/** A time of day as this browser writes it (presence: "here since 10:42"). */
const time = (at) => clock(at, navigator.language || 'en');

/** A ticket's number: the button that opens its drawer (staff/drawer.js). */
function numberButton(tk) {
  return h('button', { type: 'button', class: 'num-cell tnum linkish', 'data-open-ticket': tk.id });
}

/**
 * The name cell of a row: the name (and a booking's mark), a priority badge, whether the
 * customer is on their page (a dot, its words for screen readers and the tooltip), and the
 * ticket's custom fields on a line below. Redrawn only when one of them changed.
 */
function fillName(app, cell, tk, mark = '') {
  const prio = priorityBadge(tk);
  const here = presence(tk, time);
  const fields = fieldsLine(currentSchema(app), tk.fields);
  const key = JSON.stringify([tk.name, mark, prio, here, fields]);
  if (cell.dataset.shown === key) return;
  cell.dataset.shown = key;
  cell.replaceChildren(
    h('span', { class: 'name-text' },
      here ? h('span', { class: 'presence-dot', 'data-state': here.state, title: here.text }, h('span', { class: 'sr-only' }, here.text)) : null,
      tk.name || '—',
      mark ? h('span', { class: 'appt-mark' }, mark) : null,
      prio ? h('span', { class: 'prio-badge' }, prio) : null),
    fields ? h('span', { class: 'fields-line' }, fields) : null,
  );
  cell.classList.toggle('muted', !tk.name && !fields);
  cell.title = [tk.name, mark, prio, here?.text, fields].filter(Boolean).join(' · ');
}

/** The head of the line the console knows, the count of everyone, and "Show more" after them. */
export function renderLine(app) {
  const { line, waitingTotal } = app.live;
  const fsm = currentFsm(app);
  const cancellable = canCancelInLine(fsm);
  reconcile(
    $('#waiting'),
    line,
    (tk) => {
      const li = h(
        'li',
        { class: 'row line-grid', 'data-id': tk.id },
        h('span', { class: 'pos tnum' }),
        numberButton(tk),
        h('span', { class: 'name-cell' }),
        h('span', { class: 'party tnum num' }),
        h('span', { class: 'waited tnum num', 'data-since': tk.joined_at }),
        h(
          'span',
          { class: 'row-actions' },
          canCallThis(fsm, tk) ? iconButton('call', t('console.row_call', { number: tk.number }), ICON_CALL) : null,
          iconButton('transfer', t('console.row_transfer', { number: tk.number }), ICON_TRANSFER),
          cancellable ? iconButton('cancel', t('console.row_cancel', { number: tk.number }), ICON_CANCEL, 'danger-text') : null,
        ),
      );
      if (app.flash.has(tk.id)) {
        li.classList.add('flash');
        li.addEventListener('animationend', () => li.classList.remove('flash'), { once: true });
      }
      return li;
    },
    (li, tk, i) => {
      li.dataset.number = tk.number;
      li.dataset.status = tk.status;
      const [pos, num, name, size, waited] = li.children;
      setText(pos, i + 1);
      setText(num, tk.number);
      num.setAttribute('aria-label', t('console.details_of', { number: tk.number }));
      // A checked-in booking's ticket says so beside its name.
      const mark = bookedMark(app, tk.id);
      fillName(app, name, tk, mark);
      li.classList.toggle('booked', !!mark);
      setText(size, party(tk.party_size));
      waited.dataset.since = tk.joined_at;
      setText(waited, since(tk.joined_at));
      li.classList.toggle('priority', (tk.priority || 0) > 0);
    },
  );
  app.flash.clear();
  setText($('#waiting-count'), fmtCount(waitingTotal));
  $('#waiting-count').title = t('console.in_line', { n: fmtCount(waitingTotal) });
  $('#waiting-empty').hidden = waitingTotal > 0;
  // Past the head: how much is shown, and a page more on demand.
  const more = line.length < waitingTotal;
  $('#line-more').hidden = !more;
  if (more) setText($('#line-shown'), lineShown(line.length, waitingTotal));
  // Busy while a page is read, but never disabled: a disabled button would lose the focus.
  $('#show-more').setAttribute('aria-busy', String(!!app.lineReading));
}

/** Makes `box` hold the buttons `buttons`, rebuilding them only when the set changed. */
function setButtons(box, buttons, make) {
  const set = buttons.map((b) => `${b.name}:${b.look}`).join(' ');
  if (box.dataset.set === set) return;
  box.dataset.set = set;
  box.replaceChildren(...buttons.map(make));
}

export function renderActive(app) {
  const fsm = currentFsm(app);
  const counter = myCounter();
  const items = sortActive(app.live.active.values());
  reconcile(
    $('#active'),
    items,
    (tk) =>
      h(
        'li',
        { class: 'row active-row', 'data-id': tk.id },
        h('span', { class: 'counter-chip' }),
        numberButton(tk),
        h('span', { class: 'name-cell' }),
        h('span', { class: 'badge' }),
        h('span', { class: 'waited tnum num' }),
        h('span', { class: 'row-actions' }),
      ),
    (li, tk) => {
      li.dataset.number = tk.number;
      li.dataset.status = tk.status;
      const [chip, num, name, badge, sinceCalled, actions] = li.children;
      const mine = atCounter(tk, counter);
      setText(chip, tk.counter || t('console.no_counter'));
      chip.classList.toggle('mine', mine);
      li.classList.toggle('mine', mine);
      setText(num, tk.number);
      num.setAttribute('aria-label', t('console.details_of', { number: tk.number }));
      fillName(app, name, tk);
      badge.dataset.status = tk.status;
      setText(badge, statusLabel(tk.status));
      const from = activeSince(tk);
      if (from.at) {
        sinceCalled.dataset.since = from.at;
        setText(sinceCalled, since(from.at));
      } else {
        delete sinceCalled.dataset.since;
        setText(sinceCalled, '—');
      }
      sinceCalled.title = from.title;
      setButtons(actions, buttonsFor(fsm, tk.status), (b) =>
        h('button', { type: 'button', 'data-action': b.name, class: ROW_CLASS[b.look] }, b.label),
      );
    },
  );
  setText($('#active-count'), items.length);
  $('#active-empty').hidden = items.length > 0;
}

export function renderDesk(app) {
  if (!isReady(app.live)) return;
  const fsm = currentFsm(app);
  const { line, waitingTotal } = app.live;
  setText($('#desk-counter'), myCounter() || t('console.no_counter_set'));
  setText($('#desk-next'), deskNext(line, waitingTotal));
  const callBtn = $('#call-next');
  if (!callBtn.dataset.busy) callBtn.disabled = false;
  // The server picks who is next: the button works whatever part of the line is known here.
  callBtn.classList.toggle('is-idle', waitingTotal === 0);

  const tk = myTicket(app.live.active.values(), myCounter(), fsm);
  const box = $('#desk-current');
  box.dataset.state = tk ? tk.status : 'empty';
  $('#desk-empty').hidden = !!tk;
  $('#desk-ticket').hidden = !tk;
  if (!tk) {
    box.removeAttribute('data-id');
    return;
  }
  box.dataset.id = tk.id;
  deskMessages(app, tk);
  setText($('#desk-number'), tk.number);
  const badge = $('#desk-status');
  badge.dataset.status = tk.status;
  setText(badge, statusLabel(tk.status));
  setText($('#desk-name'), tk.name || t('console.no_name'));
  $('#desk-name').classList.toggle('muted', !tk.name);
  const sub = $('#desk-sub');
  const words = deskSub(tk);
  if (words.since) {
    Object.assign(sub.dataset, { since: words.since, prefix: words.prefix, suffix: words.suffix });
    tickText(sub);
  } else {
    delete sub.dataset.since;
    setText(sub, words.prefix);
  }
  setButtons($('#desk-actions'), buttonsFor(fsm, tk.status), (b) =>
    h(
      'button',
      { type: 'button', class: DESK_CLASS[b.look], 'data-hero-action': b.name },
      b.key ? `${b.label} ` : b.label,
      b.key ? h('kbd', {}, b.key.toUpperCase()) : null,
    ),
  );
}

export function renderManage(app) {
  const box = $('#manage');
  box.hidden = !isManager(app);
  if (!isManager(app) || !app.queueId) return;
  $('#join-url').value = `${location.origin}/q/${app.queueId}`;
  $('#qr').src = `/api/v1/queues/${app.queueId}/qr.svg`;
  $('#kiosk-row').hidden = true;
  $('#kiosk-url').value = '';
  $('#display-key').hidden = false;
  $('#hours-line').textContent = hoursSummary(currentQueue(app)?.settings);
}

export function updateChart(app) {
  if (!app.chart || !isReady(app.live)) return;
  const { points, note } = chartPoints(app.history, app.live.waitingTotal);
  app.chart.setPoints(points, note);
  chart.at = Date.now();
}

/** How often the chart is drawn at most: its points are minutes, and a busy line sends many events. */
const CHART_EVERY = 1000;
const chart = { at: 0, timer: null };

/** The chart now, or once a second has passed since it was last drawn. */
function chartSoon(app) {
  if (chart.timer) return;
  const wait = chart.at + CHART_EVERY - Date.now();
  if (wait <= 0) return updateChart(app);
  chart.timer = setTimeout(() => {
    chart.timer = null;
    updateChart(app);
  }, wait);
}

export function renderAll(app) {
  renderQueue(app);
  renderLine(app);
  renderActive(app);
  renderDesk(app);
  chartSoon(app);
}

/** Reads what the desk's ticket was told off the page when it or its status changes (and once
 * more a moment later, when the sender has had its turn), and shows it under the ticket. */
function deskMessages(app, tk) {
  const key = `${tk.id}:${tk.status}`;
  if (app.deskMessages === key) return;
  app.deskMessages = key;
  const el = $('#desk-messages');
  const read = async () => {
    if (app.deskMessages !== key) return;
    try {
      const list = await api('GET', `/api/v1/tickets/${tk.id}/notifications`, { token: app.session?.token });
      if (app.deskMessages !== key) return;
      const line = messagesLine(list);
      setText(el, line ? t('console.told', { line }) : '');
      el.hidden = !line;
    } catch {
      /* not shown: the desk works without it */
    }
  };
  read();
  setTimeout(read, 2000);
}
