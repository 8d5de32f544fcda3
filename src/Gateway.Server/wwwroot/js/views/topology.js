// The topology of a vhost as a picture: exchanges → bindings → queues, with the same routes as a list for screen
// readers and for copying.

import { h, field, replace } from '../dom.js';
import { get, paths } from '../api.js';
import { layout, draw } from '../topology.js';

export default {
  title: 'Topology',
  render({ vhost, signal }) {
    const showIdle = h('input', { type: 'checkbox', name: 'showIdle' });
    const picture = h('div', { className: 'topology-box', tabindex: 0, role: 'region', 'aria-label': 'Topology picture (scrollable)' });
    const routes = h('ul', { className: 'routes' });
    const routesSection = h('details', { className: 'card' }, h('summary', {}, 'Routes as text'), routes);
    let signature = '';
    let data = null;

    const render = () => {
      if (!data) return;
      const graph = layout(data.exchanges, data.queues, data.bindings, { showIdle: showIdle.checked });
      const exchanges = graph.nodes.filter((n) => n.kind === 'exchange').length;
      const queues = graph.nodes.length - exchanges;
      const description = `${exchanges} exchanges, ${queues} queues and ${graph.edges.length} bindings in ${vhost}.`;
      replace(picture, graph.nodes.length ? draw(graph, `Topology of ${vhost}`, description) : h('p', { className: 'empty' }, 'No exchanges or queues to show yet.'));
      replace(routes, graph.edges.length
        ? graph.edges.map(({ binding: b }) => h('li', {}, `${b.source} → ${b.destination} (${b.destinationType}) by '${b.routingKey}'`))
        : h('li', {}, 'No bindings.'));
    };
    showIdle.addEventListener('change', render);

    return {
      element: h('div', {},
        h('p', { className: 'note' }, 'Exchanges on the left route through their bindings (labelled with the binding key) to queues on the right. ' +
          'The default exchange, bound to every queue by name, is not drawn.'),
        h('div', { className: 'checks' }, field('Show predeclared exchanges without bindings', showIdle)),
        picture, routesSection),
      async refresh() {
        const [exchanges, queues, bindings] = await Promise.all([
          get(paths.exchanges(vhost), { signal }), get(paths.queues(vhost), { signal }), get(paths.bindings(vhost), { signal })]);
        queues.sort((a, b) => a.name.localeCompare(b.name));
        // Redraw only when something changed: a redraw would reset the reader's scroll position in the picture.
        const next = JSON.stringify([exchanges, queues.map((q) => [q.name, q.messagesReady, q.messagesUnacknowledged]), bindings]);
        if (next === signature) return;
        signature = next;
        data = { exchanges, queues, bindings };
        render();
      },
    };
  },
};
