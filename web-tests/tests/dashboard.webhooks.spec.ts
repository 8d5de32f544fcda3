import { createServer, type IncomingMessage, type Server } from 'node:http';
import { test, expect, signIn, open, screenshot } from './dashboard.helpers';

/** A webhook receiver on a loopback port that answers each request with the next status of a script. */
async function receiver(statuses: number[]) {
  const received: { body: string; headers: IncomingMessage['headers'] }[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      received.push({ body, headers: request.headers });
      response.statusCode = statuses.length > 1 ? statuses.shift()! : statuses[0];
      response.end(response.statusCode >= 400 ? `refused with ${response.statusCode}` : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/hooks`, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

test('webhooks: create one in the dashboard, see deliveries, the last error, a 410 disabling it and re-enable it', async ({ page, api }, testInfo) => {
  const vhost = await api.createVhost('hooks');
  await api.send('PUT', `/api/vhosts/${vhost}/queues/orders`, {});
  // First a 500 (retried), then 204s; later a 410 disables the webhook.
  const endpoint = await receiver([500, 204]);
  try {
    await signIn(page, vhost);
    await open(page, 'Webhooks');
    await expect(page.getByText('No webhooks yet.')).toBeVisible();

    await page.getByLabel('Queue', { exact: true }).fill('orders');
    await page.getByLabel('Name').fill('billing');
    await page.getByLabel('URL').fill(endpoint.url);
    await page.getByLabel('Format').selectOption('json');
    await page.getByRole('button', { name: 'Save webhook' }).click();
    const row = page.locator('tbody tr[data-key="orders/billing"]');
    await expect(row.locator('[data-column="state"]')).toHaveText('active');
    await expect(row.locator('[data-column="url"]')).toHaveText(endpoint.url);
    await expect(row.getByRole('button', { name: 'Enable webhook billing' })).toBeHidden();

    await api.send('POST', `/api/vhosts/${vhost}/exchanges/amq.default/publish`, { routingKey: 'orders', payload: 'order 1' });
    // The 500 is retried: the status shows the error, then the delivery.
    await expect(row.locator('[data-column="lastError"]')).toContainText('500');
    await expect(row.locator('[data-column="delivered"]')).toHaveText('1', { timeout: 20_000 }); // the retry waits up to 5 s (jittered)
    await expect(row.locator('[data-column="retried"]')).toHaveText('1');
    expect(endpoint.received).toHaveLength(2);
    expect(JSON.parse(endpoint.received[1].body)).toMatchObject({ payload: 'order 1', routingKey: 'orders' });

    // The endpoint is gone for good: 410 disables the webhook, and the message stays in the queue.
    endpoint.received.length = 0;
    const gone = await receiver([410]);
    await api.send('PUT', `/api/vhosts/${vhost}/queues/orders/webhooks/billing`, { url: gone.url, format: 'json' });
    await api.send('POST', `/api/vhosts/${vhost}/exchanges/amq.default/publish`, { routingKey: 'orders', payload: 'order 2' });
    await expect(row.locator('[data-column="state"]')).toContainText('disabled');
    await expect(row.locator('[data-column="backlog"]')).toHaveText('1');
    await expect(row.getByRole('button', { name: 'Enable webhook billing' })).toBeVisible();
    await screenshot(page, testInfo, 'webhooks-disabled.png');
    await gone.close();

    // Back to the working endpoint: Enable resumes delivering.
    await api.send('PUT', `/api/vhosts/${vhost}/queues/orders/webhooks/billing`, { url: endpoint.url, format: 'json', enabled: false });
    await row.getByRole('button', { name: 'Enable webhook billing' }).click();
    await expect(row.locator('[data-column="state"]')).toHaveText('active');
    await expect(row.locator('[data-column="backlog"]')).toHaveText('0');
    await expect.poll(() => endpoint.received.map((r) => JSON.parse(r.body).payload)).toEqual(['order 2']);

    await row.getByRole('button', { name: 'Delete webhook billing' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await expect(page.getByText('No webhooks yet.')).toBeVisible();
  } finally {
    await endpoint.close();
  }
});

test('an invalid webhook name shows the API\'s message', async ({ page, api }) => {
  const vhost = await api.createVhost('hook-errors');
  await api.send('PUT', `/api/vhosts/${vhost}/queues/jobs`, {});
  await signIn(page, vhost);
  await open(page, 'Webhooks');
  await page.getByLabel('Queue', { exact: true }).fill('jobs');
  await page.getByLabel('Name').fill('bad name/');
  await page.getByLabel('URL').fill('http://127.0.0.1:9/hooks');
  await page.getByRole('button', { name: 'Save webhook' }).click();
  const problem = await api.send('PUT', `/api/vhosts/${vhost}/queues/jobs/webhooks/${encodeURIComponent('bad name/')}`, { url: 'http://127.0.0.1:9/hooks' }, [400]);
  await expect(page.getByRole('alert')).toHaveText(problem.detail);
  await expect(page.getByLabel('Name')).toHaveAttribute('aria-invalid', 'true');
});
