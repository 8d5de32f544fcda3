// The dashboard: sign-in, the page shell (header, navigation, vhost choice) and the hash router.

import { h, replace, announce, field } from './dom.js';
import { apiKey, setApiKey, clearApiKey, get, paths, ApiError, UNAUTHORIZED } from './api.js';
import { liveConsumer } from './consumer.js';
import overview from './views/overview.js';
import vhosts from './views/vhosts.js';
import exchanges from './views/exchanges.js';
import queues from './views/queues.js';
import bindings from './views/bindings.js';
import topology from './views/topology.js';
import messages from './views/messages.js';
import webhooks from './views/webhooks.js';

const VIEWS = { overview, vhosts, exchanges, queues, bindings, topology, messages, webhooks };
const VHOST = 'gateway.vhost';
/** How often the open view asks the API again. */
const REFRESH_MS = 2000;

const root = document.getElementById('app');
let current = null; // { name, view, timer }
let signInMessage = '';
let shell = null; // { main, nav, vhostSelect } while signed in

function route() {
  const [path, query = ''] = window.location.hash.replace(/^#\/?/, '').split('?');
  const name = VIEWS[path] ? path : 'overview';
  return { name, params: new URLSearchParams(query) };
}

export const vhost = () => sessionStorage.getItem(VHOST) || 'default';

/** Goes to a view: navigate('messages', { queue: 'eu' }). */
export function navigate(name, params = {}) {
  const query = new URLSearchParams(params).toString();
  window.location.hash = `#/${name}${query ? `?${query}` : ''}`;
}

// ---- sign-in -------------------------------------------------------------------------------------------------------

function showSignIn() {
  stopView();
  liveConsumer.close();
  shell = null;
  document.title = 'Sign in · Gateway';
  const input = h('input', { type: 'password', name: 'apiKey', required: true, autocomplete: 'current-password', spellcheck: 'false' });
  const error = h('p', { className: 'form-error', role: 'alert', id: 'sign-in-error', hidden: !signInMessage }, signInMessage);
  const form = h('form', { className: 'sign-in card', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Gateway'),
    h('p', {}, 'Sign in with an API key to manage exchanges, queues and bindings, and to publish and consume messages.'),
    field('API key', input, 'Kept in this tab only (session storage), sent as a bearer token. The administrator\'s key is ' +
      'printed at the gateway\'s first start and written to bootstrap-admin.key in its data folder.'),
    error,
    h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    const key = input.value.trim();
    try {
      // The key is checked with a real call; a refused key answers 401.
      await get(paths.vhosts(), { key });
      setApiKey(key);
      signInMessage = '';
      showShell();
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401 ? 'The gateway refused this API key.' : e.message;
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', `${input.getAttribute('aria-describedby')} sign-in-error`);
      input.focus();
    }
  });
  replace(root, h('main', { id: 'main', className: 'sign-in-page' }, form));
  input.focus();
}

window.addEventListener(UNAUTHORIZED, () => {
  if (!apiKey()) return;
  clearApiKey();
  signInMessage = 'The gateway refused the API key: sign in again.';
  showSignIn();
});

// ---- shell ---------------------------------------------------------------------------------------------------------

function showShell() {
  const nav = h('nav', { 'aria-label': 'Sections' }, h('ul', {},
    Object.entries(VIEWS).map(([name, view]) => h('li', {}, h('a', { href: `#/${name}`, dataset: { view: name } }, view.title)))));
  const vhostSelect = h('select', { name: 'vhost' });
  vhostSelect.addEventListener('change', () => {
    sessionStorage.setItem(VHOST, vhostSelect.value);
    announce(`Virtual host ${vhostSelect.value}.`);
    showView();
  });
  const signOut = h('button', { type: 'button', className: 'secondary' }, 'Sign out');
  signOut.addEventListener('click', () => {
    clearApiKey();
    signInMessage = '';
    showSignIn();
  });
  const main = h('main', { id: 'main', tabindex: -1 });
  const identity = h('span', { className: 'identity' });
  replace(root,
    h('a', { href: '#main', className: 'skip-link' }, 'Skip to content'),
    h('header', { className: 'top' },
      h('span', { className: 'brand' }, 'Gateway'),
      identity,
      field('Virtual host', vhostSelect),
      signOut),
    nav,
    main,
    h('div', { id: 'status', className: 'status', role: 'status', 'aria-live': 'polite' }));
  shell = { main, nav, vhostSelect };
  // The skip link moves focus without touching the hash, which the router owns.
  root.querySelector('.skip-link').addEventListener('click', (event) => { event.preventDefault(); main.focus(); });
  // Focus stays where the user has put it if they moved it (e.g. Tab to the skip link) while the vhosts loaded.
  refreshVhosts().then(() => showView({ firstRender: true }));
  showIdentity(identity);
}

/** Who the key belongs to (GET /api/auth/whoami); nothing is shown when the gateway cannot say. */
async function showIdentity(element) {
  try {
    const me = await get(paths.whoami());
    element.textContent = me.authenticationEnabled === false
      ? 'Authentication is off'
      : `Signed in as ${me.user}${me.tags?.length ? ` (${me.tags.join(', ')})` : ''}`;
  } catch {
    element.textContent = '';
  }
}

/** Reloads the vhost choices (views call it after creating or deleting one). */
export async function refreshVhosts() {
  if (!shell) return;
  let names = [vhost()];
  try {
    names = (await get(paths.vhosts())).map((v) => v.name);
  } catch (e) {
    announce(e.message, 'error');
  }
  if (!names.includes(vhost())) sessionStorage.setItem(VHOST, names.includes('default') ? 'default' : names[0] ?? 'default');
  const select = shell.vhostSelect;
  const wanted = names.join('\n');
  if ([...select.options].map((o) => o.value).join('\n') !== wanted) replace(select, names.map((n) => h('option', { value: n }, n)));
  select.value = vhost();
}

function stopView() {
  if (!current) return;
  clearTimeout(current.timer);
  current.abort.abort();
  current.instance?.dispose?.();
  current = null;
}

function showView({ firstRender = false } = {}) {
  if (!apiKey()) return showSignIn();
  if (!shell) return showShell();
  stopView();
  const { name, params } = route();
  const view = VIEWS[name];
  document.title = `${view.title} · Gateway`;
  for (const link of shell.nav.querySelectorAll('a')) {
    if (link.dataset.view === name) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
  const abort = new AbortController();
  const context = { vhost: vhost(), params, navigate, refreshVhosts, signal: abort.signal };
  const instance = view.render(context);
  const heading = h('h1', { tabindex: -1 }, view.title, view.perVhost === false ? null : h('span', { className: 'heading-vhost' }, ` in ${context.vhost}`));
  replace(shell.main, heading, instance.element);
  current = { name, instance, abort, timer: 0 };
  // Focus goes to the new view's heading, so that keyboard and screen-reader users start there.
  const focusIsTheUsers = firstRender && document.activeElement !== document.body;
  if (!focusIsTheUsers && (document.activeElement !== document.body || window.location.hash)) heading.focus();
  const tick = async () => {
    if (current?.instance !== instance) return;
    try {
      if (!document.hidden) await instance.refresh?.();
    } catch (e) {
      if (e.name !== 'AbortError') announce(e.message, 'error');
    }
    if (current?.instance === instance) current.timer = setTimeout(tick, REFRESH_MS);
  };
  tick();
}

window.addEventListener('hashchange', () => { if (apiKey()) showView(); });
liveConsumer.addEventListener('notice', (event) => announce(event.detail.text, event.detail.kind));

if (apiKey()) showShell(); else showSignIn();
