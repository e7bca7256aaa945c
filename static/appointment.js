// The booking's page /a/{appointment_id}: its time in the queue's zone, add to calendar (.ics),
// change, cancel, and "I'm here: check in" from check_in_opens_at, after which the live ticket
// page takes over. Like /t/, it keeps the token in the browser's storage and drops it from the
// address bar.
import { api, Problem, store, pill, h } from './qc.js';
import { pageLang } from './page-lang.js';
import { clockTime, when } from './hours.js';
import { bookingProblem, checkInState, dayKey, groupByDay, icsText, longDate } from './booking-model.js';

const $ = (id) => document.getElementById(id);
const id = decodeURIComponent(location.pathname.split('/')[2] || '');
const TOKEN = `qc.appt.${id}`;
const t = await pageLang();
/** How often the page reads the booking again (staff may check it in or mark it missed). */
const REFRESH = 30_000;

let token = new URLSearchParams(location.search).get('token');
if (token) {
  store.set(TOKEN, token);
  const u = new URL(location.href);
  u.searchParams.delete('token');
  history.replaceState(null, '', u.pathname + u.search + u.hash);
} else {
  token = store.get(TOKEN);
}

let appt = null;
let queue = null;
let tz = 'UTC';
let icsUrl = null;

function problem(text) {
  $('problem').textContent = text;
  $('problem').hidden = !text;
}

function info(text) {
  $('info').textContent = text;
  $('info').hidden = !text;
}

const message = (e) => (e instanceof Problem ? (bookingProblem(e.code) ? t(bookingProblem(e.code)) : e.plainIn(t)) : t('common.error'));

function render() {
  const a = appt;
  $('card').hidden = false;
  $('title').textContent = a.name;
  const start = new Date(a.start_at);
  $('when').textContent = `${longDate(dayKey(start, tz), t.lang)}, ${clockTime(start, tz, t.lang)}–${clockTime(new Date(a.end_at), tz, t.lang)}`;
  $('tz-note').textContent = t('book.times_in', { tz });
  const st = $('status');
  pill(st, { booked: 'live', checked_in: 'live', cancelled: 'ended', missed: 'ended' }[a.status] || '', t(`appt.status.${a.status}`));
  st.dataset.status = a.status;
  document.body.dataset.status = a.status;

  const booked = a.status === 'booked';
  const check = checkInState(a);
  const btn = $('check-in');
  btn.hidden = !booked;
  if (!btn.dataset.busy) btn.disabled = check !== 'open';
  $('check-note').textContent = !booked ? ''
    : check === 'open' ? t('appt.open_now') : t('appt.opens', { when: when(a.check_in_opens_at, tz, Date.now(), t) });
  $('change').hidden = !booked;
  $('cancel').hidden = !booked;
  $('ics').hidden = !booked;
  if (!booked) $('change-card').hidden = true;
  $('to-ticket').hidden = !(a.status === 'checked_in' && a.ticket_id);
  if (a.ticket_id) $('to-ticket').href = `/t/${a.ticket_id}`;
  $('again').hidden = booked || a.status === 'checked_in';
  $('again').href = `/b/${a.queue_id}`;
  if (a.status === 'cancelled') info(t('appt.cancelled_text'));
  else if (a.status === 'missed') info(t('appt.missed_text'));

  // The calendar file, made here: UTC times, the booking's id as its UID.
  const icsFor = `${a.id} ${a.start_at} ${queue?.name}`;
  if (booked && $('ics').dataset.for !== icsFor) {
    $('ics').dataset.for = icsFor;
    if (icsUrl) URL.revokeObjectURL(icsUrl);
    const title = queue ? `${queue.name} · ${t('appt.title')}` : t('appt.title');
    const text = icsText({ appointment: a, title, url: `${location.origin}/a/${a.id}` });
    icsUrl = URL.createObjectURL(new Blob([text], { type: 'text/calendar' }));
    $('ics').href = icsUrl;
    $('ics').dataset.ics = text;
  }
}

async function read() {
  try {
    appt = await api('GET', `/api/v1/appointments/${encodeURIComponent(id)}`, { token });
  } catch (e) {
    if (e instanceof Problem && [400, 401, 404].includes(e.status)) {
      pill($('conn'), 'ended', t('conn.not_valid'));
      $('card').hidden = true;
      problem(t('appt.invalid'));
      return false;
    }
    pill($('conn'), 'reconnecting', t('conn.offline'));
    return true;
  }
  if (!queue) {
    try {
      queue = await api('GET', `/api/v1/queues/${appt.queue_id}`);
      tz = queue.tz || 'UTC';
      $('queue-name').textContent = ` · ${queue.name}`;
      document.title = `${queue.name} · ${t('appt.title')}`;
    } catch { /* the booking shows without its queue's name, in UTC, until the next read */ }
  }
  pill($('conn'), 'live', t('conn.live'));
  problem('');
  render();
  return true;
}

async function checkIn() {
  const btn = $('check-in');
  btn.dataset.busy = '1';
  btn.disabled = true;
  btn.textContent = t('appt.checking_in');
  $('action-error').textContent = '';
  try {
    const { ticket, token: ticketToken } = await api('POST', `/api/v1/appointments/${encodeURIComponent(id)}/check-in`, { token });
    store.set(`qc.ticket.${ticket.id}`, ticketToken);
    if (ticket.position) store.set(`qc.first.${ticket.id}`, String(ticket.position));
    // The live ticket page takes it from here (and drops the token from the address).
    location.assign(`/t/${ticket.id}?token=${encodeURIComponent(ticketToken)}`);
    return;
  } catch (e) {
    $('action-error').textContent = e instanceof Problem && e.code === 'too_early' && appt
      ? t('appt.opens', { when: when(appt.check_in_opens_at, tz, Date.now(), t) }) : message(e);
    read();
  } finally {
    delete btn.dataset.busy;
    btn.textContent = t('appt.check_in');
  }
}

// Change: the free times of the next 31 days, a day at a time.
let changeDays = new Map();
async function openChange() {
  $('change-card').hidden = false;
  $('change-error').textContent = '';
  const from = dayKey(Date.now(), tz);
  let slots = [];
  try {
    slots = await api('GET', `/api/v1/queues/${appt.queue_id}/slots?date=${from}&days=31`);
  } catch (e) {
    $('change-error').textContent = message(e);
  }
  changeDays = new Map([...groupByDay(slots.filter((s) => s.available > 0 && s.start_at !== appt.start_at), tz)]);
  const sel = $('change-day');
  sel.replaceChildren(...[...changeDays.keys()].map((d) => new Option(longDate(d, t.lang), d)));
  const mine = dayKey(appt.start_at, tz);
  if (changeDays.has(mine)) sel.value = mine;
  showTimes();
  sel.focus();
}

function showTimes() {
  const list = changeDays.get($('change-day').value) || [];
  $('change-times').replaceChildren(...list.map((s) => h('button', { type: 'button', class: 'secondary', 'data-start': s.start_at },
    clockTime(new Date(s.start_at), tz, t.lang))));
}

async function reschedule(startAt, b) {
  b.disabled = true;
  $('change-error').textContent = '';
  try {
    appt = await api('POST', `/api/v1/appointments/${encodeURIComponent(id)}/reschedule`, { token, body: { start_at: startAt } });
    $('change-card').hidden = true;
    render();
    const at = new Date(appt.start_at);
    info(t('appt.moved', { when: `${longDate(dayKey(at, tz), t.lang)}, ${clockTime(at, tz, t.lang)}` }));
    $('change').focus();
  } catch (e) {
    $('change-error').textContent = message(e);
    if (e instanceof Problem && String(e.code).startsWith('slot_')) openChange();
    else b.disabled = false;
  }
}

const dlg = $('confirm');
const closeDlg = () => (dlg.close ? dlg.close() : dlg.removeAttribute('open'));
$('cancel').addEventListener('click', () => {
  $('confirm-error').textContent = '';
  $('cancel-confirm').disabled = false;
  if (dlg.showModal) dlg.showModal();
  else dlg.setAttribute('open', '');
});
$('cancel-keep').addEventListener('click', closeDlg);
$('cancel-confirm').addEventListener('click', async () => {
  const b = $('cancel-confirm');
  b.disabled = true;
  try {
    appt = await api('POST', `/api/v1/appointments/${encodeURIComponent(id)}/cancel`, { token });
    closeDlg();
    render();
  } catch (e) {
    $('confirm-error').textContent = message(e);
    b.disabled = false;
  }
});
$('check-in').addEventListener('click', checkIn);
$('change').addEventListener('click', openChange);
$('change-keep').addEventListener('click', () => { $('change-card').hidden = true; });
$('change-day').addEventListener('change', showTimes);
$('change-times').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-start]');
  if (b) reschedule(b.dataset.start, b);
});

if (!id || !token) {
  pill($('conn'), 'ended', t('conn.not_valid'));
  problem(t('appt.no_key'));
} else if (await read()) {
  // Read again now and then, and re-word the check-in as its time comes.
  setInterval(() => document.hidden || read(), REFRESH);
  setInterval(() => appt && render(), 5_000);
  document.addEventListener('visibilitychange', () => document.hidden || read());
}
