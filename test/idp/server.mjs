// A stand-in for an Okta custom authorization server ("/oauth2/default"), built on
// node-oidc-provider (an OpenID Certified OP). Test-only: in-memory state, dev login form,
// static clients and users. See README.md next to this file for what it serves.
//
// Configuration (environment):
//   HOST (127.0.0.1), PORT (9400; 0 = any free port, the "ready" line tells which),
//   ISSUER (http://HOST:PORT/oauth2/default), REDIRECT_URIS, POST_LOGOUT_REDIRECT_URIS,
//   ACCESS_TOKEN_TTL (3600), SHORT_TTL (2), FIXED_PASSWORD (Passw0rd!), SKIP_CONSENT (1),
//   BACKCHANNEL_LOGOUT_URI (unset: none; else kong-web's OpenID Connect back-channel logout
//   URI, with sid required, so its ID tokens carry sid and a sign-out at the provider POSTs a
//   logout_token there).
//
// On stdout it prints exactly one line, "ready <issuer>", once it accepts requests.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as querystring from 'node:querystring';

import Provider, { errors } from 'oidc-provider';

// ---------------------------------------------------------------------------------------------
// Environment

function envInt(name, def) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function envList(name, def) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return def;
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

const HOST = process.env.HOST || '127.0.0.1';
const PORT = envInt('PORT', 9400);
const REDIRECT_URIS = envList('REDIRECT_URIS', ['http://127.0.0.1:8000/web/callback']);
const POST_LOGOUT_REDIRECT_URIS = envList('POST_LOGOUT_REDIRECT_URIS', ['http://127.0.0.1:8000/']);
const ACCESS_TOKEN_TTL = envInt('ACCESS_TOKEN_TTL', 3600) || 3600;
const SHORT_TTL = envInt('SHORT_TTL', 2) || 2;
const DEFAULT_TTL = 3600;
// Unset => "Passw0rd!"; set to the empty string => any password (unknown users still fail).
const FIXED_PASSWORD = process.env.FIXED_PASSWORD ?? 'Passw0rd!';
const SKIP_CONSENT = (process.env.SKIP_CONSENT ?? '1') !== '0';
const BACKCHANNEL_LOGOUT_URI = process.env.BACKCHANNEL_LOGOUT_URI || '';

const DEFAULT_AUDIENCE = 'api://default';
const OTHER_AUDIENCE = 'api://other';
const OPAQUE_RESOURCE = 'urn:opaque';
const RESOURCE_SCOPE = 'openid profile email groups offline_access kong.read kong.write';

// ---------------------------------------------------------------------------------------------
// Users and clients

const USERS = {
  alice: {
    name: 'Alice Example',
    email: 'alice@example.com',
    groups: ['kong_group', 'everyone'],
  },
  bob: {
    name: 'Bob Example',
    email: 'bob@example.com',
    groups: ['everyone'],
  },
};

function userClaims(id) {
  const u = USERS[id];
  return {
    sub: id,
    name: u.name,
    preferred_username: id,
    email: u.email,
    email_verified: true,
    groups: [...u.groups],
  };
}

const CLIENTS = [
  {
    client_id: 'kong-web',
    client_secret: 'kong-web-secret',
    client_name: 'Kong (web login)',
    redirect_uris: REDIRECT_URIS,
    post_logout_redirect_uris: POST_LOGOUT_REDIRECT_URIS,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...(BACKCHANNEL_LOGOUT_URI ? {
      backchannel_logout_uri: BACKCHANNEL_LOGOUT_URI,
      backchannel_logout_session_required: true,
    } : {}),
  },
  {
    client_id: 'kong-m2m',
    client_secret: 'kong-m2m-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: 'kong.read kong.write',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'kong-m2m-short',
    client_secret: 'kong-m2m-short-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: 'kong.read kong.write',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'kong-introspect',
    client_secret: 'kong-introspect-secret',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  },
];

// ---------------------------------------------------------------------------------------------
// Signing key: RSA-2048, generated per process; kid = RFC 7638 thumbprint (derived from n, e).

const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateJwk = privateKey.export({ format: 'jwk' });
const KID = crypto.createHash('sha256')
  .update(JSON.stringify({ e: privateJwk.e, kty: 'RSA', n: privateJwk.n }))
  .digest('base64url');
const JWKS = { keys: [{ ...privateJwk, kid: KID, alg: 'RS256', use: 'sig' }] };

// ---------------------------------------------------------------------------------------------
// Provider

function resourceServer(audience) {
  return {
    scope: RESOURCE_SCOPE,
    audience,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}

function logoutSource(ctx, form) {
  // Okta signs out without asking: auto-submit the confirmation form. (GET /v1/logout is
  // normally confirmed server-side by the wrapper below; this page is only the fallback.)
  const autoForm = form.replace('</form>',
    '<input type="hidden" name="logout" value="yes"/><noscript><button type="submit">Sign out</button></noscript></form>');
  ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Signing out</title></head>
<body>${autoForm}<script>document.forms[0].submit()</script></body></html>`;
}

function buildProvider(issuer) {
  const configuration = {
    // The provider refuses outgoing requests to loopback addresses (SSRF
    // protection); the back-channel logout URI of this test setup is the
    // gateway on 127.0.0.1, so that one URI, and only it, is let through.
    fetch: (url, options) => {
      if (BACKCHANNEL_LOGOUT_URI && String(url) === new URL(BACKCHANNEL_LOGOUT_URI).href) {
        const { dispatcher: _ssrfGuard, ...rest } = options;
        return globalThis.fetch(url, rest);
      }
      return globalThis.fetch(url, options);
    },
    clients: CLIENTS,
    jwks: JWKS,
    routes: {
      authorization: '/v1/authorize',
      token: '/v1/token',
      jwks: '/v1/keys',
      userinfo: '/v1/userinfo',
      introspection: '/v1/introspect',
      revocation: '/v1/revoke',
      end_session: '/v1/logout',
      pushed_authorization_request: '/v1/par',
    },
    async findAccount(_ctx, sub) {
      if (!Object.hasOwn(USERS, sub)) return undefined;
      return { accountId: sub, claims: async () => userClaims(sub) };
    },
    scopes: ['openid', 'profile', 'email', 'groups', 'offline_access', 'kong.read', 'kong.write'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    cookies: {
      keys: ['okta-oidc-test-idp-cookie-key'],
      names: {
        session: 'op_session',
        interaction: 'op_interaction',
        resume: 'op_interaction_resume',
      },
    },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource },
      backchannelLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => (oneOf ? oneOf[0] : DEFAULT_AUDIENCE),
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          switch (indicator) {
            case DEFAULT_AUDIENCE:
            case OTHER_AUDIENCE:
              return resourceServer(indicator);
            case OPAQUE_RESOURCE:
              return { scope: RESOURCE_SCOPE, accessTokenFormat: 'opaque' };
            default:
              throw new errors.InvalidTarget();
          }
        },
      },
    },
    async extraTokenClaims(_ctx, token) {
      const extra = { ver: 1, cid: token.clientId };
      if (token.accountId && Object.hasOwn(USERS, token.accountId)) {
        extra.uid = token.accountId;
        extra.groups = [...USERS[token.accountId].groups];
      }
      return extra;
    },
    formats: {
      customizers: {
        async jwt(_ctx, _token, jwt) {
          jwt.payload.scp = jwt.payload.scope ? jwt.payload.scope.split(' ') : [];
          delete jwt.payload.scope;
        },
      },
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (!SKIP_CONSENT) return grant;
      // Okta first-party apps: no consent screen, everything requested is granted.
      grant ||= new ctx.oidc.provider.Grant({
        accountId: ctx.oidc.account.accountId,
        clientId: ctx.oidc.client.clientId,
      });
      const oidcScopes = [...ctx.oidc.requestParamOIDCScopes];
      if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
      const claims = [...ctx.oidc.requestParamClaims];
      if (claims.length) grant.addOIDCClaims(claims);
      for (const [indicator, rs] of Object.entries(ctx.oidc.resourceServers)) {
        const s = [...ctx.oidc.requestParamScopes].filter((x) => rs.scopes.has(x));
        if (s.length) grant.addResourceScope(indicator, s.join(' '));
      }
      await grant.save();
      return grant;
    },
    // Okta returns a refresh token without prompt=consent.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      AccessToken: (_ctx, _token, client) => (client?.clientId === 'kong-web' ? ACCESS_TOKEN_TTL : DEFAULT_TTL),
      ClientCredentials: (_ctx, _token, client) => (client?.clientId === 'kong-m2m-short' ? SHORT_TTL : DEFAULT_TTL),
      IdToken: DEFAULT_TTL,
      AuthorizationCode: 60,
      Interaction: DEFAULT_TTL,
      Session: 8 * 3600,
      Grant: 8 * 3600,
      RefreshToken: 24 * 3600,
    },
  };
  return new Provider(issuer, configuration);
}

// ---------------------------------------------------------------------------------------------
// Helpers for the shims

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 64 * 1024) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJSON(res, status, obj, headers = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    pragma: 'no-cache',
    ...headers,
  });
  res.end(body);
}

function htmlEscape(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

function timingSafeEqualStr(a, b) {
  const ab = Buffer.from(String(a));
  const bb = Buffer.from(String(b));
  return ab.length === bb.length && crypto.timingSafeEqual(ab, bb);
}

// Client authentication for the shims: HTTP Basic (form-urlencoded id/secret) or
// client_id/client_secret in the body, against the static client list.
function authenticateClient(req, form) {
  let id;
  let secret;
  const auth = req.headers.authorization || '';
  if (/^basic /i.test(auth)) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return undefined;
    id = querystring.unescape(decoded.slice(0, i));
    secret = querystring.unescape(decoded.slice(i + 1));
  } else if (form.client_id !== undefined) {
    id = String(form.client_id);
    secret = String(form.client_secret ?? '');
  } else {
    return undefined;
  }
  const client = CLIENTS.find((c) => c.client_id === id);
  if (!client || !timingSafeEqualStr(client.client_secret, secret)) return undefined;
  return client;
}

const revokedJTIs = new Set();

// Verifies one of our JWT access tokens (RS256, our kid, typ at+jwt, iss, exp).
// Returns the claims, or undefined.
function verifyAccessTokenJWT(token, issuer) {
  const parts = String(token).split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    if (header.alg !== 'RS256' || header.kid !== KID || header.typ !== 'at+jwt') return undefined;
    const ok = crypto.verify(
      'sha256',
      Buffer.from(`${parts[0]}.${parts[1]}`),
      publicKey,
      Buffer.from(parts[2], 'base64url'),
    );
    if (!ok) return undefined;
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (claims.iss !== issuer) return undefined;
    if (typeof claims.exp !== 'number' || claims.exp <= Math.floor(Date.now() / 1000)) return undefined;
    if (claims.jti && revokedJTIs.has(claims.jti)) return undefined;
    return claims;
  } catch {
    return undefined;
  }
}

function looksLikeJWS(token) {
  return typeof token === 'string' && token.split('.').length === 3;
}

function invalidClient(res) {
  sendJSON(res, 401, { error: 'invalid_client', error_description: 'client authentication failed' },
    { 'www-authenticate': 'Basic realm="okta-oidc-test-idp"' });
}

// ---------------------------------------------------------------------------------------------
// Shims (our code in front of the unmodified provider)

// POST /v1/introspect with a JWT access token: the provider can't introspect JWTs, Okta can.
async function introspectShim(req, res, raw, form, issuer, forward) {
  if (!looksLikeJWS(form.token)) return forward(raw);
  if (!authenticateClient(req, form)) return invalidClient(res);
  const claims = verifyAccessTokenJWT(form.token, issuer);
  if (!claims) return sendJSON(res, 200, { active: false });
  const out = {
    active: true,
    ...claims,
    token_type: 'Bearer',
    scope: Array.isArray(claims.scp) ? claims.scp.join(' ') : '',
    client_id: claims.cid ?? claims.client_id,
  };
  if (claims.uid) out.username = claims.uid;
  return sendJSON(res, 200, out);
}

// POST /v1/revoke with a JWT access token: remember its jti so introspection/userinfo say no.
async function revokeShim(req, res, raw, form, issuer, forward) {
  if (!looksLikeJWS(form.token)) return forward(raw);
  if (!authenticateClient(req, form)) return invalidClient(res);
  const claims = verifyAccessTokenJWT(form.token, issuer);
  if (claims?.jti) revokedJTIs.add(claims.jti);
  res.writeHead(200, { 'cache-control': 'no-store' });
  return res.end();
}

// GET/POST /v1/userinfo with a JWT access token (the provider only accepts its own opaque
// userinfo tokens; Okta accepts the api://default access token).
async function userinfoShim(req, res, token, issuer) {
  const claims = verifyAccessTokenJWT(token, issuer);
  const scp = new Set(Array.isArray(claims?.scp) ? claims.scp : []);
  if (!claims || !claims.uid || !Object.hasOwn(USERS, claims.uid) || !scp.has('openid')) {
    res.writeHead(401, {
      'www-authenticate': 'Bearer error="invalid_token", error_description="The access token is invalid."',
      'cache-control': 'no-store',
    });
    return res.end();
  }
  const all = userClaims(claims.uid);
  const out = { sub: all.sub };
  if (scp.has('profile')) Object.assign(out, { name: all.name, preferred_username: all.preferred_username });
  if (scp.has('email')) Object.assign(out, { email: all.email, email_verified: all.email_verified });
  if (scp.has('groups')) out.groups = all.groups;
  return sendJSON(res, 200, out);
}

function loginErrorPage(res, action, login) {
  res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign-in failed</title></head>
<body><h1>Sign-in</h1>
<p id="error">Unable to sign in: unknown user or wrong password.</p>
<form autocomplete="off" action="${htmlEscape(action)}" method="post">
<input type="hidden" name="prompt" value="login"/>
<input required type="text" name="login" placeholder="Enter any login" value="${htmlEscape(login)}"/>
<input required type="password" name="password" placeholder="and password"/>
<button type="submit" class="login login-submit">Sign-in</button>
</form></body></html>`);
}

// GET /v1/logout: confirm the sign-out server-side (Okta doesn't ask), so that even clients
// without JavaScript get a plain redirect to the post_logout_redirect_uri.
async function logoutShim(req, res, listenBase, prefix) {
  const first = await loopback(listenBase, 'GET', req.url, req.headers.cookie);
  const m = /name="xsrf" value="([^"]+)"/.exec(first.body);
  const a = /<form[^>]*action="([^"]+)"/.exec(first.body);
  if (first.status !== 200 || !m || !a) return relay(res, first);
  const action = new URL(a[1].replace(/&amp;/g, '&'), listenBase);
  if (!action.pathname.startsWith(`${prefix}/`)) return relay(res, first);
  const cookie = mergeCookies(req.headers.cookie, first.setCookie);
  const body = querystring.stringify({ xsrf: m[1], logout: 'yes' });
  const second = await loopback(listenBase, 'POST', action.pathname, cookie, body);
  second.setCookie = lastCookies([...first.setCookie, ...second.setCookie]);
  return relay(res, second);
}

function loopback(base, method, path, cookie, body) {
  return new Promise((resolve, reject) => {
    const headers = { 'x-okta-idp-loopback': '1' };
    if (cookie) headers.cookie = cookie;
    if (body !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const r = http.request(new URL(path, base), { method, headers, agent: false }, (resp) => {
      const chunks = [];
      resp.on('data', (c) => chunks.push(c));
      resp.on('end', () => resolve({
        status: resp.statusCode,
        headers: resp.headers,
        setCookie: resp.headers['set-cookie'] || [],
        body: Buffer.concat(chunks).toString('utf8'),
      }));
      resp.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}

function mergeCookies(header, setCookies) {
  const jar = new Map();
  for (const part of (header || '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) jar.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  for (const sc of setCookies) {
    const pair = sc.split(';')[0];
    const i = pair.indexOf('=');
    if (i > 0) jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
  }
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}

// Keeps the last Set-Cookie per cookie name and path (the confirm step clears what the first
// step set).
function lastCookies(setCookies) {
  const byKey = new Map();
  for (const sc of setCookies) {
    const name = sc.split(';')[0].split('=')[0].trim();
    const path = /;\s*path=([^;]*)/i.exec(sc)?.[1] ?? '';
    const key = `${name}\n${path}`;
    byKey.delete(key);
    byKey.set(key, sc);
  }
  return [...byKey.values()];
}

function relay(res, r) {
  const headers = {};
  for (const [k, v] of Object.entries(r.headers)) {
    if (['set-cookie', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date'].includes(k)) continue;
    headers[k] = v;
  }
  if (r.setCookie.length) headers['set-cookie'] = r.setCookie;
  res.writeHead(r.status, headers);
  res.end(r.body);
}

// ---------------------------------------------------------------------------------------------
// HTTP wrapper: mounts the provider under the issuer's path (gotcha 1 in the notes).

function makeHandler(provider, issuer, listenBase) {
  const prefix = new URL(issuer).pathname.replace(/\/$/, '');
  const callback = provider.callback();

  return async function handle(req, res) {
    const url = new URL(req.url, 'http://internal');
    const { pathname } = url;
    if (prefix && pathname !== prefix && !pathname.startsWith(`${prefix}/`)) {
      return sendJSON(res, 404, { errorCode: 'E0000007', errorSummary: 'Not found: Resource not found' });
    }
    const sub = pathname.slice(prefix.length) || '/';

    const forward = (raw) => {
      if (raw !== undefined) req.body = raw;
      req.originalUrl = req.url;
      req.url = sub + url.search;
      return callback(req, res);
    };

    try {
      if (req.method === 'POST' && /^\/interaction\/[^/]+$/.test(sub)) {
        const raw = await readBody(req);
        const form = querystring.parse(raw);
        if (form.prompt === 'login') {
          const login = String(form.login ?? '');
          const okUser = Object.hasOwn(USERS, login);
          const okPassword = FIXED_PASSWORD === '' || timingSafeEqualStr(form.password ?? '', FIXED_PASSWORD);
          if (!okUser || !okPassword) return loginErrorPage(res, pathname, login);
        }
        return forward(raw);
      }
      if (req.method === 'POST' && (sub === '/v1/introspect' || sub === '/v1/revoke')) {
        const raw = await readBody(req);
        const form = querystring.parse(raw);
        const shim = sub === '/v1/introspect' ? introspectShim : revokeShim;
        return await shim(req, res, raw, form, issuer, forward);
      }
      if (sub === '/v1/userinfo' && (req.method === 'GET' || req.method === 'POST')) {
        const m = /^bearer\s+(\S+)$/i.exec(req.headers.authorization || '');
        if (m && looksLikeJWS(m[1])) return await userinfoShim(req, res, m[1], issuer);
        return forward();
      }
      if (req.method === 'GET' && sub === '/v1/logout' && !req.headers['x-okta-idp-loopback']) {
        return await logoutShim(req, res, listenBase, prefix);
      }
      return forward();
    } catch (err) {
      process.stderr.write(`okta-idp: ${req.method} ${req.url}: ${err.stack || err}\n`);
      if (!res.headersSent) sendJSON(res, 500, { error: 'server_error' });
      else res.destroy();
      return undefined;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Start

const server = http.createServer();

server.on('error', (err) => {
  process.stderr.write(`okta-idp: ${err.message}\n`);
  process.exit(1);
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const hostForURL = HOST.includes(':') ? `[${HOST}]` : HOST;
  const listenBase = `http://${hostForURL}:${port}`;
  const issuer = (process.env.ISSUER || `${listenBase}/oauth2/default`).replace(/\/$/, '');
  const provider = buildProvider(issuer);
  provider.on('server_error', (_ctx, err) => process.stderr.write(`okta-idp: server_error: ${err.stack || err}\n`));
  provider.on('backchannel.error', (_ctx, err, client) => process.stderr.write(`okta-idp: back-channel logout to ${client.clientId} failed: ${err.message} ${err.cause ? (err.cause.code || err.cause.message) : ""}\n`));
  provider.on('backchannel.success', (_ctx, client) => process.stderr.write(`okta-idp: back-channel logout to ${client.clientId} sent\n`));
  server.on('request', makeHandler(provider, issuer, listenBase));
  process.stdout.write(`ready ${issuer}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
