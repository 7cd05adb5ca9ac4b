// Through nginx with the shipped configuration (deploy/nginx.conf) in front of two instances:
// Socket.IO clients on the long-polling transport alone, from many client addresses, keep their
// connections (every request reaches the instance that opened it), both instances get clients, a
// WebSocket upgrade passes, and an upload and its progress stream go through.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { NGINX, startNginx } from '../support/nginx.mjs';
import {
  addUser, ADMIN, createToken, generateExport, metrics, startServerIn, upload, waitUntil, Watcher,
} from '../support/server.mjs';

const CLIENTS = 12;

test('through nginx: polling clients stick to their instance, WebSocket upgrades, progress flows', { skip: !existsSync(NGINX) && `no nginx at ${NGINX}` }, async (t) => {
  // Two instances with the same accounts: one database file, copied before either starts.
  const dirs = [mkdtempSync(join(tmpdir(), 'vulnimport-nginx-a-')), mkdtempSync(join(tmpdir(), 'vulnimport-nginx-b-'))];
  t.after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  addUser(dirs[0], ADMIN.name, 'admin', ADMIN.password);
  const token = createToken(dirs[0], ADMIN.name, 'through nginx');
  copyFileSync(join(dirs[0], 'vulnimport.db'), join(dirs[1], 'vulnimport.db'));
  const instances = [];
  for (const dir of dirs) {
    const instance = await startServerIn(dir, { args: ['--trusted-proxies', '127.0.0.1'] });
    t.after(() => instance.stop());
    instances.push(instance);
  }
  const nginx = await startNginx(dirs[0], instances.map((instance) => instance.url));
  t.after(() => nginx.stop());

  // Polling only, each client from its own loopback address, each asking a dozen times.
  const clients = [];
  for (let i = 0; i < CLIENTS; i += 1) {
    const localAddress = `127.0.0.${i + 2}`;
    const client = new Watcher(nginx.url, {
      transports: ['polling'],
      auth: { token },
      agent: new Agent({ localAddress, keepAlive: true }),
    });
    t.after(() => client.close());
    clients.push(client);
  }
  await Promise.all(clients.map((client) => client.connected()));
  for (let round = 0; round < 12; round += 1) {
    const acks = await Promise.all(clients.map((client) => client.join(crypto.randomUUID())));
    for (const ack of acks) {
      assert.equal(typeof ack, 'object', JSON.stringify(ack));
    }
  }
  assert.ok(clients.every((client) => client.socket.connected && client.socket.io.engine.transport.name === 'polling'));
  assert.deepEqual(clients.flatMap((client) => client.events.filter((event) => event.name === 'disconnect')), []);
  // Both instances have some of them.
  const connected = await Promise.all(instances.map(async (instance) => (await metrics(instance.url)).vulnimport_connected_sockets));
  assert.equal(connected.reduce((sum, count) => sum + count, 0), CLIENTS, JSON.stringify(connected));
  assert.ok(connected.every((count) => count > 0), `clients spread over both instances: ${connected}`);

  // The default transports: polling, then the upgrade to a WebSocket through the proxy.
  const upgraded = new Watcher(nginx.url, { transports: ['polling', 'websocket'], auth: { token } });
  t.after(() => upgraded.close());
  await upgraded.connected();
  await waitUntil(() => upgraded.socket.io.engine.transport.name === 'websocket', 'the upgrade to a WebSocket');

  // An upload through nginx, watched through nginx (one client address: one instance).
  const sessionId = crypto.randomUUID();
  await upgraded.join(sessionId);
  const accepted = await upload(nginx.url, generateExport(dirs[0], 5_000), { sessionId, scanDate: '2026-01-05' }, undefined, { token });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  const end = await upgraded.waitForEnd(sessionId, { ms: 60_000 });
  assert.equal(end.payload.type, 'complete', JSON.stringify(end));
  const phases = new Set(upgraded.events.filter((event) => event.payload?.sessionId === sessionId).map((event) => event.payload.type));
  assert.ok(phases.has('loading') || phases.has('parsing'), [...phases].join());
});
