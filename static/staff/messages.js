// What a ticket was told off the page (SMS, e-mail, push), in one line for the desk: the last
// message per channel and how it went. Pure: no DOM, no fetch.

import { EN } from '../i18n.js';

const t = EN;

/** The channels and kinds of message with words of their own: `console.channel_<c>`, `console.msg_<kind>`. */
const CHANNELS = ['sms', 'email', 'push'];
const KINDS = ['joined', 'ahead', 'called', 'recalled', 'no_show'];

/**
 * `GET /api/v1/tickets/{id}/notifications` as one line (`SMS delivered (called) · E-mail failed
 * (called): channel not configured`), or '' when the ticket asked for none.
 */
export function messagesLine(list) {
  const last = new Map();
  for (const m of list || []) last.set(m.channel, m);
  return [...last.values()]
    .map((m) => {
      const vars = {
        channel: CHANNELS.includes(m.channel) ? t(`console.channel_${m.channel}`) : m.channel,
        // The sender's status (pending, sent, delivered, failed) as the server words it.
        status: m.status,
        kind: KINDS.includes(m.kind) ? t(`console.msg_${m.kind}`) : m.kind,
        why: m.last_error,
      };
      return t(m.status === 'failed' && m.last_error ? 'console.msg_failed_why' : 'console.msg', vars);
    })
    .join(' · ');
}
