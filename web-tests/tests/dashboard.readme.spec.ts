import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, expect, ADMIN_KEY } from './dashboard.helpers';
import { repositoryRoot } from '../fixtures/paths';

/**
 * The README's browser snippets, as written there, with the test server's key for the placeholder, each wrapped in an
 * async function (the README runs them as a module script or in the console, where top-level await works).
 */
async function snippets() {
  const readme = await readFile(join(repositoryRoot, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/### From a browser: ([^\n]+)\n[\s\S]*?```js\n([\s\S]*?)```/g)];
  return Object.fromEntries(blocks.map(([, title, code]) => {
    expect(code, `the ${title} snippet has a key placeholder`).toContain("'<your API key>'");
    return [title, `(async () => {\n${code.replace("'<your API key>'", JSON.stringify(ADMIN_KEY))}\n})()`];
  }));
}

test('the README\'s WebSocket and EventSource snippets work from the dashboard\'s page, under its CSP', async ({ page, api }) => {
  const code = await snippets();
  expect(Object.keys(code)).toEqual(['WebSocket', 'Server-Sent Events']);
  // What the README's curl quick start declares first (idempotent on the shared server's default vhost).
  await api.send('PUT', '/api/vhosts/default/exchanges/orders', { type: 'topic' });
  await api.send('PUT', '/api/vhosts/default/queues/eu', {});
  await api.send('POST', '/api/vhosts/default/bindings', { source: 'orders', destination: 'eu', routingKey: 'orders.eu.*' });
  const logged: string[] = [];
  page.on('console', (message) => { if (message.type() === 'log') logged.push(message.text()); });

  await page.goto('/');
  await page.evaluate(code.WebSocket);
  // It publishes over the socket, receives the message on its subscription and acks it.
  await expect.poll(() => logged).toContain('orders.eu.created hi');
  await expect.poll(async () => (await api.queue('default', 'eu')).messages).toBe(0);

  await page.goto('/'); // closes the snippet's socket
  await expect.poll(async () => (await api.queue('default', 'eu')).consumers).toBe(0);
  await api.send('POST', '/api/vhosts/default/exchanges/orders/publish', { routingKey: 'orders.eu.shipped', payload: 'by sse' });
  await page.evaluate(code['Server-Sent Events']);
  await expect.poll(() => logged).toContain('orders.eu.shipped by sse');
  await expect.poll(async () => (await api.queue('default', 'eu')).messages).toBe(0);
});
