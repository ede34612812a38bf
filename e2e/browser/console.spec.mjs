// console.spec.mjs drives latchkey-store's admin console (/admin) in Debian's
// Chromium through playwright-core. console_test.go starts the store and the
// OIDC sandbox and passes the scenario as JSON in LK_SCENARIO:
//
//   {
//     "base":  "http://127.0.0.1:P",              the store (console at /admin/)
//     "evil":  "http://localhost:Q/post",          a page of another site that posts
//                                                  the console's Disable form
//     "shots": "/dir",                             screenshots go here
//     "admin": {"username", "password"},           an administrator at the provider
//     "user":  {"username", "password"},           an employee (not an administrator)
//     "docebo": {"domain", "clientID", "secret", "displayName", "logoURL", "widgetTitle"}
//   }
//
// LATCHKEY_TEST_BROWSER names the directory holding node_modules/playwright-core.
// It prints one "STEP name" line per step and, last, "RESULT {json}"; it exits
// non-zero with "FAIL …" on the first failed expectation.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const sc = JSON.parse(process.env.LK_SCENARIO || '{}');
const depsDir = process.env.LATCHKEY_TEST_BROWSER || path.dirname(new URL(import.meta.url).pathname);
const require = createRequire(path.join(depsDir, 'package.json'));
const { chromium } = require('playwright-core');

const TIMEOUT = Number(process.env.LK_TIMEOUT_MS || 15000);
const result = { steps: [], shots: [] };

function expect(cond, msg) {
  if (!cond) throw new Error(msg);
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

// signIn goes from the console's sign-in page through the provider's form.
async function signIn(page, who) {
  const res = await page.goto(`${sc.base}/admin/`);
  expect(res.ok(), `/admin/ answered ${res.status()}`);
  await page.getByRole('link', { name: 'Sign in with your organisation' }).click();
  await page.getByLabel('Username').fill(who.username);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function run() {
  fs.mkdirSync(sc.shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.LK_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const problems = [];
  const watch = (p) => {
    p.on('pageerror', (e) => problems.push(`page error on ${p.url()}: ${e.message}`));
    p.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
    });
  };
  let page;
  try {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    ctx.setDefaultTimeout(TIMEOUT);
    page = await ctx.newPage();
    watch(page);
    const d = sc.docebo;

    step('an administrator signs in with the identity provider');
    await signIn(page, sc.admin);
    await page.getByRole('heading', { name: 'Integrations' }).waitFor();
    expect(new URL(page.url()).pathname === '/admin/', `landed on ${page.url()}`);
    const cookies = await ctx.cookies(sc.base + '/admin/');
    const session = cookies.find((c) => c.name === 'lk_console_session');
    expect(session, `no session cookie: ${JSON.stringify(cookies.map((c) => c.name))}`);
    expect(session.httpOnly && session.sameSite === 'Strict', `session cookie httpOnly=${session.httpOnly} sameSite=${session.sameSite}`);
    expect(!session.secure, 'on http loopback the session cookie cannot be Secure');
    expect(!(await page.evaluate(() => document.cookie)).includes('lk_console_session'), 'the page script reads the session cookie');
    for (const name of ['Docebo', 'Document360']) {
      await page.locator('.card', { has: page.getByRole('heading', { name }) }).getByRole('link', { name: 'Configure' }).waitFor();
    }
    await shot(page, '01-integrations');

    step('Configure Docebo: an http:// domain is refused with a clear error');
    await page.locator('.card[data-integration="docebo"]').getByRole('link', { name: 'Configure' }).click();
    await page.getByRole('heading', { name: 'Configure Docebo' }).waitFor();
    await page.getByLabel('Client ID').fill(d.clientID);
    await page.getByLabel('Client secret').fill(d.secret);
    await page.getByLabel('Domain').fill(d.domain.replace('https://', 'http://'));
    await page.getByLabel('Display name').fill(d.displayName);
    await page.getByLabel('Logo URL').fill(d.logoURL);
    await page.getByLabel('Home widget title').fill(d.widgetTitle);
    await page.getByRole('button', { name: 'Save and enable' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(/https:\/\//.test(await alert.innerText()), `the error does not say https: ${await alert.innerText()}`);
    expect((await page.getByLabel('Domain').getAttribute('aria-invalid')) === 'true', 'the domain field is not marked invalid');
    expect((await page.getByLabel('Display name').inputValue()) === d.displayName, 'the typed display name was lost');
    expect((await page.getByLabel('Client secret').inputValue()) === '', 'the page echoes the client secret');
    expect(!(await page.content()).includes(d.secret), 'the page holds the client secret');
    await shot(page, '02-domain-error');

    step('a missing client ID is refused');
    await page.getByLabel('Domain').fill(d.domain);
    await page.getByLabel('Client ID').fill('');
    await page.getByLabel('Client secret').fill(d.secret);
    await page.getByRole('button', { name: 'Save and enable' }).click();
    await page.getByText('the client ID is required').first().waitFor();

    step('Save and enable, with display name, logo URL and widget title');
    await page.getByLabel('Client ID').fill(d.clientID);
    await page.getByLabel('Client secret').fill(d.secret);
    await page.getByRole('button', { name: 'Save and enable' }).click();
    await page.getByRole('status').filter({ hasText: 'saved and enabled' }).waitFor();
    await page.getByText('A client secret is set').waitFor();
    expect(!(await page.content()).includes(d.secret), 'the saved page holds the client secret');
    const row = page.locator('table.history tbody tr').first();
    const rowText = await row.innerText();
    expect(/create/.test(rowText) && /display_name/.test(rowText) && /widget_title/.test(rowText) && /client_secret/.test(rowText),
      `the history's first row: ${rowText}`);
    expect((await page.getByLabel('Home widget title').inputValue()) === d.widgetTitle, 'the widget title was not kept');
    await shot(page, '03-saved');
    await page.goto(`${sc.base}/admin/`);
    const card = page.locator('.card[data-integration="docebo"]');
    expect(/Enabled/.test(await card.innerText()) && (await card.innerText()).includes(d.displayName), `the Docebo card: ${await card.innerText()}`);

    step('a cross-site form post is refused and changes nothing');
    await page.goto(sc.evil);
    await page.getByRole('button', { name: 'Win a prize' }).click();
    await page.waitForLoadState();
    const refused = await page.locator('body').innerText();
    expect(/nothing was changed/i.test(refused), `the cross-site post was not refused: ${refused.slice(0, 300)}`);
    await shot(page, '04-cross-site-refused');
    await page.goto(`${sc.base}/admin/`);
    expect(/Enabled/.test(await page.locator('.card[data-integration="docebo"]').innerText()), 'the cross-site post disabled Docebo');

    step('Disable, then Save and enable again; the history shows both');
    await page.locator('.card[data-integration="docebo"]').getByRole('link', { name: 'Configure' }).click();
    await page.getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('status').filter({ hasText: 'is disabled' }).waitFor();
    await page.getByRole('button', { name: 'Save and enable' }).click();
    await page.getByRole('status').filter({ hasText: 'saved and enabled' }).waitFor();
    expect((await page.locator('table.history tbody tr').count()) === 3, 'the history does not hold three changes');
    await shot(page, '05-history');

    step('sign out');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('link', { name: 'Sign in with your organisation' }).waitFor();
    await ctx.close();

    step('an employee who is not an administrator is refused');
    const ctx2 = await browser.newContext();
    ctx2.setDefaultTimeout(TIMEOUT);
    page = await ctx2.newPage();
    watch(page);
    await signIn(page, sc.user);
    await page.getByRole('heading', { name: 'Not an administrator' }).waitFor();
    expect(!(await ctx2.cookies(sc.base + '/admin/')).some((c) => c.name === 'lk_console_session'), 'the employee got a session cookie');
    await page.goto(`${sc.base}/admin/`);
    await page.getByRole('link', { name: 'Sign in with your organisation' }).waitFor();
    await shot(page, '06-not-admin');

    expect(problems.length === 0, problems.join('\n'));
  } catch (e) {
    if (page) await page.screenshot({ path: path.join(sc.shots, 'failure.png'), fullPage: true }).catch(() => {});
    console.log(`FAIL ${e.message}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
    console.log(`RESULT ${JSON.stringify(result)}`);
  }
}

run();
