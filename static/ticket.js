// Ticket page /t/{ticket_id}: the customer's place, live; a full-screen alert when called.
import { api, Problem, LiveSocket, waitRange, chime, store, pill } from './qc.js';
import { doneText, ended, phase, readType, statusLabel, statusPill } from './ticket-type.js';
import { keyBytes, pickLang } from './notify.js';

const $ = (id) => document.getElementById(id);
const tid = decodeURIComponent(location.pathname.split('/')[2] || '');
const main = $('main');
const card = $('card');
const TOKEN = `qc.ticket.${tid}`;
const FIRST = `qc.first.${tid}`;
const CONN = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', ended: 'Not valid' };

let token = new URLSearchParams(location.search).get('token');
if (token) {
  store.set(TOKEN, token);
  const u = new URL(location.href);
  u.searchParams.delete('token');
  history.replaceState(null, '', u.pathname + u.search + u.hash);
} else {
  token = store.get(TOKEN);
}

let last = null; // the ticket shown
let fresh = true; // the next frame is the first of a connection
let latest = null; // the last ticket received, shown once its queue's type is known
let sock = null;
/** Queue id → its ticket type (a promise: the summary is read once per queue). */
const types = new Map();

function problem(text) {
  $('problem').textContent = text;
  $('problem').hidden = !text;
}

function setConn(state) {
  pill($('conn'), state, CONN[state]);
  main.classList.toggle('stale', state !== 'live');
  if (state === 'live') problem('');
}

function alertCalled() {
  chime();
  try { navigator.vibrate?.([300, 150, 300]); } catch { /* not allowed */ }
  $('called').hidden = false;
  $('called-ok').focus();
}

// The summary of the ticket's queue (read once per queue: a transfer moves the ticket): its
// name, and its ticket type, which says how the ticket's status reads and when it has ended.
async function summary(qid) {
  $('back').href = `/q/${qid}`;
  $('back').hidden = false;
  try {
    const q = await api('GET', `/api/v1/queues/${qid}`);
    $('queue-name').textContent = ` · ${q.name}`;
    return readType(q.ticket_type);
  } catch {
    types.delete(qid); // read it again with the next frame
    return readType(null);
  }
}

/** Shows ticket `t` once its queue's type is known; `firstFrame`: the first of a connection. */
function show(t, firstFrame) {
  latest = t;
  if (!types.has(t.queue_id)) types.set(t.queue_id, summary(t.queue_id));
  types.get(t.queue_id).then((type) => {
    if (latest === t) render(t, type, firstFrame);
  });
}

function render(t, type, firstFrame) {
  const prev = last;
  if (prev && t.queue_id === prev.queue_id && t.seq < prev.seq) return;
  last = t;
  if (t.seq != null) document.body.dataset.seq = String(t.seq);

  $('number').textContent = t.number;
  $('called-number').textContent = t.number;
  const final = ended(t, type);
  const now = phase(t, type);
  const st = $('status');
  const { look, text } = statusPill(t, type);
  pill(st, look, text);
  st.dataset.status = card.dataset.status = t.status;
  // The card's look follows the phase, so a custom type's states look like the default's.
  card.dataset.phase = now;
  card.classList.toggle('final', final);

  const pos = t.position;
  const ahead = $('ahead');
  ahead.dataset.position = pos ?? '';
  const [big, small] = pos != null ? (pos <= 1 ? ['You are next', 'your place'] : [pos - 1, 'ahead of you'])
    : now === 'called' ? [`Go to ${t.counter || 'the counter'}`, 'it is your turn']
      : now === 'serving' ? ['You are being served', t.counter ? `at ${t.counter}` : 'thank you for waiting'] : ['–', ''];
  ahead.querySelector('b').textContent = big;
  ahead.querySelector('span').textContent = small;
  $('wait').textContent = pos != null ? waitRange(t.eta_seconds, t.eta_p90_seconds) : '–';
  $('line').classList.toggle('solo', pos == null);

  // Progress from where this browser first saw the ticket to the front.
  let first = Number(store.get(FIRST)) || 0;
  if (pos != null && pos > first) store.set(FIRST, String((first = pos)));
  const pct = pos == null ? (now === 'line' ? 0 : 100) : Math.round((100 * (first - pos + 1)) / (first + 1));
  $('bar').style.width = `${pct}%`;
  $('bar').parentElement.setAttribute('aria-valuenow', pct);

  $('line').hidden = final;
  $('done').hidden = !final;
  $('hint').hidden = now !== 'line';
  if (final) {
    const [title, sentence] = doneText(t, type);
    $('done-title').textContent = title;
    $('done-text').textContent = sentence;
    if (store.get(`qc.queue.${t.queue_id}`) === t.id) store.del(`qc.queue.${t.queue_id}`);
    $('back').textContent = 'Join the queue again';
  } else {
    store.set(`qc.queue.${t.queue_id}`, t.id);
    $('back').textContent = 'Back to the queue page';
  }
  $('cancel').hidden = !(now === 'line' || now === 'called');

  $('called-counter').textContent = t.counter || 'the counter';
  if (now !== 'called') {
    $('called').hidden = true;
  } else if (!prev || phase(prev, type) !== 'called' || prev.called_at !== t.called_at || prev.counter !== t.counter
    || (!firstFrame && t.seq > prev.seq)) {
    alertCalled(); // a call, or a recall: a new called frame on a live socket
  }
  document.title = `${t.number} · ${pos != null ? (pos <= 1 ? 'You are next' : `${pos - 1} ahead`) : statusLabel(t, type)}`;
}

function invalid(text) {
  problem(text);
  card.hidden = true;
  $('hint').hidden = true;
  $('cancel').hidden = true;
  $('called').hidden = true;
}

$('called-ok').addEventListener('click', () => { $('called').hidden = true; });
$('sound').addEventListener('click', () => {
  chime([880]);
  $('sound').textContent = 'Sound alert on';
  $('sound').disabled = true;
});
// Any tap unlocks audio for the alert later (browsers block sound until a gesture).
addEventListener('pointerdown', () => chime([]), { once: true });

const dlg = $('confirm');
$('cancel').addEventListener('click', () => {
  $('confirm-error').textContent = '';
  $('cancel-confirm').disabled = false;
  if (dlg.showModal) dlg.showModal();
  else dlg.setAttribute('open', '');
});
const closeDlg = () => (dlg.close ? dlg.close() : dlg.removeAttribute('open'));
$('cancel-keep').addEventListener('click', closeDlg);
$('cancel-confirm').addEventListener('click', async () => {
  const b = $('cancel-confirm');
  b.disabled = true;
  try {
    show(await api('POST', `/api/v1/tickets/${tid}/cancel`, { token }), false);
    closeDlg();
  } catch (e) {
    $('confirm-error').textContent = e instanceof Problem ? e.plain : 'Something went wrong. Please try again.';
    b.disabled = false;
  }
});

if (!tid || !token) {
  setConn('ended');
  invalid('This page does not have the key to your ticket. Please open the link you got when you joined, or join the queue again.');
} else {
  sock = new LiveSocket({
    url: (since) => `/ws/tickets/${encodeURIComponent(tid)}?token=${encodeURIComponent(token)}${since != null ? `&since=${since}` : ''}`,
    onMessage: (msg) => {
      if (msg.type === 'ticket' && msg.ticket) {
        show(msg.ticket, fresh);
        sock.seen(msg.ticket.seq);
      }
      fresh = false;
    },
    onState: (s) => {
      if (s !== 'live') fresh = true;
      setConn(s);
    },
    onEnd: (code) => {
      invalid(code === 4401 || code === 4404 || code === 401 || code === 404
        ? 'This ticket link is no longer valid. To be served, scan the queue\'s code or open its page to join again.'
        : 'This ticket cannot be followed right now. Please reload the page.');
    },
  }).start();
}

// "Notify me on this phone": a push subscription for this ticket, so the call reaches a locked
// phone as a system notification (static/sw.js shows it).
const pushBtn = $('push');
if (tid && token && 'serviceWorker' in navigator && 'PushManager' in window && window.isSecureContext) {
  pushBtn.hidden = false;
  pushBtn.addEventListener('click', async () => {
    pushBtn.disabled = true;
    try {
      if ((await Notification.requestPermission()) !== 'granted') throw new Error('denied');
      const reg = await navigator.serviceWorker.register('/static/sw.js', { scope: '/static/' });
      const { key } = await api('GET', '/api/v1/push/public-key');
      const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
      await api('PUT', `/api/v1/tickets/${tid}/push`, {
        token, body: { subscription: sub.toJSON(), lang: pickLang(navigator.languages) },
      });
      pushBtn.textContent = 'This phone will be notified';
    } catch (e) {
      pushBtn.textContent = 'Notifications are not available here';
    }
  });
}
