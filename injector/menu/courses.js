// The "My Courses" home widget: one card per enrollment, opened through the
// daemon's signed-in link. A thumbnail comes through the daemon (which
// fetches it from the integration's own site only), never from the
// provider's URL: that may point anywhere, another loopback port included.
// Until it comes, or without one, the card shows the title's initials.
import { api, openSignedIn, safeURL, displayName, thumbnail } from './api.js';

const statusWords = {
  not_started: 'Not started',
  in_progress: 'In progress',
  completed: 'Completed',
  enrolled: 'Enrolled',
};

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

function card(tpl, c, status) {
  const li = tpl.content.firstElementChild.cloneNode(true);
  li.dataset.integration = c.integration || '';
  li.dataset.id = c.id || '';
  const link = li.querySelector('.card-link');
  const href = safeURL(c.url);
  if (href) link.href = href;
  if (c.integration && c.id) {
    if (!href) link.href = '#';
    signedInLink(link, c.integration, c.id, (err) => {
      status.textContent = `Could not open ${c.title || 'the course'}: ${err.message}`;
    });
  }
  li.querySelector('.title').textContent = c.title || c.id || '(untitled)';
  li.querySelector('.type').textContent = c.type || '';
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
  const p = Number(c.progress);
  if (c.progress === undefined || c.progress === null || !Number.isFinite(p)) {
    bar.remove();
  } else {
    const v = Math.max(0, Math.min(100, Math.round(p)));
    bar.setAttribute('aria-valuenow', String(v));
    bar.setAttribute('aria-valuetext', `${v}% complete`);
    bar.setAttribute('aria-label', `Progress of ${c.title || 'course'}`);
    bar.firstElementChild.style.width = `${v}%`; // CSSOM, allowed by a strict CSP
  }
  return li;
}

export async function loadCourses({ list, status, tpl }) {
  try {
    const data = (await api.courses()) || {};
    const items = Array.isArray(data.items) ? data.items : [];
    const errors = Array.isArray(data.errors) ? data.errors : [];
    list.replaceChildren(...items.map((c) => card(tpl, c, status)));
    const problems = errors
      .map((e) => `${displayName(e.integration)}: ${e.message || e.code || 'unavailable'}`)
      .join('; ');
    if (items.length) {
      status.textContent = problems ? `Some courses could not be loaded. ${problems}` : '';
    } else {
      status.textContent = problems
        ? `No courses to show. ${problems}`
        : 'No courses yet. Connect Docebo on the Integrations page to see your enrollments.';
    }
  } catch (err) {
    list.replaceChildren();
    status.textContent = `Could not load your courses: ${err.message}`;
  }
}
