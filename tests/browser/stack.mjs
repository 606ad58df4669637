// stack.mjs: azsim and vmlogind on free loopback ports for the Node.js tests (tests/browser's
// CORS page, tests/client-ts's generated client): a test certificate made here, the demo
// scenario, a migrated database, API keys, and the first sync waited for. Node builtins only.
//   const s = await startStack({ extraConfig: ['cors_allowed_origins = ...'], vms: [...] });
//   ... s.base, s.admin, s.reader, s.sim ...; await s.stop();
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const TENANT = '8f3c1a2e-0000-4000-8000-00000000aaaa';
export const SUB = '5d0f6e8a-0000-4000-8000-00000000bbbb';
export const STEP_MS = 20000;

export function fail(msg) { throw new Error(msg); }

// Chromium (CHROMIUM, else Debian's /usr/bin/chromium) and playwright-core as
// scripts/install-deps.sh installs it (npm ci of tests/browser's package-lock.json into
// .cache/browser), or NODE_MODULES_DIR: {chromium, chromiumPath, require} (require resolves in
// those modules). Exits 77 (ctest SKIP) only when there is no Chromium; 1 when a module is missing.
export function browserSetup(what = 'playwright-core') {
  const modules = process.env.NODE_MODULES_DIR || join(process.env.SOURCE_DIR || '.', '.cache/browser/node_modules');
  const require = createRequire(join(resolve(modules), 'index.js'));
  const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(chromiumPath)) {
    console.log(`SKIP: no Chromium at ${chromiumPath} (apt-get install chromium)`);
    process.exit(77);
  }
  try {
    return { chromium: require('playwright-core').chromium, chromiumPath, require };
  } catch (e) {
    console.error(`FAIL: ${what} missing: run scripts/install-deps.sh (npm ci in tests/browser)`);
    process.exit(1);
  }
}

// Polls fn until it returns a truthy value, for up to ms.
export async function until(what, fn, ms = STEP_MS) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`${what}: not within ${ms} ms (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

// One API call with a bearer key: {status, json, headers}.
export async function api(base, key, method, path, body) {
  const res = await fetch(base + path, {
    method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
}

function startProc(procs, work, bin, args, name) {
  const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  const log = [];
  p.stderr.on('data', (d) => log.push(d));
  p.on('exit', () => writeFileSync(join(work, `${name}.log`), Buffer.concat(log)));
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`${name} did not start`)), 15000);
    p.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    p.on('exit', (c) => reject(new Error(`${name} exited ${c}: ${Buffer.concat(log).toString().slice(-2000)}`)));
  });
}

// POST to azsim's control API over HTTPS with its own certificate as the only CA.
function simPost(url, body, ca) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = httpsRequest(url, { method: 'POST', ca, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } },
      (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end(data);
  });
}

// env: VMLOGIND_BIN, AZSIM_BIN, SOURCE_DIR. opts.extraConfig: lines appended to the settings;
// opts.vms: [{resourceGroup, name}] added to azsim before the first sync; opts.synced(state):
// whether GET /v1/sync's state shows the sync the test needs done (a succeeded one by default).
export async function startStack(opts = {}) {
  const { VMLOGIND_BIN: vmlogind, AZSIM_BIN: azsim, SOURCE_DIR: source } = process.env;
  if (!vmlogind || !azsim || !source) fail('VMLOGIND_BIN, AZSIM_BIN and SOURCE_DIR must be set');
  const work = mkdtempSync(join(tmpdir(), 'vmlogind-node-'));
  const procs = [];
  const crt = join(work, 'tls.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(work, 'tls.key'), '-out', crt], { stdio: 'ignore' });
  const stop = async (keep) => {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? null
      : new Promise((r) => { const t = setTimeout(() => { p.kill('SIGKILL'); r(); }, 5000); p.on('exit', () => { clearTimeout(t); r(); }); }))));
    if (!keep) rmSync(work, { recursive: true, force: true });
  };
  try {
    const sim = await startProc(procs, work, azsim, ['--listen', '127.0.0.1:0', '--tls-cert', crt, '--tls-key', join(work, 'tls.key'),
      '--scenario', join(source, 'sim/scenarios/demo.json'), '--time-scale', '0.02'], 'azsim');
    writeFileSync(join(work, 'secret'), 'azsim-demo-secret-not-a-credential');
    const conf = join(work, 'vmlogind.conf');
    writeFileSync(conf, [
      'cloud = custom', `arm_url = ${sim}`, `login_url = ${sim}`, `graph_url = ${sim}`, `imds_url = ${sim}`,
      `tenant_id = ${TENANT}`, 'client_id = 0a1b2c3d-0000-4000-8000-00000000c001', 'credential = secret',
      `client_secret_file = ${join(work, 'secret')}`, `ca_bundle = ${crt}`,
      'api_audience = api://vmlogind-test', `api_login_url = ${sim}`, 'sync_interval_s = 0',
      'reconcile_tick_ms = 50', 'lro_poll_min_ms = 0', 'lro_poll_max_ms = 200', 'login_recheck_s = 1',
      'events_poll_ms = 100', ...(opts.extraConfig || []), ''].join('\n'));
    const db = join(work, 'vmlogind.db');
    const run = (args) => execFileSync(vmlogind, [...args, '--config', conf, '--db', db], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    run(['migrate']);
    const key = (role) => /vlk_[A-Za-z0-9_-]+/.exec(run(['keys', 'create', '--name', role, '--role', role]))[0];
    const admin = key('administrator');
    const reader = key('reader');
    const base = await startProc(procs, work, vmlogind, ['--config', conf, '--db', db, '--listen', '127.0.0.1:0'], 'vmlogind');
    for (const vm of opts.vms || []) {
      const st = await simPost(`${sim}/_sim/vms`, { subscriptionId: SUB, location: 'westeurope', ...vm }, readFileSync(crt));
      if (Math.floor(st / 100) !== 2) fail(`azsim POST /_sim/vms: ${st}`);
    }
    await api(base, admin, 'POST', '/v1/sync');
    await until('the first sync', async () => {
      const s = (await api(base, admin, 'GET', '/v1/sync')).json;
      return s.state === 'idle' && s.last && s.last.state === 'succeeded' && (!opts.synced || opts.synced(s));
    });
    return { sim, base, admin, reader, work, stop };
  } catch (e) {
    await stop(true);
    throw new Error(`${e.message} (logs in ${work})`);
  }
}
