// Queues of a vhost with their counts (and rates, where the gateway reports them): list, declare, purge, delete.

import { h, field, table, syncRows, announce, count, rate, parseJsonObject } from '../dom.js';
import { get, put, del, paths } from '../api.js';
import { apiForm, actionButton, fieldError } from '../forms.js';

const rates = (q) => (q.rates ? `${rate(q.rates.publish)} in · ${rate(q.rates.deliver)} out · ${rate(q.rates.ack)} ack` : '–');

export default {
  title: 'Queues',
  render({ vhost, signal, navigate }) {
    const list = table(`Queues in ${vhost}`, ['Name', 'Durable', 'Ready', 'Unacked', 'Total', 'Consumers', 'Rates']);
    let refresh;

    const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
    const durable = h('input', { type: 'checkbox', name: 'durable', checked: true });
    const autoDelete = h('input', { type: 'checkbox', name: 'autoDelete' });
    const args = h('textarea', { name: 'arguments', rows: 2, spellcheck: 'false', placeholder: '{"x-message-ttl": 60000}' });
    const form = apiForm(h('form', { className: 'card create', 'aria-labelledby': 'queue-create' },
      h('h2', { id: 'queue-create' }, 'Declare a queue'),
      h('div', { className: 'fields' }, field('Name', name), field('Arguments (JSON, optional)', args)),
      h('div', { className: 'checks' }, field('Durable', durable), field('Auto-delete', autoDelete)),
      h('button', { type: 'submit' }, 'Declare queue')), async () => {
      let argumentsValue;
      try { argumentsValue = parseJsonObject(args.value, 'Arguments'); } catch (e) { throw fieldError(args, e.message); }
      const answer = await put(paths.queue(vhost, name.value), { durable: durable.checked, autoDelete: autoDelete.checked, arguments: argumentsValue });
      announce(`Queue ${answer.name} declared.`);
      name.value = '';
      args.value = '';
      await refresh();
    }, { nameField: name });

    const actions = (q) => [
      h('button', { type: 'button', className: 'secondary small', 'aria-label': `Consume from queue ${q.name}`, onclick: () => navigate('messages', { queue: q.name }) }, 'Consume'),
      actionButton('Purge', `Purge queue ${q.name}`, async () => {
        const answer = await del(paths.purge(vhost, q.name));
        const purged = answer?.purged ?? 0;
        announce(`Purged ${count(purged)} ${purged === 1 ? 'message' : 'messages'} from ${q.name}.`);
        await refresh();
      }, { confirm: `Drop every ready message of the queue '${q.name}'?` }),
      actionButton('Delete', `Delete queue ${q.name}`, async () => {
        await del(paths.queue(vhost, q.name));
        announce(`Queue ${q.name} deleted.`);
        await refresh();
      }, { kind: 'danger', confirm: `Delete the queue '${q.name}' and its messages?` }),
    ];

    refresh = async () => {
      const items = await get(paths.queues(vhost), { signal });
      items.sort((a, b) => a.name.localeCompare(b.name));
      syncRows(list.tbody, items, (q) => q.name, [
        { name: 'name', value: (q) => q.name },
        { name: 'durable', value: (q) => (q.durable ? 'yes' : 'no') },
        { name: 'ready', value: (q) => count(q.messagesReady), className: 'number' },
        { name: 'unacked', value: (q) => count(q.messagesUnacknowledged), className: 'number' },
        { name: 'messages', value: (q) => count(q.messages), className: 'number' },
        { name: 'consumers', value: (q) => count(q.consumers), className: 'number' },
        { name: 'rates', value: rates },
      ], actions);
      list.setEmpty(items.length === 0);
    };
    return { element: h('div', {}, form, list.element), refresh };
  },
};
