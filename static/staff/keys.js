// Keyboard shortcuts (the help dialog, `?`, lists them): N calls next to my counter; the keys of
// fsm.js act on my current ticket. Off while typing in a field or with a dialog open.

import { EN } from '../i18n.js';
import { callNext, transition } from './actions.js';
import { $, myCounter, toast } from './dom.js';
import { actionForKey, actionLabel, actionsFor, statusLabel } from './fsm.js';
import { currentFsm } from './store.js';
import { myTicket } from './view.js';
import { openWalkIn } from './venue.js';

const t = EN;

const CALL_NEXT = 'n';
const WALK_IN = 'w';

function typing(target) {
  if (!target || !(target instanceof Element)) return false;
  return !!target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]');
}

/** The console's keydown handler. */
export function onKey(app, e) {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  if (document.querySelector('dialog[open]')) return;
  if (typing(e.target)) return;
  if ($('#console').hidden) return;
  if (e.key === '?') {
    e.preventDefault();
    $('#help').showModal();
    return;
  }
  if (e.key.toLowerCase() === CALL_NEXT) {
    e.preventDefault();
    callNext(app);
    return;
  }
  if (e.key.toLowerCase() === WALK_IN) {
    e.preventDefault();
    openWalkIn(app);
    return;
  }
  const what = actionForKey(e.key);
  if (!what) return;
  e.preventDefault();
  const fsm = currentFsm(app);
  const mine = myTicket(app.live.active.values(), myCounter(), fsm);
  if (!mine) {
    toast(t('console.nobody_at', { counter: myCounter() || t('console.your_counter') }), 'info');
    return;
  }
  if (!actionsFor(fsm, mine.status).includes(what)) {
    const status = statusLabel(mine.status).toLowerCase();
    toast(t('console.not_possible', { number: mine.number, status, action: actionLabel(what).toLowerCase() }), 'info');
    return;
  }
  transition(app, mine, what, $(`[data-hero-action="${what}"]`));
}
