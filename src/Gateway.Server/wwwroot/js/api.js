// The HTTP API as the dashboard uses it. Every request carries the API key as a bearer token; a 401 ends the session.

const KEY = 'gateway.apiKey';

/** The API key of this tab's session (sessionStorage: gone when the tab closes), or null. */
export const apiKey = () => sessionStorage.getItem(KEY);
export const setApiKey = (key) => sessionStorage.setItem(KEY, key);
export const clearApiKey = () => sessionStorage.removeItem(KEY);

/** Raised for every answer that is not 2xx; carries the RFC 9457 problem document when the server sent one. */
export class ApiError extends Error {
  constructor(status, problem, fallback) {
    super(problem?.detail || problem?.title || fallback || `The gateway answered ${status}.`);
    this.status = status;
    this.problem = problem;
  }

  /** Field errors of a validation problem, as [field, message] pairs. */
  get fieldErrors() {
    const errors = this.problem?.errors;
    if (!errors || typeof errors !== 'object') return [];
    return Object.entries(errors).flatMap(([name, messages]) => [].concat(messages).map((m) => [name, m]));
  }
}

/** Fired on window when the gateway refuses the key: the app goes back to sign-in. */
export const UNAUTHORIZED = 'gateway:unauthorized';

const enc = encodeURIComponent;

/** Paths of the API, with each name escaped as one path segment. */
export const paths = {
  overview: () => '/api/overview',
  tickets: () => '/api/auth/tickets',
  whoami: () => '/api/auth/whoami',
  vhosts: () => '/api/vhosts',
  vhost: (v) => `/api/vhosts/${enc(v)}`,
  exchanges: (v) => `/api/vhosts/${enc(v)}/exchanges`,
  exchange: (v, x) => `/api/vhosts/${enc(v)}/exchanges/${enc(x)}`,
  publish: (v, x) => `/api/vhosts/${enc(v)}/exchanges/${enc(x)}/publish`,
  queues: (v) => `/api/vhosts/${enc(v)}/queues`,
  queue: (v, q) => `/api/vhosts/${enc(v)}/queues/${enc(q)}`,
  purge: (v, q) => `/api/vhosts/${enc(v)}/queues/${enc(q)}/messages`,
  bindings: (v) => `/api/vhosts/${enc(v)}/bindings`,
  binding: (v, id) => `/api/vhosts/${enc(v)}/bindings/${enc(id)}`,
  socket: (v) => `/api/vhosts/${enc(v)}/ws`,
};

/**
 * Sends a request and answers the parsed JSON (or null for an empty answer).
 * Non-2xx answers throw an ApiError with the problem's detail; 401 also fires UNAUTHORIZED.
 */
export async function request(method, path, body, { key = apiKey(), signal } = {}) {
  const headers = { Accept: 'application/json, application/problem+json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, null, 'The gateway cannot be reached.');
  }
  const text = await response.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch { json = null; }
  }
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new CustomEvent(UNAUTHORIZED));
    throw new ApiError(response.status, json, text.slice(0, 200));
  }
  return json;
}

export const get = (path, options) => request('GET', path, undefined, options);
export const put = (path, body = {}) => request('PUT', path, body);
export const post = (path, body = {}) => request('POST', path, body);
export const del = (path) => request('DELETE', path);

/**
 * A short-lived ticket for a WebSocket or EventSource URL (browsers cannot send headers on those), or null when the
 * gateway has no ticket endpoint (it then accepts the connection without one).
 */
export async function ticket() {
  try {
    const answer = await request('POST', paths.tickets());
    return answer?.ticket ?? null;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
    throw e;
  }
}

/** The ws:// (or wss://) URL of a vhost's WebSocket, with a ticket when the gateway issues them. */
export async function socketUrl(vhost) {
  const url = new URL(paths.socket(vhost), window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const t = await ticket();
  if (t) url.searchParams.set('ticket', t);
  return url.href;
}
