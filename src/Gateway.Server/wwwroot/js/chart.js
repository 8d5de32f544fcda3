// A live line chart in SVG: a rolling window of samples for a few series, with a legend that states the latest values
// as text (what a screen reader reads; the picture itself is decorative).

import { h, s, replace, uid } from './dom.js';

const WIDTH = 600;
const HEIGHT = 160;

/** A "nice" upper bound for the y axis: 1, 2 or 5 times a power of ten, at least `minimum`. */
export function niceMax(value, minimum = 1) {
  const v = Math.max(value, minimum);
  const power = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 5, 10]) if (v <= step * power) return step * power;
  return 10 * power;
}

/**
 * series: [{ key, label }]; format: value → text. capacity: samples kept.
 * Returns { element, push(sample) } where sample is { [key]: number }.
 */
export function lineChart(title, series, format, capacity = 60) {
  const samples = [];
  const titleId = uid('chart');
  const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: 'none', className: 'chart', 'aria-hidden': 'true', focusable: 'false' });
  const grid = s('g', { className: 'grid' });
  const lines = series.map((_, i) => s('polyline', { className: `line series-${i}`, fill: 'none', 'vector-effect': 'non-scaling-stroke' }));
  svg.append(grid, ...lines);
  const axisTop = h('span', { className: 'axis-top' });
  const legend = h('ul', { className: 'legend' });
  const values = series.map((item, i) => {
    const value = h('span', { className: 'legend-value' }, '–');
    legend.append(h('li', {}, h('span', { className: `swatch series-${i}`, 'aria-hidden': 'true' }), `${item.label} `, value));
    return value;
  });
  const element = h('figure', { className: 'chart-figure', 'aria-labelledby': titleId },
    h('figcaption', { id: titleId }, title),
    h('div', { className: 'chart-box' }, axisTop, svg),
    legend);

  function draw() {
    const max = niceMax(Math.max(0, ...samples.flatMap((sample) => series.map((x) => sample[x.key] ?? 0))));
    axisTop.textContent = format(max);
    replace(grid, [0.25, 0.5, 0.75].map((f) => s('line', { x1: 0, x2: WIDTH, y1: HEIGHT * f, y2: HEIGHT * f, 'vector-effect': 'non-scaling-stroke' })));
    const step = WIDTH / Math.max(1, capacity - 1);
    const offset = capacity - samples.length;
    series.forEach((x, i) => {
      const points = samples.map((sample, j) => `${((offset + j) * step).toFixed(1)},${(HEIGHT - ((sample[x.key] ?? 0) / max) * (HEIGHT - 2) - 1).toFixed(1)}`);
      lines[i].setAttribute('points', points.join(' '));
    });
  }

  return {
    element,
    push(sample) {
      samples.push(sample);
      while (samples.length > capacity) samples.shift();
      series.forEach((x, i) => { values[i].textContent = format(sample[x.key]); });
      draw();
    },
  };
}
