// Settings → Apps: the apps the person allowed (GET /v1/apps), each with its
// integrations, when it was allowed and last used, and Revoke for a live one
// (DELETE /v1/apps/{id}). The page sees grants, never a token.

import { api, displayName } from './api.js';

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) || d.getFullYear() < 2000 ? '—' : d.toLocaleString();
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export class Apps {
  constructor({ list, status }) {
    this.list = list;
    this.status = status;
  }

  async refresh() {
    let out;
    try {
      out = await api.apps();
    } catch (err) {
      this.status.textContent = err.message;
      return;
    }
    const grants = (out && out.apps) || [];
    this.status.textContent = grants.length ? '' : 'No app has asked for access yet. An assistant asks when you add latchkey to it.';
    this.list.replaceChildren(...grants.map((g) => this.card(g)));
  }

  card(g) {
    const li = el('li', 'card app');
    li.append(el('h3', 'name', g.app_name));
    const state = g.state === 'active' ? 'Allowed' : g.state === 'revoked' ? 'Revoked' : 'Expired';
    li.append(el('p', `badge ${g.state}`, state));
    const what = (g.integrations || []).map(displayName).join(', ') || 'nothing';
    li.append(el('p', 'hint', `Uses ${what}${g.resource === '/mcp' ? ' through MCP, read only' : ''}.`));
    li.append(el('p', 'hint', `Allowed ${when(g.created_at)} · last used ${when(g.last_used_at)}`));
    if (g.state === 'active') {
      const b = el('button', 'danger', 'Revoke');
      b.type = 'button';
      b.addEventListener('click', async () => {
        b.disabled = true;
        try {
          await api.revokeApp(g.id);
          this.status.textContent = `${g.app_name} is revoked: its tokens no longer work.`;
        } catch (err) {
          this.status.textContent = err.message;
        }
        await this.refresh();
      });
      li.append(b);
    }
    return li;
  }
}

// setupTabs makes a tablist work: click or arrow keys select a tab and show
// its panel (aria-controls); onSelect is told the tab.
export function setupTabs(tabs, onSelect) {
  const select = (tab, focus) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      const panel = document.getElementById(t.getAttribute('aria-controls'));
      if (panel) panel.hidden = !on;
    }
    if (focus) tab.focus();
    onSelect(tab);
  };
  tabs.forEach((t, i) => {
    t.addEventListener('click', () => select(t, false));
    t.addEventListener('keydown', (ev) => {
      if (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft') return;
      ev.preventDefault();
      select(tabs[(i + (ev.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length], true);
    });
  });
}
