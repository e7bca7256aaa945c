// The kiosk's words for a service and a ticket, from the queue summaries its key answers.
// Pure (no DOM): tested with node.
import { EN, duration, number } from './i18n.js';

/** A service button: its name, how many wait, the wait for a newcomer, and whether it takes people now. */
export function service(q, t = EN) {
  const open = q.status === 'open' && !q.opens_at;
  return {
    id: q.id,
    name: q.name,
    open,
    waiting: t('kiosk.waiting', { count: q.waiting, n: number(q.waiting, t.lang) }),
    wait: !open ? t(q.status === 'paused' ? 'status.paused' : 'status.closed')
      : q.waiting === 0 ? t('kiosk.no_wait') : t('kiosk.wait', { time: duration(q.eta_new_seconds, t) }),
  };
}

/** What the issued ticket's card says under the number: people ahead. */
export function ahead(ticket, t = EN) {
  const n = Math.max(0, (ticket.position ?? 1) - 1);
  return n === 0 ? t('ticket.next') : t('ticket.ahead_count', { count: n, n: number(n, t.lang) });
}
