// Kiosk display: /display/{queue_id}?key=K (one queue), /display?key=K (every queue of a device
// key, side by side) or /display?queues=a,b&key=K (one column each). Numbers and counters only:
// it never fetches tickets, and display frames carry no names. Each call and recall chimes, then
// is said aloud in the display's language (`?voice=off` keeps the chime only).
import { api, Problem, LiveSocket, h, chime } from '/static/qc.js';
import { hoursTexts } from '/static/hours.js';
import { clock, duration, number } from '/static/i18n.js';
import { pageLang } from '/static/page-lang.js';
import { spoken } from '/static/display-voice.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const key = params.get('key');
const pathId = decodeURIComponent(location.pathname.split('/')[2] || '');
let ids = (pathId ? [pathId] : (params.get('queues') || '').split(','))
  .map((s) => s.trim()).filter(Boolean).slice(0, 12);
let single = ids.length === 1;
const voice = params.get('voice') !== 'off';
const t = await pageLang();
const STATUS = { paused: t('status.paused'), closed: t('status.closed') };
const CONN = { connecting: t('conn.connecting'), live: t('conn.live'), reconnecting: t('conn.reconnecting'), ended: t('conn.stopped') };
const columns = [];
/** Queue summaries the device key answered, by id (`/display?key=K`). */
const known = new Map();
const FLASH = 5500;

function message(title, text) {
  $('message').replaceChildren(h('strong', {}, title), h('span', {}, text));
  $('message').hidden = false;
  $('conn').dataset.state = 'ended';
  $('conn').textContent = CONN.ended;
  $('sound-hint').hidden = true;
}

// One column: the same class names in both layouts; ids too when it is the only one.
function column(qid) {
  const id = (name) => (single ? name : null);
  const el = {
    name: h(single ? 'h1' : 'h2', { class: 'queue-name' }, '\u00a0'),
    status: h('span', { class: 'qstatus', hidden: true }),
    hours: h('span', { class: 'qhours', id: id('hours'), hidden: true }),
    serving: h('ol', { class: 'now-serving', id: id('now-serving'), 'aria-live': 'polite' }),
    noServing: h('p', { class: 'empty' }, t('display.wait_to_be_called')),
    recent: h('ol', { class: 'recent' }),
    next: h('ol', { class: 'next', id: id('next') }),
    noNext: h('p', { class: 'empty' }, t('display.no_one_waiting')),
    waiting: h('b', { class: 'waiting-count', id: id('waiting-count') }, '–'),
    eta: h('b', { class: 'eta-new', id: id('eta-new') }, '–'),
    problem: h('p', { class: 'col-problem', role: 'alert', hidden: true }),
  };
  el.history = h('div', { class: 'history', hidden: true }, h('span', { class: 'label' }, t('display.recent')), el.recent);
  el.root = h('section', { class: 'queue-column stale', 'data-queue-id': qid },
    h('header', { class: 'qhead' }, el.name, el.status, el.hours),
    h('div', { class: 'serving-panel' }, h('h3', { class: 'label' }, t('display.now_serving')), el.serving, el.noServing, el.history),
    h('aside', { class: 'side' },
      h('div', { class: 'panel' }, h('h3', { class: 'label' }, t('display.next_up')), el.next, el.noNext),
      h('div', { class: 'stats' },
        h('div', { class: 'panel' }, el.waiting, h('span', {}, t('display.waiting'))),
        h('div', { class: 'panel' }, el.eta, h('span', {}, t('display.eta_new')))),
      h('figure', { class: 'qr-card' },
        h('img', { class: 'qr', id: id('qr'), src: `/api/v1/queues/${encodeURIComponent(qid)}/qr.svg`, alt: t('display.qr_alt'), width: 240, height: 240 }),
        h('figcaption', {}, t('display.scan'), h('small', {}, t('display.scan_more'))))),
    el.problem);
  const col = { qid, el, state: 'connecting', seen: null, shown: [], history: loadHistory(qid) };
  renderHistory(col);
  return col;
}

function loadHistory(qid) {
  try { return JSON.parse(sessionStorage.getItem(`qc.hist.${qid}`)) || []; } catch { return []; }
}

function renderHistory(col) {
  col.el.recent.replaceChildren(...col.history.map((n) => h('li', {}, n)));
  col.el.history.hidden = col.history.length === 0;
}

function apply(col, f) {
  const { el } = col;
  document.body.dataset.seq = String(f.seq);
  el.root.dataset.seq = String(f.seq);
  const serving = [...(f.now_serving || [])].sort((a, b) => String(b.called_at).localeCompare(String(a.called_at)));
  const k = (s) => `${s.number}|${s.counter}|${s.called_at}`;

  // Numbers that left "now serving" go to the short history.
  const now = new Set(serving.map((s) => s.number));
  for (const n of col.shown) if (!now.has(n)) col.history.unshift(n);
  col.history = [...new Set(col.history)].filter((n) => !now.has(n)).slice(0, 5);
  col.shown = [...now];
  try { sessionStorage.setItem(`qc.hist.${col.qid}`, JSON.stringify(col.history)); } catch { /* fine */ }
  renderHistory(col);

  const first = col.seen === null;
  col.seen ||= new Map(); // call → when it was first seen
  let fresh = false;
  const t0 = Date.now();
  // A recall changes nothing on the board, but is announced again.
  const again = f.announce && f.announce.recall && serving.find((s) => s.number === f.announce.number);
  if (again && !first) {
    col.seen.set(k(again), t0);
    fresh = true;
  }
  el.serving.replaceChildren(...serving.map((s) => {
    if (!col.seen.has(k(s))) {
      col.seen.set(k(s), first ? 0 : t0);
      fresh ||= !first;
    }
    // A flash lasts ~5.5 s and carries on where it was when the board is redrawn.
    const age = t0 - col.seen.get(k(s));
    return h('li', { class: age < FLASH ? 'row flash' : 'row', style: age < FLASH ? `animation-delay:-${age}ms` : null },
      h('span', { class: 'number' }, s.number),
      h('span', { class: 'arrow', 'aria-label': t('display.to') }, '→'),
      h('span', { class: 'counter' }, s.counter || ''));
  }));
  if (col.seen.size > 400) col.seen = new Map(serving.map((s) => [k(s), col.seen.get(k(s))]));
  el.serving.classList.toggle('many', serving.length > 4);
  el.noServing.hidden = serving.length > 0;
  el.next.replaceChildren(...(f.next || []).map((n) => h('li', {}, n)));
  el.noNext.hidden = (f.next || []).length > 0;
  el.waiting.textContent = number(f.waiting, t.lang);
  el.eta.textContent = duration(f.eta_new_seconds, t);
  if (fresh) announce(serving.filter((s) => col.seen.get(k(s)) === t0));
}

/** A call (or recall) chimes, then is said aloud where the browser has a voice for the language. */
function announce(calls) {
  chime();
  if (!voice) return;
  const synth = window.speechSynthesis;
  if (!synth || typeof SpeechSynthesisUtterance === 'undefined') return;
  const voices = synth.getVoices?.() || [];
  const mine = voices.find((v) => String(v.lang).toLowerCase().startsWith(t.lang));
  if (voices.length && !mine) return; // no voice speaks it: the chime said it
  setTimeout(() => {
    for (const c of calls) {
      const u = new SpeechSynthesisUtterance(spoken(c, t));
      u.lang = mine?.lang || t.lang;
      try { if (mine) u.voice = mine; } catch { /* the language alone chooses the voice */ }
      synth.speak(u);
    }
  }, 700); // after the chime
}

async function summary(col) {
  try {
    const q = known.get(col.qid) || await api('GET', `/api/v1/queues/${encodeURIComponent(col.qid)}`);
    known.delete(col.qid); // read afresh next time
    col.el.name.textContent = q.name;
    if (single) document.title = `${q.name} · ${t('display.now_serving')}`;
    col.el.status.textContent = STATUS[q.status] || '';
    col.el.status.hidden = !STATUS[q.status];
    // Opening hours: when an open queue closes, when a closed one opens.
    const { opens, closes } = hoursTexts(q, Date.now(), t);
    const text = q.status === 'open' ? closes || opens : opens;
    col.el.hours.textContent = text;
    col.el.hours.hidden = !text;
    // Read again just after the next opening or closing, rather than up to a minute late.
    clearTimeout(col.hoursTimer);
    const next = Math.min(...[q.opens_at, q.closes_at].filter(Boolean).map(Date.parse));
    if (next - Date.now() < 86_400_000) col.hoursTimer = setTimeout(() => summary(col), Math.max(0, next - Date.now()) + 2000);
  } catch (e) {
    if (e instanceof Problem && (e.status === 404 || e.status === 400)) col.el.name.textContent = t('display.unknown_queue');
  }
}

function overall() {
  const states = columns.map((c) => c.state);
  const alive = states.filter((s) => s !== 'ended');
  const s = alive.length === 0 ? 'ended'
    : alive.includes('reconnecting') ? 'reconnecting'
      : alive.includes('connecting') ? 'connecting' : 'live';
  const c = $('conn');
  c.dataset.state = s;
  c.textContent = CONN[s];
}

function connect(col) {
  const sock = new LiveSocket({
    url: (since) => `/ws/queues/${encodeURIComponent(col.qid)}/display?key=${encodeURIComponent(key)}${since != null ? `&since=${since}` : ''}`,
    onMessage: (msg) => {
      if (msg.type !== 'display') return;
      apply(col, msg);
      sock.seen(msg.seq);
    },
    onState: (s) => {
      col.state = s;
      col.el.root.classList.toggle('stale', s !== 'live');
      overall();
    },
    onEnd: (code) => {
      col.el.problem.textContent = code === 4401 ? t('display.key_refused')
        : code === 4404 ? t('display.queue_not_found') : t('display.cannot_show');
      col.el.problem.hidden = false;
      col.el.root.classList.add('ended');
    },
  });
  sock.start();
}

function tick() {
  $('clock').textContent = clock(Date.now(), t.lang);
  setTimeout(tick, 60000 - (Date.now() % 60000) + 50);
}

// Sound needs a first gesture in most browsers: a discreet hint until then.
function unlock() {
  chime([]);
  $('sound-hint').hidden = true;
  removeEventListener('pointerdown', unlock);
  removeEventListener('keydown', unlock);
}
addEventListener('pointerdown', unlock);
addEventListener('keydown', unlock);
chime([]);
setTimeout(() => { if (chime.ctx?.state === 'running') $('sound-hint').hidden = true; }, 300);

// Keep the screen awake where the browser allows it; hide an idle mouse pointer.
async function awake() {
  try { if (document.visibilityState === 'visible') await navigator.wakeLock?.request('screen'); } catch { /* fine */ }
}
document.addEventListener('visibilitychange', awake);
let idle;
addEventListener('mousemove', () => {
  document.body.classList.remove('idle');
  clearTimeout(idle);
  idle = setTimeout(() => document.body.classList.add('idle'), 3000);
});

tick();
// Without queues in the address, the queues are the device key's own.
if (!ids.length && key) {
  try {
    const d = await api('GET', '/api/v1/kiosk', { headers: { Authorization: `Kiosk ${key}` } });
    for (const q of d.queues) known.set(q.id, q);
    ids = d.queues.map((q) => q.id);
    single = ids.length === 1;
  } catch (e) {
    if (e instanceof Problem && e.status === 401) ids = null;
  }
}
document.body.classList.add(single ? 'single' : 'multi');
if (ids === null) {
  message(t('display.key_invalid_title'), t('display.key_invalid'));
} else if (!ids.length) {
  message(t('display.no_queue_title'), t('display.no_queue'));
} else if (!key) {
  message(t('display.no_key_title'), t('display.no_key'));
} else {
  document.body.style.setProperty('--cols', ids.length);
  for (const qid of ids) {
    const col = column(qid);
    columns.push(col);
    $('board').append(col.el.root);
    summary(col);
    setInterval(() => summary(col), 60000);
    connect(col);
  }
  awake();
  idle = setTimeout(() => document.body.classList.add('idle'), 3000);
}
