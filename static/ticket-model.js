// What the ticket page offers besides the place in line (PROTOCOL.md, "Hours, presence and
// time"): stepping back a few places ("I need more time", within the queue's `snooze` limits),
// saying "here" on the socket so staff know the customer is watching, and a rating once the
// ticket has ended. Pure: no DOM, importable from node (tests/js).
import { EN, number } from './i18n.js';

/** "here" is said at most this often while the page stays open and visible. */
export const HERE_EVERY_MS = 60_000;

/**
 * Whether to send `{"type":"here"}` now. `reason` is `open` (the socket just opened),
 * `visible` (the page came back into view) or `tick` (the page's timer); `last` is when it was
 * last sent (ms, or null). Opening and coming back always say it; the timer says it again once a
 * minute has passed, and only while the page is seen.
 */
export function hereDue({ reason, last, now, visible }) {
  if (reason === 'open') return true;
  if (!visible) return false;
  if (reason === 'visible') return true;
  return last == null || now - last >= HERE_EVERY_MS;
}

/**
 * What "I need more time" can do for `ticket` in a queue whose summary says `snooze`
 * (`{max_times, max_places}`, null when the queue has it off) and `waiting` people in line.
 * Null when it is not offered at all (off, or the ticket is not in line). Otherwise
 * `{left, max, reason}`: `left` times still allowed, `max` places one may step back now (the
 * queue's limit, and no further than the people behind), and why none can be chosen when
 * `max` is 0 (`used`: no time left; `last`: nobody behind).
 */
export function snoozeOffer(snooze, ticket, waiting) {
  if (!snooze || !ticket || ticket.position == null) return null;
  const times = Number(snooze.max_times) || 0;
  const places = Number(snooze.max_places) || 0;
  if (times <= 0 || places <= 0) return null;
  const left = Math.max(0, times - (Number(ticket.snoozes) || 0));
  if (left === 0) return { left, max: 0, reason: 'used' };
  const behind = Number.isFinite(waiting) ? Math.max(0, waiting - ticket.position) : places;
  const max = Math.min(places, behind);
  return { left, max, reason: max === 0 ? 'last' : null };
}

/** The places one may choose, 1 to `offer.max`. */
export const snoozeChoices = (offer) => Array.from({ length: offer?.max ?? 0 }, (_, i) => i + 1);

/** The sentence under the snooze choice: how many times are left, or why it cannot be used. */
export function snoozeNote(offer, t = EN) {
  if (!offer) return '';
  if (offer.reason === 'used') return t('snooze.used');
  if (offer.reason === 'last') return t('snooze.last');
  return t('snooze.left', { count: offer.left, n: number(offer.left, t.lang) });
}

/** What the page tells after a snooze went through: the new place. */
export function snoozedText(ticket, t = EN) {
  const ahead = Math.max(0, (ticket?.position ?? 1) - 1);
  return t('snooze.done', { count: ahead, n: number(ahead, t.lang) });
}

/** A rating the server takes: a whole number from 1 to 5. */
export const validRating = (v) => Number.isInteger(v) && v >= 1 && v <= 5;

/**
 * The body of a feedback: the rating chosen (the radio's value, a string) and the comment.
 * Answers `{body}` or `{error}` (a catalog key) when no rating is chosen.
 */
export function feedbackBody(rating, comment) {
  const r = Number(rating);
  if (!validRating(r)) return { error: 'feedback.pick' };
  const c = String(comment ?? '').trim();
  return { body: c ? { rating: r, comment: c } : { rating: r } };
}

/**
 * Whether the page asks for a rating: the ticket has ended, the server has none for it
 * (`existing` is the answer of GET …/feedback, null on 404, undefined while unknown), and the
 * customer did not wave it away on this device.
 */
export function asksFeedback({ ended, existing, dismissed }) {
  return !!ended && existing === null && !dismissed;
}
