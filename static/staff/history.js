// The points of the "last hour" chart: from the server's history endpoint when it answers, else
// built here from the socket, one bucket per minute from when the page opened the queue. Pure:
// no DOM, no fetch.

import { EN } from '../i18n.js';

const MINUTE = 60_000;

/** A queue's chart data before anything is known. */
export function newHistory() {
  // mode: 'server' (points from GET …/history) or 'local' (buckets from the socket);
  // local: minute (ms) → {at, waiting, waits: [seconds waited by each person called]}.
  return { mode: 'server', points: [], local: new Map() };
}

/** The points of GET /api/v1/queues/{id}/history, with times in ms. */
export function serverPoints(res) {
  return (res?.points || []).map((p) => ({ at: Date.parse(p.at), waiting: p.waiting, mean_wait_seconds: p.mean_wait_seconds }));
}

/**
 * Folds the line's length now (and, for a call, how long that person waited) into this minute's
 * bucket; buckets older than the chart's hour are dropped. Changes `history.local`.
 */
export function record(history, waiting, ev, now = Date.now()) {
  const minute = Math.floor(now / MINUTE) * MINUTE;
  let b = history.local.get(minute);
  if (!b) {
    b = { at: minute, waiting: 0, waits: [] };
    history.local.set(minute, b);
    for (const k of history.local.keys()) if (k < minute - 61 * MINUTE) history.local.delete(k);
  }
  b.waiting = waiting;
  if (ev && ev.kind === 'ticket.called' && ev.ticket?.joined_at) {
    const at = Date.parse(ev.ticket.called_at || ev.at);
    b.waits.push(Math.max(0, (at - Date.parse(ev.ticket.joined_at)) / 1000));
  }
}

/** What the chart draws: the history, then the live count now; and a note while it fills in. */
export function chartPoints(history, waiting, now = Date.now()) {
  const live = { at: now, waiting, mean_wait_seconds: null };
  if (history.mode === 'server') return { points: [...history.points, live], note: '' };
  const points = [...history.local.values()].map((b) => ({
    at: b.at,
    waiting: b.waiting,
    mean_wait_seconds: b.waits.length ? b.waits.reduce((x, y) => x + y, 0) / b.waits.length : null,
  }));
  points.push(live);
  return { points, note: points.length <= 2 ? EN('console.chart_collecting') : '' };
}
