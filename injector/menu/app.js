// The latchkey menu: a launcher. Search first with the results over the
// home widgets (My Courses, the knowledge base); Settings → Integrations
// behind the button at the bottom left; Escape closes the menu.
import { api, onSessionLost, startSession } from './api.js';
import { setupSearch } from './search.js';
import { Courses } from './courses.js';
import { Integrations, KnowledgeBase } from './integrations.js';
import { Apps, setupTabs } from './apps.js';

const $ = (id) => document.getElementById(id);

const REOPEN = 'Open the menu again: run latchkey menu, press Ctrl+Shift+E (Cmd+Shift+E on macOS) or use the tray.';

/**
 * waitForFocus keeps a long poll open with the daemon so that the hotkey or
 * the tray, pressed again, brings this menu back instead of opening another:
 * it comes to the front, goes home and selects the search text. It ends
 * with the session.
 */
async function waitForFocus(onFocus) {
  for (;;) {
    let res;
    try {
      res = await api.focusWait();
    } catch (err) {
      if (err.sessionLost) return;
      await new Promise((r) => setTimeout(r, 5000)); // the daemon restarting: try again later
      continue;
    }
    if (res && res.focus && res.ack) {
      onFocus();
      api.focusAck(res.ack).catch(() => {});
    }
  }
}

/** closeMenu closes the menu's window; a tab the page did not open stays, and says how to close it. */
function closeMenu(status) {
  window.close();
  setTimeout(() => {
    if (!window.closed) status.textContent = 'Close this tab to dismiss the menu (the browser keeps tabs it did not open).';
  }, 100);
}

async function main() {
  const banner = $('banner');
  try {
    await startSession();
  } catch (err) {
    // No session in this tab: say why and how to get one; show nothing else.
    banner.textContent = err.code === 'code_expired'
      ? `This menu link has expired or was already used (a link opens the menu once, within a short time). ${REOPEN}`
      : err.code === 'launcher_expired'
        ? `This menu launcher is from an earlier run of latchkey. ${REOPEN}`
        : `There is no menu session in this tab. ${REOPEN}`;
    if (err.status === 0) banner.textContent = err.message;
    banner.hidden = false;
    $('main').hidden = true;
    document.querySelector('.statusbar').hidden = true;
    document.body.dataset.session = 'none';
    return;
  }
  onSessionLost(() => {
    banner.textContent = `This menu session has ended. ${REOPEN}`;
    banner.hidden = false;
  });

  const status = $('search-status');
  let connected = null; // names of the connected integrations, once known
  const courses = new Courses({
    list: $('courses'),
    status: $('courses-status'),
    tpl: $('tpl-course'),
    more: $('courses-more'),
    filters: [...document.querySelectorAll('#courses-panel .filter [data-filter]')],
  });
  setupSearch({
    input: $('q'),
    form: $('search-form'),
    list: $('results'),
    empty: $('search-empty'),
    status,
    connected: () => connected || [],
    onEscape: () => closeMenu(status),
  });

  const kb = new KnowledgeBase({ panel: $('kb'), status: $('kb-status') });
  const integrations = new Integrations({
    list: $('integrations'),
    status: $('integrations-status'),
    tpl: $('tpl-integration'),
    dialog: $('confirm'),
    onChange: (items) => {
      kb.update(items);
      // The My Courses widget carries the title the organisation gave it, if any.
      const titled = items.find((i) => i.managed && i.widget_title && i.state === 'connected');
      $('courses-heading').textContent = titled ? titled.widget_title : 'My Courses';
      // Load My Courses the first time, and again when the connected set changes.
      const now = items.filter((i) => i.state === 'connected').map((i) => i.name).sort();
      if (connected === null || now.join(',') !== connected.join(',')) {
        connected = now;
        courses.load(now);
      }
    },
  });

  const apps = new Apps({ list: $('apps'), status: $('apps-status') });
  setupTabs([...document.querySelectorAll('#view-settings [role="tab"]')], (tab) => {
    if (tab.id === 'tab-apps') apps.refresh();
  });

  const views = { home: $('view-home'), settings: $('view-settings') };
  const show = () => {
    let name = (window.location.hash || '#home').slice(1);
    if (name === 'integrations') name = 'settings';
    const view = views[name] ? name : 'home';
    for (const [k, el] of Object.entries(views)) el.hidden = k !== view;
    const link = $('settings-link');
    if (view === 'settings') link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
    document.body.dataset.view = view;
    if (view === 'settings') integrations.refresh();
    return view;
  };
  window.addEventListener('hashchange', () => {
    const view = show();
    if (view === 'home') $('q').focus();
    else $('tab-integrations').focus();
  });

  document.addEventListener('keydown', (ev) => {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t.isContentEditable;
    if (ev.key === 'Escape' && !$('confirm').open) {
      ev.preventDefault();
      if (document.body.dataset.view === 'settings') window.location.hash = '#home';
      else if (t !== $('q')) $('q').focus();
      return;
    }
    if (ev.key !== '/' || typing) return;
    ev.preventDefault();
    if (document.body.dataset.view !== 'home') window.location.hash = '#home';
    else $('q').focus();
  });
  // Coming back to the menu window: pick up changes made elsewhere (tray, CLI).
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') integrations.refresh();
  });

  waitForFocus(() => {
    window.focus();
    if (window.location.hash && window.location.hash !== '#home') window.location.hash = '#home';
    $('q').focus();
    $('q').select();
    document.body.dataset.focusRequests = String(Number(document.body.dataset.focusRequests || 0) + 1);
  });

  const view = show();
  if (view === 'home') {
    integrations.refresh();
    $('q').focus();
  }
  document.body.dataset.ready = 'true';
}

main();
