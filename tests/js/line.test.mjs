// The staff console's model of a long line (static/staff/model.js): it knows the head of the
// line and the count of everyone, never more; pages of GET …/line fill the head again. Checked
// against a reference that holds the whole line. Run with `node --test tests/js/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { apply, applyPage, initial, knowsAll, needMore, nextPage, PAGE, showMore, ticketById } from '../../static/staff/model.js';

const Q = 'q-1';
let n = 0;
/** A ticket of queue Q; waiting (position set) unless said otherwise. */
const ticket = (fields = {}) => ({ id: `t-${++n}`, queue_id: Q, number: `A${n}`, status: 'waiting', position: null, ...fields });
const event = (seq, kind, t, extra = {}) => ({ type: 'event', event: { seq, queue_id: Q, kind, ticket: t, ...extra } });
const numbers = (state) => state.line.map((t) => t.number);

/** A state after a snapshot at seq 100 of a line of `total`, of whom the first `head` are sent. */
function long(total, head, active = []) {
  const line = Array.from({ length: head }, (_, i) => ticket({ position: i + 1 }));
  const { state } = apply(initial(Q), {
    type: 'snapshot', seq: 100, queue: { id: Q, name: 'Main', status: 'open' },
    waiting: line, waiting_total: total, active,
  });
  return { state, line };
}

/** Applies events in order from seq `state.seq + 1`; each `[kind, ticket]`. */
function play(state, ...events) {
  for (const [kind, t] of events) {
    const out = apply(state, event(state.seq + 1, kind, t));
    assert.equal(out.resync, false);
    state = out.state;
  }
  return state;
}

test('a snapshot of a long line keeps its head and the count of everyone', () => {
  const { state, line } = long(500_000, 200);
  assert.equal(state.waitingTotal, 500_000);
  assert.equal(state.line.length, 200);
  assert.equal(state.line[0], line[0]);
  assert.equal(knowsAll(state), false);
  // 200 known is plenty: nothing to read yet.
  assert.equal(needMore(state), false);
  // A snapshot without a count (an older server) is the whole line.
  const { state: all } = apply(initial(Q), { type: 'snapshot', seq: 1, waiting: [ticket({ position: 1 })], active: [] });
  assert.equal(all.waitingTotal, 1);
  assert.equal(knowsAll(all), true);
});

test('a join past the known head is counted, not shown', () => {
  const { state, line } = long(1_000, 200);
  const late = ticket({ position: 1_001 });
  const s = play(state, ['ticket.joined', late]);
  assert.equal(s.waitingTotal, 1_001);
  assert.equal(s.line.length, 200);
  assert.equal(s.line, state.line);
  assert.equal(ticketById(s, late.id), null);
  assert.equal(s.line[199], line[199]);
});

test('a join at the end of a line known whole is shown; one with priority inside the head too', () => {
  const { state, line } = long(3, 3);
  const last = ticket({ position: 4 });
  let s = play(state, ['ticket.joined', last]);
  assert.deepEqual(numbers(s), [...line.map((t) => t.number), last.number]);
  assert.equal(s.waitingTotal, 4);
  assert.equal(knowsAll(s), true);

  const { state: big } = long(1_000, 200);
  const urgent = ticket({ position: 2, priority: 5 });
  s = play(big, ['ticket.joined', urgent]);
  assert.equal(s.line[1], urgent);
  assert.equal(s.line.length, 201);
  assert.equal(s.waitingTotal, 1_001);
});

test('calls shrink the head and the count; a head run short asks for the next page', () => {
  const { state, line } = long(1_000, 60);
  const call = (t) => ['ticket.called', { ...t, status: 'called', position: null, counter: 'Desk 1' }];
  let s = play(state, ...line.slice(0, 10).map(call));
  assert.equal(s.waitingTotal, 990);
  assert.equal(s.line.length, 50);
  assert.equal(s.line[0], line[10]);
  assert.equal(s.active.size, 10);
  assert.equal(needMore(s), false);
  s = play(s, call(line[10]));
  // 49 known of 989 waiting: read from position 50 up to the console's 100.
  assert.equal(needMore(s), true);
  assert.deepEqual(nextPage(s), { after: 49, limit: PAGE - 49 });
});

test('a page at the model’s seq fills the head; its tickets follow the known ones', () => {
  const { state, line } = long(1_000, 40);
  const want = nextPage(state);
  assert.deepEqual(want, { after: 40, limit: 60 });
  const rest = Array.from({ length: 60 }, (_, i) => ticket({ position: 41 + i }));
  // The page may repeat the end of the head: it is the same line at the same seq.
  const page = { seq: 100, waiting_total: 1_000, tickets: [{ ...line[39], position: 40 }, ...rest] };
  const { state: s, status } = applyPage(state, page);
  assert.equal(status, 'applied');
  assert.equal(s.line.length, 100);
  assert.equal(s.line[40], rest[0]);
  assert.equal(s.waitingTotal, 1_000);
  assert.equal(needMore(s), false);
  // The state it came from is unchanged.
  assert.equal(state.line.length, 40);
});

test('a page behind the socket is dropped; one ahead waits for the events to reach it', () => {
  const { state, line } = long(1_000, 40);
  const rest = (from) => Array.from({ length: 10 }, (_, i) => ticket({ position: from + i }));
  // Behind: the model moved on since the page was read.
  const stale = applyPage(state, { seq: 99, waiting_total: 1_000, tickets: rest(41) });
  assert.equal(stale.status, 'stale');
  assert.equal(stale.state, state);

  // Ahead: at seq 101, after the first of the line was called.
  const after = rest(40);
  const early = applyPage(state, { seq: 101, waiting_total: 999, tickets: after });
  assert.equal(early.status, 'early');
  assert.equal(early.state.line.length, 40);
  assert.equal(nextPage(early.state), null, 'no second read while one waits');
  const s = play(early.state, ['ticket.called', { ...line[0], status: 'called', position: null }]);
  assert.equal(s.waitingTotal, 999);
  assert.equal(s.line.length, 49);
  assert.equal(s.line[39], after[0]);
  assert.equal(s.early, null);

  // Ahead, but the socket jumps past it (a fresh snapshot): dropped, and asked again.
  const { state: jumped } = apply(early.state, { type: 'snapshot', seq: 105, waiting: line.slice(0, 30), waiting_total: 990, active: [] });
  assert.equal(jumped.early, null);
  assert.deepEqual(nextPage(jumped), { after: 30, limit: 70 });
});

test('a page that no longer continues the head adds nothing past the hole', () => {
  const { state } = long(1_000, 40);
  // Asked after position 40, but the head lost two people meanwhile (same seq by now).
  const s0 = play(state, ['ticket.cancelled', { ...state.line[0], status: 'cancelled', position: null, finished_at: '2026-01-01T10:00:00Z' }]);
  const page = { seq: s0.seq, waiting_total: 999, tickets: Array.from({ length: 10 }, (_, i) => ticket({ position: 41 + i })) };
  const { state: s, status } = applyPage(s0, page);
  assert.equal(status, 'applied');
  assert.equal(s.line.length, 39, 'position 40 is unknown: nothing after it is taken');
  assert.deepEqual(nextPage(s), { after: 39, limit: 61 });
});

test('a requeue inside the head is shown at its place; past it, only counted', () => {
  const d = ticket({ status: 'no_show', counter: 'Desk 1' });
  const e = ticket({ status: 'no_show', counter: 'Desk 2' });
  const { state, line } = long(1_000, 200, [d, e]);
  let s = play(state, ['ticket.requeued', { ...d, status: 'waiting', position: 3 }]);
  assert.equal(s.line[2].id, d.id);
  assert.equal(s.line[3], line[2]);
  assert.equal(s.line.length, 201);
  assert.equal(s.waitingTotal, 1_001);
  assert.equal(s.active.size, 1);
  s = play(s, ['ticket.requeued', { ...e, status: 'waiting', position: 700 }]);
  assert.equal(s.line.length, 201);
  assert.equal(s.waitingTotal, 1_002);
  assert.equal(s.active.size, 0);
  assert.equal(ticketById(s, e.id), null);
});

test('people leaving from past the head are counted out; transfers in count like joins', () => {
  const { state } = long(1_000, 200);
  const far = ticket({ position: 800 });
  let s = play(
    state,
    ['ticket.cancelled', { ...far, status: 'cancelled', finished_at: '2026-01-01T10:00:00Z' }],
    ['ticket.transferred_out', { ...ticket(), queue_id: 'q-2', position: 900 }],
  );
  assert.equal(s.waitingTotal, 998);
  assert.equal(s.line, state.line);
  s = play(s, ['ticket.transferred_in', ticket({ position: 999 })]);
  assert.equal(s.waitingTotal, 999);
  assert.equal(s.line.length, 200);
  // A transfer out of a called ticket changes no count.
  const called = ticket({ status: 'called', counter: 'Desk 3' });
  const { state: t0 } = long(10, 10, [called]);
  const t1 = play(t0, ['ticket.transferred_out', { ...called, queue_id: 'q-2', position: 11 }]);
  assert.equal(t1.waitingTotal, 10);
  assert.equal(t1.active.size, 0);
});

test('“Show more” asks for the next page past what is known, and keeps it', () => {
  const { state } = long(1_000, 200);
  let s = showMore(state);
  assert.deepEqual(nextPage(s), { after: 200, limit: PAGE });
  const page = { seq: s.seq, waiting_total: 1_000, tickets: Array.from({ length: PAGE }, (_, i) => ticket({ position: 201 + i })) };
  ({ state: s } = applyPage(s, page));
  assert.equal(s.line.length, 300);
  assert.equal(nextPage(s), null);
  // A few calls later the 300 are kept topped up, not read again one by one.
  const call = (t) => ['ticket.called', { ...t, status: 'called', position: null }];
  s = play(s, ...s.line.slice(0, 10).map(call));
  assert.equal(nextPage(s), null);
  s = play(s, ...s.line.slice(0, 41).map(call));
  assert.deepEqual(nextPage(s), { after: 249, limit: 51 });
  // Near the end of the line there is nothing more to read.
  const { state: short } = long(250, 200);
  assert.deepEqual(nextPage(showMore(short)), { after: 200, limit: PAGE });
  const { state: whole } = long(200, 200);
  assert.equal(nextPage(showMore(whole)), null);
});

// The model against a reference that holds the whole line ------------------------------------

/** A deterministic pseudo-random generator (mulberry32): the same run every time. */
function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The server's side: the whole line and the active tickets; each change answers its event. */
class Reference {
  constructor(size) {
    this.seq = 0;
    this.line = Array.from({ length: size }, () => ticket({ position: null }));
    this.active = [];
  }

  view(t, inLine) {
    return { ...t, seq: this.seq, position: inLine ? this.line.findIndex((x) => x.id === t.id) + 1 : null };
  }

  event(kind, t, inLine) {
    this.seq += 1;
    return event(this.seq, kind, this.view(t, inLine));
  }

  snapshot(head) {
    return {
      type: 'snapshot', seq: this.seq, queue: { id: Q },
      waiting: this.line.slice(0, head).map((t) => this.view(t, true)),
      waiting_total: this.line.length,
      active: this.active.map((t) => this.view(t, false)),
    };
  }

  page({ after, limit }) {
    const tickets = this.line.slice(after, after + limit).map((t) => this.view(t, true));
    return { seq: this.seq, waiting_total: this.line.length, tickets };
  }

  /** One change at random, as its event frame. */
  step(rnd) {
    const pick = (list) => list[Math.floor(rnd() * list.length)];
    const place = () => Math.floor(rnd() * (this.line.length + 1));
    const out = (t) => this.line.splice(this.line.indexOf(t), 1);
    const r = rnd();
    if (r < 0.25 || (!this.line.length && !this.active.length)) {
      const t = ticket();
      // Most join at the end; some with priority, ahead of others.
      this.line.splice(rnd() < 0.8 ? this.line.length : place(), 0, t);
      return this.event(rnd() < 0.9 ? 'ticket.joined' : 'ticket.transferred_in', t, true);
    }
    if (r < 0.55 && this.line.length) {
      const t = this.line.shift();
      this.active.push(t);
      return this.event('ticket.called', { ...t, status: 'called' }, false);
    }
    if (r < 0.65 && this.line.length) {
      const t = pick(this.line);
      out(t);
      const kind = rnd() < 0.5 ? 'ticket.cancelled' : 'ticket.transferred_out';
      return this.event(kind, { ...t, finished_at: kind === 'ticket.cancelled' ? 'now' : null, queue_id: kind === 'ticket.cancelled' ? Q : 'q-2' }, false);
    }
    if (r < 0.75 && this.line.length) {
      const t = pick(this.line);
      out(t);
      this.line.splice(place(), 0, t);
      return this.event('ticket.moved', t, true);
    }
    if (r < 0.88 && this.active.length) {
      const t = pick(this.active);
      this.active.splice(this.active.indexOf(t), 1);
      this.line.splice(place(), 0, t);
      return this.event('ticket.requeued', { ...t, status: 'waiting' }, true);
    }
    if (r < 0.97 && this.active.length) {
      const t = pick(this.active);
      this.active.splice(this.active.indexOf(t), 1);
      return this.event('ticket.completed', { ...t, finished_at: 'now' }, false);
    }
    this.seq += 1;
    return event(this.seq, 'queue.updated', null, { queue: { status: 'open' } });
  }
}

/** The model agrees with the reference: the count, a head that is the line's head, the active. */
function agrees(state, ref, at) {
  assert.equal(state.seq, ref.seq, at);
  assert.equal(state.waitingTotal, ref.line.length, at);
  assert.ok(state.line.length <= ref.line.length, at);
  assert.deepEqual(state.line.map((t) => t.id), ref.line.slice(0, state.line.length).map((t) => t.id), at);
  assert.deepEqual([...state.active.keys()].sort(), ref.active.map((t) => t.id).sort(), at);
}

test('the count and the head always match a model of the whole line', () => {
  const answered = { applied: 0, stale: 0, early: 0 };
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const rnd = random(seed);
    const ref = new Reference(300 + Math.floor(rnd() * 300));
    let { state } = apply(initial(Q), ref.snapshot(30 + Math.floor(rnd() * 200)));
    let pending = null; // a page read but not answered yet
    for (let i = 0; i < 2_000; i++) {
      const at = `seed ${seed}, step ${i}`;
      // Now and then the staff member asks to see more.
      if (rnd() < 0.003) state = showMore(state);
      // Read what the model asks for; the answer comes now, one event later (stale) or ahead.
      const want = nextPage(state);
      if (want && !pending) {
        const when = rnd();
        if (when < 0.6) {
          const { state: s, status } = applyPage(state, ref.page(want));
          assert.equal(status, 'applied', at);
          answered.applied += 1;
          state = s;
        } else if (when < 0.8) {
          pending = ref.page(want);
        } else {
          // Read ahead of the socket: the server moved on, the page shows it.
          const frame = ref.step(rnd);
          const { state: s, status } = applyPage(state, ref.page(want));
          assert.equal(status, 'early', at);
          answered.early += 1;
          ({ state } = apply(s, frame));
          agrees(state, ref, at);
          continue;
        }
      }
      const out = apply(state, ref.step(rnd));
      assert.equal(out.resync, false, at);
      state = out.state;
      if (pending) {
        const { state: s, status } = applyPage(state, pending);
        assert.equal(status, 'stale', at);
        answered.stale += 1;
        assert.equal(s, state, at);
        pending = null;
      }
      agrees(state, ref, at);
      // However the line went, a head run short is never left so.
      if (!nextPage(state)) assert.ok(state.line.length >= Math.min(ref.line.length, state.want - PAGE / 2), at);
    }
  }
  // Every way a page can come back was met.
  for (const [how, count] of Object.entries(answered)) assert.ok(count > 5, `${how}: ${count}`);
});

test('a gap in a long line asks for a resync; the fresh snapshot sets the count again', () => {
  const { state } = long(500_000, 200);
  const gap = apply(state, event(state.seq + 2, 'ticket.joined', ticket({ position: 500_001 })));
  assert.equal(gap.resync, true);
  assert.equal(gap.state, state);
  const { state: s } = apply(state, { type: 'snapshot', seq: state.seq + 40, waiting: state.line.slice(5), waiting_total: 499_980, active: [] });
  assert.equal(s.waitingTotal, 499_980);
  assert.equal(s.line.length, 195);
});
