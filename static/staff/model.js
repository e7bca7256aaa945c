// The staff console's model of one queue: the head of the line it knows (in call order), how many
// are in line in all, and the active tickets (called, being served…), as the staff socket's
// frames and the pages of GET …/line tell them (PROTOCOL.md, "Live sockets"). Pure: no DOM, no
// fetch, no globals; a frame gives a new state and never changes the old one.
//
// A line may hold 500,000 people, and a snapshot brings only its head: the model knows positions
// 1..line.length exactly and never more. An event about someone past that head only changes the
// count; when the head runs short, `nextPage` says which page to read to fill it again.

/** Tickets a console reads per page ("Show more" adds one page). */
export const PAGE = 100;
/** The head runs short when fewer than `want - REFILL_BELOW` are known while more wait. */
const REFILL_BELOW = PAGE / 2;
/** The most GET …/line answers at once. */
const MAX_PAGE = 500;

/** What is known of queue `queueId` before its first frame: nothing (`seq` null). */
export function initial(queueId) {
  return {
    queueId,
    seq: null,
    queue: null,
    /** The head of the line: the tickets at positions 1..line.length, in order. */
    line: [],
    /** How many are in line (at least line.length). */
    waitingTotal: 0,
    /** How many of the head the console wants to know (grows with "Show more"). */
    want: PAGE,
    /** A page read ahead of the socket, kept until the events reach its seq. */
    early: null,
    active: new Map(),
  };
}

/** Whether a snapshot has arrived, so the state can be shown. */
export const isReady = (state) => state.seq != null;

/** Whether the console knows the whole line. */
export const knowsAll = (state) => state.line.length >= state.waitingTotal;

/**
 * Applies one frame of the staff socket. Answers the next state (the same object when the frame
 * changes nothing), and `resync: true` when the frame shows that something was missed: the
 * socket must come back with `since=` and receive it, rather than guess (the state is unchanged).
 */
export function apply(state, frame) {
  const unchanged = { state, resync: false };
  if (frame?.type === 'snapshot') {
    if (isReady(state) && frame.seq <= state.seq) return unchanged;
    return { state: snapshot(state, frame), resync: false };
  }
  if (frame?.type !== 'event' || !frame.event) return unchanged;
  const ev = frame.event;
  // Events with no snapshot to apply them to (not on a first connect): start over.
  if (!isReady(state)) return { state, resync: true };
  if (ev.seq <= state.seq) return unchanged; // already applied (a resumed socket's overlap)
  if (ev.seq > state.seq + 1) return { state, resync: true };
  return { state: takeEarly(applyEvent(state, ev)), resync: false };
}

/**
 * The page of GET /api/v1/queues/{id}/line to read next, `{after, limit}`, or null when the head
 * is long enough (or everyone is known, or a page already read waits for the socket to catch up).
 */
export function nextPage(state) {
  if (!isReady(state) || state.early) return null;
  const known = state.line.length;
  if (known >= state.waitingTotal || known >= Math.max(1, state.want - REFILL_BELOW)) return null;
  return { after: known, limit: Math.min(MAX_PAGE, Math.max(state.want - known, 1)) };
}

/** Whether the head runs short and a page should be read (see `nextPage`). */
export const needMore = (state) => nextPage(state) != null;

/** The state wanting one more page of the line past what it knows ("Show more"). */
export function showMore(state) {
  return { ...state, want: Math.max(state.want, state.line.length) + PAGE };
}

/**
 * Merges a page of GET …/line (`{seq, waiting_total, tickets}`). A page is applied only at the
 * model's seq, where the two describe the same line: `'applied'`. A page ahead of the socket is
 * kept and applied when the events reach its seq (`'early'`); one behind it is dropped
 * (`'stale'`): read it again.
 */
export function applyPage(state, page) {
  if (!isReady(state) || page?.seq == null) return { state, status: 'stale' };
  if (page.seq > state.seq) return { state: { ...state, early: page }, status: 'early' };
  if (page.seq < state.seq) return { state, status: 'stale' };
  return { state: merge(state, page), status: 'applied' };
}

/** The state with `patch` merged into its queue (the answer of a status change, say). */
export function patchQueue(state, patch) {
  return state.queue ? { ...state, queue: { ...state.queue, ...patch } } : state;
}

/** A ticket shown by the console, by id. */
export function ticketById(state, id) {
  return state.active.get(id) || state.line.find((t) => t.id === id) || null;
}

function snapshot(state, frame) {
  const line = (frame.waiting || []).slice().sort((a, b) => (a.position ?? 1e9) - (b.position ?? 1e9));
  return {
    ...state,
    seq: frame.seq,
    queue: frame.queue || state.queue,
    line,
    waitingTotal: Math.max(line.length, frame.waiting_total ?? line.length),
    // A page read before this snapshot describes another moment.
    early: null,
    active: new Map((frame.active || []).map((t) => [t.id, t])),
  };
}

/** A page's tickets that continue (or repeat) the known head, in position order. */
function merge(state, page) {
  const line = state.line.slice();
  const tickets = (page.tickets || []).slice().sort((a, b) => a.position - b.position);
  for (const t of tickets) {
    if (t.position == null || t.position < 1) continue;
    if (t.position <= line.length) line[t.position - 1] = t;
    else if (t.position === line.length + 1) line.push(t);
    else break; // a hole: the head changed since the page was asked for; the rest is read again
  }
  const waitingTotal = Math.max(line.length, page.waiting_total ?? state.waitingTotal);
  return { ...state, line, waitingTotal, early: null };
}

/** Applies the page read ahead once the events reach its seq; drops it once they pass it. */
function takeEarly(state) {
  const page = state.early;
  if (!page || page.seq > state.seq) return state;
  return page.seq === state.seq ? merge(state, page) : { ...state, early: null };
}

function applyEvent(state, ev) {
  const next = { ...state, seq: ev.seq };
  if (ev.queue && typeof ev.queue === 'object') next.queue = { ...state.queue, ...ev.queue };
  if (ev.presence && typeof ev.presence === 'object') return withPresence(next, ev.presence);
  const t = ev.ticket;
  if (!t) return next;
  const fresh = ev.kind === 'ticket.joined' || ev.kind === 'ticket.transferred_in';
  const out = ev.kind === 'ticket.transferred_out';
  // A ticket the server puts in another queue (other than by this transfer) is not ours to count.
  const stray = !out && t.queue_id && t.queue_id !== state.queueId;
  const at = state.line.findIndex((x) => x.id === t.id);
  // Every unfinished ticket is in line or active, and the active ones are all known: a ticket
  // neither new, nor active, nor in the known head was in line past it.
  const wasInLine = at >= 0 || (!fresh && !stray && !state.active.has(t.id));

  // Whatever the event, the ticket leaves where it was, then goes where it now is.
  let total = state.waitingTotal - (wasInLine ? 1 : 0);
  next.line = at >= 0 ? state.line.filter((x) => x.id !== t.id) : state.line;
  next.active = new Map(state.active);
  next.active.delete(t.id);
  // Transferred away, or finished (completed, cancelled…): it leaves this console.
  const gone = out || stray || t.finished_at;
  if (!gone && t.position != null) {
    // In line at `position` (1 = next); everyone after it moves down one. Inside the known head
    // (or right after it) it is shown there; further back it is only counted.
    total += 1;
    if (t.position <= next.line.length + 1) {
      next.line = next.line.slice();
      next.line.splice(Math.max(0, t.position - 1), 0, t);
    }
  } else if (!gone) {
    next.active.set(t.id, t);
  }
  next.waitingTotal = Math.max(next.line.length, total);
  return next;
}

/**
 * A `ticket.present` / `ticket.away` event: `{ticket_id, present, at}` and no ticket (presence
 * moves nobody). The ticket it names, where the console shows it, now says whether its customer
 * is on their page and since when (away: when last seen); a ticket not shown is left alone.
 */
function withPresence(state, p) {
  const patch = (t) => ({ ...t, present: !!p.present, present_at: p.at ?? null });
  const at = state.line.findIndex((x) => x.id === p.ticket_id);
  if (at >= 0) {
    const line = state.line.slice();
    line[at] = patch(line[at]);
    return { ...state, line };
  }
  const active = state.active.get(p.ticket_id);
  if (!active) return state;
  const next = new Map(state.active);
  next.set(p.ticket_id, patch(active));
  return { ...state, active: next };
}
