// Join page /q/{queue_id}: the queue's summary, and a form that makes one ticket per fill.
import { api, Problem, minutes, store, fillKey, doneKey, pill } from './qc.js';
import { number } from './i18n.js';
import { pageLang } from './page-lang.js';
import { ended, readType } from './ticket-type.js';
import { hoursTexts } from './hours.js';
import { LANGS, WORDS, notifyRequest, pickLang } from './notify.js';
import { describeFields, readFields } from './fields.js';
import { drawFields, readDrawn, showFieldErrors } from './fields-form.js';

const $ = (id) => document.getElementById(id);
const qid = decodeURIComponent(location.pathname.split('/')[2] || '');
const form = $('join-form');
const btn = $('join');
const IDEM = `qc.idem.${qid}`;
const t = await pageLang();
const STATUS = { open: ['live', t('status.open')], paused: ['reconnecting', t('status.paused')], closed: ['ended', t('status.closed')] };
let sending = false;
/** The custom fields asked (fields.js `describeFields`), and the schema they were drawn from. */
let asked = [];
let drawnSchema = null;

// The consent to messages off the page, in the language picked for them (the browser's first).
const langSelect = $('f-lang');
langSelect.replaceChildren(...LANGS.map(([code, name]) => new Option(name, code)));
langSelect.value = pickLang([t.lang, ...(navigator.languages || [])]);
function wordConsent() {
  const w = WORDS[langSelect.value] || WORDS.en;
  $('n-title').textContent = w.title;
  $('n-sms-text').textContent = w.sms;
  $('n-email-text').textContent = w.email;
  $('n-lang-text').textContent = w.lang;
}
langSelect.addEventListener('change', wordConsent);
$('n-email').addEventListener('change', () => { $('f-email').hidden = !$('n-email').checked; });
wordConsent();

function notice(text) {
  $('notice').textContent = text;
  $('notice').hidden = !text;
}

function gone(title, text) {
  $('queue-name').textContent = title;
  $('join-card').hidden = true;
  notice(text);
}

/** Reads the summary again; answers `gone` when there is no such queue, else its ticket type. */
async function refresh() {
  try {
    const q = await api('GET', `/api/v1/queues/${encodeURIComponent(qid)}`);
    $('queue-name').textContent = q.name;
    document.title = `${q.name} · ${t('join.title')}`;
    const [cls, word] = STATUS[q.status] || ['', q.status];
    pill($('queue-status'), cls, word);
    $('waiting').textContent = number(q.waiting, t.lang);
    $('eta').textContent = q.waiting === 0 && q.status === 'open' ? t('join.no_wait') : minutes(q.eta_new_seconds, t);
    // Opening hours: when it opens while no one new may join, else when it closes.
    const { opens, closes } = hoursTexts(q, Date.now(), t);
    $('hours').textContent = opens || closes;
    $('hours').hidden = !(opens || closes);
    notice(q.status === 'paused' ? t('join.paused')
      : q.status === 'closed' ? (opens ? t('join.closed_opens', { opens }) : t('join.closed'))
        : opens ? t('join.no_one_new', { opens }) : '');
    pill($('conn'), 'live', t('conn.live'));
    drawSchema(q.fields_schema ?? null);
    return readType(q.ticket_type);
  } catch (e) {
    if (e instanceof Problem && (e.status === 404 || e.status === 400)) {
      gone(t('join.not_found_title'), t('join.not_found'));
      pill($('conn'), 'ended', t('conn.not_found'));
      return 'gone';
    }
    pill($('conn'), 'reconnecting', t('conn.offline'));
    return readType(null);
  }
}

/** Draws the queue's own questions, again only when its schema changed (what was typed stays). */
function drawSchema(schema) {
  const key = JSON.stringify(schema);
  if (key === drawnSchema) return;
  drawnSchema = key;
  asked = describeFields(schema);
  drawFields($('fields-box'), asked, t, 'f-x');
  $('fields').hidden = asked.length === 0;
}

// A live ticket this browser already holds for this queue: link to it instead of a second one.
// `type` (the queue's ticket type) says whether it has ended.
async function existing(type) {
  const tid = store.get(`qc.queue.${qid}`);
  const token = tid && store.get(`qc.ticket.${tid}`);
  if (!token) return;
  let what = t('join.a_ticket');
  try {
    const t = await api('GET', `/api/v1/tickets/${tid}`, { token });
    if (ended(t, type)) return store.del(`qc.queue.${qid}`);
    what = t.number;
  } catch (e) {
    if (!['network', 'unavailable', 'rate_limited'].includes(e.code)) return store.del(`qc.queue.${qid}`);
  }
  const a = Object.assign(document.createElement('a'), { href: `/t/${tid}`, textContent: t('join.existing_link', { number: what }) });
  $('existing').replaceChildren(t('join.existing'), a);
  $('existing').hidden = false;
  $('join-card').hidden = true;
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (sending) return;
  const err = $('join-error');
  const f = new FormData(form);
  const body = { party_size: Math.round(Number(f.get('party_size'))) };
  if (!(body.party_size >= 1 && body.party_size <= 20)) {
    err.textContent = t('join.party_range');
    return;
  }
  for (const k of ['name', 'phone']) {
    const v = String(f.get(k) || '').trim();
    if (v) body[k] = v;
  }
  if (asked.length) {
    const { fields, errors } = readFields(asked, readDrawn($('fields-box')), t);
    const first = showFieldErrors($('fields-box'), errors);
    if (first) {
      err.textContent = t('join.fields_check');
      first.focus();
      return;
    }
    body.fields = fields;
  }
  const notify = notifyRequest({
    smsOptIn: $('n-sms').checked, phone: f.get('phone'),
    emailOptIn: $('n-email').checked, email: f.get('email'), lang: langSelect.value,
  });
  if (notify.error) {
    err.textContent = notify.error;
    return;
  }
  if (notify.notify) body.notify = notify.notify;
  err.textContent = '';
  sending = btn.disabled = true;
  btn.textContent = t('join.joining');
  try {
    const { ticket, token } = await api('POST', `/api/v1/queues/${encodeURIComponent(qid)}/tickets`, {
      body,
      headers: { 'Idempotency-Key': fillKey(IDEM, body) },
    });
    doneKey(IDEM);
    const kept = store.set(`qc.ticket.${ticket.id}`, token);
    store.set(`qc.queue.${qid}`, ticket.id);
    if (ticket.position) store.set(`qc.first.${ticket.id}`, String(ticket.position));
    location.assign(`/t/${ticket.id}${kept ? '' : `?token=${encodeURIComponent(token)}`}`);
  } catch (e) {
    // Fields the server's schema refused (400, its detail naming `fields:`): said in the
    // customer's words rather than the validator's.
    const fields = e instanceof Problem && (e.code === 'invalid_fields' || (e.status === 400 && /^fields\b/.test(e.detail || '')));
    err.textContent = fields ? t('problem.invalid_fields') : e instanceof Problem ? e.plainIn(t) : t('common.error');
    sending = btn.disabled = false;
    btn.textContent = t('join.submit');
    refresh();
  }
});

form.addEventListener('click', (ev) => {
  const step = ev.target.closest('[data-step]');
  if (!step) return;
  const input = form.elements.party_size;
  input.value = Math.min(20, Math.max(1, (Number(input.value) || 1) + Number(step.dataset.step)));
});

if (!qid) {
  gone(t('join.none_title'), t('join.none'));
} else {
  refresh().then((type) => {
    if (type === 'gone') return;
    existing(type);
    setInterval(() => document.hidden || refresh(), 15000);
  });
}
