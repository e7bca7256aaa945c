// What a display says aloud for a call: "Ticket A 0 4 2, Desk 3", in its language. Pure: tested
// with node.
import { EN } from './i18n.js';

/** The sentence for call `c` ({number, counter}): the number read sign by sign. */
export function spoken(c, t = EN) {
  const number = String(c.number).split('').join(' ');
  return c.counter ? t('display.say', { number, counter: c.counter }) : t('display.say_no_counter', { number });
}
