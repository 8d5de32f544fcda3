import type { Page } from '@playwright/test';
import { test, expect, signIn, open, screenshot } from './dashboard.helpers';

/** Nothing is wider than the window: no sideways scrolling of the page itself (tables scroll inside their box). */
async function expectNoHorizontalOverflow(page: Page) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
  expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
}

test.describe('at phone width', () => {
  test.use({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });

  test('every section fits the screen and the consumer stacks under the publish form', async ({ page, api }, testInfo) => {
    const vhost = await api.createVhost('phone');
    await api.send('PUT', `/api/vhosts/${vhost}/exchanges/a-rather-long-exchange-name-for-a-phone`, { type: 'topic' });
    await api.send('PUT', `/api/vhosts/${vhost}/queues/a-rather-long-queue-name-for-a-phone-screen`, {});
    await api.send('POST', `/api/vhosts/${vhost}/bindings`,
      { source: 'a-rather-long-exchange-name-for-a-phone', destination: 'a-rather-long-queue-name-for-a-phone-screen', routingKey: 'a.#' });
    await signIn(page, vhost);

    for (const section of ['Overview', 'Virtual hosts', 'Exchanges', 'Queues', 'Bindings', 'Topology', 'Webhooks', 'Messages']) {
      await open(page, section);
      await expectNoHorizontalOverflow(page);
    }
    await screenshot(page, testInfo, 'dashboard-phone.png', { docs: true });
    const publish = await page.getByRole('heading', { name: 'Publish a message' }).boundingBox();
    const consumer = await page.getByRole('heading', { name: 'Live consumer' }).boundingBox();
    expect(consumer!.y).toBeGreaterThan(publish!.y + publish!.height);
    expect(consumer!.x).toBeLessThan(50);
  });
});

test('a demo topology for the README: overview, topology with an exchange-to-exchange binding, messages', async ({ page, api }, testInfo) => {
  const vhost = await api.createVhost('shop');
  const v = `/api/vhosts/${vhost}`;
  await api.send('PUT', `${v}/exchanges/orders`, { type: 'topic' });
  await api.send('PUT', `${v}/exchanges/audit`, { type: 'fanout' });
  for (const q of ['orders-eu', 'orders-all', 'audit-log', 'billing']) await api.send('PUT', `${v}/queues/${q}`, {});
  const bind = (source: string, destination: string, routingKey: string, destinationType = 'queue') =>
    api.send('POST', `${v}/bindings`, { source, destination, routingKey, destinationType });
  await bind('orders', 'orders-eu', 'orders.eu.*');
  await bind('orders', 'orders-all', 'orders.#');
  await bind('orders', 'billing', '*.*.paid');
  await bind('orders', 'audit', '#', 'exchange');
  await bind('audit', 'audit-log', '');
  for (const key of ['orders.eu.created', 'orders.us.created', 'orders.eu.paid']) {
    await api.send('POST', `${v}/exchanges/orders/publish`, { routingKey: key, payload: JSON.stringify({ key }), properties: { contentType: 'application/json' } });
  }
  await page.setViewportSize({ width: 1280, height: 1024 });
  await signIn(page, vhost);

  // A few live samples, with messages arriving between them, so that the chart draws a line.
  const readyLine = page.getByRole('figure', { name: 'Queued messages' }).locator('polyline.series-0');
  const samples = async () => (await readyLine.getAttribute('points'))?.split(' ').filter(Boolean).length ?? 0;
  await expect.poll(samples).toBeGreaterThanOrEqual(1);
  for (const key of ['orders.eu.shipped', 'orders.us.paid']) {
    const before = await samples();
    await api.send('POST', `${v}/exchanges/orders/publish`, { routingKey: key, payload: JSON.stringify({ key }) });
    await expect.poll(samples).toBeGreaterThan(before);
  }
  await expect(page.locator('[data-count="queueTotals.ready"]')).not.toHaveText('–');
  await screenshot(page, testInfo, 'dashboard-overview.png', { docs: true });

  await open(page, 'Topology');
  const picture = page.getByRole('img', { name: `Topology of ${vhost}` });
  // The exchange-to-exchange binding puts 'audit' in a column of its own, between 'orders' and the queues.
  const x = async (selector: string) => (await picture.locator(selector).boundingBox())!.x;
  const orders = await x('g.node[data-name="orders"]');
  const audit = await x('g.node[data-name="audit"]');
  const auditLog = await x('g.node[data-name="audit-log"]');
  expect(orders).toBeLessThan(audit);
  expect(audit).toBeLessThan(auditLog);
  await expect(picture.locator('g.edge-exchange[data-source="orders"][data-destination="audit"]')).toHaveCount(1);
  await expect(picture.locator('g.edge')).toHaveCount(5);
  await expect(picture.locator('g.node[data-name="orders-all"]')).toContainText('5 ready');
  await expect(picture.locator('g.node[data-name="audit-log"]')).toContainText('5 ready');
  await page.getByText('Routes as text').click();
  await expect(page.getByRole('listitem').filter({ hasText: "orders → audit (exchange) by '#'" })).toBeVisible();
  await page.getByText('Routes as text').click();
  await screenshot(page, testInfo, 'dashboard-topology.png', { docs: true });

  await open(page, 'Messages');
  await page.getByLabel('Queue', { exact: true }).fill('orders-eu');
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await expect(page.getByRole('article')).toHaveCount(3);
  await page.getByLabel('Exchange', { exact: true }).fill('orders');
  await page.getByLabel('Routing key').fill('orders.eu.shipped');
  await page.getByRole('textbox', { name: 'Payload' }).fill('{"order": 7, "carrier": "post"}');
  await page.getByRole('button', { name: 'Publish', exact: true }).click();
  await expect(page.getByRole('article')).toHaveCount(4);
  await screenshot(page, testInfo, 'dashboard.png', { docs: true });
});
