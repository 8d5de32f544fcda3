// Exchanges of a vhost: list, declare, delete.

import { h, field, table, syncRows, announce, fieldTable, parseJsonObject } from '../dom.js';
import { get, put, del, paths } from '../api.js';
import { apiForm, actionButton, fieldError } from '../forms.js';

const TYPES = ['direct', 'fanout', 'topic', 'headers'];
const yes = (b) => (b ? 'yes' : 'no');

export default {
  title: 'Exchanges',
  render({ vhost, signal, navigate }) {
    const list = table(`Exchanges in ${vhost}`, ['Name', 'Type', 'Durable', 'Auto-delete', 'Internal', 'Arguments']);
    let refresh;

    const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
    const type = h('select', { name: 'type' }, TYPES.map((t) => h('option', { value: t }, t)));
    const durable = h('input', { type: 'checkbox', name: 'durable', checked: true });
    const autoDelete = h('input', { type: 'checkbox', name: 'autoDelete' });
    const internal = h('input', { type: 'checkbox', name: 'internal' });
    const args = h('textarea', { name: 'arguments', rows: 2, spellcheck: 'false', placeholder: '{"alternate-exchange": "unrouted"}' });
    const form = apiForm(h('form', { className: 'card create', 'aria-labelledby': 'exchange-create' },
      h('h2', { id: 'exchange-create' }, 'Declare an exchange'),
      h('div', { className: 'fields' },
        field('Name', name),
        field('Type', type),
        field('Arguments (JSON, optional)', args)),
      h('div', { className: 'checks' }, field('Durable', durable), field('Auto-delete', autoDelete), field('Internal', internal)),
      h('button', { type: 'submit' }, 'Declare exchange')), async () => {
      let argumentsValue;
      try { argumentsValue = parseJsonObject(args.value, 'Arguments'); } catch (e) { throw fieldError(args, e.message); }
      const answer = await put(paths.exchange(vhost, name.value), {
        type: type.value, durable: durable.checked, autoDelete: autoDelete.checked, internal: internal.checked, arguments: argumentsValue,
      });
      announce(`Exchange ${answer.name} (${answer.type}) declared.`);
      name.value = '';
      args.value = '';
      await refresh();
    }, { nameField: name });

    const actions = (x) => {
      const buttons = [];
      if (!x.internal) {
        buttons.push(h('button', {
          type: 'button', className: 'secondary small', 'aria-label': `Publish to exchange ${x.name}`,
          onclick: () => navigate('messages', { exchange: x.name }),
        }, 'Publish'));
      }
      if (!x.name.startsWith('amq.')) {
        buttons.push(actionButton('Delete', `Delete exchange ${x.name}`, async () => {
          await del(paths.exchange(vhost, x.name));
          announce(`Exchange ${x.name} deleted.`);
          await refresh();
        }, { kind: 'danger', confirm: `Delete the exchange '${x.name}' and its bindings?` }));
      }
      return buttons;
    };

    refresh = async () => {
      const items = await get(paths.exchanges(vhost), { signal });
      items.sort((a, b) => a.name.localeCompare(b.name));
      syncRows(list.tbody, items, (x) => x.name, [
        { name: 'name', value: (x) => x.name },
        { name: 'type', value: (x) => x.type },
        { value: (x) => yes(x.durable) },
        { value: (x) => yes(x.autoDelete) },
        { value: (x) => yes(x.internal) },
        { value: (x) => fieldTable(x.arguments), className: 'mono' },
      ], actions);
      list.setEmpty(items.length === 0);
    };
    return { element: h('div', {}, form, list.element), refresh };
  },
};
