import { test, expect, signIn, open } from './dashboard.helpers';

test('every API call carries the key as a bearer token, kept in session storage', async ({ page }) => {
  const authorizations = new Set<string | undefined>();
  page.on('request', (request) => {
    if (new URL(request.url()).pathname.startsWith('/api/')) authorizations.add(request.headers().authorization);
  });
  await signIn(page);
  await open(page, 'Exchanges');
  await expect(page.locator('tbody tr[data-key="amq.topic"]')).toBeVisible();

  expect([...authorizations]).toEqual(['Bearer dashboard-test-key']);
  expect(await page.evaluate(() => sessionStorage.getItem('gateway.apiKey'))).toBe('dashboard-test-key');
  expect(await page.evaluate(() => localStorage.length)).toBe(0);

  // A reload keeps the session (same tab); signing out forgets the key.
  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: /^Exchanges/ })).toBeVisible();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByLabel('API key')).toBeVisible();
  expect(await page.evaluate(() => sessionStorage.getItem('gateway.apiKey'))).toBeNull();
});

test('a refused key (401) keeps the person at sign-in, and a 401 later sends them back to it', async ({ page }) => {
  const refuse = (route: import('@playwright/test').Route) => route.fulfill({
    status: 401, contentType: 'application/problem+json', json: { status: 401, title: 'Unauthorized', detail: 'The API key is not valid.' },
  });
  await page.route('**/api/vhosts', refuse);
  await page.goto('/');
  await page.getByLabel('API key').fill('wrong-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('The gateway refused this API key.');
  await expect(page.getByLabel('API key')).toHaveAttribute('aria-invalid', 'true');
  expect(await page.evaluate(() => sessionStorage.getItem('gateway.apiKey'))).toBeNull();

  await page.unroute('**/api/vhosts', refuse);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('navigation', { name: 'Sections' })).toBeVisible();

  // The key is revoked while the dashboard is open: the next call (the overview's refresh) answers 401.
  await page.route('**/api/**', refuse);
  await expect(page.getByRole('alert')).toHaveText('The gateway refused the API key: sign in again.');
  await expect(page.getByLabel('API key')).toBeVisible();
  expect(await page.evaluate(() => sessionStorage.getItem('gateway.apiKey'))).toBeNull();
});

test('the live consumer asks for a ticket and passes it on the WebSocket URL', async ({ page, api }) => {
  const vhost = await api.createVhost('ticket');
  await api.send('PUT', `/api/vhosts/${vhost}/queues/tickets`, {});
  // POST /api/auth/tickets is the agreed contract for WebSocket and EventSource authentication ({ticket, expiresAt}).
  const ticketRequests: (string | undefined)[] = [];
  await page.route('**/api/auth/tickets', (route) => {
    ticketRequests.push(route.request().headers().authorization);
    return route.fulfill({ json: { ticket: 't-123 ü', expiresAt: new Date(Date.now() + 30_000).toISOString() } });
  });
  const sockets: string[] = [];
  page.on('websocket', (socket) => sockets.push(socket.url()));
  await signIn(page, vhost);
  await page.goto('/#/messages?queue=tickets');
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await expect(page.getByRole('list', { name: 'Subscriptions' })).toContainText('tickets (manual, prefetch 10)');
  await expect(page.getByRole('list', { name: 'Subscriptions' })).not.toContainText('subscribing…');

  expect(ticketRequests).toEqual(['Bearer dashboard-test-key']);
  expect(sockets).toHaveLength(1);
  expect(new URL(sockets[0]).searchParams.get('ticket')).toBe('t-123 ü');
  await expect.poll(async () => (await api.queue(vhost, 'tickets')).consumers).toBe(1);
});

test('a subscription to a missing queue shows the server\'s error; a deleted queue ends its subscription', async ({ page, api }) => {
  const vhost = await api.createVhost('ws-errors');
  await api.send('PUT', `/api/vhosts/${vhost}/queues/short-lived`, {});
  await signIn(page, vhost);
  await open(page, 'Messages');

  await page.getByLabel('Queue', { exact: true }).fill('nowhere');
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await expect(page.getByRole('alert')).toContainText('nowhere');
  await expect(page.getByRole('list', { name: 'Subscriptions' })).not.toContainText('nowhere');

  await page.getByLabel('Queue', { exact: true }).fill('short-lived');
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await expect(page.getByRole('list', { name: 'Subscriptions' })).toContainText('short-lived (manual');
  await api.send('DELETE', `/api/vhosts/${vhost}/queues/short-lived`);
  await expect(page.getByRole('status').last()).toHaveText("The queue 'short-lived' was deleted: its subscription ended.");
  await expect(page.getByRole('list', { name: 'Subscriptions' })).not.toContainText('short-lived');
});
