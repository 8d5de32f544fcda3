// Webhook subscriptions of a vhost's queues (docs/webhooks.md): list with their status and last error, create or
// replace, re-enable (after a 410 or a pause), delete.

import { h, field, table, syncRows, announce, count, uid, setOptions } from '../dom.js';
import { get, put, post, del, paths, ApiError } from '../api.js';
import { apiForm, actionButton } from '../forms.js';

const when = (at) => (at ? new Date(at).toLocaleString('en-GB', { hour12: false }) : '');

// Why a webhook was disabled is in its last error (the 410 answer), so the state stays one word.
const statusText = (w) => w.status.state;

export default {
  title: 'Webhooks',
  render({ vhost, signal }) {
    const list = table(`Webhooks in ${vhost}`, ['Name', 'Queue', 'URL', 'State', 'Delivered', 'Retried', 'Failed', 'Backlog', 'Last error']);
    let refresh;

    const queueList = h('datalist', { id: uid('queues') });
    const queue = h('input', { name: 'queue', required: true, autocomplete: 'off', list: queueList.id });
    const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
    const url = h('input', { name: 'url', type: 'url', required: true, autocomplete: 'off', placeholder: 'https://example.com/hooks/orders' });
    const secret = h('input', { name: 'secret', type: 'password', autocomplete: 'new-password' });
    const format = h('select', { name: 'format' }, ['raw', 'json', 'cloudevents'].map((f) => h('option', { value: f }, f)));
    const concurrency = h('input', { name: 'concurrency', type: 'number', min: 1, max: 256, value: 1, required: true, inputmode: 'numeric' });
    const form = apiForm(h('form', { className: 'card create', 'aria-labelledby': 'webhook-create' },
      h('h2', { id: 'webhook-create' }, 'Create or replace a webhook'),
      h('p', { className: 'note' }, 'The queue\'s messages are POSTed to the URL; a 2xx answer acknowledges each, 410 disables the webhook.'),
      h('div', { className: 'fields' },
        field('Queue', queue),
        field('Name', name),
        field('URL', url),
        field('Secret (optional)', secret, 'Signs each request (Standard Webhooks). Never shown again.'),
        field('Format', format),
        field('Concurrency', concurrency)),
      queueList,
      h('button', { type: 'submit' }, 'Save webhook')), async () => {
      const body = { url: url.value, format: format.value, concurrency: Number(concurrency.value) };
      if (secret.value) body.secret = secret.value;
      const answer = await put(`${paths.queue(vhost, queue.value)}/webhooks/${encodeURIComponent(name.value)}`, body);
      announce(`Webhook ${answer.name} on ${answer.queue} saved.`);
      secret.value = '';
      await refresh();
    }, { nameField: name });

    const webhookPath = (w) => `${paths.queue(vhost, w.queue)}/webhooks/${encodeURIComponent(w.name)}`;
    const actions = (w) => [
      actionButton('Enable', `Enable webhook ${w.name}`, async () => {
        await post(`${webhookPath(w)}/enable`);
        announce(`Webhook ${w.name} enabled.`);
        await refresh();
      }, { dataset: { action: 'enable' } }),
      actionButton('Delete', `Delete webhook ${w.name}`, async () => {
        await del(webhookPath(w));
        announce(`Webhook ${w.name} deleted.`);
        await refresh();
      }, { kind: 'danger', confirm: `Delete the webhook '${w.name}' of the queue '${w.queue}'?` }),
    ];

    refresh = async () => {
      const queues = await get(paths.queues(vhost), { signal });
      const names = queues.map((q) => q.name);
      setOptions(queueList, names);
      const items = [];
      for (const q of queues) {
        try {
          items.push(...await get(`${paths.queue(vhost, q.name)}/webhooks`, { signal }));
        } catch (e) {
          // A queue deleted meanwhile (404), an exclusive queue (409) or one this user may not read (403) has none to show.
          if (!(e instanceof ApiError) || ![403, 404, 409].includes(e.status)) throw e;
        }
      }
      // Names never contain '/': queue/name is a unique key.
      syncRows(list.tbody, items, (w) => `${w.queue}/${w.name}`, [
        { name: 'name', value: (w) => w.name },
        { name: 'queue', value: (w) => w.queue },
        { name: 'url', value: (w) => w.url, className: 'mono' },
        { name: 'state', value: statusText },
        { name: 'delivered', value: (w) => count(w.status.delivered), className: 'number' },
        { name: 'retried', value: (w) => count(w.status.retried), className: 'number' },
        { name: 'failed', value: (w) => count(w.status.failed), className: 'number' },
        { name: 'backlog', value: (w) => count(w.status.backlog), className: 'number' },
        { name: 'lastError', value: (w) => (w.status.lastError ? `${w.status.lastError} (${when(w.status.lastErrorAt)})` : '') },
      ], actions);
      // Enable is offered only where there is something to enable.
      for (const row of list.tbody.rows) {
        const state = row.querySelector('[data-column="state"]').textContent;
        row.querySelector('[data-action="enable"]').hidden = state === 'active';
      }
      list.setEmpty(items.length === 0, 'No webhooks yet.');
    };
    return { element: h('div', {}, form, list.element), refresh };
  },
};
