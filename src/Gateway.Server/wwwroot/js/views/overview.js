// Overview: message and object counts with live charts, from GET /api/overview. A gateway without that endpoint
// (404) still gets counts, added up from the lists of every vhost, and a note that rates are not available.

import { h, count, rate } from '../dom.js';
import { get, paths, ApiError } from '../api.js';
import { lineChart } from '../chart.js';

const RATE_SERIES = [
  { key: 'publish', label: 'Publish' },
  { key: 'deliver', label: 'Deliver' },
  { key: 'ack', label: 'Ack' },
  { key: 'redeliver', label: 'Redeliver' },
  { key: 'deadLetter', label: 'Dead-lettered' },
];
const QUEUED_SERIES = [
  { key: 'ready', label: 'Ready' },
  { key: 'unacked', label: 'Unacked' },
];
const MESSAGE_COUNTS = [['messages', 'Messages'], ['ready', 'Ready'], ['unacked', 'Unacked']];
const OBJECT_COUNTS = [['vhosts', 'Virtual hosts'], ['exchanges', 'Exchanges'], ['queues', 'Queues'], ['bindings', 'Bindings'], ['consumers', 'Consumers']];

// Charts keep their history while the person looks at other views.
const history = { rates: lineChart('Message rates', RATE_SERIES, rate), queued: lineChart('Queued messages', QUEUED_SERIES, count) };

function counters(label, items, group) {
  const values = {};
  const list = h('dl', { className: 'counters', 'aria-label': label },
    items.map(([key, text]) => {
      values[key] = h('dd', { dataset: { count: `${group}.${key}` } }, '–');
      return h('div', { className: 'counter' }, h('dt', {}, text), values[key]);
    }));
  return { list, values };
}

/** Totals added up from the lists, for a gateway without /api/overview. */
async function totalsFromLists(signal) {
  const names = (await get(paths.vhosts(), { signal })).map((v) => v.name);
  const totals = { queueTotals: { messages: 0, ready: 0, unacked: 0 }, objectTotals: { vhosts: names.length, exchanges: 0, queues: 0, bindings: 0, consumers: 0 } };
  for (const name of names) {
    const [exchanges, queues, bindings] = await Promise.all([
      get(paths.exchanges(name), { signal }), get(paths.queues(name), { signal }), get(paths.bindings(name), { signal })]);
    totals.objectTotals.exchanges += exchanges.length;
    totals.objectTotals.queues += queues.length;
    totals.objectTotals.bindings += bindings.length;
    for (const q of queues) {
      totals.queueTotals.messages += q.messages;
      totals.queueTotals.ready += q.messagesReady;
      totals.queueTotals.unacked += q.messagesUnacknowledged;
      totals.objectTotals.consumers += q.consumers;
    }
  }
  return totals;
}

export default {
  title: 'Overview',
  perVhost: false,
  render({ signal }) {
    const messages = counters('Messages', MESSAGE_COUNTS, 'queueTotals');
    const objects = counters('Objects', OBJECT_COUNTS, 'objectTotals');
    const rateNote = h('p', { className: 'note', hidden: true },
      'Message rates are not available: this gateway does not serve /api/overview yet. Counts are added up from the lists.');
    const rateBox = h('div', {}, history.rates.element);
    const element = h('div', { className: 'overview' },
      h('section', { 'aria-labelledby': 'overview-messages' }, h('h2', { id: 'overview-messages' }, 'Messages in queues'), messages.list),
      h('section', { 'aria-labelledby': 'overview-objects' }, h('h2', { id: 'overview-objects' }, 'Objects'), objects.list),
      h('section', { className: 'charts', 'aria-labelledby': 'overview-charts' }, h('h2', { id: 'overview-charts' }, 'Live'),
        rateNote, rateBox, history.queued.element));
    let hasOverview = true;

    return {
      element,
      async refresh() {
        let data = null;
        if (hasOverview) {
          try {
            data = await get(paths.overview(), { signal });
          } catch (e) {
            if (!(e instanceof ApiError && e.status === 404)) throw e;
            hasOverview = false;
          }
        }
        data ??= await totalsFromLists(signal);
        rateNote.hidden = Boolean(data.rates);
        rateBox.hidden = !data.rates;
        for (const [key] of MESSAGE_COUNTS) messages.values[key].textContent = count(data.queueTotals?.[key]);
        for (const [key] of OBJECT_COUNTS) objects.values[key].textContent = count(data.objectTotals?.[key]);
        if (data.rates) history.rates.push(data.rates);
        history.queued.push({ ready: data.queueTotals?.ready ?? 0, unacked: data.queueTotals?.unacked ?? 0 });
      },
    };
  },
};
