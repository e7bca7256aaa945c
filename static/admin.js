// The Admin area (admins only): users, sites, queues with their settings and display keys, and
// the audit log with filters. Signs in through the console (the same stored session); its pure
// logic is admin/model.js.

import { api, h, Problem } from './qc.js';
import { actorLabel, auditQuery, changes, parseSettings, sitesLabel } from './admin/model.js';

const $ = (sel) => document.querySelector(sel);
const state = { token: null, users: [], sites: [], queues: [], auditBefore: null, filters: {} };

function session() {
  try {
    const s = JSON.parse(localStorage.getItem('qc.staff') || 'null');
    return s && s.token && s.user ? s : null;
  } catch {
    return null;
  }
}

const call = (method, path, body) => api(method, path, { body, token: state.token });

function flash(text) {
  $('#flash').textContent = text;
}

function failed(e, where) {
  const text = e instanceof Problem ? e.plain : String(e);
  if (where) where.textContent = text;
  else flash(text);
  if (e instanceof Problem && e.code === 'unauthorized') gate('Your session has ended: sign in on the console again.');
}

function gate(text) {
  $('#admin').hidden = true;
  const g = $('#gate');
  g.hidden = false;
  g.replaceChildren(text, ' ', h('a', { href: '/staff' }, 'Open the console'));
}

// Users ---------------------------------------------------------------------------------------

function renderUsers() {
  const rows = state.users.map((u) => {
    const role = h('select', { 'aria-label': `Role of ${u.email}` },
      ...['staff', 'manager', 'admin'].map((r) => h('option', { value: r, selected: r === u.role ? '' : null }, r)));
    role.value = u.role;
    role.addEventListener('change', () => patchUser(u, { role: role.value }));
    const toggle = h('button', { type: 'button', class: 'btn-ghost btn-sm' }, u.disabled ? 'Enable' : 'Disable');
    toggle.addEventListener('click', () => patchUser(u, { disabled: !u.disabled }));
    const reset = h('button', { type: 'button', class: 'btn-ghost btn-sm' }, 'Reset password');
    const code = h('span', { class: 'reset-code' });
    reset.addEventListener('click', async () => {
      try {
        const r = await call('POST', `/api/v1/users/${u.id}/password-reset`);
        code.replaceChildren('One-time code (shown once): ', h('span', { class: 'secret' }, r.code));
      } catch (e) {
        failed(e);
      }
    });
    return h('tr', { 'data-user': u.email },
      h('td', {}, u.email), h('td', {}, u.display_name || ''), h('td', {}, role),
      h('td', { class: 'user-sites' }, sitesLabel(u, state.sites)),
      h('td', { class: 'user-status' }, u.disabled ? 'disabled' : 'active'),
      h('td', {}, toggle, ' ', reset, ' ', code));
  });
  $('#users').replaceChildren(...rows);
  $('#user-sites').replaceChildren(...state.sites.map((l) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'site', value: l.id }), ` ${l.name}`)));
}

async function patchUser(u, body) {
  try {
    const changed = await call('PATCH', `/api/v1/users/${u.id}`, body);
    Object.assign(u, changed);
    flash(`Saved ${u.email}.`);
  } catch (e) {
    failed(e);
  }
  renderUsers();
}

async function createUser(e) {
  e.preventDefault();
  const f = e.target;
  $('#user-error').textContent = '';
  const body = {
    email: f.email.value.trim(),
    password: f.password.value,
    role: f.role.value,
    location_ids: [...f.querySelectorAll('input[name=site]:checked')].map((c) => c.value),
  };
  if (f.display_name.value.trim()) body.display_name = f.display_name.value.trim();
  try {
    const u = await call('POST', '/api/v1/users', body);
    state.users.push(u);
    state.users.sort((a, b) => a.email.localeCompare(b.email));
    f.reset();
    renderUsers();
    flash(`Created ${u.email}.`);
  } catch (err) {
    failed(err, $('#user-error'));
  }
}

// Sites ---------------------------------------------------------------------------------------

function renderSites() {
  $('#sites').replaceChildren(...state.sites.map((l) =>
    h('tr', { 'data-site': l.name }, h('td', {}, l.name), h('td', {}, l.timezone), h('td', {}, l.address || ''))));
}

async function createSite(e) {
  e.preventDefault();
  const f = e.target;
  $('#site-error').textContent = '';
  const body = { name: f.name.value.trim(), timezone: f.timezone.value.trim() };
  if (f.address.value.trim()) body.address = f.address.value.trim();
  try {
    state.sites.push(await call('POST', '/api/v1/locations', body));
    f.reset();
    f.timezone.value = 'UTC';
    renderSites();
    renderUsers();
    renderQueues();
    flash(`Created site ${body.name}.`);
  } catch (err) {
    failed(err, $('#site-error'));
  }
}

// Queues --------------------------------------------------------------------------------------

function renderQueues() {
  $('#queues').replaceChildren(...state.queues.map((q) => {
    const site = h('select', { 'aria-label': `Site of ${q.name}` },
      h('option', { value: '' }, 'No site'),
      ...state.sites.map((l) => h('option', { value: l.id }, l.name)));
    site.value = q.location_id || '';
    const settings = h('textarea', { 'aria-label': `Settings of ${q.name}`, spellcheck: 'false' });
    settings.value = JSON.stringify(q.settings || {}, null, 2);
    const error = h('p', { class: 'form-error', role: 'alert' });
    const save = h('button', { type: 'button' }, 'Save');
    save.addEventListener('click', async () => {
      error.textContent = '';
      const parsed = parseSettings(settings.value);
      if (!parsed.ok) {
        error.textContent = parsed.error;
        return;
      }
      // Keys removed from the text are removed from the queue.
      const removed = Object.keys(q.settings || {}).filter((k) => !(k in parsed.value));
      const body = { settings: { ...parsed.value, ...Object.fromEntries(removed.map((k) => [k, null])) } };
      if ((site.value || null) !== (q.location_id || null)) body.location_id = site.value || null;
      try {
        Object.assign(q, await call('PATCH', `/api/v1/queues/${q.id}`, body));
        flash(`Saved ${q.name}.`);
        renderQueues();
      } catch (e) {
        failed(e, error);
      }
    });
    const key = h('button', { type: 'button', class: 'btn-ghost' }, 'New display key');
    const shown = h('span');
    key.addEventListener('click', async () => {
      try {
        const k = await call('POST', `/api/v1/queues/${q.id}/display-keys`);
        const url = `${location.origin}/display/${q.id}?key=${k.key}`;
        shown.replaceChildren('Shown once: ', h('a', { href: url, class: 'secret' }, url));
      } catch (e) {
        failed(e, error);
      }
    });
    return h('div', { class: 'queue-card', 'data-queue': q.slug },
      h('strong', {}, `${q.name} (${q.slug})`), h('label', {}, 'Site ', site), settings, error,
      h('div', {}, save, ' ', key, ' ', shown));
  }));
}

// Audit ---------------------------------------------------------------------------------------

async function loadAudit(more = false) {
  if (!more) state.auditBefore = null;
  try {
    const page = await call('GET', `/api/v1/audit?${auditQuery(state.filters, state.auditBefore)}`);
    const rows = page.map((e) => h('tr', { 'data-action': e.action },
      h('td', {}, new Date(e.at).toLocaleString()),
      h('td', {}, actorLabel(e.actor, state.users)),
      h('td', {}, e.action),
      h('td', {}, `${e.entity} ${e.entity_id || ''}`),
      h('td', {}, h('ul', { class: 'changes' }, ...changes(e.before, e.after).map((c) => h('li', {}, c)))),
      h('td', {}, e.ip || '')));
    if (more) $('#audit').append(...rows);
    else $('#audit').replaceChildren(...rows);
    state.auditBefore = page.length ? page[page.length - 1].id : state.auditBefore;
    $('#audit-older').hidden = page.length < 50;
  } catch (e) {
    failed(e);
  }
}

// Start ---------------------------------------------------------------------------------------

function show(tab) {
  for (const b of document.querySelectorAll('#tabs button')) {
    b.toggleAttribute('aria-current', b.dataset.tab === tab);
    if (b.dataset.tab === tab) b.setAttribute('aria-current', 'page');
  }
  for (const s of document.querySelectorAll('[data-section]')) s.hidden = s.dataset.section !== tab;
  if (tab === 'audit') loadAudit();
}

async function start() {
  const s = session();
  if (!s) return gate('Sign in on the console first.');
  if (s.user.role !== 'admin') return gate('The Admin area is for admins.');
  state.token = s.token;
  try {
    [state.users, state.sites, state.queues] = await Promise.all([
      call('GET', '/api/v1/users'),
      call('GET', '/api/v1/locations'),
      call('GET', '/api/v1/queues'),
    ]);
  } catch (e) {
    return failed(e);
  }
  $('#admin').hidden = false;
  renderUsers();
  renderSites();
  renderQueues();
  $('#user-form').addEventListener('submit', createUser);
  $('#site-form').addEventListener('submit', createSite);
  $('#audit-filters').addEventListener('submit', (e) => {
    e.preventDefault();
    state.filters = Object.fromEntries(new FormData(e.target));
    loadAudit();
  });
  $('#audit-older').addEventListener('click', () => loadAudit(true));
  for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => show(b.dataset.tab));
  document.body.dataset.ready = '1';
}

start();
