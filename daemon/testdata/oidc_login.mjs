// oidc_login.mjs signs in through an OpenID Provider's login page in Debian's
// Chromium (playwright-core), the way a person would after `latchkey login`.
// identity_test.go runs it with LK_LOGIN = {"url", "username", "password"}
// and LATCHKEY_TEST_BROWSER naming the directory with node_modules.
// It prints "RESULT {json}" with the final URL and page text, or exits
// non-zero with "FAIL …".
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const sc = JSON.parse(process.env.LK_LOGIN || '{}');
const require = createRequire(path.join(process.env.LATCHKEY_TEST_BROWSER, 'package.json'));
const { chromium } = require('playwright-core');

const udd = fs.mkdtempSync(path.join(os.tmpdir(), 'lk-oidc-'));
const ctx = await chromium.launchPersistentContext(udd, {
  executablePath: process.env.LK_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const result = { steps: [] };
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(15000);
  await page.goto(sc.url);
  result.steps.push('login-page');
  result.loginTitle = await page.title();
  await page.getByLabel('Username').fill(sc.username);
  await page.getByLabel('Password').fill(sc.password);
  await Promise.all([
    page.waitForURL((u) => u.pathname.endsWith('/identity/connected')),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  result.steps.push('redirected');
  await page.waitForLoadState('domcontentloaded');
  result.finalURL = page.url().split('?')[0]; // the code stays out of the output
  result.text = await page.locator('body').innerText();
  if (sc.again) {
    // A second sign-in in the same browser: single sign-on, no form.
    await page.goto(sc.again);
    await page.waitForURL((u) => u.pathname.endsWith('/identity/connected'));
    result.steps.push('sso');
    result.againText = await page.locator('body').innerText();
  }
  console.log('RESULT ' + JSON.stringify(result));
} catch (e) {
  console.log('FAIL ' + e.message);
  console.log('RESULT ' + JSON.stringify(result));
  process.exitCode = 1;
} finally {
  await ctx.close();
  fs.rmSync(udd, { recursive: true, force: true });
}
