// Bindings of a vhost: list, bind, unbind.

import { h, field, table, syncRows, announce, fieldTable, parseJsonObject, setOptions, uid } from '../dom.js';
import { get, post, del, paths } from '../api.js';
import { apiForm, actionButton, fieldError } from '../forms.js';

export default {
  title: 'Bindings',
  render({ vhost, signal }) {
    const list = table(`Bindings in ${vhost}`, ['Source', 'Destination', 'Kind', 'Routing key', 'Arguments']);
    let refresh;

    const exchangeOptions = h('datalist', { id: uid('exchanges') });
    const destinationOptions = h('datalist', { id: uid('destinations') });
    const source = h('input', { name: 'source', required: true, autocomplete: 'off', list: exchangeOptions.id });
    const destinationType = h('select', { name: 'destinationType' }, h('option', { value: 'queue' }, 'queue'), h('option', { value: 'exchange' }, 'exchange'));
    const destination = h('input', { name: 'destination', required: true, autocomplete: 'off', list: destinationOptions.id });
    const routingKey = h('input', { name: 'routingKey', autocomplete: 'off', spellcheck: 'false' });
    const args = h('textarea', { name: 'arguments', rows: 2, spellcheck: 'false', placeholder: '{"x-match": "all", "format": "pdf"}' });
    let known = { exchanges: [], queues: [] };
    const fillDestinations = () => setOptions(destinationOptions, destinationType.value === 'queue' ? known.queues : known.exchanges);
    destinationType.addEventListener('change', fillDestinations);

    const form = apiForm(h('form', { className: 'card create', 'aria-labelledby': 'binding-create' },
      h('h2', { id: 'binding-create' }, 'Bind'),
      h('div', { className: 'fields' },
        field('Source exchange', source),
        field('Destination kind', destinationType),
        field('Destination', destination),
        field('Routing key', routingKey, 'Topic exchanges: words separated by dots; * one word, # zero or more.'),
        field('Arguments (JSON, optional)', args, 'Headers exchanges match on these.')),
      exchangeOptions, destinationOptions,
      h('button', { type: 'submit' }, 'Bind')), async () => {
      let argumentsValue;
      try { argumentsValue = parseJsonObject(args.value, 'Arguments'); } catch (e) { throw fieldError(args, e.message); }
      const answer = await post(paths.bindings(vhost), {
        source: source.value, destination: destination.value, destinationType: destinationType.value, routingKey: routingKey.value, arguments: argumentsValue,
      });
      announce(`Bound ${answer.source} to ${answer.destination} with '${answer.routingKey}'.`);
      routingKey.value = '';
      args.value = '';
      await refresh();
    });

    const actions = (b) => [actionButton('Unbind', `Unbind ${b.source} from ${b.destination} (${b.routingKey})`, async () => {
      await del(paths.binding(vhost, b.id));
      announce('Binding removed.');
      await refresh();
    }, { kind: 'danger', confirm: `Remove the binding of '${b.source}' to '${b.destination}' with key '${b.routingKey}'?` })];

    refresh = async () => {
      const [items, exchanges, queues] = await Promise.all([
        get(paths.bindings(vhost), { signal }), get(paths.exchanges(vhost), { signal }), get(paths.queues(vhost), { signal })]);
      known = { exchanges: exchanges.map((x) => x.name).filter((n) => n !== 'amq.default'), queues: queues.map((q) => q.name) };
      setOptions(exchangeOptions, known.exchanges);
      fillDestinations();
      syncRows(list.tbody, items, (b) => b.id, [
        { name: 'source', value: (b) => b.source },
        { name: 'destination', value: (b) => b.destination },
        { value: (b) => b.destinationType },
        { name: 'routingKey', value: (b) => b.routingKey, className: 'mono' },
        { value: (b) => fieldTable(b.arguments), className: 'mono' },
      ], actions);
      list.setEmpty(items.length === 0);
    };
    return { element: h('div', {}, form, list.element), refresh };
  },
};
