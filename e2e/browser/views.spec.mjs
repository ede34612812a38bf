// views.spec.mjs checks every view of the latchkey menu at the launcher's
// size (600×420) and a larger window (900×700), light and dark, keyboard
// only: the launcher layout, axe-core (no serious or critical violation),
// contrast of the selection, progress and focus indicators, and one
// screenshot per view. It is run by views_test.go with a scenario in
// LK_SCENARIO:
//
//   {
//     "menuURLs": ["http://127.0.0.1:P/menu#code=…", …],  one fresh code per page it opens
//     "shots": "/dir",
//     "query": "go",                   a query with results
//     "nothingConnected": false         the stack has nothing connected
//   }
//
// It prints "STEP name" lines, then "RESULT {json}"; "FAIL …" on the first failed expectation.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const sc = JSON.parse(process.env.LK_SCENARIO || '{}');
const depsDir = process.env.LATCHKEY_TEST_BROWSER || path.dirname(new URL(import.meta.url).pathname);
const require = createRequire(path.join(depsDir, 'package.json'));
const { chromium } = require('playwright-core');
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const TIMEOUT = Number(process.env.LK_TIMEOUT_MS || 15000);
const result = { steps: [], shots: [], views: [], closedByEscape: false };
const SIZES = [{ width: 600, height: 420 }, { width: 900, height: 700 }];
const SCHEMES = ['light', 'dark'];

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

function step(name) {
  result.steps.push(name);
  console.log(`STEP ${name}`);
}

let codes = 0;
function nextMenuURL() {
  const u = sc.menuURLs[codes++];
  expect(u, 'the scenario has too few menu URLs');
  return u;
}

async function shot(page, name) {
  const file = path.join(sc.shots, `${name}.png`);
  await page.screenshot({ path: file });
  result.shots.push(file);
}

// axeProblems lists the serious and critical axe-core violations of the page as it is now.
async function axeProblems(page, where) {
  const has = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!has) await page.evaluate(axeSource); // DevTools evaluation: the page's CSP does not apply
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${where}: ${v.id} (${v.impact}) at ${v.nodes.join(', ')}`);
}

// ratio is the WCAG contrast ratio of two CSS colours "rgb(…)".
function ratio(a, b) {
  const parse = (c) => c.match(/[\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, bl] = parse(c).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

async function openMenu(ctx, size, scheme) {
  const page = await ctx.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  await page.setViewportSize(size);
  await page.emulateMedia({ colorScheme: scheme });
  await page.goto(nextMenuURL());
  await page.locator('body[data-ready="true"]').waitFor();
  return { page, problems };
}

async function checkConnected(ctx, size, scheme) {
  const tag = `${size.width}x${size.height}-${scheme}`;
  const { page, problems } = await openMenu(ctx, size, scheme);
  const a11y = [];
  const view = { tag };

  step(`${tag}: home`);
  await page.waitForFunction(() => document.querySelectorAll('#courses > li').length > 0);
  expect(await page.evaluate(() => document.activeElement?.id === 'q'), `${tag}: focus is not in the search field`);
  // The search field comes first, at the top.
  const qBox = await page.locator('#q').boundingBox();
  expect(qBox.y < 40, `${tag}: the search field starts at y=${qBox.y}, want it first`);
  const home = await page.locator('#courses-panel').boundingBox();
  const shown = await page.locator('#courses > li:not([hidden])').count();
  expect(shown <= 5, `${tag}: ${shown} course rows shown before "Show all"`);
  const more = (await page.locator('#courses-more').textContent()).trim();
  view.more = more;
  // A row's height stays compact (no large thumbnail).
  const rowH = await page.locator('#courses > li:not([hidden])').first().evaluate((el) => el.getBoundingClientRect().height);
  expect(rowH <= 64, `${tag}: a course row is ${rowH}px high`);
  await shot(page, `${tag}-home`);
  a11y.push(...(await axeProblems(page, `${tag} home`)));

  step(`${tag}: contrast of progress and focus`);
  const colours = await page.evaluate(() => {
    const cs = (sel, p) => getComputedStyle(document.querySelector(sel))[p];
    return {
      surface: getComputedStyle(document.body).backgroundColor,
      bar: cs('#courses .progress .bar', 'backgroundColor'),
      track: cs('#courses .progress', 'backgroundColor'),
      trackEdge: cs('#courses .progress', 'borderTopColor'),
    };
  });
  expect(ratio(colours.bar, colours.track) >= 3, `${tag}: progress bar ${colours.bar} on its track ${colours.track}: ${ratio(colours.bar, colours.track).toFixed(2)}:1 < 3`);
  expect(ratio(colours.trackEdge, colours.surface) >= 3, `${tag}: progress track edge ${colours.trackEdge}: ${ratio(colours.trackEdge, colours.surface).toFixed(2)}:1 < 3`);
  // Keyboard to the first course row: its focus ring is drawn, not covered by its thumbnail.
  let onRow = false;
  for (let i = 0; i < 6 && !onRow; i++) {
    await page.keyboard.press('Tab');
    onRow = await page.evaluate(() => !!document.activeElement?.closest('#courses > li'));
  }
  expect(onRow, `${tag}: Tab does not reach a course row`);
  const ring = await page.evaluate(() => {
    const el = document.activeElement;
    const cs = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    const inset = cs.outlineOffset ? -parseFloat(cs.outlineOffset) : 0;
    // A point on the ring, on the left edge where the thumbnail sits.
    const x = r.left + Math.max(0, inset) + 1;
    const y = r.top + r.height / 2;
    const hit = document.elementFromPoint(x, y);
    return { style: cs.outlineStyle, width: parseFloat(cs.outlineWidth), color: cs.outlineColor, onThumb: !!hit?.closest('.thumb') };
  });
  expect(ring.style !== 'none' && ring.width >= 2, `${tag}: the focused course row has no focus ring (${JSON.stringify(ring)})`);
  expect(!ring.onThumb, `${tag}: the focus ring of a course row is under its thumbnail`);
  expect(ratio(ring.color, colours.surface) >= 3, `${tag}: focus ring ${ring.color}: ${ratio(ring.color, colours.surface).toFixed(2)}:1 < 3`);
  await shot(page, `${tag}-course-focus`);
  await page.keyboard.press('Escape'); // back to the search field
  expect(await page.evaluate(() => document.activeElement?.id === 'q'), `${tag}: Escape does not bring focus back to the search field`);

  step(`${tag}: search results over the page`);
  await page.keyboard.type(sc.query);
  await page.locator('#results [role="option"][aria-selected="true"]').waitFor();
  const after = await page.locator('#courses-panel').boundingBox();
  expect(Math.abs(after.y - home.y) < 1, `${tag}: the results pushed My Courses from y=${home.y} to ${after.y}, want them over the page`);
  const fit = await page.evaluate(() => {
    const list = document.getElementById('results');
    const opt = list.querySelector('[role="option"]');
    return list.getBoundingClientRect().height / opt.getBoundingClientRect().height;
  });
  view.rowsThatFit = Math.floor(fit);
  if (size.height <= 420) expect(fit >= 7.5, `${tag}: ${fit.toFixed(1)} result rows fit, want about eight`);
  const sel = await page.evaluate(() => {
    const o = document.querySelector('#results [aria-selected="true"]');
    return { bg: getComputedStyle(o).backgroundColor, surface: getComputedStyle(document.getElementById('results')).backgroundColor };
  });
  expect(ratio(sel.bg, sel.surface) >= 3, `${tag}: the selected row ${sel.bg} on ${sel.surface}: ${ratio(sel.bg, sel.surface).toFixed(2)}:1 < 3`);
  await shot(page, `${tag}-search`);
  a11y.push(...(await axeProblems(page, `${tag} search`)));

  step(`${tag}: empty search`);
  await page.keyboard.press('Escape');
  await page.keyboard.type('zzqx');
  await page.locator('#search-empty').waitFor({ state: 'visible' });
  await shot(page, `${tag}-search-empty`);
  a11y.push(...(await axeProblems(page, `${tag} empty search`)));
  await page.keyboard.press('Escape');

  step(`${tag}: settings`);
  // Keyboard: Shift+Tab from the search field wraps to the status bar's settings button.
  let onSettings = false;
  for (let i = 0; i < 30 && !onSettings; i++) {
    await page.keyboard.press('Shift+Tab');
    onSettings = await page.evaluate(() => document.activeElement?.id === 'settings-link');
  }
  expect(onSettings, `${tag}: the keyboard does not reach the settings button`);
  const gear = await page.locator('#settings-link').boundingBox();
  expect(gear.x < 60 && gear.y > size.height - 60, `${tag}: the settings button is at ${gear.x},${gear.y}, want bottom left`);
  await page.keyboard.press('Enter');
  await page.locator('body[data-view="settings"]').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#integrations > li').length > 0);
  expect((await page.locator('#tab-integrations').getAttribute('aria-selected')) === 'true', `${tag}: the Integrations tab is not selected`);
  const cards = await page.locator('#integrations > li').evaluateAll((els) => els.map((li) => ({
    name: li.dataset.name,
    title: li.querySelector('.name').textContent,
    logo: !!li.querySelector('.logo')?.textContent,
    buttons: [...li.querySelectorAll('button:not([hidden])')].map((b) => b.textContent.trim()),
    text: li.textContent,
  })));
  view.cards = cards.map(({ name, buttons }) => ({ name, buttons }));
  for (const c of cards) {
    expect(c.logo && c.title && c.title !== c.name, `${tag}: the ${c.name} card has no logo or display name (${JSON.stringify(c.title)})`);
  }
  await shot(page, `${tag}-settings`);
  a11y.push(...(await axeProblems(page, `${tag} settings`)));

  step(`${tag}: the Disconnect confirmation`);
  const btn = page.locator('#integrations > li[data-name="docebo"] button.disconnect');
  await btn.focus();
  await page.keyboard.press('Enter');
  await page.locator('#confirm[open]').waitFor();
  await shot(page, `${tag}-confirm`);
  a11y.push(...(await axeProblems(page, `${tag} confirmation`)));
  await page.keyboard.press('Escape');
  await page.locator('#confirm:not([open])').waitFor({ state: 'attached' });
  await page.keyboard.press('Escape');
  await page.locator('body[data-view="home"]').waitFor();

  if (tag === '600x420-light') {
    step(`${tag}: the hotkey pressed again brings this menu back, home, search selected`);
    await page.locator('#settings-link').focus();
    await page.keyboard.press('Enter');
    await page.locator('body[data-view="settings"]').waitFor();
    const asked = await page.context().request.post(new URL('/test/ask-focus', page.url()).href);
    expect(asked.status() === 204, `the stand-in did not take the focus request (${asked.status()})`);
    await page.waitForFunction(() => document.body.dataset.focusRequests === '1');
    await page.locator('body[data-view="home"]').waitFor();
    expect(await page.evaluate(() => document.activeElement?.id === 'q'), `${tag}: focus is not in the search field after the menu was brought back`);
  }

  expect(a11y.length === 0, `axe-core:\n  ${a11y.join('\n  ')}`);
  expect(problems.length === 0, `browser problems:\n  ${problems.join('\n  ')}`);
  result.views.push(view);
  return page;
}

async function checkNothingConnected(ctx) {
  const size = SIZES[0];
  const { page, problems } = await openMenu(ctx, size, 'light');
  step('nothing connected: My Courses says how to connect');
  // Not "Loading…" forever: with nothing connected there is nothing to load.
  await page.waitForFunction(() => /Settings/.test(document.getElementById('courses-status').textContent));
  const text = await page.locator('#courses-status').textContent();
  expect(!/Loading/.test(text) && /Connect Docebo/.test(text), `My Courses with nothing connected says ${JSON.stringify(text)}`);
  expect((await page.locator('#courses-status a[href="#settings"]').count()) === 1, 'no link to Settings in My Courses');
  await shot(page, 'nothing-connected-home');
  step('nothing connected: search says how to connect');
  await page.keyboard.type(sc.query);
  await page.locator('#search-empty').waitFor({ state: 'visible' });
  const empty = await page.locator('#search-empty').textContent();
  expect(/Nothing is connected/.test(empty), `empty search with nothing connected says ${JSON.stringify(empty)}`);
  await shot(page, 'nothing-connected-search');
  const a11y = await axeProblems(page, 'nothing connected');
  expect(a11y.length === 0, `axe-core:\n  ${a11y.join('\n  ')}`);

  step('nothing connected: Settings offers Connect only where it can work');
  await page.keyboard.press('Escape');
  await page.locator('#settings-link').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#integrations > li').length > 0);
  const cards = await page.locator('#integrations > li').evaluateAll((els) => els.map((li) => ({
    name: li.dataset.name,
    buttons: [...li.querySelectorAll('button:not([hidden])')].map((b) => b.textContent.trim()),
    account: !!li.querySelector('.account'),
    text: li.textContent,
  })));
  result.nothingConnected = cards.map(({ name, buttons }) => ({ name, buttons }));
  for (const c of cards) {
    expect(!c.account, `the disconnected ${c.name} card shows an account`);
  }
  const d360 = cards.find((c) => c.name === 'document360');
  expect(d360 && d360.buttons.length === 0 && /API token/.test(d360.text), `Document360 (API token) card: ${JSON.stringify(d360)}`);
  const docebo = cards.find((c) => c.name === 'docebo');
  expect(docebo && docebo.buttons.includes('Connect Docebo'), `Docebo card: ${JSON.stringify(docebo)}`);
  await shot(page, 'nothing-connected-settings');
  expect(problems.length === 0, `browser problems:\n  ${problems.join('\n  ')}`);
  await page.close();
}

async function run() {
  fs.mkdirSync(sc.shots, { recursive: true });
  const udd = fs.mkdtempSync(path.join(os.tmpdir(), 'lk-chromium-'));
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: process.env.LK_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  ctx.setDefaultTimeout(TIMEOUT);
  let last = null;
  try {
    if (sc.nothingConnected) {
      await checkNothingConnected(ctx);
    } else {
      for (const size of SIZES) {
        for (const scheme of SCHEMES) {
          if (last) await last.close();
          last = await checkConnected(ctx, size, scheme);
        }
      }
      step('Escape on an empty search closes the menu');
      // A window the page may close, as a launcher window is: opened on the
      // menu URL itself (a tab the user navigated stays, and says so).
      const [menu] = await Promise.all([ctx.waitForEvent('page'), last.evaluate((u) => { window.open(u, '_blank'); }, nextMenuURL())]);
      await menu.locator('body[data-ready="true"]').waitFor();
      await menu.locator('#q').focus();
      const closed = menu.waitForEvent('close', { timeout: 5000 }).then(() => true, () => false);
      // The window may be gone before the key press returns: the close event is what counts.
      await menu.keyboard.press('Escape').catch(() => {});
      result.closedByEscape = await closed;
      expect(result.closedByEscape, 'Escape with an empty search did not close the menu');
      step('a tab the menu may not close says how to close it');
      await last.locator('#q').focus();
      await last.keyboard.press('Escape');
      await last.locator('#search-status').filter({ hasText: 'Close this tab' }).waitFor();
    }
  } catch (err) {
    for (const p of ctx.pages()) await shot(p, `failure-${ctx.pages().indexOf(p)}`).catch(() => {});
    throw err;
  } finally {
    await ctx.close();
    fs.rmSync(udd, { recursive: true, force: true });
  }
}

run().then(
  () => console.log(`RESULT ${JSON.stringify(result)}`),
  (err) => {
    console.log(`RESULT ${JSON.stringify(result)}`);
    console.log(`FAIL ${err && err.stack ? err.stack : err}`);
    process.exitCode = 1;
  },
);
