// auth.js: Entra sign-in for the dashboard, the authorization code flow with PKCE (S256) of a
// single-page application (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow).
// The verifier and state wait in this tab's sessionStorage while the browser is at the
// authority; back here, the code is taken out of the URL at once (history.replaceState) and
// redeemed at the token endpoint with fetch. The access token then lives where an API key
// would (api.js) and goes out as the bearer; it never enters a URL or a cookie.
const PENDING = 'vmlogind.entraPending';

function b64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random(n) { return b64url(crypto.getRandomValues(new Uint8Array(n))); }

// The redirect URI: this page without query or fragment (a SPA redirect URI of the app).
function redirectUri() { return `${location.origin}/`; }

// Sends the browser to the authority; returns only if it cannot.
export async function begin(cfg) {
  const verifier = random(32); // 43 characters (RFC 7636 4.1)
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const state = random(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, hash: location.hash }));
  const q = new URLSearchParams({
    client_id: cfg.clientId, response_type: 'code', redirect_uri: redirectUri(),
    response_mode: 'query', scope: cfg.scope, state,
    code_challenge: b64url(new Uint8Array(digest)), code_challenge_method: 'S256',
  });
  location.assign(`${cfg.authorizeUrl}?${q}`);
}

export class SignInError extends Error {
  constructor(title, detail) { super(detail); this.problem = { title, detail }; }
}

// After the authority sent the browser back: null when this load is not such a return, else
// the access token (or a SignInError thrown). The URL is cleaned before anything else.
export async function complete(cfg) {
  const q = new URLSearchParams(location.search);
  if (!q.has('code') && !q.has('error')) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', `/${pending && pending.hash ? pending.hash : ''}`);
  if (q.has('error')) throw new SignInError(`Entra sign-in failed: ${q.get('error')}`, q.get('error_description') || '');
  if (!pending || !cfg || q.get('state') !== pending.state) {
    throw new SignInError('Entra sign-in failed', 'the answer does not belong to a sign-in started in this tab (state)');
  }
  const res = await fetch(cfg.tokenUrl, {
    method: 'POST', credentials: 'omit', cache: 'no-store',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: cfg.clientId, grant_type: 'authorization_code', code: q.get('code'),
      redirect_uri: redirectUri(), code_verifier: pending.verifier, scope: cfg.scope,
    }),
  });
  let body = {};
  try { body = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok || !body.access_token) {
    throw new SignInError(`Entra sign-in failed: ${body.error || res.status}`, (body.error_description || '').split('\r\n')[0]);
  }
  return body.access_token;
}
