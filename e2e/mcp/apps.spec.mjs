// apps.spec.mjs: the official MCP TypeScript SDK (@modelcontextprotocol/sdk,
// pinned in package.json) as an assistant would use latchkey, against the real
// daemon that e2e/browser's apps_test.go starts:
//
//   1. stdio: it launches `latchkey mcp --integrations docebo`, lists the tools
//      and calls each one;
//   2. streamable HTTP at /mcp: the whole OAuth flow (the 401 names the
//      resource metadata, discovery, dynamic registration, authorize with
//      PKCE), the consent view latchkey opens on the desktop approved in real
//      Chromium (playwright-core), the token, then each tool; a refresh
//      rotates, and a refresh token used twice revokes the grant;
//   3. a denied consent gives the app no token;
//   4. by hand: a foreign redirect URI, a wrong PKCE verifier, a reused code
//      (which revokes what it made) and a revoked grant are refused.
//
// LK_SCENARIO (JSON): {"base": "http://127.0.0.1:PORT", "opened": FILE the
// daemon's open command appends each URL to, "latchkey": the binary, "env":
// {…} its environment, "shots": a directory, "course": a course id of the
// connected Docebo}. LATCHKEY_TEST_BROWSER names the directory holding
// node_modules/playwright-core, LATCHKEY_TEST_MCP the one holding this
// package's node_modules. It prints "STEP name" lines and, last,
// "RESULT {json}"; it exits non-zero with "FAIL …" on the first failure.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const sc = JSON.parse(process.env.LK_SCENARIO || '{}');
const browserDeps = process.env.LATCHKEY_TEST_BROWSER;
const mcpDeps = process.env.LATCHKEY_TEST_MCP || path.dirname(new URL(import.meta.url).pathname);
const { chromium } = createRequire(path.join(browserDeps, 'package.json'))('playwright-core');
const sdk = (p) => import(pathToFileURL(path.join(mcpDeps, 'node_modules/@modelcontextprotocol/sdk/dist/esm', p)).href);
const { Client } = await sdk('client/index.js');
const { StdioClientTransport } = await sdk('client/stdio.js');
const { StreamableHTTPClientTransport } = await sdk('client/streamableHttp.js');
const { UnauthorizedError } = await sdk('client/auth.js');

const TIMEOUT = 20000;
const result = { steps: [], shots: [], toolResults: [], secrets: [] };
const step = (s) => {
  result.steps.push(s);
  console.log(`STEP ${s}`);
};
function expect(ok, msg) {
  if (!ok) throw new Error(msg);
}

// callEach calls every tool and returns their results (kept for the grep).
async function callEach(client, label) {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  expect(JSON.stringify(names) === JSON.stringify(['get_article', 'my_courses', 'open_course', 'search']), `${label}: tools ${names}`);
  for (const t of tools) expect(t.annotations && t.annotations.readOnlyHint === true, `${label}: ${t.name} is not read-only`);
  const search = await client.callTool({ name: 'search', arguments: { query: 'go', limit: 5 } });
  expect(!search.isError && search.structuredContent.results.length > 0, `${label}: search ${JSON.stringify(search)}`);
  expect(search.structuredContent.results.every((r) => r.source === 'docebo' && r.title && r.url), `${label}: search results incomplete`);
  const courses = await client.callTool({ name: 'my_courses', arguments: {} });
  expect(!courses.isError && courses.structuredContent.courses.length > 0, `${label}: my_courses ${JSON.stringify(courses)}`);
  const course = courses.structuredContent.courses[0];
  const article = await client.callTool({ name: 'get_article', arguments: { integration: 'docebo', id: '1' } });
  expect(article.isError && /no articles/.test(article.content[0].text), `${label}: get_article on an LMS ${JSON.stringify(article)}`);
  const before = openedLines().length;
  const open = await client.callTool({ name: 'open_course', arguments: { integration: course.integration, id: course.id } });
  expect(!open.isError && open.structuredContent.opened === true, `${label}: open_course ${JSON.stringify(open)}`);
  const lines = openedLines();
  expect(lines.length === before + 1, `${label}: open_course opened ${lines.length - before} pages`);
  const link = lines[lines.length - 1];
  result.secrets.push(link);
  for (const r of [search, courses, article, open]) {
    const s = JSON.stringify(r);
    expect(!s.includes(link) && !/access_token|exchange_token/.test(s), `${label}: a tool result holds the signed-in link`);
    result.toolResults.push(s);
  }
  return { tools: names.length };
}

function openedLines() {
  try {
    return fs.readFileSync(sc.opened, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

// nextOpened waits for the daemon to open one more page on the desktop.
async function nextOpened(count) {
  const until = Date.now() + TIMEOUT;
  for (;;) {
    const lines = openedLines();
    if (lines.length > count) return lines[count];
    if (Date.now() > until) throw new Error('latchkey opened no consent view');
    await new Promise((r) => setTimeout(r, 50));
  }
}

// redirectCatcher is the app's loopback redirect URI.
async function redirectCatcher() {
  let resolve;
  const got = new Promise((r) => (resolve = r));
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('You can close this tab.');
    if (u.pathname === '/callback') resolve(u.searchParams);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${srv.address().port}/callback`, got, close: () => srv.close() };
}

// provider is an in-memory OAuthClientProvider whose "browser" is Chromium
// approving (or denying) latchkey's consent view.
function provider(redirect, page, allow, shot) {
  const store = {};
  return {
    store,
    get redirectUrl() { return redirect; },
    get clientMetadata() {
      return { client_name: 'SDK Assistant (e2e)', redirect_uris: [redirect], grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'], token_endpoint_auth_method: 'none' };
    },
    clientInformation: () => store.client,
    saveClientInformation: (c) => { store.client = c; },
    tokens: () => store.tokens,
    saveTokens: (t) => { store.tokens = t; result.secrets.push(t.access_token, t.refresh_token); },
    saveCodeVerifier: (v) => { store.verifier = v; },
    codeVerifier: () => store.verifier,
    async redirectToAuthorization(url) {
      const count = openedLines().length;
      const wait = await fetch(url, { redirect: 'manual' });
      expect(wait.status === 200, `authorize answered ${wait.status}`);
      const consent = await nextOpened(count);
      expect(new URL(consent).pathname === '/menu/consent.html', `opened ${consent}`);
      await page.goto(consent);
      await page.locator('#consent-request').waitFor({ state: 'visible' });
      const app = await page.locator('#consent-app').textContent();
      expect(app === 'SDK Assistant (e2e)', `the consent names ${app}`);
      const items = await page.locator('#consent-integrations li').allTextContents();
      expect(items.join() === 'Docebo', `the consent lists ${items}`);
      if (process.platform === 'linux') {
        const prog = await page.locator('#consent-program-name').textContent();
        expect(prog.includes(`(pid ${process.pid})`), `the consent names the program ${prog}, not this one`);
      }
      if (shot) {
        const f = path.join(sc.shots, shot);
        await page.screenshot({ path: f });
        result.shots.push(f);
      }
      await page.locator(allow ? '#consent-allow' : '#consent-deny').click();
      await page.waitForURL((u) => u.pathname === '/callback');
    },
  };
}

// approveIn answers the consent view latchkey opens next with Allow.
async function approveIn(page, count) {
  const consent = await nextOpened(count);
  await page.goto(consent);
  await page.locator('#consent-allow').click();
  await page.waitForURL((u) => u.pathname === '/callback');
}

const form = (o) => ({ method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(o) });
const mcpPing = (tok) => fetch(`${sc.base}/mcp`, { method: 'POST', headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json',
  Accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) });

// refusals: a foreign redirect URI, a wrong PKCE verifier, a reused code
// and a revoked grant, by hand against the endpoints the SDK used.
async function refusals(page) {
  step('refusals: foreign redirect, wrong verifier, reused code, revoked grant');
  const cb = await reusableCatcher();
  const reg = await (await fetch(`${sc.base}/oauth2/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_name: 'Refusals (e2e)', redirect_uris: [cb.url] }) })).json();
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const authorize = (redirect) => fetch(`${sc.base}/oauth2/authorize?${new URLSearchParams({ response_type: 'code', client_id: reg.client_id,
    redirect_uri: redirect, code_challenge: challenge, code_challenge_method: 'S256', state: 's', resource: `${sc.base}/mcp` })}`, { redirect: 'manual' });
  let count = openedLines().length;
  const foreign = await authorize('http://evil.example/cb');
  expect(foreign.status === 400 && openedLines().length === count, `a foreign redirect URI: ${foreign.status}`);

  const codeFor = async () => {
    count = openedLines().length;
    const got = new Promise((res) => (cb.next = res));
    const r = await authorize(cb.url);
    expect(r.status === 200, `authorize: ${r.status}`);
    await approveIn(page, count);
    const code = (await got).get('code');
    expect(code, 'the redirect carried no code');
    return code;
  };

  const exchange = (code, v) => fetch(`${sc.base}/oauth2/token`, form({ grant_type: 'authorization_code', code, client_id: reg.client_id,
    redirect_uri: cb.url, code_verifier: v }));
  let code = await codeFor();
  const wrong = await exchange(code, crypto.randomBytes(32).toString('base64url'));
  expect(wrong.status === 400 && (await wrong.json()).error === 'invalid_grant', `a wrong verifier: ${wrong.status}`);
  const spent = await exchange(code, verifier);
  expect(spent.status === 400, `a code after a wrong verifier: ${spent.status}`);

  code = await codeFor();
  const ok = await exchange(code, verifier);
  const tok = await ok.json();
  expect(ok.status === 200 && tok.access_token, `the exchange: ${ok.status}`);
  result.secrets.push(tok.access_token, tok.refresh_token);
  expect((await mcpPing(tok.access_token)).status === 200, 'the fresh token at /mcp');
  const again = await exchange(code, verifier);
  expect(again.status === 400, `a reused code: ${again.status}`);
  expect((await mcpPing(tok.access_token)).status === 401, 'the token of a reused code still works');

  code = await codeFor();
  const r3 = await exchange(code, verifier);
  const t3 = await r3.json();
  expect(r3.status === 200, `the third exchange: ${r3.status} ${t3.error}`);
  result.secrets.push(t3.access_token, t3.refresh_token);
  const list = JSON.parse(execFileSync(sc.latchkey, ['apps', 'list', '--json'], { env: sc.env, encoding: 'utf8' }));
  const live = list.apps.filter((g) => g.app_name === 'Refusals (e2e)' && g.state === 'active');
  expect(live.length === 1, `live refusal grants: ${JSON.stringify(list.apps.map((g) => [g.app_name, g.state]))}`);
  execFileSync(sc.latchkey, ['apps', 'revoke', live[0].id], { env: sc.env });
  expect((await mcpPing(t3.access_token)).status === 401, 'a revoked grant\'s token still works');
  const rr = await fetch(`${sc.base}/oauth2/token`, form({ grant_type: 'refresh_token', refresh_token: t3.refresh_token, client_id: reg.client_id }));
  expect(rr.status === 400, `a revoked grant's refresh: ${rr.status}`);
  cb.close();
}

// reusableCatcher is an app's redirect URI that passes each request's
// query to its current next.
async function reusableCatcher() {
  const c = { next: () => {} };
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
    // Only the redirect itself: not the browser's /favicon.ico after it.
    if (u.pathname === '/callback') c.next(u.searchParams);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  c.url = `http://127.0.0.1:${srv.address().port}/callback`;
  c.close = () => srv.close();
  return c;
}

async function stdio() {
  step('stdio: latchkey mcp');
  const client = new Client({ name: 'sdk-e2e-stdio', version: '1' });
  await client.connect(new StdioClientTransport({ command: sc.latchkey, args: ['mcp', '--integrations', 'docebo'], env: sc.env, stderr: 'pipe' }));
  await callEach(client, 'stdio');
  await client.close();
}

async function overHTTP(page) {
  step('http: a call without a token is a 401 naming the resource metadata');
  const res = await fetch(`${sc.base}/mcp`, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) });
  expect(res.status === 401 && (res.headers.get('www-authenticate') || '').includes(`resource_metadata="${sc.base}/.well-known/oauth-protected-resource/mcp"`),
    `401 ${res.status} ${res.headers.get('www-authenticate')}`);

  step('http: discovery, registration, authorize, consent allowed in Chromium');
  const cb = await redirectCatcher();
  const prov = provider(cb.url, page, true, 'consent.png');
  const mcpURL = new URL(`${sc.base}/mcp`);
  let client = new Client({ name: 'sdk-e2e-http', version: '1' });
  let threw = null;
  try {
    await client.connect(new StreamableHTTPClientTransport(mcpURL, { authProvider: prov }));
  } catch (e) {
    threw = e;
  }
  expect(threw instanceof UnauthorizedError, `connect before consent: ${threw}`);
  const q = await cb.got;
  cb.close();
  expect(q.get('code') && !q.get('error'), `redirect ${q}`);
  const transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: prov });
  await transport.finishAuth(q.get('code'));
  expect(prov.store.tokens && prov.store.tokens.refresh_token, 'no tokens after the exchange');

  step('http: each tool with the app token');
  client = new Client({ name: 'sdk-e2e-http', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(mcpURL, { authProvider: prov }));
  await callEach(client, 'http');
  await client.close();

  step('menu: Settings → Apps lists the app as allowed');
  const menu = execFileSync(sc.latchkey, ['menu', '--print-url'], { env: sc.env, encoding: 'utf8' }).trim();
  await page.goto(menu);
  await page.locator('#settings-link').click();
  await page.locator('#tab-apps').click();
  const card = page.locator('#apps li', { hasText: 'SDK Assistant (e2e)' });
  await card.waitFor();
  expect(/Allowed/.test(await card.textContent()), `the Apps tab shows ${await card.textContent()}`);
  const f = path.join(sc.shots, 'settings-apps.png');
  await page.screenshot({ path: f });
  result.shots.push(f);

  step('http: the token is for /mcp only');
  const api = await fetch(`${sc.base}/v1/search?q=go`, { headers: { Authorization: `Bearer ${prov.store.tokens.access_token}` } });
  expect(api.status === 401, `an /mcp token at /v1/search: ${api.status}`);

  step('http: refresh rotates; a refresh token used twice revokes the grant');
  const refresh = (rt) => fetch(`${sc.base}/oauth2/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt, client_id: prov.store.client.client_id }) });
  const old = prov.store.tokens.refresh_token;
  const r1 = await refresh(old);
  const t1 = await r1.json();
  expect(r1.status === 200 && t1.refresh_token && t1.refresh_token !== old, `refresh ${r1.status}`);
  result.secrets.push(t1.access_token, t1.refresh_token);
  const r2 = await refresh(old);
  expect(r2.status === 400 && (await r2.json()).error === 'invalid_grant', `reuse ${r2.status}`);
  const after = await fetch(`${sc.base}/mcp`, { method: 'POST', headers: { Authorization: `Bearer ${t1.access_token}`,
    'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) });
  expect(after.status === 401, `the rotated token after a reuse: ${after.status}`);
  await page.goto(menu.split('#')[0] + '#settings');
  await page.locator('#tab-apps').click();
  await page.locator('#apps li', { hasText: 'Revoked' }).waitFor();

  step('http: a denied consent gives no token');
  const cb2 = await redirectCatcher();
  const denied = provider(cb2.url, page, false, 'consent-denied-before.png');
  let err = null;
  try {
    await new Client({ name: 'sdk-e2e-denied', version: '1' }).connect(new StreamableHTTPClientTransport(mcpURL, { authProvider: denied }));
  } catch (e) {
    err = e;
  }
  expect(err instanceof UnauthorizedError, `connect before a denial: ${err}`);
  const q2 = await cb2.got;
  cb2.close();
  expect(q2.get('error') === 'access_denied' && !q2.get('code'), `denied redirect ${q2}`);
  expect(!denied.store.tokens, 'a denied app holds tokens');
}

async function run() {
  fs.mkdirSync(sc.shots, { recursive: true });
  await stdio();
  const udd = fs.mkdtempSync(path.join(os.tmpdir(), 'lk-chromium-'));
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: process.env.LK_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 720, height: 520 },
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  ctx.setDefaultTimeout(TIMEOUT);
  const page = ctx.pages()[0] || (await ctx.newPage());
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  try {
    await overHTTP(page);
    await refusals(page);
    expect(problems.length === 0, problems.join('; '));
  } catch (e) {
    const f = path.join(sc.shots, 'failure.png');
    await page.screenshot({ path: f }).catch(() => {});
    throw e;
  } finally {
    await ctx.close();
  }
}

run().then(() => {
  console.log(`RESULT ${JSON.stringify(result)}`);
  process.exit(0);
}, (e) => {
  console.log(`FAIL ${e.stack || e}`);
  console.log(`RESULT ${JSON.stringify(result)}`);
  process.exit(1);
});
