// The service worker of the ticket page: shows a message pushed by the server (web push) as a
// system notification, and opens the ticket when it is tapped.
self.addEventListener('push', (event) => {
  let m = {};
  try { m = event.data ? event.data.json() : {}; } catch { m = { body: event.data && event.data.text() }; }
  event.waitUntil(self.registration.showNotification(m.title || 'Queuecast', {
    body: m.body || '',
    tag: m.tag || 'queuecast',
    renotify: true,
    requireInteraction: m.kind === 'called' || m.kind === 'recalled',
    icon: '/static/icon.svg',
    data: { url: m.url || '/' },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = event.notification.data && event.notification.data.url;
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const same = open.find((c) => url && new URL(c.url).pathname === new URL(url, self.location.origin).pathname);
    if (same) return same.focus();
    return url ? self.clients.openWindow(url) : undefined;
  })());
});
