// Booking page /b/{queue_id}: a month of days with free times (one slots request per month
// shown), then the day's times, then a name and reminders by SMS and/or e-mail, each with its own
// box ticked. One Idempotency-Key per fill: a retry of the same booking reuses it.
import { api, Problem, store, fillKey, doneKey, pill, h } from './qc.js';
import { pageLang } from './page-lang.js';
import { LANGS as MESSAGE_LANGS, pickLang } from './notify.js';
import { clockTime } from './hours.js';
import {
  addMonths, bookingProblem, calendar, dayKey, firstFreeDay, groupByDay, longDate, monthQuery, monthTitle, weekdays,
} from './booking-model.js';

const $ = (id) => document.getElementById(id);
const qid = decodeURIComponent(location.pathname.split('/')[2] || '');
const IDEM = `qc.idem.book.${qid}`;
const t = await pageLang();

let tz = 'UTC';
let today = '';
let month = '';
/** Month ("2026-12") → its slots (a promise while read). */
const months = new Map();
let day = null; // the local date picked
let slot = null; // the slot picked
let sending = false;

function notice(text) {
  $('notice').textContent = text;
  $('notice').hidden = !text;
}

async function slotsOf(m, fresh = false) {
  if (fresh || !months.has(m)) {
    const read = api('GET', `/api/v1/queues/${encodeURIComponent(qid)}/slots?${monthQuery(m)}`);
    months.set(m, read);
    read.catch(() => months.delete(m));
  }
  return months.get(m);
}

async function showMonth(m, { fresh = false, pickFirst = false } = {}) {
  month = m;
  $('month').textContent = monthTitle(m, t.lang);
  $('prev').disabled = m <= today.slice(0, 7);
  $('cal-note').textContent = t('book.loading');
  let slots;
  try {
    slots = await slotsOf(m, fresh);
  } catch (e) {
    $('cal-note').textContent = e instanceof Problem ? message(e) : t('common.error');
    pill($('conn'), 'reconnecting', t('conn.offline'));
    return;
  }
  if (m !== month) return;
  pill($('conn'), 'live', t('conn.live'));
  const weeks = calendar(m, slots, tz, today);
  const cell = (c) => {
    if (!c) return h('td', {});
    const open = c.free > 0 && !c.past;
    const label = `${longDate(c.date, t.lang)}, ${open ? t('book.day_free', { count: c.free, n: c.free }) : t('book.day_full')}`;
    return h('td', {}, h('button', {
      type: 'button', class: open ? 'free' : null, disabled: !open, 'data-date': c.date,
      'aria-label': label, 'aria-pressed': open ? String(c.date === day) : null,
    }, String(c.day)));
  };
  $('days').replaceChildren(...weeks.map((w) => h('tr', {}, w.map(cell))));
  const first = firstFreeDay(slots, tz);
  $('cal-note').textContent = first ? '' : t('book.none_month');
  if (pickFirst && first && !day) pickDay(first);
  else if (day && day.startsWith(m)) pickDay(day);
}

async function pickDay(d) {
  day = d;
  for (const b of $('days').querySelectorAll('button.free')) b.setAttribute('aria-pressed', String(b.dataset.date === d));
  const slots = (groupByDay(await slotsOf(d.slice(0, 7)), tz).get(d) || []).filter((s) => s.available > 0);
  $('day-chosen').textContent = longDate(d, t.lang);
  $('times').replaceChildren(...slots.map((s) => h('button', {
    type: 'button', class: 'secondary', 'data-start': s.start_at,
  }, clockTime(new Date(s.start_at), tz, t.lang))));
  $('no-times').hidden = slots.length > 0;
  $('time-card').hidden = false;
}

function pickSlot(start) {
  slot = start;
  const at = new Date(start);
  $('slot-chosen').textContent = t('book.chosen', { date: longDate(dayKey(at, tz), t.lang), time: clockTime(at, tz, t.lang) });
  $('form-card').hidden = false;
  $('book-error').textContent = '';
  $('pick-again').hidden = true;
  $('f-name').focus();
}

/** What a problem means to the customer. */
function message(e) {
  const key = bookingProblem(e.code);
  return key ? t(key) : e.plainIn(t);
}

/** The booking's body, or an error to show. Contacts go only with their box ticked. */
function body() {
  const name = $('f-name').value.trim();
  if (!name) return { error: t('book.need_name') };
  const lang = $('f-lang').value;
  const b = { start_at: slot, name, lang };
  const notify = {};
  if ($('n-sms').checked) {
    const p = $('f-phone').value.trim();
    if (!p.startsWith('+') || p.replace(/\D/g, '').length < 8) return { error: t('book.need_phone') };
    b.phone = notify.sms = p;
  }
  if ($('n-email').checked) {
    const e = $('f-email').value.trim();
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e)) return { error: t('book.need_email') };
    b.email = notify.email = e;
  }
  if (notify.sms || notify.email) b.notify = { ...notify, lang };
  return { body: b };
}

async function submit(ev) {
  ev.preventDefault();
  if (sending || !slot) return;
  const err = $('book-error');
  const made = body();
  if (made.error) {
    err.textContent = made.error;
    return;
  }
  err.textContent = '';
  const btn = $('book');
  sending = btn.disabled = true;
  btn.textContent = t('book.booking');
  try {
    const { appointment, token } = await api('POST', `/api/v1/queues/${encodeURIComponent(qid)}/appointments`, {
      body: made.body,
      headers: { 'Idempotency-Key': fillKey(IDEM, made.body) },
    });
    doneKey(IDEM);
    const kept = store.set(`qc.appt.${appointment.id}`, token);
    location.assign(`/a/${appointment.id}${kept ? '' : `?token=${encodeURIComponent(token)}`}`);
    return;
  } catch (e) {
    err.textContent = e instanceof Problem ? message(e) : t('common.error');
    // The time itself is the trouble: the free times again, and a way back to them.
    if (e instanceof Problem && String(e.code).startsWith('slot_')) {
      doneKey(IDEM);
      $('pick-again').hidden = false;
      showMonth(month, { fresh: true });
    }
  }
  sending = btn.disabled = false;
  btn.textContent = t('book.submit');
}

function pickAgain() {
  slot = null;
  $('form-card').hidden = true;
  $('time-card').hidden = false;
  (day ? pickDay(day) : Promise.resolve()).then(() => ($('times').querySelector('button') || $('days').querySelector('button.free'))?.focus());
}

async function start() {
  if (!qid) {
    $('queue-name').textContent = t('book.not_found_title');
    notice(t('book.not_found'));
    $('day-card').hidden = true;
    return;
  }
  let q;
  try {
    q = await api('GET', `/api/v1/queues/${encodeURIComponent(qid)}`);
  } catch (e) {
    const gone = e instanceof Problem && (e.status === 404 || e.status === 400);
    $('queue-name').textContent = gone ? t('book.not_found_title') : '';
    notice(gone ? t('book.not_found') : message(e));
    $('day-card').hidden = gone;
    pill($('conn'), gone ? 'ended' : 'reconnecting', gone ? t('conn.not_found') : t('conn.offline'));
    if (!gone) setTimeout(start, 5000);
    return;
  }
  $('queue-name').textContent = q.name;
  document.title = `${q.name} · ${t('book.title')}`;
  tz = q.tz || 'UTC';
  $('tz-note').textContent = t('book.times_in', { tz });
  today = dayKey(Date.now(), tz);
  showMonth(today.slice(0, 7), { pickFirst: true });
}

$('weekdays').replaceChildren(...weekdays(t.lang).map((d) => h('th', { scope: 'col' }, d)));
$('prev').addEventListener('click', () => showMonth(addMonths(month, -1)));
$('next').addEventListener('click', () => showMonth(addMonths(month, 1)));
$('days').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-date]');
  if (b && !b.disabled) pickDay(b.dataset.date);
});
$('times').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-start]');
  if (b) pickSlot(b.dataset.start);
});
$('change-time').addEventListener('click', pickAgain);
$('pick-again').addEventListener('click', pickAgain);
$('book-form').addEventListener('submit', submit);
$('n-sms').addEventListener('change', () => { $('phone-field').hidden = !$('n-sms').checked; });
$('n-email').addEventListener('change', () => { $('email-field').hidden = !$('n-email').checked; });
const langSelect = $('f-lang');
langSelect.replaceChildren(...MESSAGE_LANGS.map(([code, name]) => new Option(name, code)));
langSelect.value = pickLang([t.lang, ...(navigator.languages || [])]);
start();
