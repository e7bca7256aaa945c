// Join page /q/{queue_id}: the queue's summary, and a form that makes one ticket per fill.
import { api, Problem, minutes, store, fillKey, doneKey, pill } from './qc.js';
import { ended, readType } from './ticket-type.js';
import { hoursTexts } from './hours.js';
import { LANGS, WORDS, notifyRequest, pickLang } from './notify.js';

const $ = (id) => document.getElementById(id);
const qid = decodeURIComponent(location.pathname.split('/')[2] || '');
const form = $('join-form');
const btn = $('join');
const IDEM = `qc.idem.${qid}`;
const STATUS = { open: ['live', 'Open'], paused: ['reconnecting', 'Paused'], closed: ['ended', 'Closed'] };
let sending = false;

// The consent to messages off the page, in the language picked for them (the browser's first).
const langSelect = $('f-lang');
langSelect.replaceChildren(...LANGS.map(([code, name]) => new Option(name, code)));
langSelect.value = pickLang(navigator.languages);
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
    document.title = `${q.name} · Join the queue`;
    const [cls, word] = STATUS[q.status] || ['', q.status];
    pill($('queue-status'), cls, word);
    $('waiting').textContent = q.waiting;
    $('eta').textContent = q.waiting === 0 && q.status === 'open' ? 'no wait' : minutes(q.eta_new_seconds);
    // Opening hours: when it opens while no one new may join, else when it closes.
    const { opens, closes } = hoursTexts(q);
    $('hours').textContent = opens || closes;
    $('hours').hidden = !(opens || closes);
    notice(q.status === 'paused' ? 'Joining is paused for a moment. Please try again shortly.'
      : q.status === 'closed' ? `This queue is closed right now.${opens ? ` ${opens}.` : ''}`
        : opens ? `The queue takes no one new now. ${opens}.` : '');
    pill($('conn'), 'live', 'Live');
    return readType(q.ticket_type);
  } catch (e) {
    if (e instanceof Problem && (e.status === 404 || e.status === 400)) {
      gone('Queue not found', 'This link does not lead to a queue. Please check it, or scan the code again.');
      pill($('conn'), 'ended', 'Not found');
      return 'gone';
    }
    pill($('conn'), 'reconnecting', 'Offline');
    return readType(null);
  }
}

// A live ticket this browser already holds for this queue: link to it instead of a second one.
// `type` (the queue's ticket type) says whether it has ended.
async function existing(type) {
  const tid = store.get(`qc.queue.${qid}`);
  const token = tid && store.get(`qc.ticket.${tid}`);
  if (!token) return;
  let what = 'a ticket';
  try {
    const t = await api('GET', `/api/v1/tickets/${tid}`, { token });
    if (ended(t, type)) return store.del(`qc.queue.${qid}`);
    what = t.number;
  } catch (e) {
    if (!['network', 'unavailable', 'rate_limited'].includes(e.code)) return store.del(`qc.queue.${qid}`);
  }
  const a = Object.assign(document.createElement('a'), { href: `/t/${tid}`, textContent: `${what} — see your place` });
  $('existing').replaceChildren('You already have ', a);
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
    err.textContent = 'Party size must be between 1 and 20.';
    return;
  }
  for (const k of ['name', 'phone']) {
    const v = String(f.get(k) || '').trim();
    if (v) body[k] = v;
  }
  const asked = notifyRequest({
    smsOptIn: $('n-sms').checked, phone: f.get('phone'),
    emailOptIn: $('n-email').checked, email: f.get('email'), lang: langSelect.value,
  });
  if (asked.error) {
    err.textContent = asked.error;
    return;
  }
  if (asked.notify) body.notify = asked.notify;
  err.textContent = '';
  sending = btn.disabled = true;
  btn.textContent = 'Joining…';
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
    err.textContent = e instanceof Problem ? e.plain : 'Something went wrong. Please try again.';
    sending = btn.disabled = false;
    btn.textContent = 'Join the queue';
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
  gone('No queue chosen', 'Please scan the queue\'s code or open the link you were given.');
} else {
  refresh().then((type) => {
    if (type === 'gone') return;
    existing(type);
    setInterval(() => document.hidden || refresh(), 15000);
  });
}
