// What a ticket was told off the page (SMS, e-mail, push), in one line for the desk: the last
// message per channel and how it went. Pure: no DOM, no fetch.

const CHANNEL = { sms: 'SMS', email: 'E-mail', push: 'Push' };
const KIND = { joined: 'joined', ahead: 'almost', called: 'called', recalled: 'recalled', no_show: 'missed' };

/**
 * `GET /api/v1/tickets/{id}/notifications` as one line (`SMS delivered (called) · E-mail failed
 * (called): channel not configured`), or '' when the ticket asked for none.
 */
export function messagesLine(list) {
  const last = new Map();
  for (const m of list || []) last.set(m.channel, m);
  return [...last.values()]
    .map((m) => {
      const why = m.status === 'failed' && m.last_error ? `: ${m.last_error}` : '';
      return `${CHANNEL[m.channel] || m.channel} ${m.status} (${KIND[m.kind] || m.kind})${why}`;
    })
    .join(' · ');
}
