// ui.js: small DOM helpers. Text always goes in as text nodes (never innerHTML), so nothing
// the API returns can become markup.
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function fmtTime(v) {
  if (v === undefined || v === null || v === '') return '—';
  const d = typeof v === 'number' ? new Date(v) : new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

// "in 1 h 59 min" / "expired": recomputed by tick() every second where shown.
export function countdown(iso) {
  if (!iso) return 'never';
  const ms = new Date(iso).getTime() - Date.now();
  if (ms <= 0) return 'expired';
  const s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h > 0 ? `in ${h} h ${m} min` : `in ${m} min ${s % 60} s`;
}

export function stateSpan(s) {
  return el('span', { class: `state-${s}` }, s ?? '—');
}

// A table: columns [{h, get(row) -> Node|string, num}], with a caption.
export function table(caption, columns, rows, empty) {
  if (!rows || rows.length === 0) return el('p', { class: 'help' }, empty || 'Nothing to show.');
  return el('table', {},
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col', class: c.num ? 'num' : null }, c.h)))),
    el('tbody', {}, rows.map((r) => el('tr', {}, columns.map((c) => el('td', { class: c.num ? 'num' : (c.mono ? 'mono' : null) }, c.get(r)))))));
}

// A refusal as the server gave it: title, detail, code and each violation.
export function problemBox(err) {
  const p = (err && err.problem) || { title: 'Error', detail: String(err && err.message ? err.message : err) };
  return el('div', { class: 'problem', role: 'alert' },
    el('h2', {}, `${p.status || ''} ${p.title || 'Refused'}`.trim()),
    p.detail ? el('p', { class: 'detail' }, p.detail) : null,
    p.code ? el('p', {}, 'code: ', el('span', { class: 'mono code' }, p.code)) : null,
    Array.isArray(p.errors) && p.errors.length
      ? el('ul', {}, p.errors.map((e) => el('li', {}, `${e.field || '(body)'}: ${e.message || e.code}`)))
      : null);
}

export function notice(text) { return el('div', { class: 'notice', role: 'status' }, text); }

// Runs fn, showing a refusal in into (replacing what was there); returns fn's result or null.
export async function attempt(into, fn) {
  into.replaceChildren();
  try {
    return await fn();
  } catch (e) {
    into.replaceChildren(problemBox(e));
    return null;
  }
}

// Cursor paging: the pages seen so far, so Previous works with opaque cursors.
export function pager(state, nextLink, load) {
  const prev = el('button', { type: 'button', class: 'secondary', disabled: state.stack.length === 0 || undefined,
    onclick: () => load(state.stack.pop() ?? null, true) }, 'Previous page');
  const next = el('button', { type: 'button', class: 'secondary', disabled: !nextLink || undefined,
    onclick: () => { state.stack.push(state.current); load(nextLink, true); } }, 'Next page');
  return el('div', { class: 'pager', role: 'navigation', 'aria-label': 'Pages' }, prev, next,
    el('span', { class: 'help' }, `page ${state.stack.length + 1}`));
}

export function field(label, input) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return el('div', { class: 'field' }, el('label', { for: id }, label), input);
}

export function select(name, options, value) {
  return el('select', { name }, options.map(([v, t]) => el('option', { value: v, selected: v === value || undefined }, t)));
}

// The API path of a VM from its ARM id.
export function vmPath(id) {
  const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/virtualMachines\/([^/]+)$/i.exec(id || '');
  return m ? `/v1/subscriptions/${m[1]}/resourceGroups/${m[2]}/virtualMachines/${m[3]}` : null;
}

export function vmName(id) { return (id || '').split('/').pop(); }
