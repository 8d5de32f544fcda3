import { test, expect, signIn, open, ADMIN_KEY } from './dashboard.helpers';

test('every API call carries the key as a bearer token, kept in session storage', async ({ page }) => {
  const authorizations = new Set<string | undefined>();
  page.on('request', (request) => {
    if (new URL(request.url()).pathname.startsWith('/api/')) authorizations.add(request.headers().authorization);
  });
  await signIn(page);
  await open(page, 'Exchanges');
  await expect(page.locator('tbody tr[data-key="amq.topic"]')).toBeVisible();

  expect([...authorizations]).toEqual([`Bearer ${ADMIN_KEY}`]);
  expect(await page.evaluate(() => sessionStorage.getItem('gateway.apiKey'))).toBe(ADMIN_KEY);
  expect(await page.evaluate(() => localStorage.length)).toBe(0);
  await expect(page.getByText('Signed in as admin')).toBeVisible();

  // A reload keeps the session (same tab); signing out forgets the key.
  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: /^Exchanges/ })).toBeVisible();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByLabel('API key')).toBeVisible();
  expect(await page.evaluate(() => sessionStorage.getItem('gateway.apiKey'))).toBeNull();
});

test('a wrong key keeps the person at sign-in; a key revoked while signed in sends them back to it', async ({ page, api }) => {
  await page.goto('/');
  await page.getByLabel('API key').fill('not-a-key-of-this-gateway');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('The gateway refused this API key.');
  await expect(page.getByLabel('API key')).toHaveAttribute('aria-invalid', 'true');
  expect(await page.evaluate(() => sessionStorage.getItem('gateway.apiKey'))).toBeNull();

  // A second key of the administrator, revoked while the dashboard is open.
  const created = await api.send('POST', '/api/users/admin/keys', { description: 'dashboard revocation test' });
  await page.getByLabel('API key').fill(created.key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('navigation', { name: 'Sections' })).toBeVisible();
  await api.send('DELETE', `/api/users/admin/keys/${created.info.id}`);

  // The overview's next refresh answers 401.
  await expect(page.getByRole('alert')).toHaveText('The gateway refused the API key: sign in again.');
  await expect(page.getByLabel('API key')).toBeVisible();
  expect(await page.evaluate(() => sessionStorage.getItem('gateway.apiKey'))).toBeNull();
});

test('the live consumer opens its WebSocket with a fresh single-use ticket each time', async ({ page, api }) => {
  const vhost = await api.createVhost('ticket');
  await api.send('PUT', `/api/vhosts/${vhost}/queues/tickets`, {});
  const issued: string[] = [];
  const ticketRequests: (string | undefined)[] = [];
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === '/api/auth/tickets') ticketRequests.push(request.headers().authorization);
  });
  page.on('response', async (response) => {
    if (new URL(response.url()).pathname === '/api/auth/tickets' && response.status() === 201) issued.push((await response.json()).ticket);
  });
  const sockets: string[] = [];
  page.on('websocket', (socket) => sockets.push(socket.url()));
  await signIn(page, vhost);
  await page.goto('/#/messages?queue=tickets');
  const subscriptions = page.getByRole('list', { name: 'Subscriptions' });

  await page.getByRole('button', { name: 'Subscribe' }).click();
  await expect(subscriptions).toContainText('tickets (manual, prefetch 10)');
  await expect(subscriptions).not.toContainText('subscribing…');
  await expect.poll(async () => (await api.queue(vhost, 'tickets')).consumers).toBe(1);

  await page.getByRole('button', { name: 'Disconnect' }).click();
  await expect.poll(async () => (await api.queue(vhost, 'tickets')).consumers).toBe(0);
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await expect(subscriptions).toContainText('tickets (manual, prefetch 10)');
  await expect.poll(async () => (await api.queue(vhost, 'tickets')).consumers).toBe(1);

  expect(ticketRequests).toEqual([`Bearer ${ADMIN_KEY}`, `Bearer ${ADMIN_KEY}`]);
  expect(issued).toHaveLength(2);
  expect(issued[0]).not.toBe(issued[1]);
  expect(sockets.map((url) => new URL(url).searchParams.get('ticket'))).toEqual(issued);
  // The key never travels in a URL.
  expect(sockets.join(' ')).not.toContain(ADMIN_KEY);
});

test('with authentication off, any key signs in and the live consumer connects without a ticket', async ({ page, openGateway }) => {
  const sockets: string[] = [];
  page.on('websocket', (socket) => sockets.push(socket.url()));
  await signIn(page, undefined, { key: 'any-key-at-all', url: openGateway.url });
  await expect(page.getByText('Authentication is off')).toBeVisible();
  await open(page, 'Queues');
  await page.getByLabel('Name').fill('open-queue');
  await page.getByRole('button', { name: 'Declare queue' }).click();
  await expect(page.locator('tbody tr[data-key="open-queue"]')).toBeVisible();
  await page.goto(`${openGateway.url}/#/messages?queue=open-queue`);
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await expect(page.getByRole('list', { name: 'Subscriptions' })).toContainText('open-queue (manual, prefetch 10)');
  await expect(page.getByRole('list', { name: 'Subscriptions' })).not.toContainText('subscribing…');

  // POST /api/auth/tickets answers 404 when authentication is off: the socket opens without a ticket.
  expect(sockets).toEqual([`${openGateway.url.replace('http', 'ws')}/api/vhosts/default/ws`]);
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

test('a permission change that takes away reading the queue ends its subscription and says so', async ({ page, api }) => {
  const vhost = await api.createVhost('ws-access');
  await api.send('PUT', `/api/vhosts/${vhost}/queues/jobs`, {});
  const user = `reader-${vhost}`;
  await api.send('PUT', `/api/users/${user}`, { tags: [] });
  await api.send('PUT', `/api/vhosts/${vhost}/permissions/${user}`, { configure: '', write: '.*', read: '.*' });
  const { key } = await api.send('POST', `/api/users/${user}/keys`, { description: 'dashboard permission test' });
  await signIn(page, vhost, { key });
  await page.goto('/#/messages?queue=jobs');
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await expect(page.getByRole('list', { name: 'Subscriptions' })).toContainText('jobs (manual');
  await expect(page.getByRole('list', { name: 'Subscriptions' })).not.toContainText('subscribing…');

  await api.send('PUT', `/api/vhosts/${vhost}/permissions/${user}`, { configure: '', write: '.*', read: '' });

  await expect(page.getByRole('status').last()).toHaveText("You may no longer read the queue 'jobs': its subscription ended.");
  await expect(page.getByRole('list', { name: 'Subscriptions' })).not.toContainText('jobs');
  await expect.poll(async () => (await api.queue(vhost, 'jobs')).consumers).toBe(0);
});

test('a subscription the broker backend lost shows as suspended, its deliveries set aside, and says when it is restored', async ({ page, api }) => {
  const vhost = await api.createVhost('ws-suspend');
  await api.send('PUT', `/api/vhosts/${vhost}/queues/jobs`, {});
  // The embedded engine never loses a consumer: the dashboard's socket is proxied to the gateway, and the frames a
  // RabbitMQ backend sends when it loses one (suspended, then restored: SubscriptionRestoreTests) are added to it.
  let toPage: (frame: object) => void = () => { throw new Error('the dashboard opened no socket'); };
  let subscription: string | undefined;
  await page.routeWebSocket(/\/api\/vhosts\/[^/]+\/ws/, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((message) => {
      const frame = JSON.parse(String(message));
      if (frame.type === 'delivery') subscription = frame.subscription;
      ws.send(message);
    });
    toPage = (frame) => ws.send(JSON.stringify(frame));
  });
  await signIn(page, vhost);
  await open(page, 'Messages');
  await page.getByLabel('Queue', { exact: true }).fill('jobs');
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await expect(page.getByRole('list', { name: 'Subscriptions' })).toContainText('jobs (manual');
  await api.send('POST', `/api/vhosts/${vhost}/exchanges/amq.default/publish`, { routingKey: 'jobs', payload: 'one' });
  const delivery = page.getByRole('article', { name: /jobs/ });
  await expect(delivery).toBeVisible();
  expect(subscription).toBeTruthy();

  toPage({ type: 'suspended', id: subscription, reason: 'backend-unavailable', detail: 'The broker backend went away.' });
  await expect(page.getByRole('status').last()).toHaveText("The broker backend went away: the subscription to 'jobs' resumes by itself when it is back.");
  await expect(delivery).toHaveCount(0); // its tag no longer settles: it comes again, redelivered
  await expect(page.getByRole('list', { name: 'Subscriptions' })).toContainText('jobs (manual');

  toPage({ type: 'restored', id: subscription });
  await expect(page.getByRole('status').last()).toHaveText("The subscription to 'jobs' is back; unacknowledged deliveries come again.");
});
