// Messages: publish (routing key, headers, properties, payload) and a live consumer over the WebSocket that shows
// deliveries with ack/nack buttons — the whole publish → route → consume → ack loop on one page.

import { h, field, replace, announce, uid, count, setOptions } from '../dom.js';
import { get, post, paths } from '../api.js';
import { apiForm, fieldError } from '../forms.js';
import { liveConsumer } from '../consumer.js';

const PROPERTY_FIELDS = [
  ['contentType', 'Content type', 'text/plain'],
  ['contentEncoding', 'Content encoding', ''],
  ['correlationId', 'Correlation id', ''],
  ['messageId', 'Message id', ''],
  ['replyTo', 'Reply to', ''],
  ['expiration', 'Expiration (ms)', '60000'],
  ['type', 'Type', ''],
  ['appId', 'App id', ''],
  ['userId', 'User id', ''],
];

function headerRow(rows) {
  const name = h('input', { name: 'headerName', autocomplete: 'off', spellcheck: 'false' });
  const value = h('input', { name: 'headerValue', autocomplete: 'off', spellcheck: 'false' });
  const kind = h('select', { name: 'headerType' }, ['string', 'number', 'boolean'].map((t) => h('option', { value: t }, t)));
  const row = h('fieldset', { className: 'header-row' },
    h('legend', { className: 'visually-hidden' }, 'Header'),
    field('Header name', name), field('Value', value), field('Value type', kind));
  const remove = h('button', { type: 'button', className: 'secondary small', 'aria-label': 'Remove this header' }, 'Remove');
  remove.addEventListener('click', () => {
    row.remove();
    rows.querySelector('input')?.focus();
  });
  row.append(remove);
  row.read = () => {
    if (!name.value.trim()) return null;
    if (kind.value === 'number') {
      const n = Number(value.value);
      if (value.value.trim() === '' || Number.isNaN(n)) throw fieldError(value, `The header '${name.value}' is not a number.`);
      return [name.value, n];
    }
    if (kind.value === 'boolean') {
      if (!['true', 'false'].includes(value.value.trim())) throw fieldError(value, `The header '${name.value}' must be true or false.`);
      return [name.value, value.value.trim() === 'true'];
    }
    return [name.value, value.value];
  };
  return row;
}

function publishForm(vhost, params) {
  const exchangeList = h('datalist', { id: uid('exchanges') });
  const exchange = h('input', { name: 'exchange', required: true, autocomplete: 'off', list: exchangeList.id, value: params.get('exchange') ?? 'amq.default' });
  const routingKey = h('input', { name: 'routingKey', autocomplete: 'off', spellcheck: 'false' });
  const payload = h('textarea', { name: 'payload', rows: 4, spellcheck: 'false' });
  const encoding = h('select', { name: 'payloadEncoding' }, h('option', { value: 'string' }, 'text'), h('option', { value: 'base64' }, 'base64'));
  const persistent = h('input', { type: 'checkbox', name: 'persistent' });
  const mandatory = h('input', { type: 'checkbox', name: 'mandatory' });
  const priority = h('input', { type: 'number', name: 'priority', min: 0, max: 255, inputmode: 'numeric' });
  const properties = Object.fromEntries(PROPERTY_FIELDS.map(([key, , placeholder]) => [key, h('input', { name: key, autocomplete: 'off', placeholder })]));
  const headerRows = h('div', { className: 'header-rows' });
  const addHeader = h('button', { type: 'button', className: 'secondary small' }, 'Add header');
  addHeader.addEventListener('click', () => {
    const row = headerRow(headerRows);
    headerRows.append(row);
    row.querySelector('input').focus();
  });
  const result = h('p', { className: 'result', role: 'status' });

  const form = apiForm(h('form', { className: 'card publish', 'aria-labelledby': 'publish-title' },
    h('h2', { id: 'publish-title' }, 'Publish a message'),
    h('div', { className: 'fields' },
      field('Exchange', exchange, 'amq.default delivers to the queue named by the routing key.'),
      field('Routing key', routingKey)),
    exchangeList,
    field('Payload', payload),
    h('div', { className: 'fields' }, field('Payload encoding', encoding)),
    h('div', { className: 'checks' },
      field('Persistent (delivery mode 2)', persistent),
      field('Mandatory (refuse when no queue takes it)', mandatory)),
    h('details', {}, h('summary', {}, 'Properties'),
      h('div', { className: 'fields' }, PROPERTY_FIELDS.map(([key, label]) => field(label, properties[key])), field('Priority (0–255)', priority))),
    h('details', {}, h('summary', {}, 'Headers'), headerRows, addHeader),
    h('button', { type: 'submit' }, 'Publish'),
    result), async () => {
    result.textContent = '';
    const props = {};
    for (const [key] of PROPERTY_FIELDS) if (properties[key].value !== '') props[key] = properties[key].value;
    if (priority.value !== '') props.priority = Number(priority.value);
    if (persistent.checked) props.deliveryMode = 2;
    const headers = Object.fromEntries([...headerRows.children].map((row) => row.read()).filter(Boolean));
    if (Object.keys(headers).length) props.headers = headers;
    const answer = await post(paths.publish(vhost, exchange.value), {
      routingKey: routingKey.value,
      payload: payload.value,
      payloadEncoding: encoding.value,
      properties: Object.keys(props).length ? props : undefined,
      mandatory: mandatory.checked,
    });
    result.textContent = answer.routed
      ? `Published: routed to ${count(answer.queues)} ${answer.queues === 1 ? 'queue' : 'queues'}.`
      : 'Published, but no queue took it (unroutable).';
    return answer;
  }, { nameField: exchange });

  return {
    element: form,
    async refresh(signal) {
      const names = (await get(paths.exchanges(vhost), { signal })).filter((x) => !x.internal).map((x) => x.name);
      setOptions(exchangeList, names);
    },
  };
}

function deliveryCard(delivery, focusAfter) {
  const headers = delivery.properties?.headers ?? {};
  const props = Object.entries(delivery.properties ?? {}).filter(([k, v]) => k !== 'headers' && v !== null && v !== undefined);
  const titleId = uid('delivery');
  const card = h('li', { className: 'delivery', dataset: { tag: delivery.deliveryTag } },
    h('article', { 'aria-labelledby': titleId },
      h('h3', { id: titleId }, h('span', { className: 'mono' }, delivery.routingKey || '(empty routing key)'),
        h('span', { className: 'delivery-from' }, ` from ${delivery.exchange} in queue ${delivery.queue}`)),
      h('p', { className: 'badges' },
        delivery.redelivered ? h('span', { className: 'badge warn' }, 'redelivered') : null,
        h('span', { className: 'badge' }, `delivery ${delivery.deliveryCount}`),
        delivery.ackMode === 'auto' ? h('span', { className: 'badge' }, 'auto-acknowledged') : null),
      h('pre', { className: 'payload' }, delivery.payload),
      delivery.payloadEncoding === 'base64' ? h('p', { className: 'hint' }, 'The payload is not UTF-8 text: shown as base64.') : null,
      props.length || Object.keys(headers).length ? h('dl', { className: 'props' },
        props.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]),
        Object.entries(headers).map(([k, v]) => [h('dt', {}, `header ${k}`), h('dd', {}, typeof v === 'object' ? JSON.stringify(v) : String(v))])) : null));
  if (delivery.ackMode !== 'auto') {
    const label = delivery.routingKey || 'delivery';
    const act = (what) => () => {
      focusAfter(card);
      try {
        if (what === 'ack') liveConsumer.ack(delivery);
        else liveConsumer.nack(delivery, what === 'requeue');
      } catch (e) { announce(e.message, 'error'); }
    };
    card.firstChild.append(h('div', { className: 'delivery-actions' },
      h('button', { type: 'button', onclick: act('ack'), 'aria-label': `Ack ${label}` }, 'Ack'),
      h('button', { type: 'button', className: 'secondary', onclick: act('requeue'), 'aria-label': `Nack ${label} and requeue` }, 'Nack (requeue)'),
      h('button', { type: 'button', className: 'danger', onclick: act('reject'), 'aria-label': `Reject ${label} without requeue` }, 'Reject')));
  }
  return card;
}

function consumerPanel(vhost, params) {
  const queueList = h('datalist', { id: uid('queues') });
  const queue = h('input', { name: 'queue', required: true, autocomplete: 'off', list: queueList.id, value: params.get('queue') ?? '' });
  const prefetch = h('input', { type: 'number', name: 'prefetch', min: 1, max: 10000, value: 10, required: true, inputmode: 'numeric' });
  const ackMode = h('select', { name: 'ackMode' }, h('option', { value: 'manual' }, 'manual'), h('option', { value: 'auto' }, 'auto'));
  const state = h('p', { className: 'connection', dataset: { state: 'closed' } });
  const subscriptions = h('ul', { className: 'subscriptions', 'aria-label': 'Subscriptions' });
  const deliveries = h('ol', { className: 'deliveries', 'aria-labelledby': 'deliveries-title' });
  const deliveriesTitle = h('h3', { id: 'deliveries-title', tabindex: -1 }, 'Deliveries');
  const disconnect = h('button', { type: 'button', className: 'secondary small' }, 'Disconnect');
  disconnect.addEventListener('click', () => {
    liveConsumer.close();
    announce('Disconnected: unacknowledged deliveries went back to their queues.');
  });

  const form = apiForm(h('form', { className: 'subscribe', 'aria-labelledby': 'subscribe-title' },
    h('h3', { id: 'subscribe-title', className: 'visually-hidden' }, 'Subscribe'),
    h('div', { className: 'fields' }, field('Queue', queue), field('Prefetch', prefetch), field('Ack mode', ackMode)),
    queueList,
    h('button', { type: 'submit' }, 'Subscribe')), async () => {
    await liveConsumer.subscribe(vhost, queue.value, Number(prefetch.value), ackMode.value);
    announce(`Subscribed to ${queue.value}.`);
  }, { nameField: queue });

  let focusTarget = null; // after a delivery is settled, focus moves to the next one's first button
  const focusAfter = (card) => {
    const next = card.nextElementSibling ?? card.previousElementSibling;
    focusTarget = next ? next.dataset.tag : 'title';
  };

  const cards = new Map();
  const update = () => {
    const socketHere = liveConsumer.vhost === vhost;
    const status = liveConsumer.state === 'open' && !socketHere ? 'other' : liveConsumer.state;
    state.dataset.state = status;
    state.textContent = {
      closed: 'Not connected. Subscribing opens a WebSocket to the gateway.',
      connecting: 'Connecting…',
      open: `Connected to ${vhost}: ${count(liveConsumer.received)} ${liveConsumer.received === 1 ? 'delivery' : 'deliveries'} received.`,
      other: `Connected to the virtual host ${liveConsumer.vhost}; subscribing here reconnects to ${vhost}.`,
    }[status];
    disconnect.hidden = liveConsumer.state !== 'open';
    replace(subscriptions, socketHere ? [...liveConsumer.subscriptions.values()].map((sub) => h('li', {},
      `${sub.queue} (${sub.ackMode}, prefetch ${sub.prefetch})${sub.confirmed ? '' : ' — subscribing…'} `,
      h('button', {
        type: 'button', className: 'secondary small', 'aria-label': `Cancel the subscription to ${sub.queue}`,
        onclick: async () => {
          try { await liveConsumer.cancel(sub.id); announce(`Cancelled the subscription to ${sub.queue}.`); } catch (e) { announce(e.message, 'error'); }
        },
      }, 'Cancel'))) : []);

    const shown = socketHere ? liveConsumer.deliveries : [];
    const wanted = new Set(shown.map((d) => d.deliveryTag));
    for (const [tag, card] of cards) if (!wanted.has(tag)) { card.remove(); cards.delete(tag); }
    // Newest first.
    let previous = null;
    for (const d of [...shown].reverse()) {
      let card = cards.get(d.deliveryTag);
      if (!card) { card = deliveryCard(d, focusAfter); cards.set(d.deliveryTag, card); }
      const next = previous ? previous.nextSibling : deliveries.firstChild;
      if (next !== card) deliveries.insertBefore(card, next);
      previous = card;
    }
    empty.hidden = shown.length > 0;
    if (focusTarget) {
      const target = focusTarget === 'title' ? null : cards.get(focusTarget)?.querySelector('button');
      (target ?? deliveriesTitle).focus();
      focusTarget = null;
    }
  };
  const empty = h('p', { className: 'empty' }, 'No deliveries waiting. Publish a message to a queue you subscribed to.');
  liveConsumer.addEventListener('change', update);
  update();

  return {
    element: h('section', { className: 'card consumer', 'aria-labelledby': 'consumer-title' },
      h('h2', { id: 'consumer-title' }, 'Live consumer'),
      state, form, subscriptions, disconnect, deliveriesTitle, empty, deliveries),
    async refresh(signal) {
      const names = (await get(paths.queues(vhost), { signal })).map((q) => q.name);
      setOptions(queueList, names);
    },
    dispose() { liveConsumer.removeEventListener('change', update); },
  };
}

export default {
  title: 'Messages',
  render({ vhost, params, signal }) {
    const publish = publishForm(vhost, params);
    const consumer = consumerPanel(vhost, params);
    return {
      element: h('div', { className: 'messages' }, publish.element, consumer.element),
      async refresh() { await Promise.all([publish.refresh(signal), consumer.refresh(signal)]); },
      dispose() { consumer.dispose(); },
    };
  },
};
