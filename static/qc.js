// Shared by every page: the REST calls of PROTOCOL.md, errors in plain words, a live socket that
// reconnects by itself, and how times are written (time.js). No framework, no build step.
import { EN } from './i18n.js';

/** An error answer of the API (application/problem+json), or a network failure (code "network"). */
export class Problem extends Error {
  constructor(status, code, title, detail) {
    super(detail || title || code);
    this.status = status;
    this.code = code;
    this.title = title;
    this.detail = detail;
  }

  /** What to tell a person, in plain words (in the page's language with its translator `t`). */
  get plain() {
    return this.plainIn(EN);
  }

  plainIn(t) {
    const key = `problem.${this.code}`;
    const said = t(key);
    return said !== key ? said : this.detail || this.title || t('common.error');
  }
}

/**
 * Calls the API. `body` is sent as JSON; `token` as a bearer token. Answers the parsed JSON (or
 * null for an empty answer) and throws a `Problem` otherwise.
 */
export async function api(method, path, { body, token, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (token) init.headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new Problem(0, 'network', 'Network error');
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: handled below */
  }
  if (!res.ok) {
    if (json && json.code) throw new Problem(res.status, json.code, json.title, json.detail);
    throw new Problem(res.status, res.status >= 500 ? 'unavailable' : 'bad_request', res.statusText);
  }
  return json;
}

/**
 * A socket that stays connected: it reconnects with growing, jittered delays (0.5 s to 10 s),
 * resuming with `since=` the last seq the page saw.
 *
 * - `url(since)` answers the socket URL (it may be async, e.g. to fetch a fresh staff pass);
 * - `onMessage(msg)` gets every parsed frame;
 * - `onState(state)` gets `'connecting'`, `'live'`, `'reconnecting'` or `'ended'`;
 * - `onEnd(code, reason)` when the server says not to come back (close codes 4400–4499).
 * The page tells it the last seq it applied with `seen(seq)`.
 */
export class LiveSocket {
  constructor({ url, onMessage, onState = () => {}, onEnd = () => {} }) {
    Object.assign(this, { url, onMessage, onState, onEnd });
    this.since = null;
    this.attempt = 0;
    this.stopped = false;
    this.ws = null;
    this.timer = null;
    this.onOnline = () => this.retryNow();
    addEventListener('online', this.onOnline);
  }

  seen(seq) {
    if (typeof seq === 'number' && (this.since === null || seq > this.since)) this.since = seq;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    removeEventListener('online', this.onOnline);
    if (this.ws) this.ws.close(1000);
  }

  /** Sends `msg` as JSON when the socket is open; answers whether it went. */
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  retryNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= WebSocket.OPEN)) return;
    clearTimeout(this.timer);
    this.connect();
  }

  async connect() {
    this.onState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let url;
    try {
      url = await this.url(this.since);
    } catch (e) {
      if (e instanceof Problem && (e.status === 401 || e.status === 403 || e.status === 404)) {
        this.stopped = true;
        this.onState('ended');
        this.onEnd(e.status, e.plain);
        return;
      }
      this.later();
      return;
    }
    if (this.stopped) return;
    const abs = new URL(url, location.href);
    abs.protocol = abs.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(abs);
    this.ws = ws;
    let opened = false;
    // Open means current: the server sends what was missed (or a snapshot) first, and a resume
    // with nothing missed sends nothing until the next change.
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.live = true;
      this.onState('live');
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.live = false;
      if (this.stopped) return;
      if (ev.code >= 4400 && ev.code < 4500) {
        this.stopped = true;
        this.onState('ended');
        this.onEnd(ev.code, ev.reason);
        return;
      }
      // A node going away (4000) or a moved ticket (4003) asks to come back at once.
      if (opened && (ev.code === 4000 || ev.code === 4003)) this.attempt = 0;
      this.later();
    };
  }

  later() {
    if (this.stopped) return;
    this.onState('reconnecting');
    const base = Math.min(10_000, 500 * 2 ** Math.min(this.attempt, 5));
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), base / 2 + Math.random() * (base / 2));
  }
}

export { minutes, waitRange, since } from './time.js';

/** A short element builder: h('li', {class: 'x'}, 'text', child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) el.append(c);
  return el;
}

/** A short tone pattern made in the browser (no audio file): the chime of a call. */
export function chime(notes = [660, 880, 1320]) {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    chime.ctx ||= new Ctx();
    const ctx = chime.ctx;
    if (ctx.state === 'suspended') ctx.resume();
    notes.forEach((freq, i) => {
      const t = ctx.currentTime + i * 0.22;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.35, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.6);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.65);
    });
  } catch {
    /* sound is a nicety */
  }
}

/** localStorage that never throws (private modes, full or blocked storage): get, set, del. */
export const store = {
  get(k) {
    try { return localStorage.getItem(k); } catch { return null; }
  },
  set(k, v) {
    try { localStorage.setItem(k, v); return true; } catch { return false; }
  },
  del(k) {
    try { localStorage.removeItem(k); } catch { /* nothing to forget */ }
  },
};

/** A random id for `Idempotency-Key`: a UUID where the browser has one (secure contexts), else 128 random bits in hex. */
export function randomId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = new Uint8Array(16);
  if (globalThis.crypto?.getRandomValues) crypto.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * The `Idempotency-Key` of one form fill: sending the same body again (a double tap, a retry after
 * a network error, a reload) reuses the key, so the server answers the same result; another body
 * gets a new key. Kept in sessionStorage under `scope` until `doneKey(scope)`.
 */
export function fillKey(scope, body) {
  const fill = JSON.stringify(body);
  let saved = null;
  try { saved = JSON.parse(sessionStorage.getItem(scope)); } catch { /* none kept */ }
  if (saved && saved.fill === fill) return saved.key;
  const key = randomId();
  try { sessionStorage.setItem(scope, JSON.stringify({ key, fill })); } catch { /* storage blocked */ }
  return key;
}

export function doneKey(scope) {
  try { sessionStorage.removeItem(scope); } catch { /* fine */ }
}

/** Shows a state on a `.status-pill` (`live`, `reconnecting`, `ended`, …) with `data-state`. */
export function pill(el, state, text) {
  el.dataset.state = state;
  el.className = `status-pill ${state}`;
  el.textContent = text;
}
