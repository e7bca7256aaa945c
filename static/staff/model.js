// The staff console's model of one queue: the line (in call order) and the active tickets (called,
// being served…), as the staff socket's frames tell them (PROTOCOL.md, "Live sockets"). Pure: no
// DOM, no fetch, no globals; a frame gives a new state and never changes the old one.

/** What is known of queue `queueId` before its first frame: nothing (`seq` null). */
export function initial(queueId) {
  return { queueId, seq: null, queue: null, line: [], active: new Map() };
}

/** Whether a snapshot has arrived, so the state can be shown. */
export const isReady = (state) => state.seq != null;

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
  return { state: applyEvent(state, ev), resync: false };
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
  return {
    ...state,
    seq: frame.seq,
    queue: frame.queue || state.queue,
    line: (frame.waiting || []).slice().sort((a, b) => (a.position ?? 1e9) - (b.position ?? 1e9)),
    active: new Map((frame.active || []).map((t) => [t.id, t])),
  };
}

function applyEvent(state, ev) {
  const next = { ...state, seq: ev.seq };
  if (ev.queue && typeof ev.queue === 'object') next.queue = { ...state.queue, ...ev.queue };
  const t = ev.ticket;
  if (!t) return next;
  // Whatever the event, the ticket leaves where it was, then goes where it now is.
  next.line = state.line.filter((x) => x.id !== t.id);
  next.active = new Map(state.active);
  next.active.delete(t.id);
  // Transferred away, or finished (completed, cancelled…): it leaves this console.
  const gone = ev.kind === 'ticket.transferred_out' || t.finished_at || (t.queue_id && t.queue_id !== state.queueId);
  if (gone) return next;
  if (t.position != null) {
    // In line at `position` (1 = next); everyone after it moves down one.
    const at = Math.max(0, Math.min(next.line.length, t.position - 1));
    next.line.splice(at, 0, t);
  } else {
    next.active.set(t.id, t);
  }
  return next;
}
