// The "My Courses" home widget: one card per enrollment, opened through the
// daemon's signed-in link.
import { api, openURL, safeURL, displayName } from './api.js';

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

function card(tpl, c) {
  const li = tpl.content.firstElementChild.cloneNode(true);
  li.dataset.integration = c.integration || '';
  li.dataset.id = c.id || '';
  const link = li.querySelector('.card-link');
  link.href = c.integration && c.id ? openURL(c.integration, c.id) : safeURL(c.url);
  li.querySelector('.title').textContent = c.title || c.id || '(untitled)';
  li.querySelector('.type').textContent = c.type || '';
  li.querySelector('.status').textContent = statusLabel(c.status);
  li.querySelector('.initials').textContent = initials(c.title);

  const thumb = safeURL(c.thumbnail);
  if (thumb) {
    const img = document.createElement('img');
    img.alt = '';
    img.loading = 'lazy';
    img.decoding = 'async';
    img.referrerPolicy = 'no-referrer';
    img.addEventListener('error', () => img.remove());
    img.src = thumb;
    li.querySelector('.thumb').append(img);
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
    list.replaceChildren(...items.map((c) => card(tpl, c)));
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
