// The "My Courses" home widget: what to continue first (in progress, then
// not started, with progress), compact rows, the first few with "Show all
// N"; completed and suspended courses behind a filter. A row opens the
// course through the daemon's signed-in link. A thumbnail comes through the
// daemon (which fetches it from the integration's own site only), never
// from the provider's URL: that may point anywhere, another loopback port
// included. Until it comes, or without one, the row shows the title's
// initials.
import { api, openSignedIn, safeURL, displayName, problem, thumbnail } from './api.js';

const FEW = 5;

const statusWords = {
  not_started: 'Not started',
  in_progress: 'In progress',
  completed: 'Completed',
  enrolled: 'Enrolled',
  suspended: 'Suspended',
};

const typeWords = { elearning: 'E-learning', classroom: 'Classroom', webinar: 'Webinar' };

/** done is whether a course with status s is behind the Completed filter. */
const done = (s) => s === 'completed' || s === 'suspended';

export function statusLabel(s) {
  if (!s) return '';
  return statusWords[s] || s.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
}

function initials(title) {
  return (title || '?')
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w.charAt(0).toUpperCase())
    .join('');
}

/**
 * signedInLink makes link open integration's course id through the signed-in
 * link on a plain click or Enter; href stays the course's own page (a
 * middle click or "copy link" gets that, without a token). onError is told
 * when the daemon gives no link.
 */
export function signedInLink(link, integration, id, onError) {
  link.dataset.open = `${integration}/${id}`;
  link.addEventListener('click', (ev) => {
    if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    openSignedIn(integration, id).catch((err) => onError(err));
  });
}

/** order is the courses to continue first: in progress (most progress first), then the rest as given. */
export function order(items) {
  const rank = (c) => (c.status === 'in_progress' ? 0 : c.status === 'completed' ? 2 : c.status === 'suspended' ? 3 : 1);
  const pct = (c) => (Number.isFinite(Number(c.progress)) && c.progress !== null ? Number(c.progress) : -1);
  return items
    .map((c, i) => ({ c, i }))
    .sort((a, b) => rank(a.c) - rank(b.c) || (rank(a.c) === 0 ? pct(b.c) - pct(a.c) : 0) || a.i - b.i)
    .map((x) => x.c);
}

function row(tpl, c, status) {
  const li = tpl.content.firstElementChild.cloneNode(true);
  li.dataset.integration = c.integration || '';
  li.dataset.id = c.id || '';
  li.dataset.status = c.status || '';
  const link = li.querySelector('.row-link');
  const href = safeURL(c.url);
  if (href) link.href = href;
  if (c.integration && c.id) {
    if (!href) link.href = '#';
    signedInLink(link, c.integration, c.id, (err) => {
      status.textContent = `Could not open ${c.title || 'the course'}. ${problem(c.integration, err.code, err.message)}`;
    });
  }
  li.querySelector('.title').textContent = c.title || c.id || '(untitled)';
  li.querySelector('.source').textContent = displayName(c.integration);
  li.querySelector('.type').textContent = typeWords[c.type] || c.type || '';
  li.querySelector('.status').textContent = statusLabel(c.status);
  li.querySelector('.initials').textContent = initials(c.title);
  if (c.thumbnail && c.integration && c.id) {
    thumbnail(c.integration, c.id).then((src) => {
      if (!src) return;
      const img = document.createElement('img');
      img.alt = '';
      img.decoding = 'async';
      img.src = src;
      li.querySelector('.thumb').append(img);
    });
  }

  const bar = li.querySelector('.progress');
  const pct = li.querySelector('.pct');
  const p = Number(c.progress);
  if (c.progress === undefined || c.progress === null || !Number.isFinite(p)) {
    bar.remove();
    pct.remove();
  } else {
    const v = Math.max(0, Math.min(100, Math.round(p)));
    bar.setAttribute('aria-valuenow', String(v));
    bar.setAttribute('aria-valuetext', `${v}% complete`);
    bar.setAttribute('aria-label', `Progress of ${c.title || 'course'}`);
    bar.firstElementChild.style.width = `${v}%`; // CSSOM, allowed by a strict CSP
    pct.textContent = `${v}%`;
  }
  return li;
}

/** Courses is the My Courses widget. */
export class Courses {
  constructor({ list, status, tpl, more, filters }) {
    this.list = list;
    this.status = status;
    this.tpl = tpl;
    this.more = more;
    this.filters = filters;
    this.filter = 'todo';
    this.all = false;
    this.items = [];
    this.problems = '';
    this.seq = 0;
    for (const b of filters) {
      b.addEventListener('click', () => {
        this.filter = b.dataset.filter;
        this.all = false;
        this.show();
      });
    }
    more.addEventListener('click', () => {
      this.all = !this.all;
      this.show();
      if (this.all) this.visible()[FEW]?.querySelector('a')?.focus();
    });
  }

  /** load fetches the courses of the connected integrations (names); none connected: says how to connect one. */
  async load(connected) {
    const mine = ++this.seq;
    if (!connected.length) {
      this.items = [];
      this.list.replaceChildren();
      this.problems = '';
      this.status.replaceChildren('Connect Docebo in ');
      const a = document.createElement('a');
      a.href = '#settings';
      a.textContent = 'Settings';
      this.status.append(a, ' to see the courses you are enrolled in.');
      this.show(true);
      return;
    }
    this.status.textContent = 'Loading your courses…';
    try {
      const data = (await api.courses()) || {};
      if (mine !== this.seq) return;
      const seen = new Set();
      this.items = order((Array.isArray(data.items) ? data.items : []).filter((c) => {
        const k = `${c.integration}/${c.id}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      }));
      const errors = Array.isArray(data.errors) ? data.errors : [];
      this.problems = errors.map((e) => problem(e.integration, e.code, e.message)).join(' ');
      this.list.replaceChildren(...this.items.map((c) => row(this.tpl, c, this.status)));
    } catch (err) {
      if (mine !== this.seq) return;
      this.items = [];
      this.list.replaceChildren();
      this.problems = `Could not load your courses. ${problem('', err.code, err.message)}`;
    }
    this.show();
  }

  visible() {
    return [...this.list.children].filter((li) => !li.hidden);
  }

  /** show applies the filter and the "Show all" limit; keepStatus leaves the status line alone. */
  show(keepStatus = false) {
    const rows = [...this.list.children];
    const mine = rows.filter((li) => done(li.dataset.status) === (this.filter === 'done'));
    const counts = { todo: rows.length - rows.filter((li) => done(li.dataset.status)).length };
    counts.done = rows.length - counts.todo;
    for (const b of this.filters) {
      b.setAttribute('aria-pressed', String(b.dataset.filter === this.filter));
      b.querySelector('.count').textContent = this.items.length ? `(${counts[b.dataset.filter]})` : '';
    }
    rows.forEach((li) => {
      li.hidden = true;
    });
    mine.forEach((li, i) => {
      li.hidden = !this.all && i >= FEW;
    });
    this.more.hidden = mine.length <= FEW;
    this.more.textContent = this.all ? 'Show fewer' : `Show all ${mine.length}`;
    if (keepStatus) return;
    let msg = '';
    if (!mine.length && this.filter === 'todo') {
      msg = counts.done ? 'Nothing to continue: every course is completed.' : 'No courses yet: you are not enrolled in any.';
    } else if (!mine.length) {
      msg = 'No completed or suspended courses yet.';
    }
    this.status.textContent = [msg, this.problems].filter(Boolean).join(' ');
  }
}
