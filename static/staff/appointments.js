// The console's "Today's appointments" for the open queue: the day's list (in the queue's zone)
// read when the queue opens and each time its socket is live again, kept by the socket's
// appointment.* events, with Check in and No-show; the line marks the tickets of checked-in
// bookings (their ticket_id in the day's list).

import { h } from '../qc.js';
import { EN } from '../i18n.js';
import { clockTime } from '../hours.js';
import { dayKey } from '../booking-model.js';
import { busy, call, fail } from './actions.js';
import { $, reconcile, setText, toast } from './dom.js';
import { bookedTickets, counts, rows, upsert } from './appointments-model.js';
import { currentQueue } from './store.js';

const t = EN;

/** The open queue's zone and whether it takes bookings (settings.hours and settings.appointments). */
function rules(app) {
  const s = currentQueue(app)?.settings || {};
  return { tz: s.hours?.tz || 'UTC', takes: !!(s.hours && s.appointments) };
}

/** Reads the day's list again (the queue opened, the socket is back, or the day changed). */
export async function loadAppointments(app) {
  const id = app.queueId;
  const { tz, takes } = rules(app);
  $('#appts').hidden = !takes;
  if (!id || !takes) {
    app.appts = null;
    return;
  }
  const day = dayKey(Date.now(), tz);
  try {
    const list = await call(app, 'GET', `/api/v1/queues/${id}/appointments?date=${day}`);
    if (app.queueId !== id) return;
    app.appts = { queueId: id, day, tz, list };
    setText($('#appts-note'), '');
  } catch (e) {
    if (!e.handled && app.queueId === id) setText($('#appts-note'), t('console.appts_failed'));
    return;
  }
  renderAppointments(app);
}

/** An appointment.* event of the open queue's socket. */
export function onAppointmentEvent(app, ev) {
  const a = ev.appointment;
  if (!a || !app.appts || app.appts.queueId !== app.queueId) return;
  app.appts.list = upsert(app.appts.list, a, app.appts.day, app.appts.tz);
  renderAppointments(app);
}

/** Once a minute: the late ones turn late, and a new day reads its own list. */
export function tickAppointments(app) {
  if (!app.appts) return;
  if (dayKey(Date.now(), app.appts.tz) !== app.appts.day) loadAppointments(app);
  else renderAppointments(app);
}

export function renderAppointments(app) {
  const a = app.appts;
  if (!a) return;
  const shown = rows(a.list);
  const c = counts(a.list);
  setText($('#appts-count'), shown.length);
  setText($('#appts-summary'), t('console.appt_counts', c));
  $('#appts-empty').hidden = shown.length > 0;
  reconcile(
    $('#appts-list'),
    shown,
    (r) => h('li', { class: 'row appt-row', 'data-id': r.id },
      h('span', { class: 'tnum appt-time' }), h('span', { class: 'name-cell' }), h('span', { class: 'badge' }),
      h('span', { class: 'row-actions' })),
    (li, r) => {
      const [time, name, badge, actions] = li.children;
      li.dataset.state = r.state;
      setText(time, clockTime(new Date(r.start_at), a.tz));
      setText(name, r.name);
      name.title = [r.phone, r.email].filter(Boolean).join(' · ');
      badge.dataset.status = `appt_${r.state}`;
      setText(badge, t(`console.appt_${r.state}`));
      const can = r.status === 'booked' ? 'booked' : '';
      if (actions.dataset.set !== can) {
        actions.dataset.set = can;
        actions.replaceChildren(...(can ? [
          h('button', { type: 'button', class: 'btn-xs btn-primary', 'data-appt-action': 'check-in', 'aria-label': `${t('console.appt_check_in')}: ${r.name}` }, t('console.appt_check_in')),
          h('button', { type: 'button', class: 'btn-xs btn-ghost', 'data-appt-action': 'no-show', 'aria-label': `${t('console.appt_no_show')}: ${r.name}` }, t('console.appt_no_show')),
        ] : []));
      }
    },
  );
}

/** The booking a ticket of the line came from, if any: `Booked for 09:00`. */
export function bookedMark(app, ticketId) {
  const a = app.appts && bookedTickets(app.appts.list).get(ticketId);
  return a ? t('console.appt_booked_at', { time: clockTime(new Date(a.start_at), app.appts.tz) }) : '';
}

/** Check in and No-show, by the staff member. */
export function wireAppointments(app, onChange) {
  $('#appts-list').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-appt-action]');
    const id = b?.closest('li[data-id]')?.dataset.id;
    if (!b || !id) return;
    const action = b.dataset.apptAction;
    busy(app, b, async () => {
      try {
        if (action === 'check-in') {
          const { ticket } = await call(app, 'POST', `/api/v1/appointments/${id}/check-in`, {});
          const a = app.appts?.list.find((x) => x.id === id);
          toast(t('console.appt_checked_in', { name: a?.name || '', number: ticket.number }), 'ok');
        } else {
          const a = await call(app, 'POST', `/api/v1/appointments/${id}/no-show`, {});
          toast(t('console.appt_marked_missed', { name: a.name }), 'ok');
          onAppointmentEvent(app, { appointment: a });
        }
        onChange();
      } catch (err) {
        fail(err, b.textContent);
      }
    });
  });
}
