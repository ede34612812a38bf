// Enterprise search as you type: debounced, grouped by integration, a
// combobox + listbox with arrow-key navigation; Enter opens the active result.
import { api, openSignedIn, safeURL, displayName } from './api.js';
import { signedInLink } from './courses.js';

const DEBOUNCE_MS = 200;
const LIMIT = 20;

/** signedIn is whether result r opens through the daemon's signed-in link (courses). */
function signedIn(r) {
  return r.kind === 'course' && !!r.integration && !!r.id;
}

export function setupSearch({ input, form, list, status }) {
  let timer = 0;
  let inflight = null;
  let seq = 0;
  let options = [];
  let active = -1;

  const open = (on) => {
    list.hidden = !on;
    input.setAttribute('aria-expanded', on ? 'true' : 'false');
  };

  const setActive = (i) => {
    if (active >= 0 && options[active]) options[active].removeAttribute('aria-selected');
    active = i;
    if (i < 0 || !options[i]) {
      input.removeAttribute('aria-activedescendant');
      return;
    }
    const el = options[i];
    el.setAttribute('aria-selected', 'true');
    input.setAttribute('aria-activedescendant', el.id);
    el.scrollIntoView({ block: 'nearest' });
  };

  const clear = (message = '') => {
    list.replaceChildren();
    options = [];
    setActive(-1);
    open(false);
    status.textContent = message;
  };

  const render = (q, data) => {
    const results = Array.isArray(data.results) ? data.results : [];
    const errors = Array.isArray(data.errors) ? data.errors : [];
    list.replaceChildren();
    options = [];
    active = -1;
    input.removeAttribute('aria-activedescendant');

    // Groups keep the ranking: an integration's group sits where its best result ranks.
    const groups = new Map();
    for (const r of results) {
      if (!groups.has(r.integration)) groups.set(r.integration, []);
      groups.get(r.integration).push(r);
    }
    let n = 0;
    for (const [integration, items] of groups) {
      const group = document.createElement('div');
      group.setAttribute('role', 'group');
      group.className = 'group';
      const label = document.createElement('div');
      label.className = 'group-label';
      label.id = `grp-${n}`;
      label.textContent = displayName(integration);
      group.setAttribute('aria-labelledby', label.id);
      group.append(label);
      for (const r of items) {
        const href = safeURL(r.url) || (signedIn(r) ? '#' : '');
        const opt = document.createElement('a');
        opt.id = `opt-${n++}`;
        opt.className = 'option';
        opt.setAttribute('role', 'option');
        opt.tabIndex = -1;
        opt.dataset.integration = r.integration || '';
        opt.dataset.kind = r.kind || '';
        if (href) {
          opt.href = href;
          opt.target = '_blank';
          opt.rel = 'noopener noreferrer';
          if (signedIn(r)) {
            signedInLink(opt, r.integration, r.id, (err) => {
              status.textContent = `Could not open ${r.title || 'the course'}: ${err.message}`;
            });
          }
        } else {
          opt.setAttribute('aria-disabled', 'true');
        }
        const title = document.createElement('span');
        title.className = 'title';
        title.textContent = r.title || r.id || '(untitled)';
        const kind = document.createElement('span');
        kind.className = 'kind';
        kind.textContent = r.kind || '';
        opt.append(title, kind);
        if (r.snippet) {
          const snip = document.createElement('span');
          snip.className = 'snippet';
          snip.textContent = r.snippet;
          opt.append(snip);
        }
        opt.addEventListener('mousemove', () => setActive(options.indexOf(opt)));
        group.append(opt);
        options.push(opt);
      }
      list.append(group);
    }
    for (const e of errors) {
      const p = document.createElement('p');
      p.className = 'search-error';
      p.dataset.integration = e.integration || '';
      p.textContent = `${displayName(e.integration)}: ${e.message || e.code || 'unavailable'}`;
      list.append(p);
    }
    open(results.length > 0 || errors.length > 0);
    const count = results.length === 1 ? '1 result' : `${results.length} results`;
    const partial = errors.length ? ` (${errors.length} source${errors.length > 1 ? 's' : ''} unavailable)` : '';
    status.textContent = results.length ? `${count} for “${q}”${partial}` : `No results for “${q}”${partial}`;
  };

  const run = async () => {
    const q = input.value.trim();
    if (inflight) inflight.abort();
    if (!q) {
      clear();
      return;
    }
    const mine = ++seq;
    inflight = new AbortController();
    status.textContent = 'Searching…';
    try {
      const data = await api.search(q, LIMIT, { signal: inflight.signal });
      if (mine === seq) render(q, data || {});
    } catch (err) {
      if (err.name === 'AbortError' || mine !== seq) return;
      clear(`Search failed: ${err.message}`);
    }
  };

  const openActive = () => {
    const el = options[active >= 0 ? active : 0];
    if (!el || !el.href) return;
    const open = el.dataset.open;
    if (open) {
      const i = open.indexOf('/');
      openSignedIn(open.slice(0, i), open.slice(i + 1)).catch((err) => {
        status.textContent = `Could not open the course: ${err.message}`;
      });
      return;
    }
    window.open(el.href, '_blank', 'noopener,noreferrer');
  };

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(run, DEBOUNCE_MS);
  });
  input.addEventListener('keydown', (ev) => {
    const n = options.length;
    switch (ev.key) {
      case 'ArrowDown':
        if (!n) return;
        ev.preventDefault();
        open(true);
        setActive(active < n - 1 ? active + 1 : 0);
        break;
      case 'ArrowUp':
        if (!n) return;
        ev.preventDefault();
        setActive(active > 0 ? active - 1 : n - 1);
        break;
      case 'Home':
      case 'End':
        if (!n || active < 0) return;
        ev.preventDefault();
        setActive(ev.key === 'Home' ? 0 : n - 1);
        break;
      case 'Enter':
        ev.preventDefault();
        clearTimeout(timer);
        if (n) openActive();
        else run();
        break;
      case 'Escape':
        if (!list.hidden) {
          ev.preventDefault();
          open(false);
          setActive(-1);
        } else if (input.value) {
          ev.preventDefault();
          input.value = '';
          clear();
        }
        break;
      default:
    }
  });
  form.addEventListener('submit', (ev) => ev.preventDefault());
}
