// Ticket page /t/{ticket_id}: the customer's place, live; a full-screen alert when called.
import { api, Problem, LiveSocket, waitRange, chime, store, pill } from './qc.js';
import { pageLang } from './page-lang.js';
import { doneText, ended, phase, readType, statusLabel, statusPill } from './ticket-type.js';
import { keyBytes, pickLang } from './notify.js';
import { number } from './i18n.js';
import { asksFeedback, feedbackBody, hereDue, snoozeChoices, snoozedText, snoozeNote, snoozeOffer } from './ticket-model.js';

const $ = (id) => document.getElementById(id);
const tid = decodeURIComponent(location.pathname.split('/')[2] || '');
const main = $('main');
const card = $('card');
const TOKEN = `qc.ticket.${tid}`;
const FIRST = `qc.first.${tid}`;
const t = await pageLang();
const CONN = { connecting: t('conn.connecting'), live: t('conn.live'), reconnecting: t('conn.reconnecting'), ended: t('conn.not_valid') };

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
/** Queue id → its last public summary read (its snooze limits and how many wait). */
const summaries = new Map();
/** When "here" was last said on the socket (ms), and whether the ticket has ended. */
let hereAt = null;
let over = false;

function problem(text) {
  $('problem').textContent = text;
  $('problem').hidden = !text;
}

function setConn(state) {
  pill($('conn'), state, CONN[state]);
  main.classList.toggle('stale', state !== 'live');
  if (state === 'live') problem('');
}

function alertCalled(tk) {
  chime();
  // Screen readers hear the call as an alert, whatever has the focus.
  $('announce').textContent = t('ticket.called_announce', { number: tk.number, counter: tk.counter || t('ticket.the_counter') });
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
    summaries.set(qid, q);
    $('queue-name').textContent = ` · ${q.name}`;
    return readType(q.ticket_type);
  } catch {
    types.delete(qid); // read it again with the next frame
    return readType(null);
  }
}

/** Shows ticket `tk` once its queue's type is known; `firstFrame`: the first of a connection. */
function show(tk, firstFrame) {
  latest = tk;
  if (!types.has(tk.queue_id)) types.set(tk.queue_id, summary(tk.queue_id));
  types.get(tk.queue_id).then((type) => {
    if (latest === tk) render(tk, type, firstFrame);
  });
}

function render(tk, type, firstFrame) {
  const prev = last;
  if (prev && tk.queue_id === prev.queue_id && tk.seq < prev.seq) return;
  last = tk;
  if (tk.seq != null) document.body.dataset.seq = String(tk.seq);

  $('number').textContent = tk.number;
  $('called-number').textContent = tk.number;
  const final = ended(tk, type);
  const now = phase(tk, type);
  const st = $('status');
  const { look, text } = statusPill(tk, type, t);
  pill(st, look, text);
  st.dataset.status = card.dataset.status = tk.status;
  // The card's look follows the phase, so a custom type's states look like the default's.
  card.dataset.phase = now;
  card.classList.toggle('final', final);

  const pos = tk.position;
  const ahead = $('ahead');
  ahead.dataset.position = pos ?? '';
  const [big, small] = pos != null ? (pos <= 1 ? [t('ticket.next'), t('ticket.your_place')] : [number(pos - 1, t.lang), t('ticket.ahead_label')])
    : now === 'called' ? [t('ticket.go_to', { counter: tk.counter || t('ticket.the_counter') }), t('ticket.your_turn')]
      : now === 'serving' ? [t('ticket.being_served'), tk.counter ? t('ticket.at_counter', { counter: tk.counter }) : t('ticket.thanks_waiting')] : ['–', ''];
  ahead.querySelector('b').textContent = big;
  ahead.querySelector('span').textContent = small;
  $('wait').textContent = pos != null ? waitRange(tk.eta_seconds, tk.eta_p90_seconds, t) : '–';
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
    const [title, sentence] = doneText(tk, type, t);
    $('done-title').textContent = title;
    $('done-text').textContent = sentence;
    if (store.get(`qc.queue.${tk.queue_id}`) === tk.id) store.del(`qc.queue.${tk.queue_id}`);
    $('back').textContent = t('ticket.again');
  } else {
    store.set(`qc.queue.${tk.queue_id}`, tk.id);
    $('back').textContent = t('ticket.back');
  }
  $('cancel').hidden = !(now === 'line' || now === 'called');
  over = final;
  // What was just said of the place in line ("Done: 2 people ahead") goes once it is left.
  if (now !== 'line') note('');
  renderSnooze(tk);
  // A rating is asked of a visit that went through to its end (not of one left or missed).
  if (final && now === 'done' && (type.final.includes(tk.status) || tk.finished_at)) askFeedback();
  else if (!final) $('feedback').hidden = true;

  $('called-counter').textContent = tk.counter || t('ticket.the_counter');
  if (now !== 'called') {
    $('called').hidden = true;
  } else if (!prev || phase(prev, type) !== 'called' || prev.called_at !== tk.called_at || prev.counter !== tk.counter
    || (!firstFrame && tk.seq > prev.seq)) {
    alertCalled(tk); // a call, or a recall: a new called frame on a live socket
  }
  document.title = `${tk.number} · ${pos != null ? (pos <= 1 ? t('ticket.next') : t('ticket.ahead_short', { n: number(pos - 1, t.lang) })) : statusLabel(tk, type, t)}`;
}

// "I need more time" ----------------------------------------------------------------------------

/** What the queue lets this ticket do now (ticket-model.js `snoozeOffer`), from its summary. */
function offerFor(tk) {
  const q = summaries.get(tk.queue_id);
  return snoozeOffer(q?.snooze ?? null, tk, q?.waiting);
}

/** The "I need more time" button (offered while in line), and its panel when open. */
function renderSnooze(tk) {
  const offer = offerFor(tk);
  const open = $('snooze-open');
  open.hidden = !offer;
  if (!offer) closeSnooze();
  if ($('snooze').hidden || !offer) return;
  const sel = $('snooze-places');
  const choices = snoozeChoices(offer);
  const was = sel.value;
  if (sel.dataset.max !== String(offer.max)) {
    sel.dataset.max = String(offer.max);
    sel.replaceChildren(...choices.map((n) => new Option(number(n, t.lang), String(n))));
    if (choices.includes(Number(was))) sel.value = was;
  }
  $('snooze-choose').hidden = choices.length === 0;
  $('snooze-go').hidden = choices.length === 0;
  $('snooze-note').textContent = snoozeNote(offer, t);
}

function closeSnooze() {
  $('snooze').hidden = true;
  $('snooze-open').setAttribute('aria-expanded', 'false');
}

$('snooze-open').addEventListener('click', async () => {
  if (!$('snooze').hidden) return closeSnooze();
  $('snooze-error').textContent = '';
  $('snooze').hidden = false;
  $('snooze-open').setAttribute('aria-expanded', 'true');
  // The line moved since the summary was read: how many are behind now bounds the choice.
  if (last) {
    try {
      summaries.set(last.queue_id, await api('GET', `/api/v1/queues/${last.queue_id}`));
    } catch { /* the last summary read will do */ }
    renderSnooze(last);
  }
  $('snooze-places').focus();
});
$('snooze-keep').addEventListener('click', () => {
  closeSnooze();
  $('snooze-open').focus();
});
$('snooze-go').addEventListener('click', async () => {
  const b = $('snooze-go');
  const places = Number($('snooze-places').value);
  if (!places || b.disabled) return;
  b.disabled = true;
  $('snooze-error').textContent = '';
  try {
    const tk = await api('POST', `/api/v1/tickets/${tid}/snooze`, { token, body: { places } });
    closeSnooze();
    note(snoozedText(tk, t));
    show(tk, false);
  } catch (e) {
    $('snooze-error').textContent = e instanceof Problem ? e.plainIn(t) : t('common.error');
  } finally {
    b.disabled = false;
  }
});

/** A passing sentence under the ticket (what just happened). */
function note(text) {
  $('ticket-note').textContent = text;
  $('ticket-note').hidden = !text;
}

// Here -------------------------------------------------------------------------------------------

/** Tells staff the customer is on the page (ticket-model.js `hereDue` says when). */
function sayHere(reason) {
  if (over || !sock) return;
  const now = Date.now();
  if (!hereDue({ reason, last: hereAt, now, visible: !document.hidden })) return;
  if (sock.send({ type: 'here' })) hereAt = now;
}
document.addEventListener('visibilitychange', () => sayHere('visible'));
setInterval(() => sayHere('tick'), 15_000);

// Feedback ---------------------------------------------------------------------------------------

const FEEDBACK_SKIPPED = `qc.feedback.${tid}`;
/** Whether the server was asked for this ticket's feedback already (once per page). */
let feedbackAsked = false;

async function askFeedback() {
  if (feedbackAsked || !token) return;
  feedbackAsked = true;
  let existing;
  try {
    existing = await api('GET', `/api/v1/tickets/${tid}/feedback`, { token });
  } catch (e) {
    existing = e instanceof Problem && e.status === 404 ? null : undefined;
  }
  if (!asksFeedback({ ended: true, existing, dismissed: store.get(FEEDBACK_SKIPPED) === '1' })) return;
  const stars = $('stars');
  stars.replaceChildren(...[1, 2, 3, 4, 5].flatMap((n) => {
    const input = Object.assign(document.createElement('input'), { type: 'radio', name: 'rating', value: String(n), id: `fb-${n}` });
    input.setAttribute('aria-label', t('feedback.star', { count: n, n: number(n, t.lang) }));
    const label = document.createElement('label');
    label.htmlFor = input.id;
    const star = document.createElement('span');
    star.setAttribute('aria-hidden', 'true');
    star.textContent = '★ ';
    label.append(star, number(n, t.lang));
    return [input, label];
  }));
  $('feedback').hidden = false;
}

$('feedback-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  const picked = form.querySelector('input[name=rating]:checked');
  const { body, error } = feedbackBody(picked?.value, form.comment.value);
  const err = $('feedback-error');
  if (error) {
    err.textContent = t(error);
    form.querySelector('input[name=rating]')?.focus();
    return;
  }
  err.textContent = '';
  $('feedback-send').disabled = true;
  try {
    await api('POST', `/api/v1/tickets/${tid}/feedback`, { token, body });
    thanked();
  } catch (e) {
    if (e instanceof Problem && e.code === 'feedback_given') thanked();
    else err.textContent = e instanceof Problem ? e.plainIn(t) : t('common.error');
  } finally {
    $('feedback-send').disabled = false;
  }
});
$('feedback-skip').addEventListener('click', () => {
  store.set(FEEDBACK_SKIPPED, '1');
  $('feedback').hidden = true;
});

function thanked() {
  $('feedback-form').hidden = true;
  $('feedback-thanks').hidden = false;
}

function invalid(text) {
  problem(text);
  card.hidden = true;
  $('hint').hidden = true;
  $('cancel').hidden = true;
  $('called').hidden = true;
  $('snooze-open').hidden = true;
  closeSnooze();
}

$('called-ok').addEventListener('click', () => { $('called').hidden = true; });
$('sound').addEventListener('click', () => {
  chime([880]);
  $('sound').textContent = t('ticket.sound_on');
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
    $('confirm-error').textContent = e instanceof Problem ? e.plainIn(t) : t('common.error');
    b.disabled = false;
  }
});

if (!tid || !token) {
  setConn('ended');
  invalid(t('ticket.no_key'));
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
      if (s === 'live') sayHere('open');
    },
    onEnd: (code) => {
      invalid(code === 4401 || code === 4404 || code === 401 || code === 404 ? t('ticket.invalid') : t('ticket.cannot_follow'));
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
      pushBtn.textContent = t('ticket.push_on');
    } catch (e) {
      pushBtn.textContent = t('ticket.push_off');
    }
  });
}
