// The same-origin JSON API of the daemon. Every call rides on the HttpOnly
// session cookie; the page never holds a token of its own.

/** An API error: the daemon's {"error":{"code","message"}} or a transport failure. */
export class APIError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
  }
  /** True when the menu session is gone (expired cookie, daemon restarted). */
  get sessionLost() {
    return this.status === 401 || this.code === 'session_expired';
  }
}

const listeners = new Set();

/** onSessionLost registers fn, called once per failed call whose session is gone. */
export function onSessionLost(fn) {
  listeners.add(fn);
}

async function call(method, path, { signal, accept = 'application/json' } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
      headers: { Accept: accept },
      signal,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new APIError(0, 'unreachable', 'latchkey is not answering. Is the daemon running?');
  }
  let body = null;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try {
      body = await res.json();
    } catch {
      body = null;
    }
  }
  if (!res.ok) {
    const e = (body && body.error) || {};
    const err = new APIError(res.status, e.code, e.message);
    if (err.sessionLost) listeners.forEach((fn) => fn(err));
    throw err;
  }
  return body;
}

const seg = encodeURIComponent;

export const api = {
  status: (opts) => call('GET', '/v1/status', opts),
  courses: (opts) => call('GET', '/v1/courses', opts),
  search: (q, limit, opts) =>
    call('GET', `/v1/search?q=${seg(q)}&limit=${seg(String(limit))}`, opts),
  connect: (name) => call('POST', `/v1/integrations/${seg(name)}/connect`),
  disconnect: (name) => call('DELETE', `/v1/integrations/${seg(name)}`),
  widgetToken: (name) => call('POST', `/v1/integrations/${seg(name)}/widget-token`),
};

/** openURL is the signed-in link of a course: the daemon redirects to the course with a fresh short-lived token. */
export function openURL(integration, id) {
  return `/v1/open/${seg(integration)}/${seg(id)}`;
}

/** safeURL returns u when it is an absolute http(s) URL, else '' (no javascript: or data: links from providers). */
export function safeURL(u) {
  try {
    const parsed = new URL(u, window.location.href);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : '';
  } catch {
    return '';
  }
}

const names = { docebo: 'Docebo', document360: 'Document360' };

/** displayName is how an integration is named to people. */
export function displayName(name) {
  return names[name] || (name ? name.charAt(0).toUpperCase() + name.slice(1) : '');
}
