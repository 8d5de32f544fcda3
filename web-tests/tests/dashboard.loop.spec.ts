import { test, expect, signIn, open, row, cell, screenshot } from './dashboard.helpers';

test('a person runs the whole publish → route → consume → ack loop in the dashboard alone', async ({ page, api }, testInfo) => {
  const vhost = await api.createVhost('loop');
  const sockets: string[] = [];
  page.on('websocket', (socket) => sockets.push(socket.url()));
  await signIn(page, vhost);

  await test.step('declare a topic exchange', async () => {
    await open(page, 'Exchanges');
    await page.getByLabel('Name').fill('orders');
    await page.getByLabel('Type').selectOption('topic');
    await page.getByRole('button', { name: 'Declare exchange' }).click();
    await expect(cell(page, 'orders', 'type')).toHaveText('topic');
    expect((await api.send('GET', `/api/vhosts/${vhost}/exchanges/orders`)).type).toBe('topic');
  });

  await test.step('declare a queue', async () => {
    await open(page, 'Queues');
    await page.getByLabel('Name').fill('eu');
    await page.getByRole('button', { name: 'Declare queue' }).click();
    await expect(cell(page, 'eu', 'ready')).toHaveText('0');
  });

  await test.step('bind the queue to the exchange with a topic pattern', async () => {
    await open(page, 'Bindings');
    await page.getByLabel('Source exchange').fill('orders');
    await page.getByLabel('Destination', { exact: true }).fill('eu');
    await page.getByLabel('Routing key').fill('orders.eu.*');
    await page.getByRole('button', { name: 'Bind', exact: true }).click();
    await expect(page.getByRole('status').last()).toHaveText("Bound orders to eu with 'orders.eu.*'.");
    const bindings = await api.send('GET', `/api/vhosts/${vhost}/bindings`);
    expect(bindings).toEqual([expect.objectContaining({ source: 'orders', destination: 'eu', routingKey: 'orders.eu.*' })]);
    await expect(cell(page, bindings[0].id, 'routingKey')).toHaveText('orders.eu.*');
  });

  await test.step('the topology picture shows the binding', async () => {
    await open(page, 'Topology');
    const picture = page.getByRole('img', { name: `Topology of ${vhost}` });
    await expect(picture).toBeVisible();
    const edge = picture.locator('g.edge[data-source="orders"][data-destination="eu"]');
    await expect(edge).toHaveCount(1);
    await expect(edge.locator('text')).toHaveText('orders.eu.*');
    await expect(picture.locator('g.node[data-kind="exchange"][data-name="orders"]')).toContainText('topic');
    await expect(picture.locator('g.node[data-kind="queue"][data-name="eu"]')).toBeVisible();
    await screenshot(page, testInfo, 'loop-topology.png');
  });

  await test.step('subscribe to the queue in the live consumer', async () => {
    await open(page, 'Messages');
    await page.getByLabel('Queue', { exact: true }).fill('eu');
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await expect(page.getByRole('list', { name: 'Subscriptions' })).toContainText('eu (manual, prefetch 10)');
    await expect(page.getByRole('list', { name: 'Subscriptions' })).not.toContainText('subscribing…');
    // Browsers cannot send headers with a WebSocket: it opens with a single-use ticket, never the key.
    expect(sockets).toHaveLength(1);
    expect(new URL(sockets[0]).pathname).toBe(`/api/vhosts/${vhost}/ws`);
    expect(new URL(sockets[0]).searchParams.get('ticket')).toBeTruthy();
  });

  await test.step('publish a message with properties and a header', async () => {
    await page.getByLabel('Exchange', { exact: true }).fill('orders');
    await page.getByLabel('Routing key').fill('orders.eu.created');
    await page.getByRole('textbox', { name: 'Payload' }).fill('{"order": 42}');
    await page.getByText('Properties', { exact: true }).click();
    await page.getByLabel('Content type').fill('application/json');
    await page.getByText('Headers', { exact: true }).click();
    await page.getByRole('button', { name: 'Add header' }).click();
    await page.getByLabel('Header name').fill('source');
    await page.getByLabel('Value', { exact: true }).fill('dashboard');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await expect(page.getByText('Published: routed to 1 queue.')).toBeVisible();
  });

  const delivery = page.getByRole('article', { name: /orders\.eu\.created/ });
  await test.step('the delivery arrives in the live consumer', async () => {
    await expect(delivery).toBeVisible();
    await expect(delivery.locator('pre.payload')).toHaveText('{"order": 42}');
    await expect(delivery).toContainText('from orders in queue eu');
    await expect(delivery).toContainText('contentType');
    await expect(delivery).toContainText('application/json');
    await expect(delivery).toContainText('header source');
    await expect(delivery).toContainText('dashboard');
    await screenshot(page, testInfo, 'loop-messages.png');
  });

  await test.step('the queue counts show the message delivered, not yet acknowledged', async () => {
    await open(page, 'Queues');
    await expect(cell(page, 'eu', 'unacked')).toHaveText('1');
    await expect(cell(page, 'eu', 'ready')).toHaveText('0');
    await expect(cell(page, 'eu', 'consumers')).toHaveText('1');
  });

  await test.step('ack it', async () => {
    await open(page, 'Messages');
    // The socket and its deliveries live on while other views are shown.
    await expect(delivery).toBeVisible();
    await delivery.getByRole('button', { name: 'Ack orders.eu.created', exact: true }).click();
    await expect(delivery).toHaveCount(0);
    await expect(page.getByRole('status').last()).toContainText('acknowledged');
  });

  await test.step('the counts change: nothing ready, nothing unacknowledged', async () => {
    await open(page, 'Queues');
    await expect(cell(page, 'eu', 'unacked')).toHaveText('0');
    await expect(cell(page, 'eu', 'messages')).toHaveText('0');
    const queue = await api.queue(vhost, 'eu');
    expect(queue).toMatchObject({ messages: 0, messagesReady: 0, messagesUnacknowledged: 0, consumers: 1 });
  });
});

test('nack with requeue brings the message back redelivered; reject drops it', async ({ page, api }) => {
  const vhost = await api.createVhost('nack');
  await api.send('PUT', `/api/vhosts/${vhost}/queues/jobs`, {});
  await api.send('POST', `/api/vhosts/${vhost}/exchanges/amq.default/publish`, { routingKey: 'jobs', payload: 'job-1' });
  await signIn(page, vhost);
  await page.goto(`/#/messages?queue=jobs`);
  await page.getByRole('button', { name: 'Subscribe' }).click();

  const first = page.getByRole('listitem').filter({ has: page.getByRole('article', { name: /^jobs/ }) });
  await expect(first).toHaveCount(1);
  await expect(first).not.toContainText('redelivered');
  await first.getByRole('button', { name: 'Nack jobs and requeue' }).click();

  // The requeued message comes straight back to the same subscription, marked redelivered.
  await expect(first).toHaveCount(1);
  await expect(first).toContainText('redelivered');
  await expect(first).toContainText('delivery 2');
  await first.getByRole('button', { name: 'Reject jobs without requeue' }).click();
  await expect(first).toHaveCount(0);
  await expect.poll(async () => (await api.queue(vhost, 'jobs')).messages).toBe(0);
});
