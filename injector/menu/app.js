// The latchkey menu: search, My Courses and the integrations page.
import { onSessionLost, startSession } from './api.js';
import { setupSearch } from './search.js';
import { loadCourses } from './courses.js';
import { Integrations, KnowledgeBase } from './integrations.js';

const $ = (id) => document.getElementById(id);

const REOPEN = 'Open the menu again with Ctrl+Shift+E (Cmd+Shift+E on macOS) or from the tray.';

async function main() {
  const banner = $('banner');
  try {
    await startSession();
  } catch (err) {
    // No session in this tab: say why and how to get one; show nothing else.
    banner.textContent = err.code === 'code_expired'
      ? `This menu link has expired or was already used. ${REOPEN}`
      : `There is no menu session in this tab. ${REOPEN}`;
    if (err.status === 0) banner.textContent = err.message;
    banner.hidden = false;
    $('main').hidden = true;
    document.body.dataset.session = 'none';
    return;
  }
  onSessionLost(() => {
    banner.textContent = `This menu session has ended. ${REOPEN}`;
    banner.hidden = false;
  });

  setupSearch({ input: $('q'), form: $('search-form'), list: $('results'), status: $('search-status') });

  const courses = { list: $('courses'), status: $('courses-status'), tpl: $('tpl-course') };
  const kb = new KnowledgeBase({ panel: $('kb'), status: $('kb-status') });
  let connected = '';
  const integrations = new Integrations({
    list: $('integrations'),
    status: $('integrations-status'),
    tpl: $('tpl-integration'),
    onChange: (items) => {
      kb.update(items);
      // Reload My Courses when the set of connected integrations changes.
      const now = items.filter((i) => i.state === 'connected').map((i) => i.name).sort().join(',');
      if (now !== connected) {
        connected = now;
        loadCourses(courses);
      }
    },
  });

  const views = { home: $('view-home'), integrations: $('view-integrations') };
  const tabs = document.querySelectorAll('.tabs a[data-view]');
  const show = () => {
    const name = (window.location.hash || '#home').slice(1);
    const view = views[name] ? name : 'home';
    for (const [k, el] of Object.entries(views)) el.hidden = k !== view;
    tabs.forEach((a) => {
      if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    document.body.dataset.view = view;
    if (view === 'integrations') integrations.refresh();
    return view;
  };
  window.addEventListener('hashchange', () => {
    const view = show();
    if (view === 'home') $('q').focus();
    else $('integrations-heading').focus();
  });
  $('integrations-heading').tabIndex = -1;

  document.addEventListener('keydown', (ev) => {
    if (ev.key !== '/' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t.isContentEditable) return;
    ev.preventDefault();
    if (window.location.hash && window.location.hash !== '#home') window.location.hash = '#home';
    else $('q').focus();
  });
  // Coming back to the menu window: pick up changes made elsewhere (tray, CLI).
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') integrations.refresh();
  });

  const view = show();
  if (view === 'home') {
    integrations.refresh();
    $('q').focus();
  }
  document.body.dataset.ready = 'true';
}

main();
