// Search as you type, like a launcher: one list ranked across sources (each
// row names its source), the words typed highlighted, the first row
// selected. Enter acts on the results of what is typed now: a query still
// waiting for its debounce, or in flight, is run first. A combobox + listbox
// with arrow-key navigation; Escape clears, then closes the menu.
import { api, openSignedIn, safeURL, displayName, problem } from './api.js';
import { signedInLink } from './courses.js';

const DEBOUNCE_MS = 150;
const LIMIT = 20;

/** signedIn is whether result r opens through the daemon's signed-in link (courses). */
function signedIn(r) {
  return r.kind === 'course' && !!r.integration && !!r.id;
}

/** ranked is results in one list, best score first (the order given for equal or missing scores). */
export function ranked(results) {
  const score = (r) => (Number.isFinite(Number(r.score)) && r.score !== null && r.score !== '' ? Number(r.score) : -Infinity);
  return results.map((r, i) => ({ r, i })).sort((a, b) => score(b.r) - score(a.r) || a.i - b.i).map((x) => x.r);
}

/** terms are the words of q to highlight, longest first (so "go" does not split "golang"). */
function terms(q) {
  return [...new Set(q.toLowerCase().split(/\s+/).filter(Boolean))].sort((a, b) => b.length - a.length);
}

/**
 * highlight fills el with text, each occurrence of a term in a <mark>. It
 * builds text nodes only: the text (a provider's) is never parsed as HTML.
 */
export function highlight(el, text, words) {
  el.replaceChildren();
  if (!words.length) {
    el.textContent = text;
    return;
  }
  const esc = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const re = new RegExp(esc.join('|'), 'gi');
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) el.append(document.createTextNode(text.slice(last, m.index)));
    const mark = document.createElement('mark');
    mark.textContent = m[0];
    el.append(mark);
    last = m.index + m[0].length;
  }
  if (last < text.length) el.append(document.createTextNode(text.slice(last)));
}

/** snippetOf is r's snippet without a copy of its title. */
function snippetOf(r) {
  let s = String(r.snippet || '').replace(/\s+/g, ' ').trim();
  const t = String(r.title || '').trim();
  if (t && s.toLowerCase().startsWith(t.toLowerCase())) s = s.slice(t.length).replace(/^[\s:.,;·—–-]+/, '');
  return s;
}

const kindWords = { course: 'Course', article: 'Article' };

export function setupSearch({ input, form, list, empty, status, connected, onEscape }) {
  let timer = 0;
  let inflight = null; // {q, controller, done}
  let seq = 0;
  let shown = null; // the query whose results are on screen
  let options = [];
  let active = -1;

  const open = (on) => {
    list.hidden = !on;
    input.setAttribute('aria-expanded', on ? 'true' : 'false');
  };

  const setActive = (i) => {
    if (active >= 0 && options[active]) options[active].setAttribute('aria-selected', 'false');
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
    empty.replaceChildren();
    empty.hidden = true;
    options = [];
    shown = null;
    setActive(-1);
    open(false);
    status.textContent = message;
  };

  const showEmpty = (q, errors) => {
    const p = document.createElement('p');
    p.textContent = `No results for “${q}”.`;
    const hint = document.createElement('p');
    hint.className = 'hint';
    const on = connected();
    if (!on.length) {
      hint.append('Nothing is connected yet: connect Docebo or Document360 in ');
      const a = document.createElement('a');
      a.href = '#settings';
      a.textContent = 'Settings';
      hint.append(a, ' to search them.');
    } else {
      hint.textContent = `Searched ${on.map(displayName).join(' and ')}. Try fewer or other words.`;
    }
    empty.replaceChildren(p, hint);
    for (const e of errors) {
      const ep = document.createElement('p');
      ep.className = 'search-error';
      ep.dataset.integration = e.integration || '';
      ep.textContent = problem(e.integration, e.code, e.message);
      empty.append(ep);
    }
    empty.hidden = false;
  };

  const render = (q, data) => {
    const results = ranked(Array.isArray(data.results) ? data.results : []);
    const errors = Array.isArray(data.errors) ? data.errors : [];
    const words = terms(q);
    list.replaceChildren();
    empty.hidden = true;
    options = [];
    active = -1;
    shown = q;
    input.removeAttribute('aria-activedescendant');

    results.forEach((r, n) => {
      const href = safeURL(r.url) || (signedIn(r) ? '#' : '');
      const opt = document.createElement('a');
      opt.id = `opt-${n}`;
      opt.className = 'option';
      opt.setAttribute('role', 'option');
      opt.setAttribute('aria-selected', 'false');
      opt.tabIndex = -1;
      opt.dataset.integration = r.integration || '';
      opt.dataset.kind = r.kind || '';
      if (href) {
        opt.href = href;
        opt.target = '_blank';
        opt.rel = 'noopener noreferrer';
        if (signedIn(r)) {
          signedInLink(opt, r.integration, r.id, (err) => {
            status.textContent = `Could not open ${r.title || 'the course'}. ${problem(r.integration, err.code, err.message)}`;
          });
        }
      } else {
        opt.setAttribute('aria-disabled', 'true');
      }
      const source = document.createElement('span');
      source.className = 'source';
      source.textContent = displayName(r.integration);
      const title = document.createElement('span');
      title.className = 'title';
      highlight(title, r.title || r.id || '(untitled)', words);
      opt.append(source, title);
      const snip = snippetOf(r);
      if (snip) {
        const s = document.createElement('span');
        s.className = 'snippet';
        highlight(s, snip, words);
        opt.append(s);
      }
      const kind = document.createElement('span');
      kind.className = 'kind';
      kind.textContent = kindWords[r.kind] || r.kind || '';
      if (kind.textContent) opt.append(kind);
      opt.addEventListener('mousemove', () => {
        if (options.indexOf(opt) !== active) setActive(options.indexOf(opt));
      });
      list.append(opt);
      options.push(opt);
    });
    for (const e of results.length ? errors : []) {
      const p = document.createElement('p');
      p.className = 'search-error';
      p.dataset.integration = e.integration || '';
      p.textContent = problem(e.integration, e.code, e.message);
      list.append(p);
    }
    open(results.length > 0);
    if (results.length) setActive(0);
    else showEmpty(q, errors);
    const count = results.length === 1 ? '1 result' : `${results.length} results`;
    const partial = errors.length ? ` (${errors.length} source${errors.length > 1 ? 's' : ''} unavailable)` : '';
    status.textContent = results.length ? `${count} for “${q}”${partial}` : `No results for “${q}”${partial}`;
  };

  /** run searches q (the field's text now) unless it is on screen or on its way; it resolves once q is shown. */
  const run = (q = input.value.trim()) => {
    clearTimeout(timer);
    if (!q) {
      if (inflight) inflight.controller.abort();
      inflight = null;
      clear();
      return Promise.resolve();
    }
    if (shown === q && !inflight) return Promise.resolve();
    if (inflight && inflight.q === q) return inflight.done;
    if (inflight) inflight.controller.abort();
    const mine = ++seq;
    const controller = new AbortController();
    status.textContent = 'Searching…';
    const done = api.search(q, LIMIT, { signal: controller.signal }).then(
      (data) => {
        if (mine === seq) render(q, data || {});
      },
      (err) => {
        if (err.name === 'AbortError' || mine !== seq) return;
        clear(`Search failed. ${problem('', err.code, err.message)}`);
      },
    ).finally(() => {
      if (mine === seq) inflight = null;
    });
    inflight = { q, controller, done };
    return done;
  };

  const openActive = () => {
    const el = options[active >= 0 ? active : 0];
    if (!el || !el.href) return;
    const target = el.dataset.open;
    if (target) {
      const i = target.indexOf('/');
      openSignedIn(target.slice(0, i), target.slice(i + 1)).catch((err) => {
        status.textContent = `Could not open the course. ${problem(target.slice(0, i), err.code, err.message)}`;
      });
      return;
    }
    window.open(el.href, '_blank', 'noopener,noreferrer');
  };

  // Enter opens the active row of the query typed now; a newer query is run first.
  const enter = async () => {
    const q = input.value.trim();
    if (!q) return;
    if (shown !== q || inflight) {
      await run(q);
      if (input.value.trim() !== q) return; // typed on while it ran: that query's Enter is gone
    }
    if (options.length) openActive();
  };

  input.addEventListener('input', () => {
    clearTimeout(timer);
    if (!input.value.trim()) {
      run('');
      return;
    }
    timer = setTimeout(() => run(), DEBOUNCE_MS);
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
      case 'PageDown':
      case 'PageUp':
        if (!n) return;
        ev.preventDefault();
        setActive(ev.key === 'PageDown' ? Math.min(n - 1, Math.max(active, 0) + 7) : Math.max(0, active - 7));
        break;
      case 'Enter':
        ev.preventDefault();
        enter();
        break;
      case 'Escape':
        ev.preventDefault();
        if (input.value) {
          input.value = '';
          run('');
        } else if (onEscape) {
          onEscape();
        }
        break;
      default:
    }
  });
  form.addEventListener('submit', (ev) => ev.preventDefault());
}
