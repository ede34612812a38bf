// The consent view: latchkey opens it on the desktop when an app asks for
// access (#code=…&consent=ID). It exchanges the one-time code for a menu
// session of its own, shows what the app asks for, and sends Allow or Deny;
// the daemon answers with the app's redirect URI, where this tab goes next.

import { displayName } from './api.js';

const $ = (id) => document.getElementById(id);

function fail(msg) {
  $('consent-status').textContent = msg;
  $('consent-request').hidden = true;
}

async function json(res) {
  try {
    return await res.json();
  } catch {
    return null;
  }
}

async function call(method, path, session, body) {
  const headers = { Accept: 'application/json', 'X-Latchkey-Session': session };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, credentials: 'omit', cache: 'no-store', redirect: 'error', headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const out = await json(res);
  if (!res.ok) throw new Error((out && out.error && out.error.message) || `latchkey answered HTTP ${res.status}`);
  return out;
}

// loopbackURL keeps an app's redirect only when it is http on this machine.
function loopbackURL(u) {
  try {
    const p = new URL(u);
    const h = p.hostname;
    return p.protocol === 'http:' && (h === '127.0.0.1' || h === '[::1]' || h === 'localhost' || /^127\./.test(h)) ? p.href : '';
  } catch {
    return '';
  }
}

async function main() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  window.history.replaceState(null, '', window.location.pathname);
  const code = params.get('code');
  const id = params.get('consent');
  if (!code || !id) {
    fail('This consent link is not complete. Ask the app to connect again.');
    return;
  }
  let session;
  try {
    const res = await fetch('/menu/session', {
      method: 'POST', credentials: 'omit', cache: 'no-store', redirect: 'error',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify({ code }),
    });
    const out = await json(res);
    if (!res.ok || !out || !out.session) throw new Error((out && out.error && out.error.message) || 'no session');
    session = out.session;
  } catch (err) {
    fail(`This consent link has expired or was already used (${err.message}). Ask the app to connect again.`);
    return;
  }
  let req;
  try {
    req = await call('GET', `/v1/apps/consent/${encodeURIComponent(id)}`, session);
  } catch (err) {
    fail(err.message);
    return;
  }
  $('consent-app').textContent = req.app_name;
  $('consent-client').textContent = req.client_id;
  $('consent-host').textContent = req.redirect_host;
  if (req.program) {
    $('consent-program-name').textContent = req.program;
    $('consent-program').hidden = false;
  }
  const list = $('consent-integrations');
  list.replaceChildren(...req.integrations.map((n) => {
    const li = document.createElement('li');
    li.textContent = displayName(n);
    return li;
  }));
  $('consent-access').textContent = req.read_only
    ? 'Read only: search, your courses and articles, and opening a course in your browser (through MCP).'
    : 'Through latchkey\'s local API, including calls that can change data in these tools.';
  $('consent-status').textContent = '';
  $('consent-request').hidden = false;
  $('consent-allow').focus();

  const answer = async (allow) => {
    $('consent-allow').disabled = true;
    $('consent-deny').disabled = true;
    try {
      const out = await call('POST', `/v1/apps/consent/${encodeURIComponent(id)}`, session, { allow });
      const to = loopbackURL(out && out.redirect);
      $('consent-request').hidden = true;
      $('consent-status').textContent = allow ? `Allowed. Returning to ${req.app_name}…` : 'Denied. You can close this tab.';
      if (to) window.location.assign(to);
    } catch (err) {
      fail(err.message);
    }
  };
  $('consent-allow').addEventListener('click', () => answer(true));
  $('consent-deny').addEventListener('click', () => answer(false));
}

main();
