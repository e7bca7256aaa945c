// One queue, live: its staff socket (PROTOCOL.md, "Live sockets") feeding the model, the pages
// of the line read past the snapshot's head, and the numbers and chart history read beside it.

import { LiveSocket } from '../qc.js';
import { EN } from '../i18n.js';
import { call, ENDED, fail, loadQueues } from './actions.js';
import { $, setText, toast } from './dom.js';
import { newHistory, record, serverPoints } from './history.js';
import { apply, applyPage, initial, isReady, nextPage, patchQueue, showMore } from './model.js';
import { renderAll, renderDesk, renderLine, renderManage, renderQueue, renderQueueStatus, setConn, setWaitingRoom, showConsole, updateChart } from './render.js';
import { currentQueue } from './store.js';
import { statsTexts } from './view.js';
import { renderDevices } from './venue.js';
import { loadAppointments, onAppointmentEvent, tickAppointments } from './appointments.js';
import { drawerEvent } from './drawer.js';

const t = EN;

const STATS_EVERY = 30_000;
const HISTORY_EVERY = 60_000;
const QUEUE_KEY = 'qc.staff.queue';
/** Today's appointments are classed again this often (the late ones turn late). */
const APPTS_EVERY = 30_000;
/** A page of the line that could not be used (read behind the socket, failed) is read again after this. */
const PAGE_RETRY = 1_000;
const PAGE_RETRY_FAILED = 5_000;

/** The staff socket can also be told to resume after a gap it noticed. */
class StaffSocket extends LiveSocket {
  /** Drops the socket and comes back with `since` (after a gap in seq). */
  resync() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(3000, 'resync');
  }
}

/** Closes the open queue, if any: its socket, its timers, what was shown of it. */
export function stopQueue(app) {
  if (app.socket) app.socket.stop();
  app.socket = null;
  app.timers.forEach(clearInterval);
  app.timers = [];
  clearTimeout(app.lineTimer);
  app.lineTimer = null;
  app.lineReading = false;
  app.queueId = null;
  app.live = initial(null);
  app.appts = null;
  if ($('#drawer').open) $('#drawer').close();
  delete document.body.dataset.seq;
  $('#waiting').replaceChildren();
  $('#active').replaceChildren();
}

export function openQueue(app, id) {
  stopQueue(app);
  app.queueId = id;
  app.live = initial(id);
  localStorage.setItem(QUEUE_KEY, id);
  $('#queue-select').value = id;
  const q = currentQueue(app);
  setWaitingRoom(t('console.connecting_to', { queue: q ? q.name : t('console.the_queue_lc') }), true);
  if (q) renderQueueStatus(q);
  app.history = newHistory();
  app.chart?.setPoints([], t('console.loading'));
  renderManage(app);
  renderDevices(app);

  // Each callback checks the queue is still the open one: a closed socket may still speak once.
  app.socket = new StaffSocket({
    url: async (sinceSeq) => {
      const { pass } = await call(app, 'POST', '/api/v1/socket-passes');
      const params = new URLSearchParams({ pass });
      if (sinceSeq != null) params.set('since', String(sinceSeq));
      return `/ws/queues/${id}?${params}`;
    },
    onMessage: (msg) => {
      if (app.queueId === id) onFrame(app, msg);
    },
    onState: (state) => {
      if (app.queueId !== id) return;
      setConn(state);
      // Live again: what happened to the day's bookings meanwhile is read, not guessed.
      if (state === 'live') loadAppointments(app).then(() => renderLine(app));
    },
    onEnd: (code, reason) => {
      if (app.queueId !== id || !app.session) return;
      if (code === 401 || code === 4401) return app.signOut(ENDED);
      if (code === 404 || code === 4404) {
        toast(t('console.queue_gone'), 'error');
      } else {
        toast(reason ? t('console.live_stopped_why', { reason }) : t('console.live_stopped'), 'error');
      }
    },
  }).start();

  loadStats(app);
  loadHistory(app);
  app.timers.push(setInterval(() => loadStats(app), STATS_EVERY));
  app.timers.push(setInterval(() => loadHistory(app), HISTORY_EVERY));
  app.timers.push(setInterval(() => tickAppointments(app), APPTS_EVERY));
}

/** The remembered queue if it still exists, else the first; null when there is none. */
export function queueToOpen(app) {
  const remembered = localStorage.getItem(QUEUE_KEY);
  return app.queues.some((q) => q.id === remembered) ? remembered : (app.queues[0]?.id ?? null);
}

function onFrame(app, msg) {
  const before = app.live;
  const { state, resync } = apply(before, msg);
  if (resync) {
    // A hole: come back with since= and receive what was missed, rather than guess.
    app.socket?.resync();
    return;
  }
  if (state === before) return;
  app.live = state;
  app.socket?.seen(state.seq);
  document.body.dataset.seq = String(state.seq);
  if (!isReady(before)) showConsole();
  const ev = msg.type === 'event' ? msg.event : null;
  if (ev?.queue && typeof ev.queue === 'object') {
    const listed = currentQueue(app);
    if (listed) Object.assign(listed, ev.queue);
  } else if (ev?.kind === 'queue.updated') {
    refreshQueueInfo(app);
  }
  if (ev?.appointment && ev.kind?.startsWith('appointment.')) onAppointmentEvent(app, ev);
  if (ev?.ticket && (ev.kind === 'ticket.joined' || ev.kind === 'ticket.transferred_in')) app.flash.add(ev.ticket.id);
  record(app.history, state.waitingTotal, ev);
  renderAll(app);
  drawerEvent(app, ev);
  if (ev?.ticket) statsSoon(app);
  readLine(app);
}

/** "Show more": one page more of the line, kept (and updated by events) while the queue is open. */
export function showMoreLine(app) {
  if (!isReady(app.live)) return;
  app.live = showMore(app.live);
  readLine(app);
}

/**
 * Reads the page of the line the model asks for (model.js `nextPage`), one read at a time. A page
 * that could not be applied is asked again later, or after the next event (onFrame calls here).
 */
async function readLine(app) {
  const id = app.queueId;
  const want = nextPage(app.live);
  if (!id || !want || app.lineReading) return;
  clearTimeout(app.lineTimer);
  app.lineTimer = null;
  // The read under way, by its request: closing (or opening again) the queue forgets it.
  app.lineReading = want;
  renderLine(app);
  let page = null;
  try {
    const params = new URLSearchParams({ after_position: String(want.after), limit: String(want.limit) });
    page = await call(app, 'GET', `/api/v1/queues/${id}/line?${params}`);
  } catch (e) {
    if (app.lineReading === want && !e.handled && !app.lineFailed) fail(e, t('console.line_failed'));
    app.lineFailed = true;
  }
  if (app.lineReading !== want) return;
  app.lineReading = false;
  let status = 'failed';
  if (page) {
    app.lineFailed = false;
    ({ state: app.live, status } = applyPage(app.live, page));
  }
  renderLine(app);
  renderDesk(app);
  // Read on at once while more is wanted from a new place (the page filled the head, or the
  // head shrank while it was read). An early page waits for the socket's events; anything else
  // is read again after the next event, or shortly.
  const again = nextPage(app.live);
  if (status === 'applied' && again && again.after !== want.after) readLine(app);
  else if (status !== 'early' && again) {
    clearTimeout(app.lineTimer);
    app.lineTimer = setTimeout(() => readLine(app), status === 'failed' ? PAGE_RETRY_FAILED : PAGE_RETRY);
  }
}

/** A queue.updated event without the queue in it: read the queue list again for its status. */
async function refreshQueueInfo(app) {
  try {
    await loadQueues(app);
    const q = currentQueue(app);
    if (q && app.live.queue) {
      app.live = patchQueue(app.live, { status: q.status });
      renderQueue(app);
    }
  } catch (e) {
    fail(e);
  }
}

/** Today's numbers again shortly after the line moves (at most every 5 s). */
function statsSoon(app) {
  if (app.statsTimer) return;
  const wait = Math.max(1500, app.statsAt + 5000 - Date.now());
  app.statsTimer = setTimeout(() => {
    app.statsTimer = null;
    loadStats(app);
  }, wait);
}

async function loadStats(app) {
  const id = app.queueId;
  if (!id) return;
  app.statsAt = Date.now();
  let s;
  try {
    s = await call(app, 'GET', `/api/v1/queues/${id}/stats`);
  } catch (e) {
    if (!e.handled && id === app.queueId) setText($('#stat-served-sub'), t('console.stats_failed'));
    return;
  }
  if (id !== app.queueId || !s) return;
  const text = statsTexts(s);
  for (const [key, el] of [
    ['served', 'stat-served'], ['servedSub', 'stat-served-sub'], ['wait', 'stat-wait'], ['waitSub', 'stat-wait-sub'],
    ['noshow', 'stat-noshow'], ['noshowSub', 'stat-noshow-sub'], ['error', 'stat-error'], ['errorSub', 'stat-error-sub'],
  ]) {
    setText($(`#${el}`), text[key]);
  }
  if (s.since) $('#stats-when').title = t('console.stats_since', { when: new Date(s.since).toLocaleString() });
}

async function loadHistory(app) {
  const id = app.queueId;
  if (!id) return;
  try {
    const res = await call(app, 'GET', `/api/v1/queues/${id}/history?minutes=60`);
    if (id !== app.queueId) return;
    app.history.mode = 'server';
    app.history.points = serverPoints(res);
  } catch (e) {
    if (e.handled || id !== app.queueId) return;
    // No history endpoint (404) or it failed: build the chart from what the socket tells us,
    // one point per minute, from when this page opened the queue.
    app.history.mode = 'local';
  }
  updateChart(app);
}
