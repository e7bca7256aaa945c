// Lobby kiosk /kiosk?key=K: pick a service among the key's queues, get a number, see it with a
// QR code of the ticket's live page, print a slip, and back to the start. It keeps no ticket:
// nothing of a visitor stays in storage or on screen once it returns to the start.
import { api, Problem, randomId, h } from './qc.js';
import { LANGS, LANG_NAMES, clock } from './i18n.js';
import { pageLang, useLang } from './page-lang.js';
import { ahead, service } from './kiosk-model.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const key = params.get('key');
/** Seconds the ticket stays on screen before the kiosk returns to its start. */
const BACK_AFTER = Math.max(3, Number(params.get('back')) || 20);
const auth = { Authorization: `Kiosk ${key}` };
if (params.get('paper') === '58') document.documentElement.classList.add('paper-58');

let home; // the page's own language, which each visitor starts from
let t;
let queues = [];
let busy = false;
let backTimer = null;
let countdown = null;

function closed(title, text) {
  $('start').hidden = $('issued').hidden = true;
  $('closed').hidden = false;
  $('closed-title').textContent = title;
  $('closed-text').textContent = text;
  clearInterval(refresher);
}

let drawn = '';
/** Draws the services, only when what they say changed: a button replaced under a finger loses its tap. */
function renderServices() {
  const all = queues.map((q) => service(q, t));
  const now = JSON.stringify([busy, all]);
  if (now === drawn) return;
  drawn = now;
  $('services').replaceChildren(...all.map((s) => {
    return h('li', {},
      h('button', { type: 'button', class: 'k-service', 'data-queue-id': s.id, disabled: !s.open || busy },
        h('span', { class: 'k-service-name' }, s.name),
        h('span', { class: 'k-service-meta' }, `${s.waiting} · ${s.wait}`)));
  }));
}

function renderLangs() {
  $('langs').replaceChildren(...LANGS.map((l) => h('button', {
    type: 'button', class: 'k-lang', lang: l, 'aria-pressed': String(l === t.lang), 'data-lang': l,
  }, LANG_NAMES[l])));
}

async function refresh() {
  try {
    const d = await api('GET', '/api/v1/kiosk', { headers: auth });
    if (d.kind !== 'kiosk') return closed(t('kiosk.not_kiosk_title'), t('kiosk.not_kiosk'));
    queues = d.queues;
    if (!busy) renderServices();
  } catch (e) {
    if (e instanceof Problem && e.status === 401) closed(t('kiosk.revoked_title'), t('kiosk.revoked'));
  }
}

/** One tap, one ticket: the tap's key goes with every retry of it. */
async function take(qid) {
  if (busy) return;
  busy = true;
  renderServices();
  $('error').textContent = '';
  const idem = randomId();
  const name = $('name').value.trim();
  const body = { queue_id: qid, ...(name ? { name } : {}) };
  for (let attempt = 0; ; attempt++) {
    try {
      const answer = await api('POST', '/api/v1/kiosk/tickets', { body, headers: { ...auth, 'Idempotency-Key': idem } });
      return issued(answer, queues.find((q) => q.id === qid));
    } catch (e) {
      const again = e instanceof Problem && (e.code === 'network' || e.code === 'unavailable') && attempt < 3;
      if (again) {
        await new Promise((r) => { setTimeout(r, 500 * (attempt + 1)); });
        continue;
      }
      busy = false;
      if (e instanceof Problem && e.status === 401) return closed(t('kiosk.revoked_title'), t('kiosk.revoked'));
      $('error').textContent = e instanceof Problem ? t(`problem.${e.code}`) : t('problem.network');
      refresh();
      return;
    }
  }
}

function issued({ ticket, ticket_url: url, qr_svg: svg }, q) {
  const qr = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  $('number').textContent = $('slip-number').textContent = ticket.number;
  $('issued-queue').textContent = $('slip-queue').textContent = q?.name || '';
  $('issued-ahead').textContent = ahead(ticket, t);
  $('slip-time').textContent = `${new Intl.DateTimeFormat(t.lang, { dateStyle: 'medium' }).format(new Date(ticket.joined_at))} ${clock(ticket.joined_at, t.lang)}`;
  $('qr').src = $('slip-qr').src = qr;
  $('qr').dataset.url = url;
  $('start').hidden = true;
  $('issued').hidden = false;
  $('done').focus();
  if (params.get('print') === 'auto') window.print();
  let left = BACK_AFTER;
  const say = () => { $('back-in').textContent = t('kiosk.back_in', { count: left, n: left }); };
  say();
  countdown = setInterval(() => { left -= 1; say(); }, 1000);
  backTimer = setTimeout(backToStart, BACK_AFTER * 1000);
}

/** Forgets the visitor: their number, QR code, name and language. */
async function backToStart() {
  clearTimeout(backTimer);
  clearInterval(countdown);
  for (const id of ['number', 'issued-queue', 'issued-ahead', 'slip-number', 'slip-queue', 'slip-time', 'back-in']) $(id).textContent = '';
  $('qr').removeAttribute('src');
  $('slip-qr').removeAttribute('src');
  delete $('qr').dataset.url;
  $('name').value = '';
  $('issued').hidden = true;
  $('start').hidden = false;
  busy = false;
  renderServices();
  if (t.lang !== home) t = await useLang(home);
  renderLangs();
  refresh();
}

$('services').addEventListener('click', (ev) => {
  const b = ev.target.closest('[data-queue-id]');
  if (b && !b.disabled) take(b.dataset.queueId);
});
$('langs').addEventListener('click', async (ev) => {
  const b = ev.target.closest('[data-lang]');
  if (!b) return;
  t = await useLang(b.dataset.lang);
  renderLangs();
  renderServices();
});
$('print').addEventListener('click', () => window.print());
$('done').addEventListener('click', backToStart);

let refresher = null;
t = await pageLang();
home = t.lang;
renderLangs();
if (!key) {
  closed(t('kiosk.no_key_title'), t('kiosk.no_key'));
} else {
  await refresh();
  refresher = setInterval(() => busy || refresh(), 15000);
}
