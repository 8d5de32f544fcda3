// Small DOM helpers. Everything the server sends is put into the page as text (textContent), never as markup.

/**
 * Creates an element: h('button', { type: 'button', onclick: f }, 'Delete').
 * Attributes whose value is false, null or undefined are left out; `on*` functions become listeners;
 * `dataset` is an object of data-* values. Children are nodes, strings or arrays of them.
 */
export function h(tag, attributes = {}, ...children) {
  const element = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name === 'dataset') Object.assign(element.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (name === 'className' && !(element instanceof SVGElement)) element.className = value;
    else if (name === 'className') element.setAttribute('class', value);
    else if (name === 'value' && 'value' in element) element.value = value;
    else if (name === 'checked' || name === 'selected') element[name] = Boolean(value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

/** The same for SVG elements: s('line', { x1: 0 }). */
export const s = (tag, attributes, ...children) => h(`svg:${tag}`, attributes, ...children);

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of an element. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/**
 * Sets a datalist's suggestions to `names`, only when they changed, so that an open suggestion list does not flicker
 * at each refresh.
 */
export function setOptions(datalist, names) {
  if ([...datalist.options].map((o) => o.value).join('\n') !== names.join('\n')) replace(datalist, names.map((n) => h('option', { value: n })));
}

let counter = 0;
/** A unique id for label/aria wiring. */
export const uid = (prefix = 'id') => `${prefix}-${++counter}`;

/** A labelled form field: label, control, optional hint, wired with for/id and aria-describedby. */
export function field(label, control, hint) {
  control.id ||= uid('field');
  const hintElement = hint ? h('span', { className: 'hint', id: uid('hint') }, hint) : null;
  if (hintElement) control.setAttribute('aria-describedby', hintElement.id);
  const wrapperClass = control.type === 'checkbox' ? 'field field-check' : 'field';
  return control.type === 'checkbox'
    ? h('div', { className: wrapperClass }, control, h('label', { for: control.id }, label), hintElement)
    : h('div', { className: wrapperClass }, h('label', { for: control.id }, label), control, hintElement);
}

/** Formats a count for display (1 234). */
export const count = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '–');

/** Formats a rate per second. */
export function rate(n) {
  if (typeof n !== 'number' || Number.isNaN(n)) return '–';
  return `${n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 1 : 2)}/s`;
}

/** Short text of a field table ({a: 1} → a=1), or an empty string. */
export function fieldTable(table) {
  if (!table || typeof table !== 'object') return '';
  return Object.entries(table).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
}

/** Announces a message to screen readers and shows it in the status bar. */
export function announce(text, kind = 'info') {
  const region = document.getElementById('status');
  if (!region) return;
  region.dataset.kind = kind;
  region.textContent = '';
  // A fresh text node makes screen readers read the message again even when it repeats.
  requestAnimationFrame(() => { region.textContent = text; });
}

/**
 * Keeps a table body in step with a list: rows are matched by key, cells updated in place, so that buttons keep
 * their focus across refreshes. columns: [{ value: item => text, name?, className? }] (name: the cell's data-column);
 * actions: item => [nodes] (made once per row).
 */
export function syncRows(tbody, items, key, columns, actions) {
  const existing = new Map([...tbody.rows].map((row) => [row.dataset.key, row]));
  const wanted = new Set();
  let previous = null;
  for (const item of items) {
    const k = key(item);
    wanted.add(k);
    let row = existing.get(k);
    if (!row) {
      row = h('tr', { dataset: { key: k } },
        columns.map((c, i) => h(i === 0 ? 'th' : 'td', { scope: i === 0 ? 'row' : null, className: c.className ?? null, dataset: c.name ? { column: c.name } : null })),
        actions ? h('td', { className: 'actions' }, actions(item)) : null);
    }
    columns.forEach((c, i) => {
      const text = String(c.value(item) ?? '');
      if (row.cells[i].textContent !== text) row.cells[i].textContent = text;
    });
    const next = previous ? previous.nextSibling : tbody.firstChild;
    if (next !== row) tbody.insertBefore(row, next);
    previous = row;
  }
  for (const [k, row] of existing) if (!wanted.has(k)) row.remove();
}

/** A table with a caption and headers, scrollable on narrow screens (and by keyboard). */
export function table(caption, headers, { actions = true } = {}) {
  const tbody = h('tbody');
  const captionId = uid('caption');
  const element = h('div', { className: 'table-wrap', tabindex: 0, role: 'region', 'aria-labelledby': captionId },
    h('table', {},
      h('caption', { id: captionId }, caption),
      h('thead', {}, h('tr', {}, headers.map((text) => h('th', { scope: 'col' }, text)), actions ? h('th', { scope: 'col' }, h('span', { className: 'visually-hidden' }, 'Actions')) : null)),
      tbody));
  const empty = h('p', { className: 'empty', hidden: true }, 'None yet.');
  return { element: h('div', {}, element, empty), tbody, setEmpty(isEmpty, text) { empty.hidden = !isEmpty; if (text) empty.textContent = text; } };
}

/** Parses an optional JSON object from a textarea; throws an Error naming the field. */
export function parseJsonObject(text, what) {
  if (!text.trim()) return undefined;
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} must be a JSON object: ${e.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${what} must be a JSON object, like {"x-match": "all"}.`);
  return value;
}
