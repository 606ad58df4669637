// app.js: sign-in (an API key, or Entra through auth.js), the caller's role (GET /v1/me), the live event stream, and the hash router
// that mounts one view at a time. Views subscribe to events through ctx.on; what a view
// registers is dropped when the next view mounts.
import { get, getKey, setKey, clearKey, events } from './api.js';
import * as entra from './auth.js';
import { el, problemBox } from './ui.js';
import * as views from './views.js';

const routes = {
  fleet: views.fleet, vms: views.vms, vm: views.vm, operations: views.operations,
  grants: views.grants, principal: views.principal, audit: views.audit,
  approvals: views.approvals,
};
let me = null;
let stopEvents = null;
let listeners = [];
let timers = [];
const pending = new Map();
let mountSeq = 0;

function $(id) { return document.getElementById(id); }

function makeCtx() {
  return {
    canOperate: me && (me.role === 'operator' || me.role === 'administrator'),
    isAdmin: me && me.role === 'administrator',
    on(fn) { listeners.push(fn); },
    every(fn) { timers.push(setInterval(fn, 1000)); },
    debounce(key, fn) {
      if (pending.has(key)) return;
      pending.set(key, setTimeout(() => { pending.delete(key); fn(); }, 250));
    },
  };
}

async function mount() {
  const seq = ++mountSeq;
  listeners = [];
  timers.forEach(clearInterval);
  timers = [];
  pending.forEach(clearTimeout);
  pending.clear();
  const hash = location.hash.replace(/^#\/?/, '') || 'fleet';
  const [name, query] = hash.split('?');
  const view = $('view');
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const fn = routes[name] || routes.fleet;
  view.replaceChildren(el('p', { class: 'help' }, 'Loading…'));
  document.title = `vmlogind · ${name}`;
  try {
    await fn(view, makeCtx(), new URLSearchParams(query || ''));
  } catch (e) {
    if (seq === mountSeq) view.append(problemBox(e));
  }
  if (seq === mountSeq) view.setAttribute('data-ready', name);
}

function onEvent(ev) {
  views.noteOperation(ev);
  for (const fn of listeners) {
    try { fn(ev); } catch (e) { /* one view's trouble is not the stream's */ }
  }
}

async function signedIn() {
  me = await get('/v1/me');
  $('who').textContent = `${me.subject} · ${me.role}${me.unlimited ? '' : ` · ${me.scopes.join(', ')}`}`;
  document.body.setAttribute('data-role', me.role);
  $('signin').hidden = true;
  $('nav').hidden = false;
  $('view').hidden = false;
  $('signout').hidden = false;
  stopEvents = events(onEvent, (s) => { $('live').textContent = `events: ${s}`; $('live').setAttribute('data-state', s); });
  window.addEventListener('hashchange', mount);
  await mount();
}

function signOut() {
  clearKey();
  if (stopEvents) stopEvents();
  location.hash = '';
  location.reload();
}

function signinError(err) {
  clearKey();
  $('signin-error').replaceChildren(problemBox(err));
}

// Entra sign-in when the server names a client id (GET /v1/auth/config), else API keys only.
async function startEntra() {
  let cfg = null;
  try { cfg = (await get('/v1/auth/config')).entra; } catch (e) { cfg = null; }
  if (cfg) {
    $('entra').hidden = false;
    $('entra-signin').addEventListener('click', () => entra.begin(cfg).catch(signinError));
  }
  const token = await entra.complete(cfg);
  if (token) setKey(token);
}

async function start() {
  $('signout').addEventListener('click', signOut);
  $('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    setKey($('apikey').value.trim());
    $('apikey').value = '';
    try {
      await signedIn();
    } catch (err) {
      clearKey();
      $('signin-error').replaceChildren(problemBox(err));
    }
  });
  try {
    await startEntra();
  } catch (err) {
    signinError(err);
    return;
  }
  if (getKey()) {
    try { await signedIn(); } catch (err) { signinError(err); }
  }
}

start();
