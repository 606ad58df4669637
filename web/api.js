// api.js: the dashboard's only door to vmlogind. The credential (an API key, or the access
// token of an Entra sign-in, auth.js) lives in this tab's sessionStorage and goes out as a
// bearer token; refusals come back as ApiError carrying the
// problem+json (title, detail, code, errors). Events are read with fetch (EventSource cannot
// send an Authorization header) and resumed with Last-Event-ID.
const KEY = 'vmlogind.apiKey';

export function getKey() { return sessionStorage.getItem(KEY); }
export function setKey(k) { sessionStorage.setItem(KEY, k); }
export function clearKey() { sessionStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function problemOf(res) {
  const text = await res.text();
  try {
    const p = JSON.parse(text);
    if (p && typeof p === 'object') return p;
  } catch (e) { /* not JSON */ }
  return { title: `HTTP ${res.status}`, detail: text.slice(0, 300), status: res.status };
}

function headers(extra) {
  const h = { Accept: 'application/json', ...extra };
  const k = getKey();
  if (k) h.Authorization = `Bearer ${k}`;
  return h;
}

// One call: the parsed JSON (or null), and Location; throws ApiError on >= 400.
export async function call(method, path, body) {
  const h = headers(body !== undefined ? { 'Content-Type': 'application/json' } : {});
  if (method === 'POST') h['Idempotency-Key'] = crypto.randomUUID();
  const res = await fetch(path, {
    method, headers: h, body: body !== undefined ? JSON.stringify(body) : undefined,
    credentials: 'omit', cache: 'no-store',
  });
  if (res.status >= 400) throw new ApiError(res.status, await problemOf(res));
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json() : null;
  return { data, location: res.headers.get('Location'), status: res.status };
}

export async function get(path) { return (await call('GET', path)).data; }

// The .rdp file of a VM as a download (a blob: the key never goes into a URL).
export async function download(path, fallbackName) {
  const res = await fetch(path, { headers: headers({ Accept: '*/*' }), credentials: 'omit' });
  if (res.status >= 400) throw new ApiError(res.status, await problemOf(res));
  const cd = res.headers.get('Content-Disposition') || '';
  const m = /filename="?([^";]+)"?/.exec(cd);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = m ? m[1] : fallbackName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return a.download;
}

// Live events: calls onEvent({id, type, data}) for each, onState('live'|'reconnecting'|...)
// on changes; reconnects with Last-Event-ID after a drop. Returns a stop function.
export function events(onEvent, onState) {
  let lastId = null;
  let stopped = false;
  let ctrl = null;

  function dispatch(block) {
    let id = null, type = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
    }
    if (id !== null) lastId = id;
    if (data.length === 0) return;
    let parsed = null;
    try { parsed = JSON.parse(data.join('\n')); } catch (e) { parsed = data.join('\n'); }
    onEvent({ id, type, data: parsed });
  }

  async function run() {
    while (!stopped) {
      ctrl = new AbortController();
      const h = headers({ Accept: 'text/event-stream' });
      if (lastId !== null) h['Last-Event-ID'] = lastId;
      try {
        const res = await fetch('/v1/events', { headers: h, signal: ctrl.signal, credentials: 'omit', cache: 'no-store' });
        if (res.status >= 400) {
          const p = await problemOf(res);
          onState(`refused: ${p.title || res.status}`);
        } else {
          onState('live');
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += value.replace(/\r\n?/g, '\n');
            let cut;
            while ((cut = buf.indexOf('\n\n')) >= 0) {
              dispatch(buf.slice(0, cut));
              buf = buf.slice(cut + 2);
            }
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      if (stopped) return;
      onState('reconnecting');
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  run();
  return () => { stopped = true; if (ctrl) ctrl.abort(); onState('off'); };
}
