// menu.spec.mjs drives the latchkey menu in Debian's Chromium through
// playwright-core. It is run by menu_test.go (go test ./e2e/browser), which
// starts the stack and passes the scenario as JSON in LK_SCENARIO:
//
//   {
//     "menuURL":    "http://127.0.0.1:P/menu#code=…",   fresh one-time code, or
//     "menuCmd":    ["latchkey", "menu", "--print-url"], run (with "menuEnv":
//                   ["K=V", …]) just before the menu is opened, so that a short
//                   code lifetime is not spent on the browser's start-up
//     "expiredURL": "http://127.0.0.1:P/menu#code=…",   a code past its expiry
//     "shots":      "/dir",                              screenshots go here
//     "integration": "docebo",
//     "query": "go",
//     "searchTitles": ["…"],                 titles the search must show
//     "courses": [{"id","title","progress","status"}], the enrollments My Courses must show
//                   (completed and suspended ones behind its Completed filter)
//     "consent": {"username","password"}     optional, for a consent login form
//     "thumbnails": true                     every course card must show its thumbnail
//     "launcherFile": "/run/…/menu.html"     the daemon's menu launcher file, opened twice
//   }
//
// LATCHKEY_TEST_BROWSER names the directory holding node_modules/playwright-core.
// It prints one "STEP name" line per step and, last, "RESULT {json}"; it exits
// non-zero with "FAIL …" on the first failed expectation.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const sc = JSON.parse(process.env.LK_SCENARIO || '{}');
const depsDir = process.env.LATCHKEY_TEST_BROWSER || path.dirname(new URL(import.meta.url).pathname);
const require = createRequire(path.join(depsDir, 'package.json'));
const { chromium } = require('playwright-core');

const TIMEOUT = Number(process.env.LK_TIMEOUT_MS || 15000);
const result = { steps: [], shots: [], search: {}, courses: [], popups: [] };

// doneStatus is whether My Courses keeps a course of status s behind its Completed filter.
const doneStatus = (s) => s === 'completed' || s === 'suspended';

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

// freshMenuURL is sc.menuURL, or the URL sc.menuCmd prints now.
function freshMenuURL() {
  if (!sc.menuCmd) return sc.menuURL;
  const env = {};
  for (const kv of sc.menuEnv || []) {
    const i = kv.indexOf('=');
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const out = execFileSync(sc.menuCmd[0], sc.menuCmd.slice(1), { env }).toString();
  const line = out.split('\n').map((l) => l.trim()).find((l) => l.startsWith('http://'));
  expect(line, `${sc.menuCmd.join(' ')} printed no URL`);
  return line;
}

function step(name) {
  result.steps.push(name);
  console.log(`STEP ${name}`);
}

async function shot(page, name) {
  const file = path.join(sc.shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  result.shots.push(file);
}

// sessionHeader is the header the menu page sends its session in.
const sessionHeader = 'X-Latchkey-Session';

// apiStatus calls /v1/status from the page, with the session the page holds.
async function apiStatus(page) {
  return page.evaluate(async (h) => {
    const secret = sessionStorage.getItem(sessionStorage.key(0) || '') || '';
    const r = await fetch('/v1/status', { credentials: 'omit', headers: { [h]: secret } });
    return { status: r.status, body: await r.json() };
  }, sessionHeader);
}

async function stateOf(page, name) {
  const st = await apiStatus(page);
  expect(st.status === 200, `/v1/status answered ${st.status}`);
  const it = (st.body.integrations || []).find((i) => i.name === name);
  return it ? it.state : 'absent';
}

// checkRefused loads url (a menu URL whose code is spent or expired) in a
// fresh document and returns the status the page's code exchange got.
async function checkRefused(page, url, label) {
  await page.goto('about:blank');
  const [exchange] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/menu/session'),
    page.goto(url),
  ]);
  const status = exchange.status();
  expect(status >= 400 && status < 500, `${label} one-time code: the exchange answered ${status}, want a 4xx refusal`);
  await page.locator('body[data-session="none"]').waitFor();
  const ready = await page.locator('body[data-ready="true"]').count();
  expect(ready === 0, `${label} one-time code: the menu loaded`);
  const banner = (await page.locator('#banner').textContent()) || '';
  expect(/expired or was already used/i.test(banner) && /open the menu again/i.test(banner), `${label} one-time code: banner ${JSON.stringify(banner)}`);
  expect(!(await page.locator('#main').isVisible()), `${label} one-time code: the menu's content is shown`);
  const kept = await page.evaluate(() => sessionStorage.length);
  expect(kept === 0, `${label} one-time code: the tab holds a session`);
  // Without a session the API is closed too.
  const api = (await page.context().request.get(new URL('/v1/status', url).href)).status();
  expect(api === 401 || api === 403, `${label}: /v1/status without a session answered ${api}, want 401/403`);
  return status;
}

// signedInPopup waits for the new tab a signed-in link opens (about:blank
// first, pointed at the course once the daemon answers) and checks where it
// landed.
async function signedInPopup(popupPromise, what, menuOrigin) {
  const popup = await popupPromise;
  await popup.waitForURL((u) => u.href !== 'about:blank', { waitUntil: 'domcontentloaded' });
  const opened = popup.url();
  expect(!/\/v1\/open\//.test(opened), `${what} opened ${opened}: not the signed-in link`);
  expect(/^https?:/.test(opened) && new URL(opened).origin !== menuOrigin, `${what} opened ${opened}`);
  await popup.close();
  return opened;
}

// approve follows a consent window until it lands back on the daemon's
// /{integration}/connected redirect, pressing the consent page's button
// (and filling a login form when there is one) on the way.
async function approve(popup, integration) {
  const done = new RegExp(`/${integration}/connected`);
  // The window opens on about:blank and is pointed at the consent URL once the daemon answers.
  await popup.waitForURL((u) => u.href !== 'about:blank', { waitUntil: 'domcontentloaded' });
  for (let i = 0; i < 5 && !done.test(popup.url()); i++) {
    await popup.waitForLoadState('domcontentloaded');
    const user = popup.locator('input[name="username"], input[name="login"], input[type="email"]');
    if (sc.consent && (await user.count())) {
      await user.first().fill(sc.consent.username || '');
      const pw = popup.locator('input[type="password"]');
      if (await pw.count()) await pw.first().fill(sc.consent.password || '');
    }
    let btn = popup.locator('#approve, button:has-text("Approve"), button:has-text("Allow")');
    if (!(await btn.count())) btn = popup.locator('button[type="submit"], input[type="submit"]');
    if (!(await btn.count())) {
      await popup.waitForURL(done, { timeout: TIMEOUT });
      break;
    }
    await Promise.all([popup.waitForNavigation({ timeout: TIMEOUT }), btn.first().click()]);
  }
  expect(done.test(popup.url()), `consent did not come back to /${integration}/connected (at ${popup.url()})`);
  return popup.url();
}


// contrastProblems lists visible text whose colour against its effective
// background is under WCAG AA (4.5:1; 3:1 for large or bold-large text).
async function contrastProblems(page, where) {
  const bad = await page.evaluate(() => {
    const parse = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const lum = ({ r, g, b }) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const bgOf = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c && c.a > 0.5) return c;
      }
      return parse(getComputedStyle(document.documentElement).backgroundColor) || { r: 255, g: 255, b: 255 };
    };
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!n.textContent.trim() || seen.has(el)) continue;
      seen.add(el);
      const r = el.getBoundingClientRect();
      const cs = getComputedStyle(el);
      if (!r.width || !r.height || cs.visibility === 'hidden' || el.closest('[hidden], .visually-hidden, template')) continue;
      const fg = parse(cs.color);
      const bg = bgOf(el);
      const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      const size = parseFloat(cs.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
      const need = large ? 3 : 4.5;
      if (ratio < need) out.push(`${el.tagName.toLowerCase()}.${el.className} "${n.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}:1 < ${need}`);
    }
    return out;
  });
  return bad.map((b) => `${where}: ${b}`);
}

async function run() {
  fs.mkdirSync(sc.shots, { recursive: true });
  const udd = fs.mkdtempSync(path.join(os.tmpdir(), 'lk-chromium-'));
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: process.env.LK_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    colorScheme: sc.colorScheme || 'light',
    viewport: { width: 1100, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  ctx.setDefaultTimeout(TIMEOUT);
  const problems = [];
  const watch = (p) => {
    p.on('pageerror', (e) => problems.push(`page error on ${p.url()}: ${e.message}`));
    p.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
    });
  };
  let page;
  try {
    page = ctx.pages()[0] || (await ctx.newPage());
    watch(page);
    const I = sc.integration || 'docebo';

    step('open the menu through a one-time code');
    const menuURL = freshMenuURL();
    // Every Set-Cookie the menu's origin answers (none expected), checked at the end:
    // the browser holds other cookies of 127.0.0.1 (a sandbox's), sent to every port.
    const menuOrigin = new URL(menuURL).origin;
    const menuSetCookies = [];
    const pending = [];
    ctx.on('response', (r) => {
      if (new URL(r.url()).origin !== menuOrigin) return;
      pending.push(r.allHeaders().then((h) => {
        if (h['set-cookie']) menuSetCookies.push(`${r.url()}: ${h['set-cookie']}`);
      }, () => {}));
    });
    const res = await page.goto(menuURL);
    expect(res.ok(), `menu URL answered ${res.status()}`);
    const landed = new URL(page.url());
    expect(landed.pathname === '/menu' || landed.pathname === '/menu/', `landed on ${landed.pathname}, want /menu`);
    await page.locator('body[data-ready="true"]').waitFor();
    const address = new URL(page.url());
    expect(!address.search.includes('code=') && !address.hash.includes('code='), `the one-time code is still in the address bar (${address.pathname}${address.search}${address.hash})`);
    const cookies = await ctx.cookies();
    expect(cookies.length === 0, `the menu set cookies (${cookies.map((c) => c.name).join(',')}): a browser sends them to every loopback port`);
    const held = await page.evaluate(() => ({ n: sessionStorage.length, local: localStorage.length }));
    expect(held.n === 1 && held.local === 0, `the tab holds ${held.n} sessionStorage and ${held.local} localStorage items, want the session alone`);

    const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
    expect(focused === 'q', `focus is on ${focused}, want the search box`);

    step('My Courses shows the enrollments with progress');
    const cards = page.locator('#courses > li');
    await page.waitForFunction((n) => document.querySelectorAll('#courses > li').length === n, sc.courses.length);
    const more = page.locator('#courses-more');
    if (await more.isVisible()) await more.click();
    for (const filter of ['todo', 'done']) {
      await page.locator(`#courses-panel [data-filter="${filter}"]`).click();
      if (await more.isVisible() && /Show all/.test(await more.textContent())) await more.click();
      const wantHere = sc.courses.filter((c) => doneStatus(c.status) === (filter === 'done'));
      const shown = await page.locator('#courses > li:not([hidden])').evaluateAll((els) => els.map((el) => el.dataset.id));
      expect(shown.length === wantHere.length, `filter ${filter}: ${shown.length} rows shown (${shown}), want ${wantHere.length}`);
      for (const want of wantHere) {
        const card = page.locator(`#courses > li[data-id="${want.id}"]`);
        expect((await card.count()) === 1, `no row for course ${want.id}`);
        expect(await card.isVisible(), `filter ${filter}: course ${want.id} (${want.status}) not shown`);
        const title = (await card.locator('.title').textContent()).trim();
        expect(title === want.title, `course ${want.id}: title ${JSON.stringify(title)}, want ${JSON.stringify(want.title)}`);
        const text = await card.evaluate((el) => el.innerText);
        expect(text.split(want.title).length === 2, `course ${want.id}: its title appears ${text.split(want.title).length - 1} times in its row`);
        const open = await card.locator('a').getAttribute('data-open');
        expect(open === `${I}/${want.id}`, `course ${want.id}: opens ${open}, want the signed-in link of ${I}/${want.id}`);
        const bar = card.locator('[role="progressbar"]');
        if (want.progress === undefined || want.progress === null) {
          expect((await bar.count()) === 0, `course ${want.id}: a progress bar without progress`);
        } else {
          const now = await bar.getAttribute('aria-valuenow');
          expect(Number(now) === Math.round(want.progress), `course ${want.id}: aria-valuenow ${now}, want ${Math.round(want.progress)}`);
          expect((await bar.getAttribute('aria-valuemax')) === '100', 'aria-valuemax is not 100');
          const width = await bar.locator('.bar').evaluate((el) => el.getBoundingClientRect().width / el.parentElement.clientWidth);
          expect(Math.abs(width * 100 - Math.round(want.progress)) <= 2, `course ${want.id}: bar at ${Math.round(width * 100)}%`);
          const pct = (await card.locator('.pct').textContent()).trim();
          expect(pct === `${Math.round(want.progress)}%`, `course ${want.id}: shows ${pct}, want ${Math.round(want.progress)}%`);
        }
        if (filter === 'todo') result.courses.push({ id: want.id, title, progress: want.progress });
      }
      if (filter === 'todo') {
        // Continue learning: in progress (most progress first), then the rest.
        const st = await page.locator('#courses > li:not([hidden])').evaluateAll((els) => els.map((el) => el.dataset.status));
        const firstOther = st.findIndex((x) => x !== 'in_progress');
        expect(firstOther < 0 || !st.slice(firstOther).includes('in_progress'), `in-progress courses are not first: ${st}`);
      }
    }
    await page.locator('#courses-panel [data-filter="todo"]').click();
    expect((await cards.count()) === sc.courses.length, 'unexpected extra course rows');
    if (sc.thumbnails) {
      // Through the daemon, as data: URLs (the CSP allows no other host or port).
      await page.waitForFunction((n) => document.querySelectorAll('#courses > li .thumb img').length === n, sc.courses.length);
      const imgs = await page.locator('#courses > li .thumb img').evaluateAll((els) =>
        Promise.all(els.map((i) => i.decode().then(() => i.src.slice(0, 24), () => `broken ${i.src.slice(0, 24)}`))));
      for (const src of imgs) expect(src.startsWith('data:image/'), `a course thumbnail is ${src}, want a data:image/ URL`);
      result.thumbnails = imgs.length;
    }
    await shot(page, '01-home');

    step('a click on a course opens its signed-in link');
    const cardPopup = signedInPopup(ctx.waitForEvent('page'), 'a click on the first course', address.origin);
    await page.locator('#courses > li:not([hidden])').first().locator('a').click();
    result.popups.push({ card: await cardPopup });

    step('the session survives a reload of the tab');
    await page.reload();
    await page.locator('body[data-ready="true"]').waitFor();
    await page.waitForFunction((n) => document.querySelectorAll('#courses > li').length === n, sc.courses.length);
    expect((await page.locator('#banner').isHidden()), 'a reload lost the session');

    step(`search "${sc.query}" shows the courses`);
    await page.locator('#q').click();
    await page.keyboard.type(sc.query, { delay: 30 });
    await page.locator('#results [role="option"]').first().waitFor();
    await page.waitForFunction(() => /result/.test(document.getElementById('search-status').textContent));
    expect((await page.locator('#q').getAttribute('aria-expanded')) === 'true', 'combobox not expanded');
    // One list ranked across sources, each row naming its source; the first row selected.
    expect((await page.locator('#results [role="group"]').count()) === 0, 'search results are grouped by source');
    const rows = await page.locator('#results [role="option"]').evaluateAll((os) =>
      os.map((o) => ({
        source: o.querySelector('.source')?.textContent || '',
        title: o.querySelector('.title').textContent,
        marks: [...o.querySelectorAll('.title mark')].map((m) => m.textContent),
        selected: o.getAttribute('aria-selected'),
      })));
    result.search = { query: sc.query, rows: rows.map(({ source, title }) => ({ source, title })) };
    const seen = rows.map((r) => r.title);
    for (const t of sc.searchTitles) expect(seen.includes(t), `search "${sc.query}": ${JSON.stringify(t)} missing from ${JSON.stringify(seen)}`);
    expect(rows.some((r) => r.source.toLowerCase() === I), `no row of ${I} in ${JSON.stringify(rows.map((r) => r.source))}`);
    expect(rows[0].selected === 'true' && rows.slice(1).every((r) => r.selected !== 'true'), `selection ${JSON.stringify(rows.map((r) => r.selected))}, want the first row only`);
    expect((await page.locator('#q').getAttribute('aria-activedescendant')) === (await page.locator('#results [role="option"]').first().getAttribute('id')), 'the first row is not the active descendant');
    const q = sc.query.toLowerCase();
    for (const r of rows) {
      if (r.title.toLowerCase().includes(q)) {
        expect(r.marks.length > 0 && r.marks.every((m) => m.toLowerCase() === q), `"${r.title}": highlighted ${JSON.stringify(r.marks)}, want "${sc.query}"`);
      }
    }
    // A provider's text is text: markup in a title or snippet is never made into elements.
    const foreign = await page.locator('#results [role="option"] *:not(span):not(mark)').count();
    expect(foreign === 0, `${foreign} elements other than span/mark inside the results`);
    await shot(page, '02-search');
    const lowContrast = await contrastProblems(page, 'home, light');
    await page.emulateMedia({ colorScheme: 'dark' });
    lowContrast.push(...(await contrastProblems(page, 'home, dark')));
    await page.emulateMedia({ colorScheme: 'light' });

    step('arrow keys move through the results, Enter opens the active one');
    const options = page.locator('#results [role="option"]');
    await page.keyboard.press('ArrowDown');
    const want = Math.min(1, (await options.count()) - 1);
    const activeID = await page.locator('#q').getAttribute('aria-activedescendant');
    const target = options.nth(want);
    expect(activeID === (await target.getAttribute('id')), `active option ${activeID}, want option ${want}`);
    expect((await target.getAttribute('aria-selected')) === 'true', 'active option not aria-selected');
    const href = await target.getAttribute('href');
    const popup = signedInPopup(ctx.waitForEvent('page'), 'Enter', address.origin);
    await page.keyboard.press('Enter');
    result.popups.push({ href, opened: await popup });
    const mouseOpen = await page.locator('#results [role="option"]').first().getAttribute('target');
    expect(mouseOpen === '_blank', 'results do not open in a new tab');

    step('Escape clears the search');
    await page.locator('#q').focus();
    await page.keyboard.press('Escape');
    expect((await page.locator('#q').getAttribute('aria-expanded')) === 'false', 'Escape left the listbox open');
    expect((await page.locator('#q').inputValue()) === '', 'Escape left the query');

    if (sc.staleEnter) {
      step('Enter acts on the query typed now, not on the results still shown');
      const { first, then, opens } = sc.staleEnter;
      await page.keyboard.type(first, { delay: 20 });
      await page.waitForFunction((q) => document.getElementById('search-status').textContent.includes(`“${q}”`), first);
      const stalePopup = signedInPopup(ctx.waitForEvent('page'), 'Enter on a query typed on', address.origin);
      await page.keyboard.type(then);
      await page.keyboard.press('Enter');
      const opened = await stalePopup;
      result.popups.push({ stale: opened });
      const top = (await page.locator('#results [role="option"][aria-selected="true"] .title').textContent()) || '';
      expect(top === opens, `after Enter on "${first}${then}" the selected row is ${JSON.stringify(top)}, want ${JSON.stringify(opens)}`);

      step('a search with no results says what to do');
      await page.locator('#q').fill('');
      await page.keyboard.type('zzqx');
      await page.locator('#search-empty').waitFor({ state: 'visible' });
      const emptyText = await page.locator('#search-empty').textContent();
      expect(/No results for “zzqx”/.test(emptyText) && /Try|connect/i.test(emptyText), `empty state ${JSON.stringify(emptyText)}`);
      expect((await page.locator('#q').getAttribute('aria-expanded')) === 'false', 'an empty listbox is expanded');
      await page.keyboard.press('Escape');
      await page.locator('#search-empty').waitFor({ state: 'hidden' });
    }

    step('Disconnect');
    await page.locator('#settings-link').focus();
    await page.keyboard.press('Enter');
    const card = page.locator(`#integrations > li[data-name="${I}"]`);
    await card.waitFor();
    await page.waitForFunction((n) => document.querySelector(`#integrations > li[data-name="${n}"]`)?.dataset.state === 'connected', I);
    expect((await card.locator('.badge').textContent()) === 'Connected', 'badge does not say Connected');
    await shot(page, '03-integrations');
    lowContrast.push(...(await contrastProblems(page, 'integrations, light')));
    await page.emulateMedia({ colorScheme: 'dark' });
    lowContrast.push(...(await contrastProblems(page, 'integrations, dark')));
    await page.emulateMedia({ colorScheme: 'light' });
    expect(lowContrast.length === 0, `text under WCAG AA contrast:\n  ${lowContrast.join('\n  ')}`);

    step('keyboard focus is visible');
    let reached = false;
    for (let i = 0; i < 12 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await card.locator('button.disconnect').evaluate((el) => el === document.activeElement);
    }
    expect(reached, 'Tab does not reach the Disconnect button');
    const outline = await card.locator('button.disconnect').evaluate((el) => {
      const cs = getComputedStyle(el);
      return { style: cs.outlineStyle, width: parseFloat(cs.outlineWidth) };
    });
    expect(outline.style !== 'none' && outline.width >= 2, `focused button has no visible outline (${JSON.stringify(outline)})`);
    const label = (await card.locator('button.disconnect').textContent()).trim();
    expect(/^Disconnect /.test(label) && label.length > 'Disconnect '.length, `the Disconnect button does not say what it disconnects: ${JSON.stringify(label)}`);

    step('Disconnect asks first; Cancel keeps the connection and the focus');
    await page.keyboard.press('Enter');
    await page.locator('#confirm[open]').waitFor();
    await shot(page, '04-confirm-disconnect');
    await page.keyboard.press('Escape');
    await page.locator('#confirm:not([open])').waitFor({ state: 'attached' });
    expect((await stateOf(page, I)) === 'connected', 'Escape in the confirmation disconnected');
    expect(await card.locator('button.disconnect').evaluate((el) => el === document.activeElement), 'focus left the Disconnect button after Cancel');

    step('Disconnect confirmed: the card says so, keeps focus, names no account');
    await page.keyboard.press('Enter');
    await page.locator('#confirm[open]').waitFor();
    await page.keyboard.press('Tab'); // Cancel → Disconnect
    expect(await page.locator('#confirm-ok').evaluate((el) => el === document.activeElement), 'Tab in the confirmation does not reach its Disconnect button');
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => document.querySelector(`#integrations > li[data-name="${n}"]`)?.dataset.state === 'disconnected', I);
    expect(await card.locator('button.connect').isVisible(), 'no Connect button after Disconnect');
    expect(!(await card.locator('button.disconnect').isVisible()), 'Disconnect still shown');
    expect((await card.locator('.account').count()) === 0, 'the disconnected card still shows the account');
    expect((await stateOf(page, I)) === 'disconnected', 'the daemon does not report the integration disconnected');
    const inCard = await page.evaluate((n) => {
      const el = document.activeElement;
      return !!el && el !== document.body && !!el.closest(`#integrations > li[data-name="${n}"]`);
    }, I);
    expect(inCard, `focus fell to ${await page.evaluate(() => document.activeElement?.tagName)} after Disconnect, want the card`);
    // The message stays through the next status refresh.
    const renders = Number(await page.locator('#integrations').getAttribute('data-renders'));
    await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
    await page.waitForFunction((n) => Number(document.getElementById('integrations').dataset.renders) > n, renders);
    expect(/disconnected/i.test(await card.locator('.pending').textContent()), 'the "disconnected" message is gone after a status refresh');
    await shot(page, '05-disconnected');

    step('Connect');
    const [consent] = await Promise.all([ctx.waitForEvent('page'), card.locator('button.connect').click()]);
    watch(consent);
    await page.locator(`#integrations > li[data-name="${I}"] .pending`).filter({ hasText: 'Waiting' }).waitFor();
    const back = await approve(consent, I);
    result.popups.push({ consent: back.replace(/([?&](code|state)=)[^&]*/g, '$1…') });
    result.connectedPage = await consent.evaluate(() => ({
      title: document.title,
      h1: document.querySelector('h1')?.textContent || '',
      styled: [...document.styleSheets].some((ss) => ss.href && ss.href.endsWith('/menu/style.css') && ss.cssRules.length > 0),
      back: [...document.querySelectorAll('a')].map((a) => a.getAttribute('href')),
    }));
    await page.waitForFunction((n) => document.querySelector(`#integrations > li[data-name="${n}"]`)?.dataset.state === 'connected', I, { timeout: 3 * TIMEOUT });
    expect((await stateOf(page, I)) === 'connected', 'the daemon does not report the integration connected');
    await consent.close();
    await shot(page, '06-reconnected');

    step('Escape goes back from Settings; My Courses comes back after Connect');
    await page.keyboard.press('Escape');
    await page.locator('body[data-view="home"]').waitFor();
    expect(await page.evaluate(() => document.activeElement?.id === 'q'), 'focus is not on the search field after going back');
    await page.waitForFunction((n) => document.querySelectorAll('#courses > li').length === n, sc.courses.length);

    step('dark colour scheme');
    await page.emulateMedia({ colorScheme: 'dark' });
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(bg !== 'rgb(246, 247, 249)', `dark scheme keeps the light background ${bg}`);
    await shot(page, '07-home-dark');
    await page.emulateMedia({ colorScheme: 'light' });

    step('a lost session says so');
    await page.evaluate(() => sessionStorage.clear());
    await page.locator('#q').fill('');
    await page.locator('#q').type('x');
    await page.locator('#banner').waitFor({ state: 'visible' });
    expect(/open the menu again/i.test(await page.locator('#banner').textContent()), 'the banner does not say how to get back');
    await shot(page, '08-session-lost');

    step('a reused one-time code is refused');
    result.reusedStatus = await checkRefused(page, menuURL, 'reused');
    await shot(page, '09-reused-code');

    step('an expired one-time code is refused');
    result.expiredStatus = await checkRefused(page, sc.expiredURL, 'expired');

    if (sc.launcherFile) {
      step('the launcher file opens the menu, every time');
      for (let i = 0; i < 2; i++) {
        await page.goto('about:blank');
        await page.goto(`file://${sc.launcherFile}`);
        await page.waitForURL((u) => u.protocol === 'http:');
        await page.locator('body[data-ready="true"]').waitFor();
        expect(!page.url().includes('launch='), `the launcher key is still in the address bar (${page.url()})`);
        expect((await page.locator('#banner').isHidden()), `opening the launcher a ${i ? 'second' : 'first'} time: ${await page.locator('#banner').textContent()}`);
      }
    }

    await Promise.all(pending);
    expect(menuSetCookies.length === 0, `the menu set cookies:\n  ${menuSetCookies.join('\n  ')}`);
    expect(problems.length === 0, `browser problems:\n  ${problems.join('\n  ')}`);
  } catch (err) {
    if (page) await shot(page, 'failure').catch(() => {});
    if (problems.length) err.message += `\nbrowser problems:\n  ${problems.join('\n  ')}`;
    throw err;
  } finally {
    await ctx.close();
    fs.rmSync(udd, { recursive: true, force: true });
  }
}

run().then(
  () => {
    console.log(`RESULT ${JSON.stringify(result)}`);
  },
  (err) => {
    console.log(`RESULT ${JSON.stringify(result)}`);
    console.log(`FAIL ${err && err.stack ? err.stack : err}`);
    process.exitCode = 1;
  },
);
