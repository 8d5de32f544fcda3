// Virtual hosts: list, create, delete.

import { h, field, table, syncRows, announce } from '../dom.js';
import { get, put, del, paths } from '../api.js';
import { apiForm, actionButton } from '../forms.js';

export default {
  title: 'Virtual hosts',
  perVhost: false,
  render({ signal, refreshVhosts }) {
    const list = table('Virtual hosts', ['Name']);
    let refresh;

    const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
    const form = apiForm(h('form', { className: 'card create', 'aria-labelledby': 'vhost-create' },
      h('h2', { id: 'vhost-create' }, 'Create a virtual host'),
      h('div', { className: 'fields' }, field('Name', name)),
      h('button', { type: 'submit' }, 'Create virtual host')), async () => {
      await put(paths.vhost(name.value));
      announce(`Virtual host ${name.value} created.`);
      name.value = '';
      await refreshVhosts();
      await refresh();
    }, { nameField: name });

    const actions = (v) => v.name === 'default' ? [] : [actionButton('Delete', `Delete virtual host ${v.name}`, async () => {
      await del(paths.vhost(v.name));
      announce(`Virtual host ${v.name} deleted.`);
      await refreshVhosts();
      await refresh();
    }, { kind: 'danger', confirm: `Delete the virtual host '${v.name}' with every exchange, queue and message in it?` })];

    refresh = async () => {
      const items = await get(paths.vhosts(), { signal });
      syncRows(list.tbody, items, (v) => v.name, [{ value: (v) => v.name }], actions);
      list.setEmpty(items.length === 0);
    };
    return { element: h('div', {}, form, list.element), refresh };
  },
};
