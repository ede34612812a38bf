// Settings → Integrations: a card per integration with its logo, state and
// account, and Connect / Disconnect. Connect opens the provider's consent
// page in a new window and polls /v1/status until the integration is
// connected; Disconnect asks first, and keeps focus on the card.
// Integrations configured with an API token say so instead of offering
// Connect.
import { api, APIError, displayName, problem, safeURL, setOrgNames } from './api.js';

const POLL_MS = 1000;
const POLL_FOR_MS = 5 * 60 * 1000;

const stateWords = {
  connected: 'Connected',
  reconnect_needed: 'Reconnect needed',
  disconnected: 'Not connected',
  not_configured: 'Not configured',
};

/** confirmDialog asks with the page's <dialog>; it resolves true on the confirming button. */
export function confirmDialog(dialog, { title, text, ok }) {
  dialog.querySelector('#confirm-title').textContent = title;
  dialog.querySelector('#confirm-text').textContent = text;
  const okBtn = dialog.querySelector('#confirm-ok');
  const cancel = dialog.querySelector('#confirm-cancel');
  okBtn.textContent = ok;
  return new Promise((resolve) => {
    const done = (v) => {
      okBtn.removeEventListener('click', yes);
      cancel.removeEventListener('click', no);
      dialog.removeEventListener('close', no);
      if (dialog.open) dialog.close();
      resolve(v);
    };
    const yes = () => done(true);
    const no = () => done(false);
    okBtn.addEventListener('click', yes);
    cancel.addEventListener('click', no);
    dialog.addEventListener('close', no);
    dialog.showModal();
    cancel.focus();
  });
}

export class Integrations {
  constructor({ list, status, tpl, dialog, onChange }) {
    this.list = list;
    this.status = status;
    this.tpl = tpl;
    this.dialog = dialog;
    this.onChange = onChange;
    this.items = [];
    this.pending = new Map(); // name -> {until, message, url}
    this.notices = new Map(); // name -> what the last action on its card did
    this.timer = 0;
  }

  /** refresh reloads /v1/status, renders, and returns the integrations. */
  async refresh() {
    try {
      const st = (await api.status()) || {};
      this.items = (Array.isArray(st.integrations) ? st.integrations : []).filter((i) => i.name !== 'identity');
      setOrgNames(this.items);
      this.status.textContent = this.items.length ? '' : 'No integrations are configured. Ask your administrator to configure one.';
    } catch (err) {
      this.status.textContent = `Could not load the integrations. ${problem('', err.code, err.message)}`;
      return this.items;
    }
    for (const [name, p] of this.pending) {
      const it = this.items.find((i) => i.name === name);
      if (it && it.state === 'connected') this.notices.set(name, `${displayName(name)} is connected.`);
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
    // Keep focus on the same card's button across re-renders (its other
    // button, or the card's name, when that one is gone).
    const focused = document.activeElement;
    const li0 = focused && this.list.contains(focused) ? focused.closest('li') : null;
    const focusKey = li0 ? [li0.dataset.name, focused.dataset.action] : null;
    this.list.replaceChildren(...this.items.map((it) => this.card(it)));
    this.list.dataset.renders = String(Number(this.list.dataset.renders || 0) + 1);
    if (focusKey) this.focusCard(focusKey[0], focusKey[1]);
  }

  /** focusCard focuses name's card: its button action, else its other button, else its heading. */
  focusCard(name, action) {
    const li = [...this.list.children].find((el) => el.dataset.name === name);
    if (!li) return;
    const btn = (action && li.querySelector(`button[data-action="${action}"]:not([hidden])`)) || li.querySelector('button:not([hidden])');
    (btn || li.querySelector('.name')).focus();
  }

  card(it) {
    const li = this.tpl.content.firstElementChild.cloneNode(true);
    const name = it.name || '';
    const dn = displayName(name);
    const viaToken = it.connect === 'api_token';
    li.dataset.name = name;
    li.dataset.state = it.state || '';
    const h = li.querySelector('.name');
    h.id = `int-${name}`;
    h.textContent = dn;
    h.tabIndex = -1;
    li.setAttribute('aria-labelledby', h.id);
    const logo = li.querySelector('.logo');
    logo.dataset.name = name;
    logo.textContent = dn.charAt(0);
    // The organisation's logo, fetched by the daemon: a data: URL, never a remote image.
    if (typeof it.logo === 'string' && it.logo.startsWith('data:image/')) {
      const img = document.createElement('img');
      img.src = it.logo;
      img.alt = '';
      logo.replaceChildren(img);
      logo.dataset.image = 'true';
    }
    const badge = li.querySelector('.badge');
    badge.textContent = stateWords[it.state] || it.state || 'Unknown';
    badge.dataset.state = it.state || '';

    // The account is shown only while connected: a disconnected card names no one.
    const dl = li.querySelector('.account');
    const acct = it.state === 'connected' || it.state === 'reconnect_needed' ? it.account || null : null;
    const rows = [];
    if (acct) {
      if (acct.name) rows.push(['Account', acct.name]);
      if (acct.username && acct.username !== acct.name) rows.push(['User', acct.username]);
      if (acct.email) rows.push(['Email', acct.email]);
    }
    if (it.token_expiry && it.state === 'connected' && !viaToken) {
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
      reason.textContent = `${dn} is not available yet: ask your organisation's latchkey administrator to configure it.`;
    } else if (viaToken) {
      reason.textContent = it.state === 'connected'
        ? `${dn} uses an API token your administrator configured (latchkey configure ${name}); there is nothing to connect.`
        : `${dn} is set up with an API token, not from here: run latchkey configure ${name} with the token your administrator gives you.`;
    } else if (it.reason) {
      reason.textContent = it.reason;
    } else {
      reason.remove();
    }

    const connect = li.querySelector('.connect');
    const disconnect = li.querySelector('.disconnect');
    connect.dataset.action = 'connect';
    disconnect.dataset.action = 'disconnect';
    connect.textContent = `${it.state === 'reconnect_needed' ? 'Reconnect' : 'Connect'} ${dn}`;
    disconnect.textContent = `Disconnect ${dn}`;
    connect.hidden = viaToken || !(it.state === 'disconnected' || it.state === 'reconnect_needed');
    disconnect.hidden = !(it.state === 'connected' || it.state === 'reconnect_needed');
    if (connect.hidden && disconnect.hidden) li.querySelector('.actions').remove();
    connect.addEventListener('click', () => this.connect(name, li));
    disconnect.addEventListener('click', () => this.disconnect(name, li, viaToken));

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
    } else if (this.notices.has(name)) {
      pending.textContent = this.notices.get(name);
    }
    return li;
  }

  async connect(name, li) {
    // Open the window inside the click (popup blockers), then point it at the consent URL.
    const win = window.open('about:blank', '_blank');
    const pending = li.querySelector('.pending');
    this.notices.delete(name);
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
      pending.textContent = `Could not connect ${displayName(name)}. ${problem(name, err.code, err.message)}`;
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

  async disconnect(name, li, viaToken) {
    const dn = displayName(name);
    const yes = await confirmDialog(this.dialog, {
      title: `Disconnect ${dn}?`,
      text: viaToken
        ? `latchkey forgets ${dn}'s API token on this device; connecting it again takes latchkey configure ${name}.`
        : `latchkey forgets ${dn}'s tokens on this device. My Courses and search stop showing ${dn} until you connect it again.`,
      ok: `Disconnect ${dn}`,
    });
    const btn = li.querySelector('.disconnect');
    if (!yes) {
      btn.focus();
      return;
    }
    const pending = li.querySelector('.pending');
    btn.disabled = true;
    btn.focus();
    this.notices.delete(name);
    pending.textContent = `Disconnecting ${dn}…`;
    try {
      await api.disconnect(name);
    } catch (err) {
      btn.disabled = false;
      pending.textContent = `Could not disconnect ${dn}. ${problem(name, err.code, err.message)}`;
      return;
    }
    this.pending.delete(name);
    this.notices.set(name, `${dn} is disconnected.`);
    await this.refresh();
    this.focusCard(name, 'connect');
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
      this.status.textContent = `The knowledge base is unavailable. ${problem('document360', err.code, err.message)}`;
      this.timer = setTimeout(() => this.renew(), 60 * 1000);
    }
  }
}
