import { test, expect, signIn, open } from './dashboard.helpers';

const counter = (page: import('@playwright/test').Page, key: string) => page.locator(`[data-count="${key}"]`);

test('the overview draws live rates and counts from /api/overview', async ({ page }) => {
  // The agreed shape of GET /api/overview; answered here by the test so that the figures are known.
  let publish = 12.5;
  await page.route('**/api/overview', (route) => {
    publish += 10;
    return route.fulfill({
      json: {
        queueTotals: { messages: 7, ready: 5, unacked: 2 },
        objectTotals: { vhosts: 2, exchanges: 9, queues: 3, bindings: 4, consumers: 1 },
        rates: { publish, deliver: 10, ack: 9.75, redeliver: 0.5, deadLetter: 0 },
      },
    });
  });
  await signIn(page);

  await expect(counter(page, 'queueTotals.messages')).toHaveText('7');
  await expect(counter(page, 'queueTotals.ready')).toHaveText('5');
  await expect(counter(page, 'queueTotals.unacked')).toHaveText('2');
  await expect(counter(page, 'objectTotals.exchanges')).toHaveText('9');
  await expect(counter(page, 'objectTotals.consumers')).toHaveText('1');

  const rates = page.getByRole('figure', { name: 'Message rates' });
  await expect(rates).toBeVisible();
  await expect(rates.getByRole('listitem').filter({ hasText: /^Deliver/ })).toHaveText('Deliver 10.0/s');
  await expect(rates.getByRole('listitem').filter({ hasText: /^Ack/ })).toHaveText('Ack 9.75/s');
  await expect(rates.getByRole('listitem').filter({ hasText: /^Redeliver/ })).toHaveText('Redeliver 0.50/s');
  // Live: each refresh adds a sample (the mocked publish rate grows by 10 a sample).
  const publishLine = rates.locator('polyline.series-0');
  await expect.poll(async () => (await publishLine.getAttribute('points'))?.split(' ').length ?? 0).toBeGreaterThanOrEqual(2);
  await expect(rates.getByRole('listitem').filter({ hasText: /^Publish/ })).toHaveText('Publish 32.5/s');
  await expect(page.getByText('Message rates are not available')).toBeHidden();
});

test('without /api/overview the overview adds up the counts from the lists and says rates are unavailable', async ({ page, api }) => {
  await page.route('**/api/overview', (route) => route.fulfill({
    status: 404, contentType: 'application/problem+json', json: { status: 404, detail: 'No resource at /api/overview.' },
  }));
  const vhost = await api.createVhost('totals');
  await api.send('PUT', `/api/vhosts/${vhost}/queues/q1`, {});
  await api.send('POST', `/api/vhosts/${vhost}/exchanges/amq.default/publish`, { routingKey: 'q1', payload: 'one' });
  await api.send('POST', `/api/vhosts/${vhost}/exchanges/amq.default/publish`, { routingKey: 'q1', payload: 'two' });

  // The expected totals, added up over every vhost of the shared server.
  const totals = async () => {
    let queues = 0; let ready = 0;
    for (const { name } of await api.send('GET', '/api/vhosts')) {
      const list = await api.send('GET', `/api/vhosts/${encodeURIComponent(name)}/queues`);
      queues += list.length;
      ready += list.reduce((sum: number, q: { messagesReady: number }) => sum + q.messagesReady, 0);
    }
    return { queues, ready };
  };
  const before = await totals();
  await signIn(page);

  await expect(page.getByText('Message rates are not available')).toBeVisible();
  await expect(page.getByRole('figure', { name: 'Message rates' })).toBeHidden();
  await expect(page.getByRole('figure', { name: 'Queued messages' })).toBeVisible();
  await expect(counter(page, 'objectTotals.queues')).toHaveText(String(before.queues));
  await expect(counter(page, 'queueTotals.ready')).toHaveText(String(before.ready));

  // Live: a new queue and message show up at the next refresh.
  await api.send('PUT', `/api/vhosts/${vhost}/queues/q2`, {});
  await api.send('POST', `/api/vhosts/${vhost}/exchanges/amq.default/publish`, { routingKey: 'q2', payload: 'three' });
  await expect(counter(page, 'objectTotals.queues')).toHaveText(String(before.queues + 1));
  await expect(counter(page, 'queueTotals.ready')).toHaveText(String(before.ready + 1));
});

test('queue rates appear in the queue list when the gateway reports them', async ({ page, api }) => {
  const vhost = await api.createVhost('rates');
  await api.send('PUT', `/api/vhosts/${vhost}/queues/fast`, {});
  // Queues gain `rates` (per second) with the overview work; the list shows them when present.
  await page.route(`**/api/vhosts/${vhost}/queues`, async (route) => {
    const response = await route.fetch();
    const queues = await response.json();
    await route.fulfill({ response, json: queues.map((q: object) => ({ ...q, rates: { publish: 3, deliver: 2.5, ack: 2 } })) });
  });
  await signIn(page, vhost);
  await open(page, 'Queues');
  await expect(page.locator('tr[data-key="fast"] [data-column="rates"]')).toHaveText('3.00/s in · 2.50/s out · 2.00/s ack');
});

test('against the real /api/overview, the overview shows its counts and the rates chart', async ({ page, api }) => {
  const vhost = await api.createVhost('real-overview');
  await api.send('PUT', `/api/vhosts/${vhost}/queues/counted`, {});
  await api.send('POST', `/api/vhosts/${vhost}/exchanges/amq.default/publish`, { routingKey: 'counted', payload: 'one' });
  await signIn(page);

  await expect(page.getByRole('figure', { name: 'Message rates' })).toBeVisible();
  await expect(page.getByText('Message rates are not available')).toBeHidden();
  const overview = await api.send('GET', '/api/overview');
  await expect(counter(page, 'objectTotals.queues')).toHaveText(String(overview.objectTotals.queues));
  await expect(counter(page, 'objectTotals.vhosts')).toHaveText(String(overview.objectTotals.vhosts));
  await expect(counter(page, 'queueTotals.ready')).toHaveText(String(overview.queueTotals.ready));
});
