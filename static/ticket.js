// Ticket page /t/{ticket_id}: the customer's place, live; a full-screen alert when called.
import { api, Problem, LiveSocket, waitRange, chime, store, pill, FINAL } from '/static/qc.js';

const $ = (id) => document.getElementById(id);
const tid = decodeURIComponent(location.pathname.split('/')[2] || '');
const main = $('main');
const card = $('card');
const TOKEN = `qc.ticket.${tid}`;
const FIRST = `qc.first.${tid}`;
const LABEL = { waiting: 'In line', called: 'Called', serving: 'Being served', completed: 'Done', cancelled: 'Cancelled', no_show: 'Missed' };
const DONE = {
  completed: ['All done', 'Thank you for your visit.'],
  cancelled: ['You left the queue', 'You are welcome to join again.'],
  no_show: ['We missed you', 'You were called but did not come. You can join again.'],
};
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
let queueNamed = null;
let sock = null;

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

async function nameQueue(qid) {
  if (queueNamed === qid) return;
  queueNamed = qid;
  $('back').href = `/q/${qid}`;
  $('back').hidden = false;
  try {
    const q = await api('GET', `/api/v1/queues/${qid}`);
    $('queue-name').textContent = ` · ${q.name}`;
  } catch { queueNamed = null; }
}

function render(t) {
  const prev = last;
  if (prev && t.queue_id === prev.queue_id && t.seq < prev.seq) return;
  last = t;
  if (t.seq != null) document.body.dataset.seq = String(t.seq);
  nameQueue(t.queue_id);

  $('number').textContent = t.number;
  $('called-number').textContent = t.number;
  const final = FINAL.includes(t.status);
  const st = $('status');
  pill(st, t.status === 'called' || t.status === 'serving' ? 'live' : final ? '' : 'reconnecting',
    t.status === 'called' && t.counter ? `Called to ${t.counter}` : LABEL[t.status] || t.status);
  st.dataset.status = card.dataset.status = t.status;
  card.classList.toggle('final', final);

  const pos = t.position;
  const ahead = $('ahead');
  ahead.dataset.position = pos ?? '';
  const [big, small] = pos != null ? (pos <= 1 ? ['You are next', 'your place'] : [pos - 1, 'ahead of you'])
    : t.status === 'called' ? [`Go to ${t.counter || 'the counter'}`, 'it is your turn']
      : t.status === 'serving' ? ['You are being served', t.counter ? `at ${t.counter}` : 'thank you for waiting'] : ['–', ''];
  ahead.querySelector('b').textContent = big;
  ahead.querySelector('span').textContent = small;
  $('wait').textContent = pos != null ? waitRange(t.eta_seconds, t.eta_p90_seconds) : '–';
  $('line').classList.toggle('solo', pos == null);

  // Progress from where this browser first saw the ticket to the front.
  let first = Number(store.get(FIRST)) || 0;
  if (pos != null && pos > first) store.set(FIRST, String((first = pos)));
  const pct = pos == null ? (t.status === 'waiting' ? 0 : 100) : Math.round((100 * (first - pos + 1)) / (first + 1));
  $('bar').style.width = `${pct}%`;
  $('bar').parentElement.setAttribute('aria-valuenow', pct);

  $('line').hidden = final;
  $('done').hidden = !final;
  $('hint').hidden = t.status !== 'waiting';
  if (final) {
    const [title, text] = DONE[t.status] || ['Finished', ''];
    $('done-title').textContent = title;
    $('done-text').textContent = text;
    if (store.get(`qc.queue.${t.queue_id}`) === t.id) store.del(`qc.queue.${t.queue_id}`);
    $('back').textContent = 'Join the queue again';
  } else {
    store.set(`qc.queue.${t.queue_id}`, t.id);
    $('back').textContent = 'Back to the queue page';
  }
  $('cancel').hidden = !(t.status === 'waiting' || t.status === 'called');

  $('called-counter').textContent = t.counter || 'the counter';
  if (t.status !== 'called') {
    $('called').hidden = true;
  } else if (!prev || prev.status !== 'called' || prev.called_at !== t.called_at || prev.counter !== t.counter
    || (!fresh && t.seq > prev.seq)) {
    alertCalled(); // a call, or a recall: a new called frame on a live socket
  }
  document.title = `${t.number} · ${pos != null ? (pos <= 1 ? 'You are next' : `${pos - 1} ahead`) : LABEL[t.status] || t.status}`;
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
    render(await api('POST', `/api/v1/tickets/${tid}/cancel`, { token }));
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
        render(msg.ticket);
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
