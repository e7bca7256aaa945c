// The staff console's "last hour" chart: people waiting (a step area, left scale) and the mean
// wait of the people called in each minute (a line, right scale, minutes). Inline SVG drawn here,
// no library. Redraws itself when its box changes size; a pointer over it shows the values.

import { EN } from '../i18n.js';

const t = EN;
const NS = 'http://www.w3.org/2000/svg';
const SPAN_MS = 60 * 60 * 1000;
const PAD = { top: 10, right: 34, bottom: 20, left: 28 };

function el(tag, attrs = {}, parent) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) node.setAttribute(k, v);
  if (parent) parent.append(node);
  return node;
}

/** A "nice" upper bound for a scale: 4, 5, 10, 20, 25, 50, … */
function niceMax(v, min) {
  const x = Math.max(v, min);
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 4, 6, 8, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/** A scale's number in the room of its margin: 2500, 25k, 1.5M. */
function short(n) {
  if (n < 10_000) return String(n);
  if (n < 1_000_000) return `${Math.round(n / 1000)}k`;
  return `${Number((n / 1_000_000).toFixed(1))}M`;
}

const count = (n) => n.toLocaleString('en-US');

const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

export class WaitChart {
  /**
   * `host`: the element to draw in; `readout`: where the hovered values are written.
   * `setPoints([{at: ms, waiting: int|null, mean_wait_seconds: number|null}])`, then `draw()`.
   */
  constructor(host, readout) {
    this.host = host;
    this.readout = readout;
    this.points = [];
    this.note = '';
    this.hover = null;
    this.svg = el('svg', { class: 'chart-svg', role: 'presentation', focusable: 'false' });
    host.append(this.svg);
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(host);
    this.svg.addEventListener('pointermove', (e) => this.onPointer(e));
    this.svg.addEventListener('pointerleave', () => {
      this.hover = null;
      this.draw();
    });
  }

  setPoints(points, note = '') {
    this.points = points.slice().sort((a, b) => a.at - b.at);
    this.note = note;
    this.draw();
  }

  onPointer(e) {
    const r = this.svg.getBoundingClientRect();
    const x = e.clientX - r.left;
    const { x0, x1, t0 } = this.geom || {};
    if (x0 == null) return;
    const at = t0 + ((x - x0) / (x1 - x0)) * SPAN_MS;
    let best = null;
    for (const p of this.points) if (p.at <= at + 30_000 && (!best || p.at > best.at)) best = p;
    this.hover = best;
    this.draw();
  }

  draw() {
    const w = Math.max(200, Math.round(this.host.clientWidth));
    const hgt = Math.max(100, Math.round(this.host.clientHeight || 140));
    const svg = this.svg;
    svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
    svg.setAttribute('width', w);
    svg.setAttribute('height', hgt);
    svg.replaceChildren();

    const now = Date.now();
    const t0 = now - SPAN_MS;
    const pts = this.points.filter((p) => p.at >= t0 - 60_000);
    const x0 = PAD.left;
    const x1 = w - PAD.right;
    const y0 = hgt - PAD.bottom;
    const y1 = PAD.top;
    this.geom = { x0, x1, t0 };
    const maxWaiting = niceMax(Math.max(0, ...pts.map((p) => p.waiting ?? 0)), 4);
    const maxWaitMin = niceMax(Math.max(0, ...pts.map((p) => (p.mean_wait_seconds ?? 0) / 60)), 4);
    const X = (t) => x0 + ((Math.max(t0, Math.min(now, t)) - t0) / SPAN_MS) * (x1 - x0);
    const Yw = (v) => y0 - (v / maxWaiting) * (y0 - y1);
    const Ym = (s) => y0 - (s / 60 / maxWaitMin) * (y0 - y1);

    // Grid and scales.
    const grid = el('g', { class: 'grid' }, svg);
    for (let i = 0; i <= 2; i++) {
      const y = y0 - (i / 2) * (y0 - y1);
      el('line', { x1: x0, x2: x1, y1: y, y2: y, class: i === 0 ? 'axis' : 'gridline' }, grid);
      const left = el('text', { x: x0 - 6, y: y + 3.5, 'text-anchor': 'end', class: 'tick' }, grid);
      left.textContent = short(Math.round((i / 2) * maxWaiting));
      const right = el('text', { x: x1 + 6, y: y + 3.5, 'text-anchor': 'start', class: 'tick tick-wait' }, grid);
      right.textContent = i === 0 ? '0' : t('console.chart_minutes', { n: Math.round((i / 2) * maxWaitMin) });
    }
    for (const ago of [60, 45, 30, 15, 0]) {
      const x = X(now - ago * 60_000);
      const label = el('text', {
        x,
        y: hgt - 5,
        'text-anchor': ago === 60 ? 'start' : ago === 0 ? 'end' : 'middle',
        class: 'tick',
      }, grid);
      label.textContent = ago === 0 ? t('console.chart_now') : ago === 60 ? t('console.chart_hour_ago') : t('console.chart_ago', { n: ago });
    }

    const waiting = pts.filter((p) => p.waiting != null);
    if (!waiting.length) {
      const empty = el('text', { x: (x0 + x1) / 2, y: (y0 + y1) / 2, 'text-anchor': 'middle', class: 'empty-note' }, svg);
      empty.textContent = this.note || t('console.chart_no_data');
    } else {
      // People waiting: a step line (the count holds until the next point), filled below.
      let d = `M${X(waiting[0].at).toFixed(1)},${Yw(waiting[0].waiting).toFixed(1)}`;
      for (let i = 1; i < waiting.length; i++) {
        const x = X(waiting[i].at).toFixed(1);
        d += `H${x}V${Yw(waiting[i].waiting).toFixed(1)}`;
      }
      d += `H${X(now).toFixed(1)}`;
      const area = `${d}V${y0}H${X(waiting[0].at).toFixed(1)}Z`;
      el('path', { d: area, class: 'area-waiting' }, svg);
      el('path', { d, class: 'line-waiting' }, svg);
    }

    // Mean wait of the people called each minute: a line through the minutes that had calls.
    const waits = pts.filter((p) => p.mean_wait_seconds != null);
    if (waits.length) {
      const d = waits.map((p, i) => `${i ? 'L' : 'M'}${X(p.at).toFixed(1)},${Ym(p.mean_wait_seconds).toFixed(1)}`).join('');
      el('path', { d, class: 'line-wait' }, svg);
      for (const p of waits) el('circle', { cx: X(p.at), cy: Ym(p.mean_wait_seconds), r: 2.2, class: 'dot-wait' }, svg);
    }

    // Hover: a rule and the values.
    const p = this.hover;
    if (p && this.readout) {
      const x = X(p.at);
      el('line', { x1: x, x2: x, y1: y1, y2: y0, class: 'hover-rule' }, svg);
      if (p.waiting != null) el('circle', { cx: x, cy: Yw(p.waiting), r: 3.5, class: 'dot-waiting' }, svg);
      const wait = p.mean_wait_seconds == null ? t('console.chart_no_calls') : t('console.chart_avg', { n: Math.round(p.mean_wait_seconds / 60) });
      this.readout.textContent = t('console.chart_readout', { time: clock(p.at), n: p.waiting == null ? '—' : count(p.waiting), wait });
    } else if (this.readout) {
      const last = waiting[waiting.length - 1];
      this.readout.textContent = this.note || (last ? t('console.chart_now_waiting', { n: count(last.waiting) }) : '\u00a0');
    }
  }
}
