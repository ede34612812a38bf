// managed.spec.mjs: the menu with an integration the organisation manages,
// against the canned stack (managed_test.go). LK_SCENARIO:
//
//   {
//     "menuURL": "http://127.0.0.1:P/menu#code=…",
//     "shots": "/dir",
//     "heading": "Acme courses",          the My Courses widget's title
//     "cardName": "Acme Learning",        Docebo's card's name in Settings → Integrations
//     "cardReason": "ask your …"          text its card must show (optional)
//     "logo": "data:image/png;base64,…"  the logo its card must show (optional)
//   }
//
// It prints "STEP name" lines and, last, "RESULT {json}"; "FAIL …" on the
// first failed expectation.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
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

async function run() {
  fs.mkdirSync(sc.shots, { recursive: true });
  const udd = fs.mkdtempSync(path.join(os.tmpdir(), 'lk-chromium-'));
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: process.env.LK_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 900, height: 700 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  ctx.setDefaultTimeout(TIMEOUT);
  let page;
  try {
    page = ctx.pages()[0] || (await ctx.newPage());
    step('open the menu');
    const res = await page.goto(sc.menuURL);
    expect(res.ok(), `menu URL answered ${res.status()}`);
    await page.locator('body[data-ready="true"]').waitFor();

    step('the My Courses widget carries its title');
    await page.waitForFunction((want) => document.getElementById('courses-heading')?.textContent === want, sc.heading)
      .catch(async () => { throw new Error(`the courses heading is "${await page.locator('#courses-heading').textContent()}", want "${sc.heading}"`); });
    const shotHome = path.join(sc.shots, 'managed-home.png');
    await page.screenshot({ path: shotHome, fullPage: true });
    result.shots.push(shotHome);

    step("Settings → Integrations: Docebo's card");
    await page.locator('#settings-link').click();
    const card = page.locator('#integrations li[data-name="docebo"]');
    await card.waitFor();
    const name = await card.locator('.name').textContent();
    expect(name === sc.cardName, `Docebo's card is named "${name}", want "${sc.cardName}"`);
    if (sc.logo) {
      const src = await card.locator('.logo img').getAttribute('src');
      expect(src === sc.logo, `Docebo's card logo is ${src && src.slice(0, 40)}, want the organisation's`);
    } else {
      expect((await card.locator('.logo img').count()) === 0, 'Docebo shows a logo image without one');
    }
    if (sc.cardReason) {
      const text = await card.innerText();
      expect(text.includes(sc.cardReason), `Docebo's card says "${text}", want "${sc.cardReason}"`);
    }
    const shot = path.join(sc.shots, 'managed-settings.png');
    await page.screenshot({ path: shot, fullPage: true });
    result.shots.push(shot);
  } catch (e) {
    if (page) await page.screenshot({ path: path.join(sc.shots, 'failure.png'), fullPage: true }).catch(() => {});
    console.log(`FAIL ${e.message}`);
    process.exitCode = 1;
  } finally {
    await ctx.close();
    console.log(`RESULT ${JSON.stringify(result)}`);
  }
}

run();
