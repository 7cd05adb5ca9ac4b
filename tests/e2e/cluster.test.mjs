// Several instances on one PostgreSQL database with Redis between them (REDIS_URL), with the
// official socket.io-client: a watcher on B follows an import running on A (the same events, a
// catch-up on join, the same status on both); a cancel on B stops an import on A; one queue in
// arrival order across instances, with places right on both; an instance killed mid-import is
// taken up by the other; Redis stopped and started again; watchers through nginx on long-polling
// alone; PostgreSQL restarted under an import; and REDIS_URL refused with SQLite. PostgreSQL and Redis: see tests/support/cluster.mjs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { missing, postgresServer, REDIS_URL, redisServer, startCluster } from '../support/cluster.mjs';
import { NGINX, startNginx } from '../support/nginx.mjs';
import {
  ADMIN, addUser, BIN, createToken, generateExport, importAndWait, metrics, request, startServerIn,
  upload, useDatabase, waitUntil, Watcher,
} from '../support/server.mjs';

const skip = await missing();

/** What a watcher saw of a session's progress, as the server stamped it. */
const stream = (watcher, sessionId) => watcher.progress(sessionId)
  .map(({ type, progress, message, timestamp }) => ({ type, progress, message, timestamp }));

async function watch(t, url, sessionIds) {
  const watcher = await Watcher.connect(url);
  t.after(() => watcher.close());
  for (const sessionId of sessionIds) {
    assert.equal((await watcher.join(sessionId)).ok, true);
  }
  return watcher;
}

async function accepted(url, file, fields) {
  const answer = await upload(url, file, fields);
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
}

test('a watcher on B follows an import running on A: the same events, a catch-up on join, the same status', { skip }, async (t) => {
  const { instances: [a, b] } = await startCluster(t);
  const sessionId = randomUUID();
  const onA = await watch(t, a.url, [sessionId]);
  const onB = await watch(t, b.url, [sessionId]);
  await accepted(a.url, generateExport(a.dir, 40_000, 4), { sessionId, scanDate: '2026-01-05' });

  await onB.waitForProgress(sessionId, (event) => event.type === 'loading', 'loading, seen on B', { ms: 60_000 });
  const late = await Watcher.connect(b.url);
  t.after(() => late.close());
  const ack = await late.join(sessionId);
  assert.equal(ack.ok, true, JSON.stringify(ack));
  assert.equal(ack.state.outcome, 'running', JSON.stringify(ack));
  // The catch-up comes at once, before anything newer.
  const first = await late.waitFor((event) => event.payload?.sessionId === sessionId, 'the catch-up');
  assert.equal(first.name, 'progress');
  assert.equal(first.payload.type, ack.state.type);

  const endA = await onA.waitForEnd(sessionId, { ms: 120_000 });
  assert.equal(endA.payload.type, 'complete', JSON.stringify(endA.payload));
  await onB.waitForEnd(sessionId, { ms: 10_000 });
  await late.waitForEnd(sessionId, { ms: 10_000 });
  assert.deepEqual(stream(onB, sessionId), stream(onA, sessionId));
  // The throttle is A's: at most one update per half second, the ending at once.
  const updates = stream(onB, sessionId).filter((event) => !['complete', 'error'].includes(event.type));
  for (let i = 1; i < updates.length; i += 1) {
    assert.ok(updates[i].timestamp - updates[i - 1].timestamp >= 450, JSON.stringify(updates.slice(i - 1, i + 1)));
  }
  assert.deepEqual(stream(late, sessionId).at(-1), stream(onA, sessionId).at(-1));

  const [onAStatus, onBStatus] = await Promise.all([a, b].map((instance) => request(instance.url, `/api/imports/${sessionId}`)));
  assert.equal(onAStatus.status, 200);
  assert.equal(onAStatus.body.outcome, 'completed');
  assert.deepEqual(onBStatus.body, onAStatus.body);
  const [statsA, statsB] = await Promise.all([a, b].map((instance) => request(instance.url, '/api/stats')));
  assert.deepEqual(statsB.body, statsA.body);
});

test('cancel on B stops an import running on A: importCancelled after the rollback, nothing changed', { skip }, async (t) => {
  const { instances: [a, b] } = await startCluster(t);
  const seeding = await watch(t, a.url, []);
  const seeded = await importAndWait(a, seeding, generateExport(a.dir, 500, 9), { scanDate: '2026-01-01' });
  assert.equal(seeded.end.payload.type, 'complete');
  const before = (await request(b.url, '/api/stats')).body;

  const sessionId = randomUUID();
  const onA = await watch(t, a.url, [sessionId]);
  const onB = await watch(t, b.url, [sessionId]);
  await accepted(a.url, generateExport(a.dir, 150_000, 5), { sessionId, scanDate: '2026-01-05' });
  await onB.waitForProgress(sessionId, (event) => event.type === 'loading' && event.progress >= 10, 'loading, seen on B', { ms: 60_000 });

  // The rights are checked on B against the account that started it.
  addUser(b.dir, 'analyst', 'analyst');
  const refused = await request(b.url, `/api/imports/${sessionId}/cancel`, { method: 'POST', token: createToken(b.dir, 'analyst') });
  assert.equal(refused.status, 403, JSON.stringify(refused.body));

  const asked = performance.now();
  const ack = await onB.request('cancelImport', sessionId);
  assert.deepEqual(ack, { ok: true, sessionId });
  const endB = await onB.waitForEnd(sessionId, { ms: 20_000 });
  assert.equal(endB.name, 'importCancelled');
  assert.ok(endB.at - asked < 5_000, `cancelled ${Math.round(endB.at - asked)} ms after the request`);
  assert.equal((await onA.waitForEnd(sessionId, { ms: 5_000 })).name, 'importCancelled');

  for (const instance of [a, b]) {
    assert.deepEqual((await request(instance.url, '/api/stats')).body, before);
    const status = await request(instance.url, `/api/imports/${sessionId}`);
    assert.equal(status.body.outcome, 'cancelled', JSON.stringify(status.body));
  }
  const record = await request(b.url, `/api/imports/${sessionId}/record`);
  assert.equal(record.body.outcome, 'cancelled');
  assert.equal(record.body.cancelledBy, ADMIN.name);
  const again = await request(b.url, `/api/imports/${sessionId}/cancel`, { method: 'POST' });
  assert.equal(again.status, 409, JSON.stringify(again.body));
});

test('one queue across instances: uploads alternating between them run in arrival order, their places right on both', { skip }, async (t) => {
  const { instances: [a, b] } = await startCluster(t);
  const holder = randomUUID();
  const watcher = await watch(t, b.url, [holder]);
  await accepted(a.url, generateExport(a.dir, 60_000, 6), { sessionId: holder, scanDate: '2026-01-05' });
  await watcher.waitForProgress(holder, (event) => event.type === 'loading', 'the first import running', { ms: 60_000 });

  const order = [];
  for (let i = 0; i < 4; i += 1) {
    const instance = i % 2 === 0 ? b : a;
    const sessionId = randomUUID();
    assert.equal((await watcher.join(sessionId)).ok, true);
    await accepted(instance.url, generateExport(instance.dir, 2_000, 10 + i), { sessionId, scanDate: `2026-01-0${6 + i}` });
    order.push(sessionId);
  }
  for (const [i, sessionId] of order.entries()) {
    const told = `Waiting in the queue: ${i + 1} ${i === 0 ? 'import' : 'imports'} ahead`;
    for (const instance of [a, b]) {
      await waitUntil(async () => {
        const { body } = await request(instance.url, `/api/imports/${sessionId}`);
        return body.outcome === 'queued' && body.message === told;
      }, `"${told}" on ${instance.url} for import ${i + 1}`);
    }
  }

  for (const sessionId of [holder, ...order]) {
    const end = await watcher.waitForEnd(sessionId, { ms: 120_000 });
    assert.equal(end.payload.type, 'complete', JSON.stringify(end.payload));
  }
  const history = (await request(a.url, '/api/imports?perPage=10')).body.items;
  const started = history.toSorted((x, y) => x.id - y.id).map((record) => record.sessionId);
  assert.deepEqual(started, [holder, ...order]);
  assert.ok(history.every((record) => record.outcome === 'completed'));
});

test('an instance killed mid-import: another records its imports interrupted within the lease and tells their watchers', { skip }, async (t) => {
  const { instances: [a, b] } = await startCluster(t);
  const seeding = await watch(t, b.url, []);
  await importAndWait(b, seeding, generateExport(b.dir, 500, 9), { scanDate: '2026-01-01' });
  const before = (await request(b.url, '/api/stats')).body;

  const running = randomUUID();
  const waiting = randomUUID();
  const onB = await watch(t, b.url, [running, waiting]);
  await accepted(a.url, generateExport(a.dir, 150_000, 7), { sessionId: running, scanDate: '2026-01-05' });
  await accepted(a.url, generateExport(a.dir, 1_000, 8), { sessionId: waiting, scanDate: '2026-01-06' });
  await onB.waitForProgress(running, (event) => event.type === 'loading' && event.progress >= 10, 'loading, seen on B', { ms: 60_000 });

  await a.stop('SIGKILL');
  const killed = performance.now();
  for (const sessionId of [running, waiting]) {
    const end = await onB.waitForEnd(sessionId, { ms: 30_000 });
    assert.equal(end.name, 'progress');
    assert.equal(end.payload.type, 'error', JSON.stringify(end.payload));
    assert.ok(end.at - killed < 30_000);
    const status = await request(b.url, `/api/imports/${sessionId}`);
    assert.equal(status.body.outcome, 'interrupted', JSON.stringify(status.body));
  }
  assert.deepEqual((await request(b.url, '/api/stats')).body, before);
  const history = (await request(b.url, '/api/imports')).body.items;
  assert.deepEqual(
    history.filter((record) => [running, waiting].includes(record.sessionId)).map((record) => record.outcome),
    ['interrupted', 'interrupted'],
  );
  // B goes on importing.
  const after = await importAndWait(b, onB, generateExport(b.dir, 500, 10), { scanDate: '2026-01-07' });
  assert.equal(after.end.payload.type, 'complete');
});

test('Redis away: health says degraded, imports go on with local delivery; back: ok, and shared again', { skip }, async (t) => {
  const redis = await redisServer(t);
  if (!redis) {
    t.skip('no redis-server to stop and start');
    return;
  }
  const { instances: [a, b] } = await startCluster(t, { redisUrl: redis.url });
  for (const instance of [a, b]) {
    assert.deepEqual((await request(instance.url, '/api/health', { token: null })).body, { status: 'ok' });
  }
  await redis.stop();
  for (const instance of [a, b]) {
    const health = await waitUntil(async () => {
      const { body } = await request(instance.url, '/api/health', { token: null });
      return body.status === 'degraded' && body;
    }, `degraded health on ${instance.url}`);
    assert.match(health.reason, /Redis/);
  }
  const local = await watch(t, a.url, []);
  const during = await importAndWait(a, local, generateExport(a.dir, 2_000, 11), { scanDate: '2026-01-05' });
  assert.equal(during.end.payload.type, 'complete');
  assert.equal((await request(b.url, '/api/stats')).status, 200);

  await redis.start();
  for (const instance of [a, b]) {
    await waitUntil(async () => (await request(instance.url, '/api/health', { token: null })).body.status === 'ok', `health ok again on ${instance.url}`);
  }
  const sessionId = randomUUID();
  const onB = await watch(t, b.url, [sessionId]);
  await accepted(a.url, generateExport(a.dir, 2_000, 12), { sessionId, scanDate: '2026-01-06' });
  assert.equal((await onB.waitForEnd(sessionId, { ms: 60_000 })).payload.type, 'complete');
});

test('through nginx on long-polling alone: watchers on both instances follow an import', { skip: skip || (!existsSync(NGINX) && `no nginx at ${NGINX}`) }, async (t) => {
  const { instances, dirs } = await startCluster(t);
  const nginx = await startNginx(dirs[0], instances.map((instance) => instance.url));
  t.after(() => nginx.stop());
  const token = createToken(dirs[0], ADMIN.name, 'through nginx');
  const sessionId = randomUUID();
  const clients = [];
  for (let i = 0; i < 8; i += 1) {
    const client = new Watcher(nginx.url, {
      transports: ['polling'],
      auth: { token },
      agent: new Agent({ localAddress: `127.0.0.${i + 2}`, keepAlive: true }),
    });
    t.after(() => client.close());
    clients.push(client);
  }
  await Promise.all(clients.map((client) => client.connected()));
  await Promise.all(clients.map((client) => client.join(sessionId)));
  const connected = await Promise.all(instances.map(async (instance) => (await metrics(instance.url)).vulnimport_connected_sockets));
  assert.ok(connected.every((count) => count > 0), `clients on both instances: ${connected}`);

  const answer = await upload(nginx.url, generateExport(dirs[0], 5_000, 13), { sessionId, scanDate: '2026-01-05' }, undefined, { token });
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  for (const client of clients) {
    const end = await client.waitForEnd(sessionId, { ms: 60_000 });
    assert.equal(end.payload.type, 'complete');
    assert.equal(client.socket.io.engine.transport.name, 'polling');
  }
  const ends = clients.map((client) => JSON.stringify(stream(client, sessionId).at(-1)));
  assert.equal(new Set(ends).size, 1);
});

test('PostgreSQL restarted mid-import: the import fails saying so, nothing applied, every channel agrees; the server serves again', { skip }, async (t) => {
  const postgres = await postgresServer(t);
  if (!postgres) {
    t.skip('no PostgreSQL server of its own can run here');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vulnimport-pg-restart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  useDatabase(dir, postgres.url);
  const server = await startServerIn(dir);
  t.after(() => server.stop());
  const watcher = await watch(t, server.url, []);
  const seeded = await importAndWait(server, watcher, generateExport(dir, 500, 9), { scanDate: '2026-01-01' });
  assert.equal(seeded.end.payload.type, 'complete');
  const before = (await request(server.url, '/api/stats')).body;

  const sessionId = randomUUID();
  assert.equal((await watcher.join(sessionId)).ok, true);
  await accepted(server.url, generateExport(dir, 150_000, 5), { sessionId, scanDate: '2026-01-05' });
  await watcher.waitForProgress(sessionId, (event) => event.type === 'loading' && event.progress >= 10, 'loading', { ms: 60_000 });
  postgres.restart();
  const end = await watcher.waitForEnd(sessionId, { ms: 90_000 });
  assert.equal(end.payload.type, 'error', JSON.stringify(end.payload));
  assert.match(end.payload.message, /connection to the database was lost/);

  // Once PostgreSQL is back: the record says the same, nothing was applied, imports run again.
  const record = await waitUntil(async () => {
    const answer = await request(server.url, `/api/imports/${sessionId}/record`);
    return answer.status === 200 && answer.body;
  }, 'the record, once PostgreSQL is back');
  assert.equal(record.outcome, 'failed');
  assert.equal(record.error, end.payload.message);
  assert.deepEqual((await request(server.url, '/api/stats')).body, before);
  const after = await importAndWait(server, watcher, generateExport(dir, 500, 10), { scanDate: '2026-01-07' });
  assert.equal(after.end.payload.type, 'complete');
});

test('REDIS_URL with a SQLite database is refused at start, saying why', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vulnimport-cluster-sqlite-'));
  try {
    const run = spawnSync(BIN, ['serve', '--port', '0', '--database', `sqlite://${join(dir, 'v.db')}`, '--redis-url', REDIS_URL], { encoding: 'utf8', timeout: 20_000 });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /REDIS_URL needs a PostgreSQL database/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
