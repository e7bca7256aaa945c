// Kiosk display: /display/{queue_id}?key=K (one queue) or /display?queues=a,b&key=K (one column each).
// Numbers and counters only: it never fetches tickets, and display frames carry no names.
import { api, Problem, LiveSocket, minutes, h, chime } from '/static/qc.js';
import { hoursTexts } from '/static/hours.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const key = params.get('key');
const pathId = decodeURIComponent(location.pathname.split('/')[2] || '');
const ids = (pathId ? [pathId] : (params.get('queues') || '').split(','))
  .map((s) => s.trim()).filter(Boolean).slice(0, 4);
const single = ids.length === 1;
const STATUS = { paused: 'Paused', closed: 'Closed' };
const CONN = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', ended: 'Stopped' };
const columns = [];
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
    noServing: h('p', { class: 'empty' }, 'Please wait to be called'),
    recent: h('ol', { class: 'recent' }),
    next: h('ol', { class: 'next', id: id('next') }),
    noNext: h('p', { class: 'empty' }, 'No one waiting'),
    waiting: h('b', { class: 'waiting-count', id: id('waiting-count') }, '–'),
    eta: h('b', { class: 'eta-new', id: id('eta-new') }, '–'),
    problem: h('p', { class: 'col-problem', role: 'alert', hidden: true }),
  };
  el.history = h('div', { class: 'history', hidden: true }, h('span', { class: 'label' }, 'Recently called'), el.recent);
  el.root = h('section', { class: 'queue-column stale', 'data-queue-id': qid },
    h('header', { class: 'qhead' }, el.name, el.status, el.hours),
    h('div', { class: 'serving-panel' }, h('h3', { class: 'label' }, 'Now serving'), el.serving, el.noServing, el.history),
    h('aside', { class: 'side' },
      h('div', { class: 'panel' }, h('h3', { class: 'label' }, 'Next up'), el.next, el.noNext),
      h('div', { class: 'stats' },
        h('div', { class: 'panel' }, el.waiting, h('span', {}, 'waiting')),
        h('div', { class: 'panel' }, el.eta, h('span', {}, 'wait for newcomers'))),
      h('figure', { class: 'qr-card' },
        h('img', { class: 'qr', id: id('qr'), src: `/api/v1/queues/${encodeURIComponent(qid)}/qr.svg`, alt: 'QR code to join this queue', width: 240, height: 240 }),
        h('figcaption', {}, 'Scan to join', h('small', {}, 'Wait from your phone, no app needed')))),
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
  const t = Date.now();
  // A recall changes nothing on the board, but is announced again.
  const again = f.announce && f.announce.recall && serving.find((s) => s.number === f.announce.number);
  if (again && !first) {
    col.seen.set(k(again), t);
    fresh = true;
  }
  el.serving.replaceChildren(...serving.map((s) => {
    if (!col.seen.has(k(s))) {
      col.seen.set(k(s), first ? 0 : t);
      fresh ||= !first;
    }
    // A flash lasts ~5.5 s and carries on where it was when the board is redrawn.
    const age = t - col.seen.get(k(s));
    return h('li', { class: age < FLASH ? 'row flash' : 'row', style: age < FLASH ? `animation-delay:-${age}ms` : null },
      h('span', { class: 'number' }, s.number),
      h('span', { class: 'arrow', 'aria-label': 'to' }, '→'),
      h('span', { class: 'counter' }, s.counter || ''));
  }));
  if (col.seen.size > 400) col.seen = new Map(serving.map((s) => [k(s), col.seen.get(k(s))]));
  el.serving.classList.toggle('many', serving.length > 4);
  el.noServing.hidden = serving.length > 0;
  el.next.replaceChildren(...(f.next || []).map((n) => h('li', {}, n)));
  el.noNext.hidden = (f.next || []).length > 0;
  el.waiting.textContent = f.waiting ?? '–';
  el.eta.textContent = minutes(f.eta_new_seconds);
  if (fresh) chime();
}

async function summary(col) {
  try {
    const q = await api('GET', `/api/v1/queues/${encodeURIComponent(col.qid)}`);
    col.el.name.textContent = q.name;
    if (single) document.title = `${q.name} · Now serving`;
    col.el.status.textContent = STATUS[q.status] || '';
    col.el.status.hidden = !STATUS[q.status];
    // Opening hours: when an open queue closes, when a closed one opens.
    const { opens, closes } = hoursTexts(q);
    const text = q.status === 'open' ? closes || opens : opens;
    col.el.hours.textContent = text;
    col.el.hours.hidden = !text;
    // Read again just after the next opening or closing, rather than up to a minute late.
    clearTimeout(col.hoursTimer);
    const next = Math.min(...[q.opens_at, q.closes_at].filter(Boolean).map(Date.parse));
    if (next - Date.now() < 86_400_000) col.hoursTimer = setTimeout(() => summary(col), Math.max(0, next - Date.now()) + 2000);
  } catch (e) {
    if (e instanceof Problem && (e.status === 404 || e.status === 400)) col.el.name.textContent = 'Unknown queue';
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
      col.el.problem.textContent = code === 4401 ? 'Display key not valid for this queue'
        : code === 4404 ? 'Queue not found' : 'This display cannot show this queue';
      col.el.problem.hidden = false;
      col.el.root.classList.add('ended');
    },
  });
  sock.start();
}

function tick() {
  $('clock').textContent = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
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
document.body.classList.add(single ? 'single' : 'multi');
if (!ids.length) {
  message('No queue chosen', 'Open /display/<queue id>?key=<display key>, or /display?queues=<id>,<id>&key=<display key> for several queues.');
} else if (!key) {
  message('This display needs a key', 'Add ?key=<display key> to the address. A manager can create a display key for the queue.');
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
