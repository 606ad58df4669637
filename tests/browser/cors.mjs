// cors.mjs: a portal on another origin calling vmlogind from headless Chromium. Two tiny
// static pages are served on two more loopback ports; vmlogind lists only the first in
// cors_allowed_origins. From the allowed page, fetch (with an Authorization header, so
// Chromium sends a preflight) reads a JSON body and the exposed ETag header, writes with
// If-Match (a request header the preflight must allow) and reads a 412 problem's code. From
// the other page the same fetch is refused by the browser (it rejects), and vmlogind is not
// changed by it.
//   node cors.mjs   (env: VMLOGIND_BIN, AZSIM_BIN, SOURCE_DIR, CHROMIUM, NODE_MODULES_DIR)
// Exit 77 (ctest SKIP) only when no Chromium binary exists; anything else missing fails.
import { createServer } from 'node:http';
import { browserSetup, startStack, SUB, fail } from './stack.mjs';

const { chromium, chromiumPath } = browserSetup();

const POLICY = `/v1/subscriptions/${SUB}/resourceGroups/rg-dev/loginPolicy`;

// A static page on 127.0.0.1:<free port>: its origin.
function pageServer(servers) {
  const srv = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><title>portal</title><p>portal</p></html>');
  });
  servers.push(srv);
  return new Promise((r) => srv.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${srv.address().port}`)));
}

// What the portal's page does: GET the policy (body and ETag), PUT it with If-Match, PUT again
// with the now stale ETag. Runs in the page.
async function portalCalls({ base, key, path }) {
  const auth = { Authorization: `Bearer ${key}` };
  const out = {};
  try {
    const g = await fetch(base + path, { headers: auth });
    out.getStatus = g.status;
    out.body = await g.json();
    out.etag = g.headers.get('ETag');
    out.requestId = g.headers.get('X-Request-Id');
    const put = await fetch(base + path, {
      method: 'PUT', headers: { ...auth, 'Content-Type': 'application/json', 'If-Match': out.etag },
      body: JSON.stringify({ authoritative: true, dryRun: true }),
    });
    out.putStatus = put.status;
    out.putEtag = put.headers.get('ETag');
    const stale = await fetch(base + path, {
      method: 'PUT', headers: { ...auth, 'Content-Type': 'application/json', 'If-Match': out.etag },
      body: JSON.stringify({ authoritative: false }),
    });
    out.staleStatus = stale.status;
    out.staleCode = (await stale.json()).code;
  } catch (e) {
    out.error = `${e.name}: ${e.message}`;
  }
  return out;
}

async function main() {
  const servers = [];
  const allowed = await pageServer(servers);
  const other = await pageServer(servers);
  const stack = await startStack({ extraConfig: [`cors_allowed_origins = ${allowed}`] });
  let browser;
  try {
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
    const page = await browser.newPage();
    const consoleLines = [];
    page.on('console', (m) => consoleLines.push(m.text()));

    await page.goto(`${allowed}/`);
    const ok = await page.evaluate(portalCalls, { base: stack.base, key: stack.admin, path: POLICY });
    if (ok.error) fail(`allowed origin ${allowed}: fetch failed: ${ok.error}`);
    if (ok.getStatus !== 200 || ok.body.authoritative !== false || !ok.body.scope) fail(`allowed origin: GET ${JSON.stringify(ok)}`);
    if (!/^"[0-9a-f]{32}"$/.test(ok.etag || '')) fail(`allowed origin: the ETag header is not readable: ${ok.etag}`);
    if (!ok.requestId) fail('allowed origin: X-Request-Id is not readable');
    if (ok.putStatus !== 200 || !ok.putEtag || ok.putEtag === ok.etag) fail(`allowed origin: PUT with If-Match: ${JSON.stringify(ok)}`);
    if (ok.staleStatus !== 412 || ok.staleCode !== 'precondition_failed') fail(`allowed origin: stale If-Match: ${JSON.stringify(ok)}`);

    await page.goto(`${other}/`);
    const refused = await page.evaluate(portalCalls, { base: stack.base, key: stack.admin, path: POLICY });
    if (!refused.error || refused.getStatus !== undefined) fail(`origin ${other} was not refused: ${JSON.stringify(refused)}`);
    if (!consoleLines.some((l) => /CORS/i.test(l))) fail(`no CORS refusal in the console: ${consoleLines.join(' | ')}`);
    // the refused page changed nothing: the policy is as the allowed page left it
    const now = await fetch(stack.base + POLICY, { headers: { Authorization: `Bearer ${stack.admin}` } });
    if (now.headers.get('ETag') !== ok.putEtag) fail('the refused origin changed the policy');
    console.log(JSON.stringify({ allowed, other, allowedResult: ok, refusedError: refused.error }));
  } finally {
    if (browser) await browser.close();
    for (const s of servers) s.close();
    await stack.stop();
  }
}

try {
  await main();
  console.log('PASS');
  process.exit(0);
} catch (e) {
  console.error(`FAIL: ${e.stack || e}`);
  process.exit(1);
}
