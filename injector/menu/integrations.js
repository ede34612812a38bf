// The integrations page: a card per integration with its state, account and
// Connect / Disconnect. Connect opens the provider's consent page in a new
// window and polls /v1/status until the integration is connected.
import { api, APIError, displayName, safeURL } from './api.js';

const POLL_MS = 1000;
const POLL_FOR_MS = 5 * 60 * 1000;

const stateWords = {
  connected: 'Connected',
  reconnect_needed: 'Reconnect needed',
  disconnected: 'Not connected',
  not_configured: 'Not configured',
};

export class Integrations {
  constructor({ list, status, tpl, onChange }) {
    this.list = list;
    this.status = status;
    this.tpl = tpl;
    this.onChange = onChange;
    this.items = [];
    this.pending = new Map(); // name -> {until, message}
    this.timer = 0;
  }

  /** refresh reloads /v1/status, renders, and returns the integrations. */
  async refresh() {
    try {
      const st = (await api.status()) || {};
      this.items = Array.isArray(st.integrations) ? st.integrations : [];
      this.status.textContent = this.items.length ? '' : 'No integrations are configured. Ask your administrator to configure one.';
    } catch (err) {
      this.status.textContent = `Could not load the integrations: ${err.message}`;
    }
    for (const [name, p] of this.pending) {
      const it = this.items.find((i) => i.name === name);
      if ((it && it.state === 'connected') || Date.now() > p.until) this.pending.delete(name);
    }
    this.render();
    this.schedule();
    if (this.onChange) this.onChange(this.items);
    return this.items;
  }

  schedule() {
    clearTimeout(this.timer);
    if (this.pending.size) this.timer = setTimeout(() => this.refresh(), POLL_MS);
  }

  render() {
    // Keep focus on the same button across re-renders.
    const focused = document.activeElement;
    const focusKey = focused && this.list.contains(focused) ? [focused.closest('li')?.dataset.name, focused.className] : null;
    this.list.replaceChildren(...this.items.map((it) => this.card(it)));
    if (focusKey) {
      const li = [...this.list.children].find((el) => el.dataset.name === focusKey[0]);
      const btn = li && li.querySelector(`button.${focusKey[1]}:not([hidden])`);
      (btn || li?.querySelector('button:not([hidden])'))?.focus();
    }
  }

  card(it) {
    const li = this.tpl.content.firstElementChild.cloneNode(true);
    const name = it.name || '';
    li.dataset.name = name;
    li.dataset.state = it.state || '';
    const h = li.querySelector('.name');
    h.id = `int-${name}`;
    h.textContent = displayName(name);
    li.setAttribute('aria-labelledby', h.id);
    const badge = li.querySelector('.badge');
    badge.textContent = stateWords[it.state] || it.state || 'Unknown';
    badge.dataset.state = it.state || '';

    const dl = li.querySelector('.account');
    const acct = it.account || null;
    const rows = [];
    if (acct) {
      if (acct.name) rows.push(['Account', acct.name]);
      if (acct.username && acct.username !== acct.name) rows.push(['User', acct.username]);
      if (acct.email) rows.push(['Email', acct.email]);
    }
    if (it.token_expiry && it.state === 'connected') {
      const d = new Date(it.token_expiry);
      if (!Number.isNaN(d.getTime())) rows.push(['Token renews', d.toLocaleString()]);
    }
    for (const [k, v] of rows) {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      dl.append(dt, dd);
    }
    if (!rows.length) dl.remove();

    const reason = li.querySelector('.reason');
    if (it.state === 'not_configured') {
      reason.textContent = `${displayName(name)} is not available yet: ask your organisation's latchkey administrator to configure it.`;
    } else if (it.reason) {
      reason.textContent = it.reason;
    } else {
      reason.remove();
    }

    const connect = li.querySelector('.connect');
    const disconnect = li.querySelector('.disconnect');
    connect.textContent = it.state === 'reconnect_needed' ? 'Reconnect' : 'Connect';
    connect.setAttribute('aria-describedby', h.id);
    disconnect.setAttribute('aria-describedby', h.id);
    connect.hidden = !(it.state === 'disconnected' || it.state === 'reconnect_needed');
    disconnect.hidden = !(it.state === 'connected' || it.state === 'reconnect_needed');
    if (connect.hidden && disconnect.hidden) li.querySelector('.actions').remove();
    connect.addEventListener('click', () => this.connect(name, li));
    disconnect.addEventListener('click', () => this.disconnect(name, li));

    const pending = li.querySelector('.pending');
    const p = this.pending.get(name);
    if (p) {
      connect.disabled = true;
      pending.textContent = p.message;
      if (p.url) {
        const a = document.createElement('a');
        a.href = p.url;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        a.className = 'consent-link';
        a.textContent = 'Open the consent page again';
        pending.append(' ', a);
      }
    }
    return li;
  }

  async connect(name, li) {
    // Open the window inside the click (popup blockers), then point it at the consent URL.
    const win = window.open('about:blank', '_blank');
    const pending = li.querySelector('.pending');
    li.querySelector('.connect').disabled = true;
    pending.textContent = `Starting the connection to ${displayName(name)}…`;
    let url = '';
    try {
      const res = await api.connect(name);
      url = safeURL(res && res.url);
      if (!url) throw new APIError(500, 'bad_response', 'latchkey returned no consent URL');
    } catch (err) {
      if (win) win.close();
      li.querySelector('.connect').disabled = false;
      pending.textContent = `Could not connect ${displayName(name)}: ${err.message}`;
      return;
    }
    if (win) {
      win.opener = null;
      win.location.href = url;
    }
    this.pending.set(name, {
      until: Date.now() + POLL_FOR_MS,
      url,
      message: `Waiting for you to approve latchkey in the ${displayName(name)} window…`,
    });
    this.render();
    this.schedule();
  }

  async disconnect(name, li) {
    const pending = li.querySelector('.pending');
    const btn = li.querySelector('.disconnect');
    btn.disabled = true;
    pending.textContent = `Disconnecting ${displayName(name)}…`;
    try {
      await api.disconnect(name);
      this.status.textContent = `${displayName(name)} disconnected.`;
    } catch (err) {
      btn.disabled = false;
      pending.textContent = `Could not disconnect ${displayName(name)}: ${err.message}`;
      return;
    }
    this.pending.delete(name);
    await this.refresh();
  }
}

/**
 * KnowledgeBase shows the "Knowledge base" panel while Document360 is
 * connected and keeps a widget token fresh for it (renewed before expiry).
 * The token stays in this closure; it is never written to the page.
 */
export class KnowledgeBase {
  constructor({ panel, status }) {
    this.panel = panel;
    this.status = status;
    this.timer = 0;
    this.token = null;
    this.active = false;
  }

  update(integrations) {
    const d = integrations.find((i) => i.name === 'document360');
    const on = !!d && d.state === 'connected';
    this.panel.hidden = !on;
    if (on && !this.active) {
      this.active = true;
      this.renew();
    } else if (!on && this.active) {
      this.active = false;
      this.token = null;
      clearTimeout(this.timer);
    }
  }

  async renew() {
    clearTimeout(this.timer);
    if (!this.active) return;
    try {
      const res = (await api.widgetToken('document360')) || {};
      const secs = Number(res.expiresIn);
      if (!res.accessToken || !Number.isFinite(secs) || secs <= 0) throw new Error('no token in the answer');
      this.token = res.accessToken;
      const renewIn = Math.max(5, Math.floor(secs * 0.8));
      this.panel.dataset.renewals = String(Number(this.panel.dataset.renewals || 0) + 1);
      this.status.textContent = `Knowledge base ready: articles appear in search. Access renews in ${Math.ceil(renewIn / 60)} min.`;
      this.timer = setTimeout(() => this.renew(), renewIn * 1000);
    } catch (err) {
      this.token = null;
      this.status.textContent = `The knowledge base is unavailable: ${err.message}`;
      this.timer = setTimeout(() => this.renew(), 60 * 1000);
    }
  }
}
