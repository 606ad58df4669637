// views.js: one function per view, each rendering into the view element from the API. A
// reader gets no action buttons (ctx.canOperate / ctx.isAdmin from GET /v1/me); the server
// refuses anyway, and every refusal is shown with its problem title and detail.
import { call, get, download } from './api.js';
import { el, table, problemBox, notice, attempt, pager, field, select, fmtTime, countdown,
  stateSpan, vmPath, vmName } from './ui.js';

const LOGIN_STATES = ['', 'enabled', 'pending', 'failed', 'unsupported', 'excluded', 'notCovered',
  'drifted', 'disabling', 'disabled'];
const vmLink = (id) => el('a', { href: `#/vm?id=${encodeURIComponent(id)}` }, vmName(id));

// ---- Fleet: compliance per subscription, sync status ---------------------------------------
export async function fleet(view, ctx) {
  const out = el('div');
  const msg = el('div');
  view.replaceChildren(el('h1', {}, 'Fleet'), msg, out);
  async function load() {
    const [comp, sync] = await Promise.all([get('/v1/compliance'), get('/v1/sync')]);
    const t = comp.total || { counts: {} };
    const cards = el('div', { class: 'cards' },
      ['enabled', 'pending', 'failed', 'notCovered', 'unsupported', 'excluded'].map((k) =>
        el('div', { class: 'card' }, el('div', { class: 'n' }, String(t.counts[k] ?? 0)), k)));
    const bar = (c, total) => el('div', { class: 'bar', role: 'img', 'aria-label': `${c.enabled || 0} of ${total} enabled` },
      ['enabled', 'pending', 'failed'].map((k) => el('span', { class: k, 'data-w': k })),
      el('span', { class: 'other' }));
    const subs = table('Compliance by subscription', [
      { h: 'Subscription', get: (s) => el('a', { href: `#/vms?subscription=${s.subscriptionId}` }, s.subscriptionId), mono: true },
      { h: 'VMs', get: (s) => String(s.total), num: true },
      { h: 'Enabled', get: (s) => String(s.counts.enabled), num: true },
      { h: 'Pending', get: (s) => String(s.counts.pending), num: true },
      { h: 'Failed', get: (s) => String(s.counts.failed), num: true },
      { h: 'Not covered', get: (s) => String(s.counts.notCovered), num: true },
      { h: 'Unsupported', get: (s) => String(s.counts.unsupported), num: true },
      { h: 'Failed by cause', get: (s) => Object.entries(s.failedByCause || {}).map(([k, v]) => `${k}: ${v}`).join(', ') || '—' },
      { h: 'Share enabled', get: (s) => sizeBar(bar(s.counts, s.total), s.counts, s.total) },
    ], comp.subscriptions, 'No subscription synced yet.');
    const last = sync.last || {};
    const counts = last.counts || {};
    const syncFacts = el('dl', { class: 'facts' },
      el('dt', {}, 'State'), el('dd', {}, stateSpan(sync.state)),
      el('dt', {}, 'Last run'), el('dd', {}, stateSpan(last.state), ' finished ', fmtTime(last.finishedAt)),
      el('dt', {}, 'VMs seen'), el('dd', {}, String(counts.vms ? counts.vms.seen : '—')),
      el('dt', {}, 'Rows written'), el('dd', {}, String(counts.rowsWritten ?? '—')),
      el('dt', {}, 'Errors'), el('dd', {}, String(counts.errors ?? '—'), last.lastError ? ` (${last.lastError})` : ''),
      el('dt', {}, 'Next run'), el('dd', {}, fmtTime(sync.nextRunAt)));
    const act = el('div', { class: 'actions' });
    if (ctx.canOperate) {
      act.append(el('button', { type: 'button', onclick: async () => {
        const r = await attempt(msg, () => call('POST', '/v1/sync'));
        if (r) msg.replaceChildren(notice('Sync started.'));
      } }, 'Sync now'));
    }
    out.replaceChildren(cards, el('h2', {}, 'Compliance'), subs, el('h2', {}, 'Inventory sync'), syncFacts, act);
  }
  await attempt(msg, load);
  ctx.on((ev) => { if (ev.type === 'sync.finished' || ev.type === 'login.changed') ctx.debounce('fleet', () => load().catch(() => {})); });
}

// Bar segment widths through the CSSOM (the style-src policy forbids style attributes).
function sizeBar(bar, c, total) {
  const n = total || 1;
  const spans = bar.querySelectorAll('span');
  const parts = [c.enabled || 0, c.pending || 0, c.failed || 0];
  parts.forEach((v, i) => { spans[i].style.width = `${(100 * v) / n}%`; });
  spans[3].style.width = `${(100 * Math.max(0, n - parts.reduce((a, b) => a + b, 0))) / n}%`;
  return bar;
}

// ---- VMs: filters, name search, cursor paging ---------------------------------------------
export async function vms(view, ctx, params) {
  const form = el('form', { class: 'inline', role: 'search', 'aria-label': 'Filter VMs' });
  const q = {
    name: el('input', { name: 'name', type: 'search', value: params.get('name') || '' }),
    subscription: el('input', { name: 'subscription', value: params.get('subscription') || '', size: 38 }),
    resourceGroup: el('input', { name: 'resourceGroup', value: params.get('resourceGroup') || '' }),
    loginState: select('loginState', LOGIN_STATES.map((s) => [s, s || 'any']), params.get('loginState') || ''),
    supported: select('supported', [['', 'any'], ['true', 'supported'], ['false', 'unsupported']], params.get('supported') || ''),
    tag: el('input', { name: 'tag', value: params.get('tag') || '', placeholder: 'name or name:value' }),
  };
  form.append(field('Name contains', q.name), field('Subscription', q.subscription),
    field('Resource group', q.resourceGroup), field('Login state', q.loginState),
    field('OS support', q.supported), field('Tag', q.tag), el('button', { type: 'submit' }, 'Search'));
  const msg = el('div');
  const out = el('div');
  view.replaceChildren(el('h1', {}, 'VMs'), form, msg, out);
  const state = { stack: [], current: null };
  function first() {
    const u = new URLSearchParams();
    for (const [k, input] of Object.entries(q)) if (input.value) u.set(k, input.value);
    u.set('limit', '10');
    return `/v1/virtualMachines?${u}`;
  }
  async function load(url) {
    state.current = url;
    const page = await attempt(msg, () => get(url));
    if (!page) return;
    out.replaceChildren(table('Virtual machines', [
      { h: 'Name', get: (v) => vmLink(v.id) },
      { h: 'Resource group', get: (v) => v.resourceGroup },
      { h: 'OS', get: (v) => `${v.osName || v.osType || ''} ${v.osVersion || ''}`.trim() },
      { h: 'Power', get: (v) => v.powerState || '—' },
      { h: 'Login state', get: (v) => stateSpan(v.loginState) },
      { h: 'Support', get: (v) => (v.osSupport ? v.osSupport.reason || v.osSupport.state : '—') },
    ], page.value, 'No VM matches.'), pager(state, page.nextLink, load));
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); state.stack = []; load(first()); });
  await load(first());
}

// ---- One VM: facts, login, extension, preflight, access, RDP --------------------------------
export async function vm(view, ctx, params) {
  const id = params.get('id');
  const base = vmPath(id);
  const msg = el('div');
  view.replaceChildren(el('h1', {}, `VM ${vmName(id)}`), msg);
  if (!base) { msg.append(problemBox({ problem: { title: 'Not a VM id', detail: id } })); return; }
  const v = await attempt(msg, () => get(base));
  if (!v) return;
  const login = await get(`${base}/entraLogin`).catch(() => null);
  const facts = el('dl', { class: 'facts' },
    el('dt', {}, 'Id'), el('dd', { class: 'mono' }, v.id),
    el('dt', {}, 'Computer name'), el('dd', {}, v.computerName || '—'),
    el('dt', {}, 'OS'), el('dd', {}, `${v.osName || ''} ${v.osVersion || ''}`),
    el('dt', {}, 'Support'), el('dd', {}, v.osSupport ? `${v.osSupport.state}${v.osSupport.reason ? `: ${v.osSupport.reason}` : ''}` : '—'),
    el('dt', {}, 'Power'), el('dd', {}, v.powerState || '—'),
    el('dt', {}, 'Location'), el('dd', {}, v.location || '—'),
    el('dt', {}, 'Identity'), el('dd', {}, (v.identity && v.identity.type) || 'none'),
    el('dt', {}, 'Login state'), el('dd', { id: 'vm-login' }, stateSpan(v.loginState)),
    el('dt', {}, 'Login extension'), el('dd', {}, v.loginExtension ? `${v.loginExtension.name || ''} ${v.loginExtension.provisioningState || v.loginExtension.state || ''} ${v.loginExtension.version || ''}` : 'not installed'));
  const act = el('div', { class: 'actions' });
  const result = el('div');
  if (ctx.canOperate) {
    act.append(
      el('button', { type: 'button', onclick: () => preflight(base, result) }, 'Run preflight'),
      el('button', { type: 'button', class: 'secondary', onclick: () => startOp('PUT', `${base}/entraLogin`, {}, result) }, 'Enable login'),
      el('button', { type: 'button', class: 'secondary', onclick: () => startOp('DELETE', `${base}/entraLogin`, undefined, result) }, 'Disable login'));
  }
  act.append(el('button', { type: 'button', class: 'secondary', onclick: async () => {
    const name = await attempt(result, () => download(`${base}/rdp`, `${v.name}.rdp`));
    if (name) result.replaceChildren(notice(`Downloaded ${name}.`));
  } }, 'Download RDP file'));
  const access = el('div');
  const who = el('input', { name: 'principal', size: 40, required: true });
  const why = el('div');
  const whyForm = el('form', { class: 'inline', 'aria-label': 'Why can she not sign in' },
    field('User principal name or object id', who), el('button', { type: 'submit' }, 'Check sign-in'));
  whyForm.addEventListener('submit', (e) => { e.preventDefault(); signIn(base, who.value.trim(), why); });
  view.append(facts, login ? el('p', { class: 'help' }, `Desired at this VM: ${login.desired || (login.vm && login.vm.state) || '—'}`) : null,
    el('h2', {}, 'Actions'), act, result, el('h2', {}, 'Who can sign in, and how'), access,
    el('h2', {}, 'Why can\'t she sign in?'), whyForm, why);
  const acc = await attempt(access, () => get(`${base}/access`));
  if (acc) {
    access.replaceChildren(table('Effective access', [
      { h: 'Principal', get: (a) => el('a', { href: `#/principal?p=${encodeURIComponent(a.principal.upn || a.principal.id)}` }, a.principal.upn || a.principal.displayName || a.principal.id) },
      { h: 'Type', get: (a) => a.principal.type },
      { h: 'Role', get: (a) => a.role },
      { h: 'Via', get: (a) => a.via },
      { h: 'Scope', get: (a) => a.scope, mono: true },
      { h: 'Source', get: (a) => a.source },
      { h: 'Expires', get: (a) => (a.expiresAt ? `${fmtTime(a.expiresAt)} (${countdown(a.expiresAt)})` : 'never') },
    ], acc.value, 'Nobody can sign in with Entra ID yet.'));
  }
  ctx.on((ev) => {
    if (ev.type === 'login.changed' && ev.data && String(ev.data.vm).toLowerCase() === v.id.toLowerCase()) {
      document.getElementById('vm-login')?.replaceChildren(stateSpan(ev.data.state), ev.data.step ? ` (${ev.data.step})` : '');
    }
  });
}

// GET .../signIn?principal=: the verdict and every check with its reason and fix. The first
// question schedules a read of her directory facts; ask again (up to 30 s) until they are in.
async function signIn(base, principal, into) {
  if (!principal) return;
  const path = `${base}/signIn?principal=${encodeURIComponent(principal)}`;
  into.replaceChildren(notice('Checking…'));
  let r = await attempt(into, () => get(path));
  for (let i = 0; r && r.directory && r.directory.state === 'pending' && i < 30; i++) {
    await new Promise((done) => setTimeout(done, 1000));
    r = await attempt(into, () => get(path));
  }
  if (!r) return;
  into.replaceChildren(
    el('p', { id: 'signin-verdict' }, `${principal}: `, stateSpan(r.verdict)),
    table('Sign-in checks', [
      { h: 'Check', get: (c) => c.title || c.id },
      { h: 'Status', get: (c) => stateSpan(c.status) },
      { h: 'Reason', get: (c) => c.reason || '' },
      { h: 'Fix', get: (c) => c.fix || (c.permission ? `grant vmlogind ${c.permission}` : '') },
    ], r.checks, 'No checks returned.'));
}

async function preflight(base, into) {
  const r = await attempt(into, () => call('POST', `${base}/entraLogin/preflight`));
  if (!r) return;
  const checks = (r.data && (r.data.checks || r.data.value)) || [];
  into.replaceChildren(table('Preflight', [
    { h: 'Check', get: (c) => c.name || c.check || c.id },
    { h: 'Result', get: (c) => stateSpan(c.result || c.status || (c.pass ? 'pass' : 'fail')) },
    { h: 'Reason', get: (c) => c.reason || c.message || '' },
  ], checks, 'No checks returned.'));
}

async function startOp(method, path, body, into) {
  const r = await attempt(into, () => call(method, path, body));
  if (!r) return;
  const op = r.location || (r.data && r.data.id ? `/v1/operations/${r.data.id}` : null);
  into.replaceChildren(notice('Accepted. '), op ? el('a', { href: `#/operations?id=${op.split('/').pop()}` }, 'Follow the operation') : '');
}

// ---- Operations: start one, follow it live -------------------------------------------------
const seenOps = new Map(); // id -> last event data (this tab, from /v1/events)
export function noteOperation(ev) {
  if (ev.type === 'operation.progress' && ev.data && ev.data.operationId) {
    const prev = seenOps.get(ev.data.operationId) || {};
    seenOps.set(ev.data.operationId, { ...prev, ...(ev.data.kind ? ev.data : { status: ev.data.status }) });
  }
}

export async function operations(view, ctx, params) {
  const msg = el('div');
  const detail = el('div', { id: 'op-detail' });
  view.replaceChildren(el('h1', {}, 'Operations'), msg);
  if (ctx.canOperate) {
    const scope = el('input', { name: 'scope', size: 70, required: true, placeholder: '/subscriptions/…/resourceGroups/…' });
    const what = select('action', [['enable', 'Enable Entra login'], ['disable', 'Disable Entra login']], 'enable');
    const form = el('form', { class: 'inline', 'aria-label': 'Start an operation' },
      field('Scope (subscription, resource group or VM)', scope), field('Action', what),
      el('button', { type: 'submit' }, 'Start'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const s = scope.value.trim().replace(/\/providers\/Microsoft\.Compute\/virtualMachines\//i, '/virtualMachines/');
      const r = await attempt(msg, () => call(what.value === 'enable' ? 'PUT' : 'DELETE', `/v1${s}/entraLogin`, what.value === 'enable' ? {} : undefined));
      if (r && r.location) location.hash = `#/operations?id=${r.location.split('/').pop()}`;
    });
    view.append(form);
  }
  const lookup = el('input', { name: 'operation', size: 40, value: params.get('id') || '' });
  const lf = el('form', { class: 'inline', 'aria-label': 'Open an operation' }, field('Operation id', lookup), el('button', { type: 'submit', class: 'secondary' }, 'Open'));
  lf.addEventListener('submit', (e) => { e.preventDefault(); location.hash = `#/operations?id=${encodeURIComponent(lookup.value.trim())}`; });
  const list = el('div');
  view.append(lf, detail, el('h2', {}, 'Seen live in this tab'), list);
  function renderList() {
    list.replaceChildren(table('Operations seen on the event stream', [
      { h: 'Operation', get: ([id]) => el('a', { href: `#/operations?id=${id}` }, id), mono: true },
      { h: 'Kind', get: ([, o]) => o.kind || '—' },
      { h: 'Target', get: ([, o]) => o.target || '—', mono: true },
      { h: 'Status', get: ([, o]) => stateSpan(o.status) },
    ], [...seenOps.entries()].reverse(), 'None yet: start one, or wait for one.'));
  }
  renderList();
  const id = params.get('id');
  async function loadOp() {
    const o = await attempt(detail, () => get(`/v1/operations/${encodeURIComponent(id)}`));
    if (!o) return;
    const items = o.virtualMachines || o.items || [];
    detail.replaceChildren(el('h2', {}, `Operation ${o.kind}`),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Id'), el('dd', { class: 'mono' }, o.id),
        el('dt', {}, 'Target'), el('dd', { class: 'mono' }, o.target),
        el('dt', {}, 'Status'), el('dd', { id: 'op-status' }, stateSpan(o.status)),
        el('dt', {}, 'Summary'), el('dd', {}, Object.entries(o.summary || {}).map(([k, v]) => `${k}: ${v}`).join(', ') || '—'),
        el('dt', {}, 'Started'), el('dd', {}, fmtTime(o.createdAt)),
        el('dt', {}, 'Ended'), el('dd', {}, fmtTime(o.endedAt))),
      o.error ? problemBox({ problem: { title: o.error.code, detail: o.error.message } }) : '',
      table('Per VM', [
        { h: 'VM', get: (i) => (i.id && i.id.startsWith('/subscriptions/') ? vmLink(i.id) : i.id) },
        { h: 'Status', get: (i) => stateSpan(i.status) },
        { h: 'Step', get: (i) => i.step || '' },
        { h: 'Diagnosis', get: (i) => (i.error ? el('span', {}, `${i.error.code || ''}: ${i.error.message || ''}`, i.error.fix ? el('br') : '', i.error.fix ? `Fix: ${i.error.fix}` : '') : (i.note || '')) },
      ], items, 'No VM in this operation (yet).'));
  }
  if (id) await loadOp();
  ctx.on((ev) => {
    if (ev.type !== 'operation.progress') return;
    ctx.debounce('oplist', renderList);
    if (id && ev.data && ev.data.operationId === id) ctx.debounce('op', () => loadOp());
  });
}

// ---- Grants: list, create, extend, revoke ---------------------------------------------------
// The principal look-up: typing (2 characters or more, not an object id) asks GET
// /v1/principals?search= after a pause and offers the users (by UPN) and groups (by object id)
// in a datalist; picking a group's id sets the type. Answers to older text are dropped.
function lookup(input, type) {
  const list = el('datalist', { id: 'principal-options' });
  const hint = el('p', { id: 'principal-hint', class: 'help', 'aria-live': 'polite' });
  const kinds = new Map();
  let timer = null;
  let seq = 0;
  input.addEventListener('input', () => {
    const q = input.value.trim();
    if (kinds.has(q)) type.value = kinds.get(q);
    clearTimeout(timer);
    if (q.length < 2 || q.length > 64 || /^[0-9a-f-]{36}$/i.test(q) || kinds.has(q)) return;
    timer = setTimeout(async () => {
      const mine = ++seq;
      let r;
      try { r = await get(`/v1/principals?search=${encodeURIComponent(q)}`); } catch (e) {
        if (mine === seq) hint.textContent = `look-up: ${e.message}`;
        return;
      }
      if (mine !== seq) return;
      kinds.clear();
      list.replaceChildren(...r.value.map((p) => {
        const value = p.kind === 'user' && p.userPrincipalName ? p.userPrincipalName : p.id;
        kinds.set(value, p.kind);
        return el('option', { value, label: `${p.displayName || value} (${p.kind})` });
      }));
      hint.textContent = r.value.length ? `${r.value.length} match${r.value.length === 1 ? '' : 'es'} in the directory` : 'no match in the directory';
    }, 250);
  });
  return el('div', {}, list, hint);
}

export async function grants(view, ctx, params) {
  const msg = el('div');
  const out = el('div');
  view.replaceChildren(el('h1', {}, 'Login grants'), msg);
  if (ctx.canOperate) {
    const f = {
      scope: el('input', { name: 'scope', size: 60, required: true, placeholder: '/subscriptions/…/resourceGroups/…' }),
      role: select('role', [['user', 'user login'], ['administrator', 'administrator login']], 'user'),
      principal: el('input', { name: 'principal', required: true, placeholder: 'alice@contoso.example or object id',
        list: 'principal-options', autocomplete: 'off', 'aria-describedby': 'principal-hint' }),
      type: select('type', [['user', 'user'], ['group', 'group'], ['servicePrincipal', 'service principal']], 'user'),
      hours: el('input', { name: 'hours', type: 'number', min: 0, max: 8760, value: '' }),
      justification: el('input', { name: 'justification', size: 30 }),
    };
    const found = lookup(f.principal, f.type);
    const form = el('form', { class: 'inline', 'aria-label': 'Grant login' },
      field('Scope', f.scope), field('Role', f.role), field('Principal (UPN or object id)', f.principal),
      found,
      field('Principal type', f.type), field('Expires in hours (empty: never)', f.hours),
      field('Justification', f.justification), el('button', { type: 'submit' }, 'Grant'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const p = f.principal.value.trim();
      const body = { scope: f.scope.value.trim(), role: f.role.value,
        principal: /^[0-9a-f-]{36}$/i.test(p) ? { objectId: p, type: f.type.value } : { upn: p } };
      if (f.hours.value) body.expiresAt = new Date(Date.now() + Number(f.hours.value) * 3600e3).toISOString().replace(/\.\d+Z$/, 'Z');
      if (f.justification.value) body.justification = f.justification.value;
      const r = await attempt(msg, () => call('POST', '/v1/loginGrants', body));
      if (r) { msg.replaceChildren(notice(`Grant ${r.data.id} accepted (${r.data.state}).`)); load(state.current); }
    });
    view.append(el('h2', {}, 'Grant login'), form);
  }
  const filt = {
    scope: el('input', { name: 'fscope', size: 50, value: params.get('scope') || '' }),
    principal: el('input', { name: 'fprincipal', value: params.get('principal') || '' }),
    state: select('fstate', ['', 'pending', 'active', 'failed', 'revoking', 'revoked', 'expired'].map((s) => [s, s || 'any']), params.get('state') || ''),
  };
  const ff = el('form', { class: 'inline', role: 'search', 'aria-label': 'Filter grants' },
    field('Scope', filt.scope), field('Principal', filt.principal), field('State', filt.state),
    el('button', { type: 'submit', class: 'secondary' }, 'Filter'));
  const lmsg = el('div'); // the list's own refusals: msg keeps the last action's outcome
  view.append(el('h2', {}, 'Grants'), ff, lmsg, out);
  const state = { stack: [], current: null };
  const first = () => {
    const u = new URLSearchParams({ limit: '20' });
    for (const [k, i] of Object.entries(filt)) if (i.value) u.set(k, i.value);
    return `/v1/loginGrants?${u}`;
  };
  async function act(fn, done) {
    const r = await attempt(msg, fn);
    if (r) { msg.replaceChildren(notice(done)); load(state.current); }
  }
  async function load(url) {
    state.current = url;
    const page = await attempt(lmsg, () => get(url));
    if (!page) return;
    const cols = [
      { h: 'Principal', get: (g) => el('a', { href: `#/principal?p=${encodeURIComponent(g.principal.upn || g.principal.objectId)}` }, g.principal.upn || g.principal.objectId) },
      { h: 'Role', get: (g) => g.role },
      { h: 'Scope', get: (g) => g.scope, mono: true },
      { h: 'State', get: (g) => stateSpan(g.state) },
      { h: 'Expires', get: (g) => el('span', { 'data-expires': g.expiresAt || '' }, g.expiresAt ? `${fmtTime(g.expiresAt)} (${countdown(g.expiresAt)})` : 'never') },
      { h: 'Justification', get: (g) => g.justification || '' },
    ];
    if (ctx.canOperate) {
      cols.push({ h: 'Actions', get: (g) => (['pending', 'active'].includes(g.state)
        ? el('div', { class: 'actions' },
          el('button', { type: 'button', class: 'secondary', 'aria-label': `Extend grant of ${g.principal.upn || g.principal.objectId} by one hour`,
            onclick: () => act(() => call('PATCH', `/v1/loginGrants/${g.id}`, { expiresAt: new Date(Math.max(Date.now(), g.expiresAt ? new Date(g.expiresAt).getTime() : Date.now()) + 3600e3).toISOString().replace(/\.\d+Z$/, 'Z') }), 'Extended by one hour.') }, 'Extend 1 h'),
          el('button', { type: 'button', class: 'danger', 'aria-label': `Revoke grant of ${g.principal.upn || g.principal.objectId}`,
            onclick: () => act(() => call('DELETE', `/v1/loginGrants/${g.id}`), 'Revocation accepted.') }, 'Revoke'))
        : '') });
    }
    out.replaceChildren(table('Login grants', cols, page.value, 'No grant matches.'), pager(state, page.nextLink, load));
  }
  ff.addEventListener('submit', (e) => { e.preventDefault(); state.stack = []; load(first()); });
  await load(first());
  ctx.on((ev) => { if (ev.type === 'grant.changed') ctx.debounce('grants', () => load(state.current)); });
  ctx.every(() => {
    for (const s of view.querySelectorAll('[data-expires]')) {
      const iso = s.getAttribute('data-expires');
      if (iso) s.textContent = `${fmtTime(iso)} (${countdown(iso)})`;
    }
  });
}

// ---- Principal: where she can sign in -------------------------------------------------------
export async function principal(view, ctx, params) {
  const input = el('input', { name: 'p', size: 40, value: params.get('p') || '', required: true });
  const form = el('form', { class: 'inline', role: 'search', 'aria-label': 'Find a principal' },
    field('User principal name or object id', input), el('button', { type: 'submit' }, 'Show access'));
  const out = el('div');
  view.replaceChildren(el('h1', {}, 'Principal'), form, out);
  form.addEventListener('submit', (e) => { e.preventDefault(); location.hash = `#/principal?p=${encodeURIComponent(input.value.trim())}`; });
  const p = params.get('p');
  if (!p) return;
  const r = await attempt(out, () => get(`/v1/principals/${encodeURIComponent(p)}/access`));
  if (!r) return;
  const who = r.principal || {};
  const rows = r.assignments || r.value || [];
  out.replaceChildren(el('h2', {}, who.displayName || who.upn || p),
    el('dl', { class: 'facts' },
      el('dt', {}, 'UPN'), el('dd', {}, who.upn || '—'),
      el('dt', {}, 'Object id'), el('dd', { class: 'mono' }, who.id || '—'),
      el('dt', {}, 'Type'), el('dd', {}, who.type || '—'),
      el('dt', {}, 'Account'), el('dd', {}, who.accountEnabled === false ? 'disabled' : 'enabled')),
    table('Where this principal can sign in', [
      { h: 'Scope', get: (a) => (vmPath(a.scope) ? vmLink(a.scope) : a.scope), mono: true },
      { h: 'Role', get: (a) => a.role },
      { h: 'Via', get: (a) => a.via },
      { h: 'Source', get: (a) => a.source },
      { h: 'Expires', get: (a) => (a.expiresAt ? `${fmtTime(a.expiresAt)} (${countdown(a.expiresAt)})` : 'never') },
    ], rows, 'No VM login anywhere in the caller\'s scopes.'));
}

// ---- Approvals: pending just-in-time activations, approve or deny ---------------------------
// The server decides who may approve (an approver by group, never the requester): the buttons
// are offered to everyone who sees the activation, and a refusal is shown with its problem.
export async function approvals(view, ctx) {
  const msg = el('div');
  const out = el('div');
  const lmsg = el('div'); // the list's own refusals: msg keeps the last decision's outcome
  const reason = el('input', { name: 'reason', size: 40, placeholder: 'required to deny' });
  view.replaceChildren(el('h1', {}, 'Approvals'),
    el('p', { class: 'help' }, 'Just-in-time activations waiting for approval. Sign in with your own Entra token to decide.'),
    el('form', { class: 'inline', 'aria-label': 'Reason' }, field('Reason', reason)), msg, lmsg, out);
  const state = { stack: [], current: null };
  async function decide(a, verb) {
    const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
    const r = await attempt(msg, () => call('POST', `/v1/activations/${a.id}/${verb}`, body));
    if (r) { msg.replaceChildren(notice(`Activation ${a.id} ${r.data.state}.`)); load(state.current); }
  }
  async function load(url) {
    state.current = url;
    const page = await attempt(lmsg, () => get(url));
    if (!page) return;
    out.replaceChildren(table('Pending activations', [
      { h: 'Principal', get: (a) => a.principal.objectId, mono: true },
      { h: 'Role', get: (a) => a.role },
      { h: 'Scope', get: (a) => (vmPath(a.scope) ? vmLink(a.scope) : a.scope), mono: true },
      { h: 'Duration', get: (a) => a.duration },
      { h: 'Justification', get: (a) => a.justification || '' },
      { h: 'Ticket', get: (a) => a.ticket || '' },
      { h: 'Requested by', get: (a) => a.requestedBy, mono: true },
      { h: 'Lapses', get: (a) => (a.pendingUntil ? `${fmtTime(a.pendingUntil)} (${countdown(a.pendingUntil)})` : '') },
      { h: 'Actions', get: (a) => el('div', { class: 'actions' },
        el('button', { type: 'button', 'aria-label': `Approve activation of ${a.principal.objectId}`,
          onclick: () => decide(a, 'approve') }, 'Approve'),
        el('button', { type: 'button', class: 'danger', 'aria-label': `Deny activation of ${a.principal.objectId}`,
          onclick: () => decide(a, 'deny') }, 'Deny')) },
    ], page.value, 'Nothing waits for approval.'), pager(state, page.nextLink, load));
  }
  await load('/v1/activations?state=pendingApproval&limit=20');
}

// ---- Audit: the log, paged ------------------------------------------------------------------
export async function audit(view, ctx) {
  const msg = el('div');
  const out = el('div');
  const chain = el('div', { id: 'audit-chain' });
  view.replaceChildren(el('h1', {}, 'Audit log'), chain, msg, out);
  let refused = false; // the caller may not read the audit trail at all: one refusal is enough
  async function verify() {
    const v = await attempt(chain, () => get('/v1/audit/verification').catch((e) => {
      refused = e.status === 403;
      throw e;
    }));
    if (!v) return;
    const again = el('button', { type: 'button', class: 'secondary', onclick: verify }, 'Verify again');
    chain.replaceChildren(v.intact
      ? el('div', { class: 'notice', role: 'status', 'data-intact': 'true' },
        `Hash chain intact: ${v.rows} records checked, ${v.checkpoints} signed checkpoints (newest at seq ${v.checkpointSeq}), verified ${fmtTime(v.checkedAt)}. `, again)
      : el('div', { class: 'problem', role: 'alert', 'data-intact': 'false' },
        el('h2', {}, 'Hash chain BROKEN'),
        el('p', {}, `First bad record: seq ${v.brokenSeq}. ${v.code || ''}: ${v.message || ''}`),
        el('p', {}, 'Run vmlogind audit verify with the checkpoint file, and keep a copy of the database as it is.'), again));
  }
  await verify();
  if (refused) return;
  const state = { stack: [], current: null };
  async function load(url) {
    state.current = url;
    const page = await attempt(msg, () => get(url));
    if (!page) return;
    out.replaceChildren(table('Audit records', [
      { h: 'Seq', get: (a) => String(a.seq), num: true },
      { h: 'At', get: (a) => fmtTime(a.at) },
      { h: 'Actor', get: (a) => a.actor, mono: true },
      { h: 'Action', get: (a) => a.action },
      { h: 'Target', get: (a) => a.target, mono: true },
      { h: 'Outcome', get: (a) => stateSpan(a.outcome) },
    ], page.value, 'No record.'), pager(state, page.nextLink, load));
  }
  await load('/v1/audit?limit=25');
}
