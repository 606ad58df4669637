// receiver.mjs: the webhook receiver of the integration tests (tests/integration/test_webhooks.c).
// Every POST /hook is verified with the standardwebhooks package (Standard Webhooks 1.0, written
// elsewhere) against each secret the test configured, and recorded with what verified it; the
// answer is what the test asked for, per path or overall: ok (204), fail (500) or hang (no
// answer until the connection closes). A control API under /_ctl/ lets the test configure it and read what came.
// Listens on 127.0.0.1, port $PORT or 0, and prints "listening on http://127.0.0.1:PORT" when ready.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const modules =
  process.env.NODE_MODULES_DIR || join(process.env.SOURCE_DIR || '.', '.cache/webhooks/node_modules');
const require = createRequire(join(resolve(modules), 'index.js'));
const { Webhook } = require('standardwebhooks');

const BODY_MAX = 1 << 20;
let secrets = [];
let mode = 'ok';
let modes = {}; // path -> mode, over mode
const received = [];
const held = [];

function readBody(req) {
  return new Promise((ok, fail) => {
    const parts = [];
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n > BODY_MAX) {
        fail(new Error('body too large'));
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => ok(Buffer.concat(parts).toString('utf8')));
    req.on('error', fail);
  });
}

// Which configured secrets verify this delivery (their indexes), and the first error if none.
function verify(body, headers) {
  const verifiedBy = [];
  let error = null;
  secrets.forEach((s, i) => {
    try {
      new Webhook(s).verify(body, {
        'webhook-id': headers['webhook-id'],
        'webhook-timestamp': headers['webhook-timestamp'],
        'webhook-signature': headers['webhook-signature'],
      });
      verifiedBy.push(i);
    } catch (e) {
      error = error || String(e && e.message ? e.message : e);
    }
  });
  return { verifiedBy, error };
}

function json(res, status, v) {
  const text = JSON.stringify(v);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function hook(req, res) {
  const body = await readBody(req);
  const v = verify(body, req.headers);
  let parsed = null;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = null;
  }
  const answer = modes[req.url] || mode;
  received.push({
    path: req.url,
    id: req.headers['webhook-id'] || '',
    timestamp: Number(req.headers['webhook-timestamp'] || 0),
    signatures: (req.headers['webhook-signature'] || '').split(' ').filter((s) => s).length,
    type: parsed && parsed.type,
    data: parsed && parsed.data,
    verifiedBy: v.verifiedBy,
    error: v.error,
    answered: answer,
    at: Date.now(),
  });
  if (answer === 'hang') {
    held.push(res);
    return;
  }
  res.writeHead(answer === 'fail' ? 500 : 204);
  res.end();
}

async function control(req, res) {
  if (req.method === 'GET' && req.url === '/_ctl/received') return json(res, 200, { items: received });
  if (req.method === 'POST' && req.url === '/_ctl/config') {
    const c = JSON.parse((await readBody(req)) || '{}');
    if (Array.isArray(c.secrets)) secrets = c.secrets;
    if (typeof c.mode === 'string') mode = c.mode;
    if (c.modes && typeof c.modes === 'object') modes = c.modes;
    if (mode !== 'hang') while (held.length) held.pop().destroy();
    return json(res, 200, { mode, secrets: secrets.length });
  }
  return json(res, 404, { error: 'no such control' });
}

const server = createServer((req, res) => {
  const run = req.url.startsWith('/_ctl/') ? control : req.url.startsWith('/hook') ? hook : null;
  if (!run) return json(res, 404, { error: 'not found' });
  run(req, res).catch((e) => json(res, 400, { error: String(e) }));
});
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
