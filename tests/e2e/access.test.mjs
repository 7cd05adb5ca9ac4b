// Sign-in and access rights, tried as a hostile or careless client would: no credential, too low
// a role, someone else's import, a revoked token, an idle session, password guessing, cross-site
// requests, a foreign Host, and the headers every response carries.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { test } from 'node:test';

import {
  ADMIN, SAMPLES, Watcher, addUser, createToken, databaseOf, generateExport, request, runCli,
  startServerFor, upload, waitUntil, watch, within,
} from '../support/server.mjs';

const TIMEOUT = { timeout: 120_000 };
const SAMPLE = `${SAMPLES}test-import.csv`;

/** Signs in through `POST /api/session`; resolves with the `cookie` header to send. */
async function signIn(url, name, password) {
  const response = await fetch(new URL('/api/session', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: new URL(url).origin },
    body: JSON.stringify({ username: name, password }),
  });
  assert.equal(response.status, 200, `${name} signs in`);
  const cookie = response.headers.getSetCookie().find((line) => line.startsWith('vulnimport_session='));
  assert.ok(cookie, 'a session cookie is set');
  return cookie.split(';')[0];
}

/** A request with a session cookie; `origin` defaults to the server's own (`null`: none). */
function withCookie(url, path, cookie, { method = 'GET', origin = new URL(url).origin, json } = {}) {
  const headers = { cookie };
  if (origin) {
    headers.origin = origin;
  }
  return request(url, path, { method, headers, token: null, json });
}

/** A GET with a chosen `Host` header (fetch cannot set one). */
function getWithHost(url, path, host) {
  return new Promise((resolve, reject) => {
    const target = new URL(path, url);
    http.get({ hostname: target.hostname, port: target.port, path: target.pathname, headers: { host } }, (response) => {
      let body = '';
      response.on('data', (chunk) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, body }));
    }).on('error', reject);
  });
}

/** A server with an analyst, a second analyst and a viewer besides the admin, each with a token. */
async function teamServer(t, options) {
  const server = await startServerFor(t, options);
  const team = { admin: { ...server.admin } };
  for (const [key, role] of [['analyst', 'analyst'], ['other', 'analyst'], ['viewer', 'viewer']]) {
    team[key] = addUser(server.dir, key, role);
    team[key].token = createToken(server.dir, key);
  }
  return { server, team };
}

/** Connects a socket without a token, or with `auth`; resolves with the `connect_error` message. */
async function refusedHandshake(url, options) {
  const watcher = new Watcher(url, { auth: {}, ...options });
  try {
    const error = await within(new Promise((resolve, reject) => {
      watcher.socket.once('connect_error', resolve);
      watcher.socket.once('connect', () => reject(new Error('the handshake was accepted')));
    }), 'the refused handshake', 10_000);
    return error.message;
  } finally {
    watcher.close();
  }
}

test('without a credential every API route but the public ones answers 401 JSON', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const id = randomUUID();
  for (const [method, path] of [
    ['GET', '/api/vulnerabilities'], ['GET', '/api/stats'], ['GET', '/api/imports'], ['GET', `/api/imports/${id}`],
    ['POST', `/api/imports/${id}/cancel`], ['GET', `/api/imports/${id}/record`], ['GET', `/api/imports/${id}/findings`],
    ['POST', '/api/imports'], ['GET', '/api/users'], ['GET', '/api/tokens'], ['GET', '/metrics'], ['GET', '/api/session'],
    ['GET', '/api/no-such-route'],
  ]) {
    const answer = await request(server.url, path, { method, token: null });
    assert.equal(answer.status, 401, `${method} ${path}`);
    assert.match(answer.body.error, /sign-in required/, `${method} ${path}`);
  }
  const health = await request(server.url, '/api/health', { token: null });
  assert.equal(health.status, 200);
  assert.equal(health.body.status, 'ok');
  for (const page of ['/', '/signin', '/setup', '/app.js', '/vendor/bootstrap.min.css']) {
    assert.equal((await request(server.url, page, { token: null })).status, 200, `${page} is public`);
  }
  const garbage = await request(server.url, '/api/stats', { headers: { authorization: 'Bearer vit_1_nonsense' }, token: null });
  assert.equal(garbage.status, 401);
  assert.match(garbage.body.error, /token is not valid/);
});

test('the role matrix over HTTP: viewers read, analysts import, admins manage', TIMEOUT, async (t) => {
  const { server, team } = await teamServer(t);
  const seeded = await upload(server.url, SAMPLE, {}, undefined, { token: team.analyst.token });
  assert.equal(seeded.status, 202);
  const { sessionId } = seeded.body;
  await waitUntil(async () => (await request(server.url, `/api/imports/${sessionId}`)).body.outcome === 'completed',
    'the seed import');
  const reads = ['/api/vulnerabilities', '/api/stats', '/api/imports', `/api/imports/${sessionId}`,
    `/api/imports/${sessionId}/record`, `/api/imports/${sessionId}/findings`, '/metrics', '/api/session'];
  const admin = ['/api/users', '/api/tokens'];
  for (const [role, who] of [['viewer', team.viewer], ['analyst', team.analyst], ['admin', team.admin]]) {
    for (const path of reads) {
      assert.equal((await request(server.url, path, { token: who.token })).status, 200, `${role} reads ${path}`);
    }
    for (const path of admin) {
      const answer = await request(server.url, path, { token: who.token });
      assert.equal(answer.status, role === 'admin' ? 200 : 403, `${role} GET ${path}`);
      if (role !== 'admin') {
        assert.match(answer.body.error, /needs the admin role/);
      }
    }
    const imported = await upload(server.url, SAMPLE, {}, undefined, { token: who.token });
    assert.equal(imported.status, role === 'viewer' ? 403 : 202, `${role} uploads`);
    const cancel = await request(server.url, `/api/imports/${sessionId}/cancel`, { method: 'POST', token: who.token });
    assert.equal(cancel.status, role === 'viewer' ? 403 : 409, `${role} cancels a finished import`);
    const token = await request(server.url, '/api/tokens', { method: 'POST', token: who.token, json: { user: 'viewer', name: 'x' } });
    assert.equal(token.status, role === 'admin' ? 201 : 403, `${role} creates a token`);
  }
  const { body: session } = await request(server.url, '/api/session', { token: team.viewer.token });
  assert.deepEqual(session, { user: { id: session.user.id, name: 'viewer', role: 'viewer' }, via: 'token' });
  const record = await request(server.url, `/api/imports/${sessionId}/record`);
  assert.equal(record.body.startedBy, 'analyst', 'the record names who started it');
});

test('someone else\'s import cannot be cancelled, over the socket or HTTP, and goes on', TIMEOUT, async (t) => {
  const { server, team } = await teamServer(t);
  const owner = await watch(t, server.url, { auth: { token: team.analyst.token } });
  const other = await watch(t, server.url, { auth: { token: team.other.token } });
  const viewer = await watch(t, server.url, { auth: { token: team.viewer.token } });
  const sessionId = randomUUID();
  for (const watcher of [owner, other, viewer]) {
    assert.equal((await watcher.join(sessionId)).ok, true, 'every signed-in user may watch');
  }
  const file = generateExport(server.dir, 60_000, 3);
  assert.equal((await upload(server.url, file, { sessionId }, undefined, { token: team.analyst.token })).status, 202);
  await other.waitForProgress(sessionId, (event) => event.type === 'loading', 'loading', { ms: 60_000 });

  const bySocket = await other.request('cancelImport', sessionId);
  assert.equal(bySocket.ok, false);
  assert.match(bySocket.error, /only the account that started this import, or an admin/);
  const byViewer = await viewer.request('cancelImport', sessionId);
  assert.equal(byViewer.ok, false);
  assert.match(byViewer.error, /needs the analyst role/);
  const byHttp = await request(server.url, `/api/imports/${sessionId}/cancel`, { method: 'POST', token: team.other.token });
  assert.equal(byHttp.status, 403);
  assert.match(byHttp.body.error, /only the account that started this import/);

  const end = await owner.waitForEnd(sessionId, { ms: 90_000 });
  assert.equal(end.payload.type, 'complete', 'the import completed');
  assert.equal(other.of('importCancelled', sessionId).length, 0);

  // An admin may cancel anyone's import, and the record says who did.
  const second = randomUUID();
  await owner.join(second);
  assert.equal((await upload(server.url, file, { sessionId: second }, undefined, { token: team.analyst.token })).status, 202);
  await owner.waitForProgress(second, (event) => event.type === 'loading', 'loading', { ms: 60_000 });
  const admin = await watch(t, server.url);
  assert.equal((await admin.request('cancelImport', second)).ok, true);
  assert.equal((await owner.waitForEnd(second, { ms: 30_000 })).name, 'importCancelled');
  const record = await request(server.url, `/api/imports/${second}/record`);
  assert.equal(record.body.outcome, 'cancelled');
  assert.equal(record.body.startedBy, 'analyst');
  assert.equal(record.body.cancelledBy, ADMIN.name);
});

test('a handshake without a valid credential is refused with the reason, on both transports', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  for (const transports of [['websocket'], ['polling']]) {
    assert.match(await refusedHandshake(server.url, { transports }), /sign-in required/, transports[0]);
    assert.match(await refusedHandshake(server.url, { transports, auth: { token: 'vit_3_invalid' } }), /token is not valid/,
      transports[0]);
    const accepted = await watch(t, server.url, { transports });
    assert.equal((await accepted.join(randomUUID())).ok, true, `${transports[0]} with a token`);
  }
  // The browser's way: the session cookie, from the server's own origin.
  const cookie = await signIn(server.url, ADMIN.name, ADMIN.password);
  const browserLike = await watch(t, server.url, { auth: {}, extraHeaders: { cookie, origin: server.url } });
  assert.equal((await browserLike.join(randomUUID())).ok, true);
  assert.match(await refusedHandshake(server.url, { extraHeaders: { cookie, origin: 'http://evil.example' } }),
    /websocket error|xhr poll error|not allowed/i, 'a foreign page cannot open a socket with the cookie');
});

test('a revoked token is refused at once and its sockets are closed within 10 s', TIMEOUT, async (t) => {
  const { server, team } = await teamServer(t);
  const watcher = await watch(t, server.url, { auth: { token: team.analyst.token } });
  const closed = new Promise((resolve) => watcher.socket.once('disconnect', resolve));
  const { body: tokens } = await request(server.url, '/api/tokens');
  const analystToken = tokens.find((token) => token.user === 'analyst');
  assert.equal((await request(server.url, `/api/tokens/${analystToken.id}`, { method: 'DELETE' })).status, 204);
  const revokedAt = performance.now();
  const refused = await request(server.url, '/api/stats', { token: team.analyst.token });
  assert.equal(refused.status, 401);
  assert.match(refused.body.error, /token is not valid/);
  await within(closed, 'the revoked token\'s socket closing', 10_000);
  t.diagnostic(`socket closed ${Math.round(performance.now() - revokedAt)} ms after the revocation`);
  assert.ok(watcher.events.some((event) => event.name === 'authError'), 'the socket was told why');

  // Disabling the account refuses its other tokens too; expired tokens say so.
  runCli(['user', 'disable', 'viewer', '--database', databaseOf(server.dir)]);
  assert.equal((await request(server.url, '/api/stats', { token: team.viewer.token })).status, 401);
  const brief = createToken(server.dir, 'other', 'brief', ['--expires', '1s']);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const expired = await request(server.url, '/api/stats', { token: brief });
  assert.equal(expired.status, 401);
  assert.match(expired.body.error, /expired/);
});

test('web sessions: cookie flags, sign-out, idle expiry and the own password', TIMEOUT, async (t) => {
  const server = await startServerFor(t, { args: ['--session-idle-timeout', '3s'] });
  const response = await fetch(new URL('/api/session', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: ADMIN.name, password: ADMIN.password }),
  });
  assert.equal(response.status, 200);
  const [setCookie] = response.headers.getSetCookie();
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Lax/);
  assert.doesNotMatch(setCookie, /Secure/, 'not Secure over plain http');
  const cookie = setCookie.split(';')[0];
  assert.equal((await withCookie(server.url, '/api/session', cookie)).body.user.name, ADMIN.name);

  await new Promise((resolve) => setTimeout(resolve, 3500));
  const idle = await withCookie(server.url, '/api/stats', cookie);
  assert.equal(idle.status, 401, 'an idle session has expired');
  assert.match(idle.body.error, /session has ended or expired/);

  const again = await signIn(server.url, ADMIN.name, ADMIN.password);
  const changed = await withCookie(server.url, '/api/session/password', again, {
    method: 'PUT', json: { currentPassword: ADMIN.password, newPassword: 'a brand new password' },
  });
  assert.equal(changed.status, 204);
  const wrong = await withCookie(server.url, '/api/session/password', again, {
    method: 'PUT', json: { currentPassword: 'not it at all', newPassword: 'another new password' },
  });
  assert.equal(wrong.status, 403);
  assert.equal((await withCookie(server.url, '/api/session', again, { method: 'DELETE' })).status, 204);
  assert.equal((await withCookie(server.url, '/api/session', again)).status, 401, 'signed out');
  await signIn(server.url, ADMIN.name, 'a brand new password');
});

test('password guessing is slowed per account and answered the same for unknown users', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const attempt = (username, password) => request(server.url, '/api/session', {
    method: 'POST', token: null, json: { username, password },
  });
  const unknown = await attempt('nobody', 'wrong password');
  const wrong = await attempt(ADMIN.name, 'wrong password');
  assert.equal(unknown.status, 401);
  assert.deepEqual(unknown.body, wrong.body, 'one answer for an unknown user and a wrong password');
  for (let i = 0; i < 3; i += 1) {
    assert.equal((await attempt(ADMIN.name, 'wrong password')).status, 401);
  }
  const throttled = await attempt(ADMIN.name, ADMIN.password);
  assert.equal(throttled.status, 429, 'after five failures even the right password waits');
  assert.ok(Number(throttled.headers.get('retry-after')) >= 1);
  assert.match(throttled.body.error, /too many failed sign-ins/);
  await new Promise((resolve) => setTimeout(resolve, Number(throttled.headers.get('retry-after')) * 1000));
  assert.equal((await attempt(ADMIN.name, ADMIN.password)).status, 200, 'the wait is over');
});

test('behind a trusted proxy guesses are counted per forwarded client address', TIMEOUT, async (t) => {
  const guess = (url, username, forwardedFor) => request(url, '/api/session', {
    method: 'POST', token: null, headers: { 'x-forwarded-for': forwardedFor }, json: { username, password: 'a wrong guess' },
  });
  const proxied = await startServerFor(t, { env: { TRUSTED_PROXIES: '127.0.0.1' } });
  for (const name of ['a', 'b', 'c', 'd', 'e']) {
    assert.equal((await guess(proxied.url, name, '192.0.2.1')).status, 401);
  }
  assert.equal((await guess(proxied.url, 'f', '192.0.2.1')).status, 429, 'the guessing client waits');
  assert.equal((await guess(proxied.url, 'f', '192.0.2.2')).status, 401, 'another client behind the proxy does not');

  const direct = await startServerFor(t);
  for (const name of ['a', 'b', 'c', 'd', 'e']) {
    await guess(direct.url, name, `192.0.2.${name.charCodeAt(0)}`);
  }
  assert.equal((await guess(direct.url, 'f', '192.0.2.200')).status, 429, 'without TRUSTED_PROXIES the header counts for nothing');
});

test('guesses sent all at once are throttled too', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const answers = await Promise.all(Array.from({ length: 30 }, () => request(server.url, '/api/session', {
    method: 'POST', token: null, json: { username: ADMIN.name, password: 'a guess at once' },
  })));
  const statuses = answers.map((answer) => answer.status);
  assert.ok(statuses.filter((status) => status === 401).length <= 5, `at most five were checked: ${statuses}`);
  assert.ok(statuses.every((status) => status === 401 || status === 429), `${statuses}`);
});

test('an account change is applied whole or not at all; admins do not edit themselves here', TIMEOUT, async (t) => {
  const { server, team } = await teamServer(t);
  const { body: users } = await request(server.url, '/api/users');
  const analyst = users.find((user) => user.name === 'analyst');
  const admin = users.find((user) => user.name === ADMIN.name);
  const refused = await request(server.url, `/api/users/${analyst.id}`, {
    method: 'PATCH', json: { role: 'viewer', disabled: true, password: 'short' },
  });
  assert.equal(refused.status, 400);
  const after = (await request(server.url, '/api/users')).body.find((user) => user.id === analyst.id);
  assert.deepEqual([after.role, after.disabled], ['analyst', false], 'nothing changed');
  assert.equal((await request(server.url, '/api/stats', { token: team.analyst.token })).status, 200);
  for (const change of [{ role: 'viewer' }, { disabled: true }, { password: 'a new admin password' }]) {
    assert.equal((await request(server.url, `/api/users/${admin.id}`, { method: 'PATCH', json: change })).status, 409,
      JSON.stringify(change));
  }
  assert.equal((await request(server.url, `/api/users/${admin.id}`, { method: 'DELETE' })).status, 409);
  // The last enabled admin stays, whoever asks.
  assert.throws(() => runCli(['user', 'disable', ADMIN.name, '--database', databaseOf(server.dir)]),
    /at least one enabled admin must remain/);
});

test('upload fields are bounded, unknown ones refused, and values not echoed back', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const long = 'x'.repeat(100_000);
  for (const [fields, message] of [[{ scope: long }, /scope is longer than 1024 bytes/], [{ colour: 'red' }, /unknown field "colour"/],
    [{ scope: 'y'.repeat(500) }, /scope "y{40}…" is not "full" or "hosts"/]]) {
    const answer = await upload(server.url, SAMPLE, fields);
    assert.equal(answer.status, 400);
    assert.match(answer.body.error, message);
    assert.ok(answer.body.error.length < 200, 'the value is not echoed back');
  }
});

test('cross-site rules: cookie requests need the server\'s own origin; tokens need none', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const cookie = await signIn(server.url, ADMIN.name, ADMIN.password);
  const port = new URL(server.url).port;
  const cancel = `/api/imports/${randomUUID()}/cancel`;
  for (const origin of ['http://evil.example', `https://127.0.0.1:${port}`, `http://127.0.0.1:${Number(port) + 1}`, 'null', null]) {
    const answer = await withCookie(server.url, cancel, cookie, { method: 'POST', origin });
    assert.equal(answer.status, 403, `Origin ${origin ?? '(none)'}`);
  }
  assert.equal((await withCookie(server.url, cancel, cookie, { method: 'POST' })).status, 404,
    'same origin passes (and finds no such import)');
  assert.equal((await request(server.url, cancel, { method: 'POST' })).status, 404, 'a bearer token needs no Origin');
  assert.equal((await withCookie(server.url, '/api/stats', cookie, { origin: null })).status, 200,
    'a same-site read needs no Origin');

  // Development answers localhost origins only, never `*`.
  const local = await request(server.url, '/api/health', { headers: { origin: 'http://localhost:5173' } });
  assert.equal(local.status, 200);
  assert.equal(local.headers.get('access-control-allow-origin'), 'http://localhost:5173');
  const foreign = await request(server.url, '/api/health', { headers: { origin: 'http://evil.example' } });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);
});

test('production: listed origins only; with PUBLIC_URL a foreign Host is refused but health answers', TIMEOUT, async (t) => {
  const listed = 'http://listed.example';
  const production = await startServerFor(t, { env: { NODE_ENV: 'production', CORS_ORIGINS: listed } });
  assert.equal((await request(production.url, '/api/stats', { headers: { origin: 'http://localhost:3000' } })).status, 403);
  const allowed = await request(production.url, '/api/stats', { headers: { origin: listed } });
  assert.equal(allowed.status, 200);
  assert.equal(allowed.headers.get('access-control-allow-origin'), listed);

  const port = new URL(production.url).port;
  const behindProxy = await startServerFor(t, { env: { PUBLIC_URL: `http://vulns.example:${port}/` } });
  const rebound = await getWithHost(behindProxy.url, '/', `evil.example:${port}`);
  assert.equal(rebound.status, 421, 'a page reached under another name');
  assert.match(JSON.parse(rebound.body).error, /answers for vulns.example/);
  assert.equal((await getWithHost(behindProxy.url, '/api/health', 'evil.example')).status, 200, 'probes still answered');
  assert.equal((await getWithHost(behindProxy.url, '/', `vulns.example:${port}`)).status, 200);
});

test('security headers on HTML, JSON, static files and refusals', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  for (const [path, token] of [['/', null], ['/api/stats', undefined], ['/app.js', null], ['/api/stats', null],
    ['/vendor/socket.io.js', null]]) {
    const { headers, status } = await request(server.url, path, token === null ? { token } : {});
    const csp = headers.get('content-security-policy');
    assert.ok(csp, `${path} (${status}) has a CSP`);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(headers.get('x-content-type-options'), 'nosniff', path);
    assert.equal(headers.get('x-frame-options'), 'DENY', path);
    assert.equal(headers.get('referrer-policy'), 'same-origin', path);
  }
});

test('/metrics needs a credential unless METRICS_PUBLIC=true', TIMEOUT, async (t) => {
  const server = await startServerFor(t, { env: { METRICS_PUBLIC: 'true' } });
  const open = await request(server.url, '/metrics', { token: null });
  assert.equal(open.status, 200);
  assert.match(open.body, /vulnimport_/);
  assert.equal((await request(server.url, '/api/stats', { token: null })).status, 401, 'the rest stays closed');
});

test('first start: a one-time setup link creates the first admin, signed in', TIMEOUT, async (t) => {
  const server = await startServerFor(t, { accounts: false });
  assert.match(server.setupLink, /\/setup#[\w-]{43}$/);
  const secret = server.setupLink.split('#')[1];
  const setUp = (token, username, password) => request(server.url, '/api/setup', {
    method: 'POST', token: null, json: { token, username, password },
  });
  assert.equal((await setUp('x'.repeat(43), 'boss', 'a long enough password')).status, 403, 'a wrong secret');
  const weak = await setUp(secret, 'boss', 'short');
  assert.equal(weak.status, 400, 'a weak password');
  assert.match(weak.body.error, /at least 12 characters/);
  const response = await fetch(new URL('/api/setup', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: secret, username: 'boss', password: 'a long enough password' }),
  });
  assert.equal(response.status, 201, 'the same link works after a refused password');
  const cookie = response.headers.getSetCookie()[0].split(';')[0];
  const me = await withCookie(server.url, '/api/session', cookie);
  assert.deepEqual(me.body.user.role, 'admin');
  assert.equal((await setUp(secret, 'second', 'a long enough password')).status, 403, 'the link works once');
});

test('user and token commands: stdin passwords, JSON lists without secrets, revocation', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const database = databaseOf(server.dir);
  runCli(['user', 'add', 'dana', '--role', 'analyst', '--password-stdin', '--database', database], 'dana has a password\n');
  await signIn(server.url, 'dana', 'dana has a password');
  const token = createToken(server.dir, 'dana', 'nightly', ['--expires', '90d']);
  assert.match(token, /^vit_\d+_[\w-]{43}$/);
  const listed = JSON.parse(runCli(['token', 'list', '--json', '--database', database]));
  const nightly = listed.find((entry) => entry.name === 'nightly');
  assert.deepEqual(Object.keys(nightly).sort(), ['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'user']);
  assert.equal(nightly.user, 'dana');
  assert.ok(Date.parse(nightly.expiresAt) - Date.now() > 89 * 86_400_000, 'expires in 90 days');
  assert.equal(nightly.lastUsedAt, null);
  assert.equal((await request(server.url, '/api/stats', { token })).status, 200);
  const used = JSON.parse(runCli(['token', 'list', '--json', '--database', database])).find((entry) => entry.name === 'nightly');
  assert.ok(used.lastUsedAt, 'the use is recorded');
  const secret = token.match(/^vit_\d+_(.+)$/)[1];
  assert.ok(!JSON.stringify(listed).includes(secret), 'no secret in the list');
  runCli(['token', 'revoke', String(nightly.id), '--database', database]);
  assert.equal((await request(server.url, '/api/stats', { token })).status, 401);
  const users = JSON.parse(runCli(['user', 'list', '--json', '--database', database]));
  assert.deepEqual(users.map((user) => [user.name, user.role]), [['admin', 'admin'], ['dana', 'analyst']]);
  runCli(['user', 'remove', 'dana', '--database', database]);
  assert.throws(() => runCli(['token', 'create', '--user', 'dana', '--name', 'x', '--database', database]), /no user named "dana"/);
});
