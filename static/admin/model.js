// The Admin area's pure logic: what the audit filters ask the server, how entries and accounts
// read. No DOM here; tested with node --test (tests/js/admin.test.mjs).

/** The query string of an audit page: the filters given (blank ones left out), a page size and,
 *  for the next page back, the id to read before. */
export function auditQuery(filters = {}, before = null, limit = 50) {
  const q = new URLSearchParams();
  for (const key of ['action', 'entity', 'entity_id', 'actor']) {
    const v = (filters[key] || '').trim();
    if (v) q.set(key, v);
  }
  q.set('limit', String(limit));
  if (before != null) q.set('before', String(before));
  return q.toString();
}

/** The names of a user's sites, or "All sites" for a user limited to none. */
export function sitesLabel(user, locations) {
  const ids = user.location_ids || [];
  if (!ids.length) return 'All sites';
  const byId = new Map(locations.map((l) => [l.id, l.name]));
  return ids.map((id) => byId.get(id) || 'unknown site').join(', ');
}

/** Who did it, in words: the email of a known user, or the actor as recorded. */
export function actorLabel(actor, users) {
  if (!actor || !actor.startsWith('staff:')) return actor || '';
  const id = actor.slice('staff:'.length);
  const u = users.find((x) => x.id === id);
  return u ? u.email : actor;
}

/** What changed between `before` and `after`, as `key: old → new` lines (keys in either). */
export function changes(before, after) {
  const b = before && typeof before === 'object' ? before : {};
  const a = after && typeof after === 'object' ? after : {};
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].sort();
  const show = (v) => (v === undefined ? '—' : JSON.stringify(v));
  return keys
    .filter((k) => JSON.stringify(b[k]) !== JSON.stringify(a[k]))
    .map((k) => (before ? `${k}: ${show(b[k])} → ${show(a[k])}` : `${k}: ${show(a[k])}`));
}

/** A settings text as typed: the object it holds, or an error to show. */
export function parseSettings(text) {
  const t = (text || '').trim();
  if (!t) return { ok: true, value: {} };
  try {
    const v = JSON.parse(t);
    if (!v || typeof v !== 'object' || Array.isArray(v)) return { ok: false, error: 'Settings are a JSON object: {…}' };
    return { ok: true, value: v };
  } catch (e) {
    return { ok: false, error: `Not JSON: ${e.message}` };
  }
}
