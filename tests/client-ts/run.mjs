// run.mjs: the typed client end to end. Generates TypeScript types from api/openapi.yaml with
// openapi-typescript, type-checks and compiles client.ts with tsc (strict; its
// @ts-expect-error lines must all be errors), then runs the compiled client against the real
// vmlogind and azsim: lists the VMs page by page, grants login, enables Entra login on a VM and
// follows the operation to its end, and reads problems' codes (a refused grant request, a
// revocation with a stale ETag: 412 precondition_failed; with the current one it goes).
//   node run.mjs   (env: VMLOGIND_BIN, AZSIM_BIN, SOURCE_DIR, OUT_DIR, NODE_MODULES_DIR)
// The npm packages come from scripts/install-deps.sh (npm ci of this directory's
// package-lock.json into .cache/client-ts) or NODE_MODULES_DIR; no network is used.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startStack, SUB, fail } from '../browser/stack.mjs';

const SOURCE = resolve(process.env.SOURCE_DIR || '.');
const OUT = resolve(process.env.OUT_DIR || join(process.cwd(), 'client-ts'));
const modules = resolve(process.env.NODE_MODULES_DIR || join(SOURCE, '.cache/client-ts/node_modules'));
const here = join(SOURCE, 'tests/client-ts');
const BOB = 'bob@contoso.example';

function must(cond, msg) { if (!cond) fail(msg); }

// types, type check and compile into OUT; returns the compiled module
async function build() {
  for (const m of ['openapi-typescript', 'openapi-fetch', 'typescript'])
    if (!existsSync(join(modules, m)))
      fail(`${m} missing in ${modules}: run scripts/install-deps.sh (npm ci in tests/client-ts)`);
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  symlinkSync(modules, join(OUT, 'node_modules'), 'dir');
  writeFileSync(join(OUT, 'package.json'), '{"type":"module","private":true}\n');
  copyFileSync(join(here, 'client.ts'), join(OUT, 'client.ts'));
  copyFileSync(join(here, 'tsconfig.json'), join(OUT, 'tsconfig.json'));
  const node = process.execPath;
  execFileSync(node, [join(modules, 'openapi-typescript/bin/cli.js'), join(SOURCE, 'api/openapi.yaml'),
    '-o', join(OUT, 'vmlogind.d.ts')], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    execFileSync(node, [join(modules, 'typescript/bin/tsc'), '-p', join(OUT, 'tsconfig.json')], { encoding: 'utf8' });
  } catch (e) {
    fail(`tsc refused client.ts:\n${e.stdout}${e.stderr}`);
  }
  return import(pathToFileURL(join(OUT, 'client.js')).href);
}

async function scenario(c, s) {
  const api = c.connect(s.base, s.admin);
  const figures = {};

  // list: page by page (limit 5), the same VMs the inventory holds, each with its required fields
  const vms = await c.listVms(api);
  const all = (await (await fetch(`${s.base}/v1/virtualMachines?limit=1000`, { headers: { Authorization: `Bearer ${s.admin}` } })).json()).value;
  must(vms.length === all.length && vms.length > 5, `listVms: ${vms.length} VMs, the API holds ${all.length}`);
  must(new Set(vms.map((v) => v.id.toLowerCase())).size === vms.length, 'listVms: a VM twice');
  for (const v of vms) must(typeof v.name === 'string' && typeof v.loginState === 'string', `VM without name or loginState: ${JSON.stringify(v)}`);
  figures.vms = vms.length;

  // a grant: 202 pending, the one Principal shape, an ETag
  const rg = `/subscriptions/${SUB}/resourceGroups/rg-entra`;
  const { grant, etag } = await c.grantUserLogin(api, rg, BOB);
  must(grant.role === 'user' && grant.scope.toLowerCase() === rg.toLowerCase(), `grant: ${JSON.stringify(grant)}`);
  must(grant.principal.upn === BOB && grant.principal.type === 'user', `grant principal: ${JSON.stringify(grant.principal)}`);
  must(/^"[0-9a-f]{32}"$/.test(etag), `grant ETag: ${etag}`);
  figures.principalLabel = c.principalLabel(grant.principal);

  // an operation followed to its end
  const vm = vms.find((v) => v.name === 'win-vm-01');
  must(vm, 'win-vm-01 not listed');
  const op = await c.enableLogin(api, SUB, vm.resourceGroup, vm.name);
  must(op.kind === 'entraLogin.enable' && op.id, `operation: ${JSON.stringify(op)}`);
  const done = await c.followOperation(api, op.id, 60000);
  must(done.status === 'Succeeded', `operation ended ${done.status}: ${JSON.stringify(done.error ?? done.steps)}`);
  figures.operation = done.status;

  // problems: a refused request's code, then a stale ETag's
  try {
    await c.grantUserLogin(api, '/providers/Microsoft.Management/managementGroups/mg', BOB);
    fail('a management-group grant was accepted');
  } catch (e) {
    must(e instanceof c.ApiProblem && e.status === 400 && e.code === 'management_group_scope', `problem: ${e.message}`);
    figures.refusedCode = e.code;
  }
  const fresh = await c.getGrant(api, grant.id);
  must(fresh.etag !== '' && fresh.grant.id === grant.id, 'getGrant: no ETag');
  try {
    await c.revokeGrant(api, grant.id, '"00000000000000000000000000000000"');
    fail('a revocation with a stale ETag was accepted');
  } catch (e) {
    must(e instanceof c.ApiProblem && e.status === 412 && e.code === 'precondition_failed', `problem: ${e.message}`);
    figures.staleCode = e.code;
  }
  // with the current ETag it goes (a reconciler step in between changes the ETag: read again)
  let revoked;
  for (let i = 0; i < 50 && !revoked; i++) {
    const cur = await c.getGrant(api, grant.id);
    try {
      revoked = await c.revokeGrant(api, grant.id, cur.etag);
    } catch (e) {
      if (!(e instanceof c.ApiProblem && e.code === 'precondition_failed')) throw e;
    }
  }
  must(revoked && ['revoking', 'revoked'].includes(revoked.state), `revoke: ${JSON.stringify(revoked)}`);
  return figures;
}

let code = 0;
let stack;
try {
  const c = await build();
  stack = await startStack();
  console.log(JSON.stringify(await scenario(c, stack)));
  console.log('PASS');
} catch (e) {
  console.error(`FAIL: ${e.stack || e}`);
  code = 1;
}
if (stack) await stack.stop(code !== 0);
if (code !== 0 && stack) console.error(`logs kept in ${stack.work}`);
process.exit(code);
