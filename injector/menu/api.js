// The same-origin JSON API of the daemon. The menu session is a secret this
// tab holds in sessionStorage (readable by this origin only, so not by a
// program on another loopback port) and sends in the X-Latchkey-Session
// header; no cookie is used. The page never holds an integration token.

/** An API error: the daemon's {"error":{"code","message"}} or a transport failure. */
export class APIError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
  }
  /** True when the menu session is gone (expired, never opened, daemon restarted). */
  get sessionLost() {
    return this.status === 401 || this.code === 'session_expired';
  }
}

const SESSION_KEY = 'latchkey.menu.session';
const SESSION_HEADER = 'X-Latchkey-Session';

function sessionSecret() {
  try {
    return window.sessionStorage.getItem(SESSION_KEY) || '';
  } catch {
    return '';
  }
}

function forgetSession() {
  try {
    window.sessionStorage.removeItem(SESSION_KEY);
  } catch {
    // Storage disabled: nothing was kept.
  }
}

async function errorOf(res) {
  let body = null;
  if ((res.headers.get('Content-Type') || '').includes('json')) {
    try {
      body = await res.json();
    } catch {
      body = null;
    }
  }
  const e = (body && body.error) || {};
  return new APIError(res.status, e.code, e.message);
}

/**
 * startSession opens the menu session of this tab. A one-time code in the
 * URL fragment (#code=…, never sent to a server) is taken out of the address
 * bar and history, then exchanged for a session secret; without one, the
 * secret this tab already holds is kept (a reload). It throws an APIError
 * when there is no session to be had.
 */
export async function startSession() {
  // #code=: a one-time code; #launch=: the launcher key of the daemon's
  // launcher file (reusable while the daemon runs). Both leave the address bar.
  const m = /^#(code|launch)=([A-Za-z0-9_-]+)$/.exec(window.location.hash);
  if (!m) {
    if (sessionSecret()) return;
    throw new APIError(401, 'session_expired', 'There is no menu session in this tab.');
  }
  window.history.replaceState(null, '', window.location.pathname);
  forgetSession();
  let res;
  try {
    res = await fetch('/menu/session', {
      method: 'POST',
      credentials: 'omit',
      cache: 'no-store',
      redirect: 'error',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify({ [m[1]]: m[2] }),
    });
  } catch {
    throw new APIError(0, 'unreachable', 'latchkey is not answering. Is the daemon running?');
  }
  if (!res.ok) throw await errorOf(res);
  const body = await res.json();
  if (!body || typeof body.session !== 'string' || !body.session) throw new APIError(500, 'bad_response', 'latchkey opened no session');
  window.sessionStorage.setItem(SESSION_KEY, body.session);
}

const listeners = new Set();

/** onSessionLost registers fn, called once per failed call whose session is gone. */
export function onSessionLost(fn) {
  listeners.add(fn);
}

async function call(method, path, { signal, accept = 'application/json', body } = {}) {
  let res;
  const headers = { Accept: accept, [SESSION_HEADER]: sessionSecret() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  try {
    res = await fetch(path, {
      method,
      credentials: 'omit',
      cache: 'no-store',
      redirect: 'error',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new APIError(0, 'unreachable', 'latchkey is not answering. Is the daemon running?');
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (err.sessionLost) {
      forgetSession();
      listeners.forEach((fn) => fn(err));
    }
    throw err;
  }
  if (!(res.headers.get('Content-Type') || '').includes('json')) return null;
  try {
    return await res.json();
  } catch {
    return null;
  }
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
  apps: () => call('GET', '/v1/apps'),
  revokeApp: (id) => call('DELETE', `/v1/apps/${seg(id)}`),
  // The open menu's long poll: answers {"focus": true, "ack"} when the hotkey
  // or the tray asks for the menu again, {"focus": false} after a while.
  focusWait: () => call('GET', '/v1/menu/focus'),
  focusAck: (ack) => call('POST', '/v1/menu/focus', { body: { ack } }),
};

/**
 * thumbnail returns the thumbnail of a course as a data: URL, or '' when
 * there is none. The daemon fetches it from the integration's own site; the
 * page never loads an image from the provider's URL.
 */
export async function thumbnail(integration, id) {
  try {
    const res = await fetch(`/v1/courses/${seg(integration)}/${seg(id)}/thumbnail`, {
      credentials: 'omit',
      redirect: 'error',
      headers: { Accept: 'image/*', [SESSION_HEADER]: sessionSecret() },
    });
    if (!res.ok) return '';
    const blob = await res.blob();
    if (!/^image\//.test(blob.type)) return '';
    return await new Promise((resolve) => {
      const r = new FileReader();
      r.addEventListener('load', () => resolve(typeof r.result === 'string' ? r.result : ''));
      r.addEventListener('error', () => resolve(''));
      r.readAsDataURL(blob);
    });
  } catch {
    return '';
  }
}

/**
 * openSignedIn opens a course in a new tab through its signed-in link: the
 * daemon answers the course URL with a fresh short-lived token. Call it from
 * the user's click or key press (the tab is opened at once, popup blockers),
 * it is pointed at the course once the daemon answers. win is a tab opened
 * already in that click or key press, when the caller had to wait first.
 */
export async function openSignedIn(integration, id, win = window.open('about:blank', '_blank')) {
  try {
    const res = await call('GET', `/v1/open/${seg(integration)}/${seg(id)}`);
    const url = safeURL(res && res.url);
    if (!url) throw new APIError(500, 'bad_response', 'latchkey returned no course link');
    if (win) {
      win.opener = null;
      win.location.href = url;
    }
  } catch (err) {
    if (win) win.close();
    throw err;
  }
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

const names = { docebo: 'Docebo', document360: 'Document360', identity: 'Sign-in' };
// The organisation's names for the integrations it manages (status display_name).
const orgNames = {};

/** setOrgNames takes the display names an organisation gave its integrations, from /v1/status. */
export function setOrgNames(integrations) {
  for (const k of Object.keys(orgNames)) delete orgNames[k];
  for (const it of integrations || []) {
    if (it && it.name && it.managed && it.display_name) orgNames[it.name] = String(it.display_name);
  }
}

/** displayName is how an integration is named to people. */
export function displayName(name) {
  return orgNames[name] || names[name] || (name ? name.charAt(0).toUpperCase() + name.slice(1) : '');
}

/**
 * problem is what a person reads about a failure of integration name with
 * the daemon's error code: a sentence saying what happened and what to do,
 * never the raw Go error (the daemon's log and `latchkey … --json` keep
 * that). message is used, its repeated "name: " prefixes cut, only for a
 * code this page does not know.
 */
export function problem(name, code, message) {
  const n = displayName(name) || 'latchkey';
  switch (code) {
    case 'not_connected':
      return `${n} is not connected. Connect it in Settings.`;
    case 'reconnect_needed':
      return `${n} needs you to connect again (Settings).`;
    case 'timeout':
      return `${n} did not answer in time. Try again in a moment.`;
    case 'unavailable':
    case 'provider_error':
    case 'integration_error':
      return `${n} cannot be reached right now. Try again later.`;
    case 'rate_limited':
      return `${n} is busy. Try again in a minute.`;
    case 'config_error':
    case 'not_configured':
    case 'unknown_integration':
      return `${n} is not set up in latchkey. Ask your administrator (latchkey status shows the details).`;
    case 'unreachable':
      return 'latchkey is not answering. Is the daemon running?';
    case 'session_expired':
      return 'This menu session has ended.';
    default: {
      let m = String(message || code || 'unavailable');
      const prefix = `${name}: `;
      while (name && m.startsWith(prefix)) m = m.slice(prefix.length);
      if (/\b(dial tcp|connection refused|no such host|EOF|i\/o timeout)\b/.test(m)) {
        return `${n} cannot be reached right now. Try again later.`;
      }
      return `${n}: ${m.replace(/^./, (c) => c.toUpperCase())}`;
    }
  }
}
