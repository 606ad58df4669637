// dashboard.mjs: the ops dashboard in headless Chromium against the real vmlogind and azsim,
// both started here on free loopback ports. Signs in with an API key, walks every view,
// enables Entra login on a resource group and watches the operation finish through
// /v1/events, looks a principal up in the directory, grants, extends and revokes login, sees a
// refusal's title and detail, approves a just-in-time activation as its approver (signed in with
// her own Entra token), checks that a reader gets no action buttons, and signs in with Entra
// (authorization code with PKCE at azsim's user picker) as an operator. axe-core must find no
// serious or critical violation in any view, and the page must cause no Content-Security-Policy
// violation. Screenshots of each view go to OUT_DIR.
//   node dashboard.mjs   (env: VMLOGIND_BIN, AZSIM_BIN, SOURCE_DIR, OUT_DIR, CHROMIUM,
//                         NODE_MODULES_DIR)
// Exit 77 (ctest SKIP) only when no Chromium binary exists; anything else missing fails.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { api, browserSetup, startStack, SUB, STEP_MS, fail, until } from './stack.mjs';

// playwright-core and axe-core from .cache/browser (or NODE_MODULES_DIR); no Chromium: SKIP
const { chromium, chromiumPath, require } = browserSetup('playwright-core or axe-core');
let axeSource;
try {
  axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
} catch (e) {
  console.error('FAIL: axe-core missing: run scripts/install-deps.sh (npm ci in tests/browser)');
  process.exit(1);
}

const OUT = process.env.OUT_DIR || join(process.cwd(), 'browser-shots');
const RG = 'rg-browser';
const RG_SCOPE = `/subscriptions/${SUB}/resourceGroups/${RG}`;
const failures = [];
let currentPage = null; // for a screenshot of where a failure happened
let stack = null; // azsim and vmlogind (stack.mjs)
let work = null; // their files and logs
const figures = {};
mkdirSync(OUT, { recursive: true });

// POST to azsim's control API over HTTPS with its own certificate as the only CA, answering the
// JSON body (a token minted by azsim).
function simPostJson(url, body, ca) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = httpsRequest(url, { method: 'POST', ca, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } },
      (res) => { const parts = []; res.on('data', (d) => parts.push(d)); res.on('end', () => resolve(JSON.parse(Buffer.concat(parts).toString() || 'null'))); });
    req.on('error', reject);
    req.end(data);
  });
}

async function main() {
  // ---- azsim and vmlogind, with two VMs in a resource group of their own, found by the sync --
  stack = await startStack({
    vms: ['web-a', 'web-b'].map((name) => ({ resourceGroup: RG, name })),
    synced: (s) => s.last.counts.vms.seen >= 15,
    // Entra sign-in in the page: the demo app's client id, with azsim as the authority
    extraConfig: ['dashboard_client_id = 0a1b2c3d-0000-4000-8000-00000000c001'],
  });
  ({ work } = stack);
  const { base, admin, reader, sim } = stack;

  // ---- the browser ---------------------------------------------------------------------------
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  // azsim's TLS certificate is made above for this run: the browser takes it as it is
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: true });
  const page = await context.newPage();
  currentPage = page;
  const cspViolations = [];
  page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text()); });
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));

  const ready = (name) => page.waitForSelector(`#view[data-ready="${name}"]`, { timeout: STEP_MS });
  async function go(hash, name) {
    await page.evaluate((h) => { document.getElementById('view').removeAttribute('data-ready'); location.hash = h; }, hash);
    await ready(name);
  }
  let shot = 0;
  async function check(name) {
    shot++;
    await page.screenshot({ path: join(OUT, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
    await page.evaluate(axeSource);
    const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    figures[`axe.${name}`] = r.violations.map((v) => `${v.id}:${v.impact}`).join(',') || 'none';
    for (const v of bad) failures.push(`axe ${name}: ${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`);
  }

  const t0 = Date.now();
  const first = await page.goto(base + '/');
  const h = first.headers();
  if (!/default-src 'none'/.test(h['content-security-policy'] || '')) fail('index.html without the CSP');
  if (h['x-frame-options'] !== 'DENY' || h['x-content-type-options'] !== 'nosniff') fail('index.html without X-Frame-Options/nosniff');
  if (h['cache-control'] !== 'no-cache') fail(`index.html Cache-Control: ${h['cache-control']}`);
  // Entra sign-in is offered (dashboard_client_id), and the CSP lets the page reach only the
  // authority's origin besides its own
  if (!(h['content-security-policy'] || '').includes(`connect-src 'self' ${sim};`)) fail(`CSP without the authority: ${h['content-security-policy']}`);
  await page.waitForSelector('#entra-signin', { state: 'visible', timeout: STEP_MS });
  if (await page.isVisible('#nav')) fail('the views nav shows before sign-in');
  await check('signin');

  // sign in as the administrator: the key stays in sessionStorage, never in the URL or a cookie
  await page.fill('#apikey', admin);
  await page.click('#signin-form button[type=submit]');
  await ready('fleet');
  figures.signin_to_fleet_ms = Date.now() - t0;
  if (page.url().includes('vlk_')) fail('the key reached the URL');
  if ((await context.cookies()).length !== 0) fail('a cookie was set');
  if ((await page.evaluate(() => sessionStorage.getItem('vmlogind.apiKey'))) !== admin) fail('key not in sessionStorage');
  await page.waitForSelector('#live[data-state="live"]', { timeout: STEP_MS });
  if (!(await page.isVisible('text=Sync now'))) fail('administrator sees no Sync now');
  await check('fleet');

  // VMs: name search and cursor paging (10 a page, 15 VMs)
  await go('#/vms', 'vms');
  const rows1 = await page.locator('table tbody tr').count();
  if (rows1 !== 10) fail(`first VM page has ${rows1} rows`);
  await page.click('button:has-text("Next page")');
  await until('the second VM page', async () => (await page.locator('text=page 2').count()) === 1);
  const rows2 = await page.locator('table tbody tr').count();
  if (rows2 < 5) fail(`second VM page has ${rows2} rows`);
  await check('vms');
  await page.fill('input[name=name]', 'WEB-A');
  await page.click('form[role=search] button[type=submit]');
  await until('the name search', async () => (await page.locator('table tbody tr').count()) === 1);

  // one VM: facts, who can sign in, preflight on demand
  await page.click('a:has-text("web-a")');
  await ready('vm');
  await page.click('button:has-text("Run preflight")');
  await page.waitForSelector('#view table caption:has-text("Preflight"), #view .problem', { timeout: STEP_MS });
  // why can't she sign in: a guest cannot, and the guest check says so
  await page.fill('input[name=principal]', 'dave_fabrikam.example#EXT#@contoso.example');
  await page.click('form[aria-label="Why can she not sign in"] button[type=submit]');
  await page.waitForSelector('#signin-verdict .state-cannotSignIn', { timeout: 45000 });
  if ((await page.locator('table caption:has-text("Sign-in checks")').count()) !== 1) fail('no sign-in checks table');
  if ((await page.locator('td:has-text("guest")').count()) < 1) fail('the guest check is not shown');
  await check('vm');

  // operations: enable login on the resource group, watch it finish without a reload
  await go('#/operations', 'operations');
  await page.evaluate(() => { window.__noReload = true; });
  await page.fill('input[name=scope]', RG_SCOPE);
  await page.click('form[aria-label="Start an operation"] button[type=submit]');
  await page.waitForSelector('#op-status', { timeout: STEP_MS });
  const tOp = Date.now();
  await page.waitForSelector('#op-status .state-Succeeded', { timeout: 60000 });
  figures.operation_finish_seen_ms = Date.now() - tOp;
  if (!(await page.evaluate(() => window.__noReload === true))) fail('the page reloaded while following the operation');
  await check('operations');

  // grants: create one with an expiry, extend it, revoke it; a refusal shows title and detail
  await go('#/grants', 'grants');
  // the principal look-up: typing asks the directory (GET /v1/principals) and offers matches
  await page.fill('input[name=principal]', 'car');
  await page.waitForSelector('#principal-options option[value="carol@contoso.example"]', { state: 'attached', timeout: STEP_MS });
  await page.waitForSelector('#principal-hint:has-text("1 match")', { timeout: STEP_MS });
  await page.fill('input[name=principal]', 'VM A');
  const group = '9a8b7c6d-0000-4000-8000-00000000f001';
  await page.waitForSelector(`#principal-options option[value="${group}"][label="VM Admins (group)"]`, { state: 'attached', timeout: STEP_MS });
  await page.fill('input[name=principal]', group); // what picking the option does
  if ((await page.inputValue('select[name=type]')) !== 'group') fail('picking a group did not set the principal type');
  await check('grants-lookup');
  await page.selectOption('select[name=type]', 'user');
  await page.fill('input[name=scope]', RG_SCOPE);
  await page.fill('input[name=principal]', 'alice@contoso.example');
  await page.fill('input[name=hours]', '2');
  await page.fill('input[name=justification]', 'browser test');
  await page.click('form[aria-label="Grant login"] button[type=submit]');
  await page.waitForSelector('.notice:has-text("accepted")', { timeout: STEP_MS });
  await page.waitForSelector('table tbody tr:has-text("alice@contoso.example")', { timeout: STEP_MS });
  await page.waitForSelector('[data-expires]:has-text("in 1 h")', { timeout: STEP_MS });
  await page.click('button:has-text("Extend 1 h")');
  await page.waitForSelector('[data-expires]:has-text("in 2 h")', { timeout: STEP_MS });
  await check('grants');
  await page.click('button:has-text("Revoke")');
  await page.waitForSelector('table tbody tr:has-text("alice@contoso.example") .state-revoking, table tbody tr:has-text("alice@contoso.example") .state-revoked', { timeout: STEP_MS });
  await page.fill('input[name=scope]', '/providers/Microsoft.Management/managementGroups/mg-1');
  await page.fill('input[name=principal]', 'alice@contoso.example');
  await page.fill('input[name=hours]', '');
  await page.click('form[aria-label="Grant login"] button[type=submit]');
  const refusal = await page.waitForSelector('.problem', { timeout: STEP_MS });
  const refusalText = await refusal.innerText();
  if (!/400/.test(refusalText) || !/management/i.test(refusalText)) fail(`refusal without its detail: ${refusalText}`);
  figures.refusal = refusalText.replace(/\s+/g, ' ');
  await check('grants-refused');

  // principal and audit
  await go('#/principal?p=alice%40contoso.example', 'principal');
  await check('principal');
  await go('#/audit', 'audit');
  if ((await page.locator('table tbody tr').count()) < 3) fail('audit log nearly empty');
  await page.waitForSelector('#audit-chain [data-intact="true"]', { timeout: STEP_MS });
  await check('audit');

  // approvals: bob's activation waits for alice. The administrator's key names no person, so
  // its approval is refused and the refusal shown; alice, signed in with her own Entra token,
  // approves it from the same view.
  const BOB = '6b7c8d9e-0000-4000-8000-00000000d002';
  const ALICE = '6b7c8d9e-0000-4000-8000-00000000d001';
  const elig = await api(base, admin, 'POST', '/v1/eligibilities', { scope: RG_SCOPE, role: 'user',
    principal: { objectId: BOB, type: 'user' }, maxDuration: 'PT1H', requireApproval: true, approvers: [{ objectId: ALICE }] });
  if (elig.status !== 201) fail(`POST /v1/eligibilities: ${elig.status} ${JSON.stringify(elig.json)}`);
  const act = await api(base, admin, 'POST', '/v1/activations', { scope: RG_SCOPE, role: 'user', duration: 'PT1H',
    justification: 'browser test', principal: { objectId: BOB } });
  if (act.status !== 201 || act.json.state !== 'pendingApproval') fail(`POST /v1/activations: ${act.status} ${JSON.stringify(act.json)}`);
  await go('#/approvals', 'approvals');
  await page.waitForSelector(`table tbody tr:has-text("${BOB}")`, { timeout: STEP_MS });
  await check('approvals');
  await page.click(`button[aria-label="Approve activation of ${BOB}"]`);
  const notApprover = await (await page.waitForSelector('.problem', { timeout: STEP_MS })).innerText();
  if (!/approver/i.test(notApprover)) fail(`the key's approval refused without its detail: ${notApprover}`);
  const aliceToken = (await simPostJson(`${sim}/_sim/tokens`, { aud: 'api://vmlogind-test', oid: ALICE,
    upn: 'alice@contoso.example', roles: ['VmLogin.Reader'] }, readFileSync(join(work, 'tls.crt')))).access_token;
  await page.click('#signout');
  await page.waitForSelector('#apikey', { timeout: STEP_MS });
  await page.fill('#apikey', aliceToken);
  await page.click('#signin-form button[type=submit]');
  await ready('fleet');
  await go('#/approvals', 'approvals');
  await page.click(`button[aria-label="Approve activation of ${BOB}"]`);
  await page.waitForSelector(`.notice:has-text("${act.json.id} active")`, { timeout: STEP_MS });
  await check('approvals-approved');
  const approved = await api(base, admin, 'GET', `/v1/activations/${act.json.id}`);
  if (approved.json.state !== 'active' || approved.json.decidedBy !== `user:${ALICE}`) fail(`after approval: ${JSON.stringify(approved.json)}`);

  // a reader: no action buttons anywhere
  await page.click('#signout');
  await page.waitForSelector('#apikey', { timeout: STEP_MS });
  await page.fill('#apikey', reader);
  await page.click('#signin-form button[type=submit]');
  await ready('fleet');
  const actions = /^(Sync now|Run preflight|Enable login|Disable login|Start|Grant|Extend 1 h|Revoke)$/;
  for (const [hash, name] of [['#/fleet', 'fleet'], ['#/vms', 'vms'], ['#/operations', 'operations'], ['#/grants', 'grants']]) {
    await go(hash, name);
    const texts = await page.locator('#view button').allInnerTexts();
    const bad = texts.filter((t) => actions.test(t.trim()));
    if (bad.length) fail(`reader sees ${bad.join(', ')} on ${name}`);
  }
  await go('#/vms?name=web-a', 'vms');
  await page.click('a:has-text("web-a")');
  await ready('vm');
  const vmButtons = (await page.locator('#view button').allInnerTexts()).filter((t) => actions.test(t.trim()));
  if (vmButtons.length) fail(`reader sees ${vmButtons.join(', ')} on a VM`);
  // a reader may still download the VM's .rdp file (fetched with the key, saved from a blob)
  const [rdp] = await Promise.all([page.waitForEvent('download', { timeout: STEP_MS }),
    page.click('button:has-text("Download RDP file")')]);
  const rdpPath = join(work, 'web-a.rdp');
  await rdp.saveAs(rdpPath);
  const rdpText = readFileSync(rdpPath, 'utf8');
  if (!rdp.suggestedFilename().endsWith('.rdp') || !/full address:s:/i.test(rdpText)) fail(`RDP download: ${rdp.suggestedFilename()}: ${rdpText.slice(0, 200)}`);
  await page.waitForSelector('.notice:has-text("Downloaded")', { timeout: STEP_MS });
  await check('reader-vm');
  await go('#/audit', 'audit');
  await page.waitForSelector('.problem', { timeout: STEP_MS }); // readers are refused the audit log
  await check('reader-audit-refused');

  // Entra: authorization code with PKCE at azsim's /authorize, where Carol signs in holding
  // the operator app role; back on the dashboard the code is gone from the URL and the token
  // is the bearer: /v1/me says user and operator, and the operator's actions show
  await page.click('#signout');
  await page.waitForSelector('#entra-signin', { state: 'visible', timeout: STEP_MS });
  const tEntra = Date.now();
  await page.click('#entra-signin');
  await page.waitForURL(/\/oauth2\/v2\.0\/authorize\?/, { timeout: STEP_MS });
  const authz = new URL(page.url());
  if (authz.origin !== sim || authz.searchParams.get('code_challenge_method') !== 'S256' ||
      (authz.searchParams.get('code_challenge') || '').length !== 43 || !authz.searchParams.get('state')) {
    fail(`authorize request: ${page.url()}`);
  }
  shot++;
  await page.screenshot({ path: join(OUT, `${String(shot).padStart(2, '0')}-azsim-picker.png`), fullPage: true });
  await page.check('label:has-text("carol@contoso.example") input[type=radio]');
  await page.selectOption('select[name=role]', 'VmLogin.Operator');
  await page.click('button[type=submit]');
  await page.waitForURL((u) => u.origin === base, { timeout: STEP_MS });
  await ready('fleet');
  figures.entra_signin_to_fleet_ms = Date.now() - tEntra;
  if (/[?&](code|state)=/.test(page.url())) fail(`the code stayed in the URL: ${page.url()}`);
  const who = await page.innerText('#who');
  if (!/^user:6b7c8d9e-0000-4000-8000-00000000d003 · operator/.test(who)) fail(`signed in as ${who}`);
  const bearer = await page.evaluate(() => sessionStorage.getItem('vmlogind.apiKey'));
  if (!bearer || bearer.split('.').length !== 3) fail('no access token in sessionStorage');
  if ((await page.evaluate(() => sessionStorage.getItem('vmlogind.entraPending'))) !== null) fail('the PKCE verifier was left behind');
  if ((await context.cookies(base)).length !== 0) fail('a cookie was set on the dashboard');
  await page.waitForSelector('#live[data-state="live"]', { timeout: STEP_MS });
  if (!(await page.isVisible('text=Sync now'))) fail('an Entra operator sees no Sync now');
  await check('entra-fleet');
  await go('#/grants', 'grants');
  if ((await page.locator('form[aria-label="Grant login"] button[type=submit]').count()) !== 1) fail('an Entra operator cannot grant');
  await check('entra-grants');

  if (cspViolations.length) failures.push(`CSP violations: ${cspViolations.join(' | ')}`);
  await browser.close();
}

let code = 0;
try {
  await main();
} catch (e) {
  failures.push(e.stack || String(e));
  if (currentPage) {
    await currentPage.screenshot({ path: join(OUT, 'failure.png'), fullPage: true }).catch(() => {});
    failures.push(`view at the failure: ${await currentPage.locator('#view').innerText().catch(() => '?')}`.slice(0, 3000));
  }
}
if (stack) await stack.stop(true);
console.log(JSON.stringify({ figures, screenshots: OUT }, null, 1));
if (failures.length) {
  code = 1;
  console.error(`FAIL (logs kept in ${work}):\n${failures.join('\n')}`);
} else if (work) {
  rmSync(work, { recursive: true, force: true });
  console.log('PASS');
}
process.exit(code);
