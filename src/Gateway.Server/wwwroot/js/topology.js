// The topology picture: exchanges → bindings → queues as a layered graph in SVG.

import { s } from './dom.js';

const NODE_WIDTH = 180;
const NODE_HEIGHT = 40;
const COLUMN_GAP = 170;
const ROW_GAP = 24;
const PADDING = 16;

/**
 * Places the graph. Exchanges are in columns by their depth along exchange-to-exchange bindings (a cycle stops
 * deepening after one pass per exchange); queues are in the last column. Rows follow the order of their sources, so
 * that edges cross little.
 * showIdle: also show predeclared (amq.*) exchanges that have no bindings.
 */
export function layout(exchanges, queues, bindings, { showIdle = false } = {}) {
  const visibleExchanges = exchanges.filter((x) => x.name !== 'amq.default'
    && (showIdle || !x.name.startsWith('amq.') || bindings.some((b) => b.source === x.name || (b.destinationType === 'exchange' && b.destination === x.name))));
  const exchangeNames = new Set(visibleExchanges.map((x) => x.name));
  const edges = bindings.filter((b) => exchangeNames.has(b.source)
    && (b.destinationType === 'exchange' ? exchangeNames.has(b.destination) : queues.some((q) => q.name === b.destination)));

  const depth = new Map(visibleExchanges.map((x) => [x.name, 0]));
  for (let pass = 0; pass < visibleExchanges.length; pass++) {
    let moved = false;
    for (const b of edges) {
      if (b.destinationType !== 'exchange' || b.source === b.destination) continue;
      const wanted = depth.get(b.source) + 1;
      if (wanted > depth.get(b.destination) && wanted < visibleExchanges.length) {
        depth.set(b.destination, wanted);
        moved = true;
      }
    }
    if (!moved) break;
  }
  const queueColumn = visibleExchanges.length ? Math.max(...depth.values()) + 1 : 0;

  const columns = [];
  const nodes = new Map();
  const add = (kind, item, column) => {
    (columns[column] ??= []).push({ kind, item, column, key: `${kind}:${item.name}` });
  };
  [...visibleExchanges].sort((a, b) => a.name.localeCompare(b.name)).forEach((x) => add('exchange', x, depth.get(x.name)));
  queues.forEach((q) => add('queue', q, queueColumn));

  let height = 0;
  columns.forEach((column, c) => {
    if (!column) return;
    if (c > 0) {
      // Order by the mean row of the sources already placed.
      const weight = (node) => {
        const rows = edges.filter((b) => b.destination === node.item.name && (b.destinationType === 'exchange') === (node.kind === 'exchange'))
          .map((b) => nodes.get(`exchange:${b.source}`)?.y).filter((y) => y !== undefined);
        return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : Number.MAX_SAFE_INTEGER;
      };
      const weights = new Map(column.map((n) => [n, weight(n)]));
      column.sort((a, b) => weights.get(a) - weights.get(b) || a.item.name.localeCompare(b.item.name));
    }
    column.forEach((node, row) => {
      node.x = PADDING + c * (NODE_WIDTH + COLUMN_GAP);
      node.y = PADDING + row * (NODE_HEIGHT + ROW_GAP);
      nodes.set(node.key, node);
      height = Math.max(height, node.y + NODE_HEIGHT + PADDING);
    });
  });
  const width = PADDING * 2 + Math.max(1, columns.length) * NODE_WIDTH + Math.max(0, columns.length - 1) * COLUMN_GAP;

  const placedEdges = edges.map((b) => ({
    binding: b,
    from: nodes.get(`exchange:${b.source}`),
    to: nodes.get(`${b.destinationType === 'exchange' ? 'exchange' : 'queue'}:${b.destination}`),
  }));
  return { nodes: [...nodes.values()], edges: placedEdges, width, height: Math.max(height, NODE_HEIGHT + 2 * PADDING) };
}

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Draws a placed graph as an SVG element with a text title and description. */
export function draw(graph, title, description) {
  const svg = s('svg', {
    viewBox: `0 0 ${graph.width} ${graph.height}`, width: graph.width, height: graph.height,
    role: 'img', 'aria-labelledby': 'topology-title topology-desc', className: 'topology',
  }, s('title', { id: 'topology-title' }, title), s('desc', { id: 'topology-desc' }, description));
  svg.append(s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    s('path', { d: 'M 0 0 L 10 5 L 0 10 z', className: 'arrow-head' }))));

  // Each node spreads its edges over its side (ports ordered by the other end's row), so that edges leaving one
  // exchange for many queues fan out instead of starting at one point.
  const ports = (edges, end, other) => {
    const byNode = new Map();
    for (const e of edges) (byNode.get(e[end].key) ?? byNode.set(e[end].key, []).get(e[end].key)).push(e);
    const offsets = new Map();
    for (const list of byNode.values()) {
      list.sort((a, b) => a[other].y - b[other].y || a[other].x - b[other].x);
      list.forEach((e, i) => offsets.set(e, (NODE_HEIGHT * (i + 1)) / (list.length + 1)));
    }
    return offsets;
  };
  const outPorts = ports(graph.edges, 'from', 'to');
  const inPorts = ports(graph.edges, 'to', 'from');

  for (const edge of graph.edges) {
    const { binding, from, to } = edge;
    const p0 = [from.x + NODE_WIDTH, from.y + outPorts.get(edge)];
    const p3 = [to.x, to.y + inPorts.get(edge)];
    const forward = to.x > from.x;
    const bend = Math.max(40, Math.abs(p3[0] - p0[0]) / 2);
    // An edge back to an earlier or the same column (a cycle) loops below the nodes.
    const p1 = forward ? [p0[0] + bend, p0[1]] : [p0[0] + 80, p0[1] + 90];
    const p2 = forward ? [p3[0] - bend, p3[1]] : [p3[0] - 80, p3[1] + 90];
    const path = `M ${p0} C ${p1} ${p2} ${p3}`.replaceAll(',', ' ');
    // The label sits on the curve near its destination, where edges from one source are already apart.
    const t = forward ? 0.7 : 0.5;
    const at = (i) => (1 - t) ** 3 * p0[i] + 3 * (1 - t) ** 2 * t * p1[i] + 3 * (1 - t) * t ** 2 * p2[i] + t ** 3 * p3[i];
    const key = binding.routingKey === '' ? '(empty key)' : binding.routingKey;
    const args = binding.arguments && Object.keys(binding.arguments).length ? ` ${JSON.stringify(binding.arguments)}` : '';
    svg.append(s('g', {
      className: `edge edge-${binding.destinationType}`,
      dataset: { source: binding.source, destination: binding.destination, destinationType: binding.destinationType, routingKey: binding.routingKey },
    },
    s('title', {}, `${binding.source} → ${binding.destination} (${binding.destinationType}) by '${binding.routingKey}'${args}`),
    s('path', { d: path, className: 'edge-line', 'marker-end': 'url(#arrow)' }),
    s('text', { x: at(0).toFixed(1), y: (at(1) - 4).toFixed(1), className: 'edge-label', 'text-anchor': 'middle' }, truncate(key + args, 28))));
  }

  for (const node of graph.nodes) {
    const name = node.item.name;
    const detail = node.kind === 'exchange'
      ? node.item.type
      : `${node.item.messagesReady ?? 0} ready · ${node.item.messagesUnacknowledged ?? 0} unacked`;
    svg.append(s('g', { className: `node node-${node.kind}`, dataset: { kind: node.kind, name }, transform: `translate(${node.x} ${node.y})` },
      s('title', {}, `${node.kind} ${name} (${detail})`),
      s('rect', { width: NODE_WIDTH, height: NODE_HEIGHT, rx: node.kind === 'queue' ? 4 : 14 }),
      s('text', { x: 10, y: 17, className: 'node-name' }, truncate(name, 22)),
      s('text', { x: 10, y: 32, className: 'node-detail' }, detail)));
  }
  return svg;
}
