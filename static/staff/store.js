// The console's state, in one object: staff.js makes it and hands it to every module that needs
// it, so what the page knows is in one place and each module says what it reads.

import { initial } from './model.js';
import { newHistory } from './history.js';

/** The state of a console signed in as `session` (or signed out: null). */
export function createApp(session) {
  return {
    /** `{token, expires_at, user: {id, email, role}, tenant}`, or null when signed out. */
    session,
    /** The queues of GET /api/v1/queues. */
    queues: [],
    /** Ticket type code → its machine (fsm.js `readFsm`); null when the types could not be read. */
    types: null,
    /** The queue open now, its socket, and the intervals that run while it is open. */
    queueId: null,
    socket: null,
    timers: [],
    /** The open queue as its socket told it (model.js). */
    live: initial(null),
    /** The page of the line being read (its request, else false), a read planned, whether the last failed. */
    lineReading: false,
    lineTimer: null,
    lineFailed: false,
    /** Today's appointments of the open queue (staff/appointments.js): {queueId, day, tz, list}, or null. */
    appts: null,
    /** The chart's data (history.js), and the chart. */
    history: newHistory(),
    chart: null,
    /** Ids of tickets that just joined: their rows flash once, at their first render. */
    flash: new Set(),
    /** The desk's ticket whose messages off the page were last read (`id:status`). */
    deskMessages: null,
    /** The ticket the transfer dialog is about. */
    transferTicket: null,
    /** The ticket the drawer shows (staff/drawer.js): its id, its last view, the history read. */
    drawer: { id: null, ticket: null, notes: null, historyTimer: null },
    /** The custom fields the walk-in dialog asks (fields.js `describeFields`). */
    walkInFields: [],
    /** Today's stats: a reload planned after the line moved, and when they were last asked. */
    statsTimer: null,
    statsAt: 0,
    /** Signs out with a message (set by staff.js): a 401 anywhere ends the session. */
    signOut: () => {},
  };
}

/** The open queue as listed (null before the list has it). */
export const currentQueue = (app) => app.queues.find((q) => q.id === app.queueId) ?? null;

/** The open queue's ticket type as listed by GET /api/v1/ticket-types (its `fields_schema`). */
export const currentType = (app) => (app.typeList || []).find((ty) => ty.code === currentQueue(app)?.ticket_type) ?? null;

/** The JSON Schema of the open queue's custom fields, or null. */
export const currentSchema = (app) => currentType(app)?.fields_schema ?? null;

/** The machine of the open queue's ticket type, or null when unknown. */
export const currentFsm = (app) => app.types?.get(currentQueue(app)?.ticket_type) ?? null;

export const isManager = (app) => ['manager', 'admin'].includes(app.session?.user?.role);
