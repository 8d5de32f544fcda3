import { test, expect, signIn, open, row, cell, ADMIN_KEY } from './dashboard.helpers';

const enc = encodeURIComponent;

test('an invalid queue name shows the API\'s own validation message on the field', async ({ page, api }) => {
  const vhost = await api.createVhost('invalid');
  // What the API itself answers for that name: the page must say the same.
  const problem = await api.send('PUT', `/api/vhosts/${vhost}/queues/${enc('bad/name')}`, {}, [400]);
  expect(problem.detail).toContain("must not contain '/'");
  await signIn(page, vhost);
  await open(page, 'Queues');

  const name = page.getByLabel('Name');
  await name.fill('bad/name');
  await page.getByRole('button', { name: 'Declare queue' }).click();

  const alert = page.getByRole('alert');
  await expect(alert).toHaveText(problem.detail);
  await expect(name).toHaveAttribute('aria-invalid', 'true');
  await expect(name).toHaveAccessibleDescription(problem.detail);
  await expect(name).toBeFocused();
  expect(await api.send('GET', `/api/vhosts/${vhost}/queues`)).toEqual([]);

  // Typing again clears the error state of the field.
  await name.fill('good-name');
  await expect(name).not.toHaveAttribute('aria-invalid', 'true');
  await page.getByRole('button', { name: 'Declare queue' }).click();
  await expect(alert).toBeHidden();
  await expect(cell(page, 'good-name', 'name')).toHaveText('good-name');
});

test('a reserved exchange name and a conflicting redeclaration show the API\'s messages', async ({ page, api }) => {
  const vhost = await api.createVhost('reserved');
  const reserved = await api.send('PUT', `/api/vhosts/${vhost}/exchanges/amq.mine`, { type: 'direct' }, [403]);
  await signIn(page, vhost);
  await open(page, 'Exchanges');

  await page.getByLabel('Name').fill('amq.mine');
  await page.getByRole('button', { name: 'Declare exchange' }).click();
  await expect(page.getByRole('alert')).toHaveText(reserved.detail);

  await page.getByLabel('Name').fill('events');
  await page.getByLabel('Type').selectOption('fanout');
  await page.getByRole('button', { name: 'Declare exchange' }).click();
  await expect(cell(page, 'events', 'type')).toHaveText('fanout');

  // The same name with another type is a conflict (409); nothing changes.
  await page.getByLabel('Name').fill('events');
  await page.getByLabel('Type').selectOption('direct');
  await page.getByRole('button', { name: 'Declare exchange' }).click();
  const conflict = await api.send('PUT', `/api/vhosts/${vhost}/exchanges/events`, { type: 'direct' }, [409]);
  await expect(page.getByRole('alert')).toHaveText(conflict.detail);
  await expect(cell(page, 'events', 'type')).toHaveText('fanout');
});

test('binding errors: a missing queue, a bad x-match and arguments that are not JSON', async ({ page, api }) => {
  const vhost = await api.createVhost('bind');
  await api.send('PUT', `/api/vhosts/${vhost}/exchanges/docs`, { type: 'headers' });
  await api.send('PUT', `/api/vhosts/${vhost}/queues/pdf`, {});
  await signIn(page, vhost);
  await open(page, 'Bindings');
  const alert = page.getByRole('alert');

  await page.getByLabel('Source exchange').fill('docs');
  await page.getByLabel('Destination', { exact: true }).fill('missing');
  await page.getByRole('button', { name: 'Bind', exact: true }).click();
  const missing = await api.send('POST', `/api/vhosts/${vhost}/bindings`, { source: 'docs', destination: 'missing' }, [404]);
  await expect(alert).toHaveText(missing.detail);

  const args = page.getByLabel('Arguments (JSON, optional)');
  await page.getByLabel('Destination', { exact: true }).fill('pdf');
  await args.fill('{"x-match": "some"}');
  await page.getByRole('button', { name: 'Bind', exact: true }).click();
  const badMatch = await api.send('POST', `/api/vhosts/${vhost}/bindings`, { source: 'docs', destination: 'pdf', arguments: { 'x-match': 'some' } }, [400]);
  await expect(alert).toContainText(badMatch.detail);

  await args.fill('{x-match: all');
  await page.getByRole('button', { name: 'Bind', exact: true }).click();
  await expect(alert).toContainText('Arguments must be a JSON object');
  await expect(args).toHaveAttribute('aria-invalid', 'true');

  await args.fill('{"x-match": "all", "format": "pdf"}');
  await page.getByRole('button', { name: 'Bind', exact: true }).click();
  await expect(alert).toBeHidden();
  const [binding] = await api.send('GET', `/api/vhosts/${vhost}/bindings`);
  expect(binding.arguments).toEqual({ 'x-match': 'all', format: 'pdf' });
  await expect(row(page, binding.id)).toContainText('format=pdf');
});

test('deleting asks first in a dialog; Escape cancels, Delete deletes', async ({ page, api }) => {
  const vhost = await api.createVhost('delete');
  await api.send('PUT', `/api/vhosts/${vhost}/queues/doomed`, {});
  await signIn(page, vhost);
  await open(page, 'Queues');

  await page.getByRole('button', { name: 'Delete queue doomed' }).click();
  const dialog = page.getByRole('dialog', { name: "Delete the queue 'doomed' and its messages?" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  await api.queue(vhost, 'doomed');

  await page.getByRole('button', { name: 'Delete queue doomed' }).click();
  await dialog.getByRole('button', { name: 'Delete' }).click();
  await expect(row(page, 'doomed')).toHaveCount(0);
  await api.send('GET', `/api/vhosts/${vhost}/queues/doomed`, undefined, [404]);
});

test('keyboard only: sign in, move between sections, declare and purge a queue', async ({ page, api }) => {
  const vhost = await api.createVhost('keys');
  // The shell's own vhost list (the second call; sign-in makes the first) is held until the user has pressed Tab, so the
  // first view renders after the user moved focus: it must not take the focus back.
  let release!: () => void;
  const held = new Promise<void>((resolve) => { release = resolve; });
  let vhostLists = 0;
  await page.route(/\/api\/vhosts$/, async (route) => {
    if (++vhostLists === 2) await held;
    await route.continue();
  });
  await page.goto('/');
  await expect(page.getByLabel('API key')).toBeFocused();
  await page.keyboard.type(ADMIN_KEY);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('navigation', { name: 'Sections' })).toBeVisible();

  // The skip link is the first stop and jumps to the content.
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  await expect(skip).toBeFocused();
  release();
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(skip).toBeFocused();
  await page.unroute(/\/api\/vhosts$/);
  await page.keyboard.press('Enter');
  await expect(page.locator('main')).toBeFocused();

  await page.getByLabel('Virtual host').focus();
  await page.getByLabel('Virtual host').selectOption(vhost);
  await page.getByRole('link', { name: 'Queues', exact: true }).focus();
  await page.keyboard.press('Enter');
  const heading = page.getByRole('heading', { level: 1, name: /^Queues/ });
  await expect(heading).toBeFocused();
  await expect(page.getByRole('link', { name: 'Queues', exact: true })).toHaveAttribute('aria-current', 'page');

  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Name')).toBeFocused();
  await page.keyboard.type('typed');
  await page.keyboard.press('Enter');
  await expect(cell(page, 'typed', 'ready')).toHaveText('0');

  await api.send('POST', `/api/vhosts/${vhost}/exchanges/amq.default/publish`, { routingKey: 'typed', payload: 'x' });
  await expect(cell(page, 'typed', 'ready')).toHaveText('1');
  await page.getByRole('button', { name: 'Purge queue typed' }).focus();
  await page.keyboard.press('Enter');
  await page.keyboard.press('Tab'); // Cancel → Purge
  await expect(page.getByRole('dialog').getByRole('button', { name: 'Purge' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(cell(page, 'typed', 'ready')).toHaveText('0');
  await expect(page.getByRole('status').last()).toHaveText('Purged 1 message from typed.');
});
