// Abuse of the Socket.IO channel: missing and mistyped arguments, unknown events, a burst of
// joins and a flood of them, and WebSocket handshakes with an invalid key. Every event sent with
// an ack must be answered, or the socket told why before it is disconnected; drops must show in
// /metrics.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { test } from 'node:test';

import {
  generateExport, metrics, startServerFor, upload, watch, within,
} from '../support/server.mjs';

const TIMEOUT = { timeout: 120_000 };
const DROPPED = 'vulnimport_socket_messages_dropped_total';
const OVERLOADED = 'vulnimport_sockets_overloaded_total';

/** Imports a small generated export and waits for its end; returns its session id. */
async function finishedImport(t, server) {
  const watcher = await watch(t, server.url);
  const sessionId = randomUUID();
  assert.equal((await watcher.join(sessionId)).ok, true);
  const accepted = await upload(server.url, generateExport(server.dir, 50), { sessionId });
  assert.equal(accepted.status, 202);
  await watcher.waitForEnd(sessionId, { ms: 60_000 });
  return sessionId;
}

/** The `/metrics` samples of `name` (all labels), as `{ "name{labels}": value }`. */
async function samples(url, name) {
  return Object.fromEntries(Object.entries(await metrics(url)).filter(([key]) => key.startsWith(name)));
}

/** The catch-ups of `sessionId` a watcher got: its `progress` events of type `complete`. */
function catchUps(watcher, sessionId) {
  return watcher.progress(sessionId).filter((event) => event.type === 'complete').length;
}

test('missing, mistyped and unknown events are answered', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const watcher = await watch(t, server.url);
  const id = randomUUID();
  const huge = 'x'.repeat(1_000_000);
  const cases = [
    ['no argument', []],
    ['undefined', [undefined]],
    ['null', [null]],
    ['a number', [42]],
    ['a boolean', [true]],
    ['an array', [[id]]],
    ['an object without sessionId', [{ id }]],
    ['a sessionId that is a number', [{ sessionId: 42 }]],
    ['a string that is not a UUID', ['abc']],
    ['a huge string', [huge]],
  ];
  for (const event of ['joinSession', 'leaveSession', 'cancelImport']) {
    for (const [what, args] of cases) {
      const ack = await within(watcher.socket.timeout(10_000).emitWithAck(event, ...args),
        `the answer to ${event} with ${what}`, 11_000);
      assert.equal(ack.ok, false, `${event} with ${what}: ${JSON.stringify(ack)}`);
      assert.match(ack.error, /expected a UUID/, `${event} with ${what}`);
      assert.ok(ack.error.length < 200, `${event} with ${what}: the error quotes at most a little of the argument`);
    }
  }
  const unknown = await watcher.request('noSuchEvent', id);
  assert.deepEqual(unknown, {
    ok: false,
    error: 'unknown event "noSuchEvent": expected joinSession, leaveSession or cancelImport',
  });
  assert.deepEqual(await watcher.join(id), { ok: true, state: null }, 'the socket still works');
  assert.ok(watcher.socket.connected);
  assert.deepEqual(await samples(server.url, DROPPED), {}, 'nothing was dropped');
});

test('a burst of joins within the limit gets every ack and every catch-up', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const sessionId = await finishedImport(t, server);
  const watcher = await watch(t, server.url);
  const joins = 150;
  const started = performance.now();
  const acks = await Promise.all(Array.from({ length: joins },
    () => watcher.socket.timeout(20_000).emitWithAck('joinSession', sessionId)));
  for (const ack of acks) {
    assert.equal(ack.ok, true);
    assert.equal(ack.state.outcome, 'completed');
  }
  await watcher.waitFor(() => catchUps(watcher, sessionId) === joins, `${joins} catch-ups`);
  t.diagnostic(`${joins} joins answered, with their catch-ups, in ${Math.round(performance.now() - started)} ms`);
  assert.ok(watcher.socket.connected);
  assert.deepEqual(await samples(server.url, DROPPED), {}, 'nothing was dropped');
});

test('2,000 rapid joins: every ack answered, or the socket told why before it is disconnected', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const sessionId = await finishedImport(t, server);
  const watcher = await watch(t, server.url);
  let disconnect;
  watcher.socket.on('disconnect', (reason) => {
    disconnect = { reason, notices: watcher.events.filter((event) => event.name === 'overloaded') };
  });

  const joins = 2000;
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: joins },
    () => watcher.socket.timeout(30_000).emitWithAck('joinSession', sessionId)
      .then((ack) => ({ ack }), (error) => ({ error }))));
  const took = Math.round(performance.now() - started);
  const answered = results.filter((result) => result.ack);
  const failed = results.filter((result) => result.error);
  t.diagnostic(`${answered.length} of ${joins} joins answered, ${failed.length} ended by the disconnect, in ${took} ms; `
    + `${catchUps(watcher, sessionId)} catch-ups`);

  for (const { ack } of answered) {
    assert.equal(ack.ok, true);
    assert.equal(ack.state.outcome, 'completed');
  }
  const drops = await samples(server.url, DROPPED);
  t.diagnostic(`metrics: ${JSON.stringify({ ...drops, ...await samples(server.url, OVERLOADED) })}`);
  if (failed.length === 0) {
    assert.equal(catchUps(watcher, sessionId), joins, 'every join caught up');
    assert.deepEqual(drops, {}, 'nothing was dropped');
    return;
  }
  // Not answered: then the socket was disconnected, after an event saying why, and none of the
  // unanswered acks simply timed out.
  for (const { error } of failed) {
    assert.equal(error.message, 'socket has been disconnected', 'no ack lost on a live socket');
  }
  assert.ok(disconnect, 'the socket was disconnected');
  assert.equal(disconnect.reason, 'io server disconnect', 'the server ended the connection');
  assert.equal(disconnect.notices.length, 1, 'one overloaded event came before the disconnect');
  assert.match(disconnect.notices[0].payload.error, /^too many events: a socket may send \d+ at once/);
  assert.ok(answered.length >= 150, `the burst allowed was answered (${answered.length})`);

  // Every join handled sent its catch-up after its ack, unless the socket was being disconnected
  // by then: then it counts as dropped. Events refused count too.
  const refused = drops[`${DROPPED}{kind="event"}`] ?? 0;
  const acksDropped = drops[`${DROPPED}{kind="ack"}`] ?? 0;
  const catchUpsDropped = drops[`${DROPPED}{kind="catch_up"}`] ?? 0;
  assert.equal(catchUps(watcher, sessionId) + catchUpsDropped, answered.length + acksDropped,
    'every catch-up was delivered or counted');
  assert.ok(refused >= 1, 'the refused events are counted');
  assert.ok(refused + acksDropped <= failed.length, 'no more counted than the client missed');
  assert.equal((await metrics(server.url))[`${OVERLOADED}{reason="too_many_events"}`], 1,
    'the overloaded socket is counted');

  // The server goes on serving everyone else.
  const other = await watch(t, server.url);
  assert.equal((await other.join(sessionId)).ok, true);
});

/**
 * Sends a raw WebSocket upgrade request for the Socket.IO transport with `headers` (a `null`
 * value leaves the header out); resolves with `{ status, headers, body }` of the answer.
 */
function upgrade(url, headers) {
  const { hostname, port } = new URL(url);
  const all = {
    host: `${hostname}:${port}`,
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    ...headers,
  };
  const lines = Object.entries(all).filter(([, value]) => value !== null).map(([name, value]) => `${name}: ${value}`);
  const text = `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
  return within(new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(text));
    let received = Buffer.alloc(0);
    const finish = () => {
      const raw = received.toString('latin1');
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) {
        return false;
      }
      const [statusLine, ...headerLines] = raw.slice(0, end).split('\r\n');
      const answer = { status: Number(statusLine.split(' ')[1]), headers: {}, body: raw.slice(end + 4) };
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        answer.headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(answer.headers['content-length'] ?? 0);
      if (answer.status !== 101 && Buffer.byteLength(answer.body, 'latin1') < length) {
        return false;
      }
      socket.destroy();
      resolve(answer);
      return true;
    };
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      finish();
    });
    socket.on('error', reject);
    socket.on('close', () => finish() || reject(new Error(`connection closed: ${received.toString('latin1')}`)));
  }), 'the answer to a WebSocket upgrade', 10_000);
}

test('a WebSocket upgrade with an invalid Sec-WebSocket-Key is answered 400', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const valid = await upgrade(server.url, { 'sec-websocket-key': randomBytes(16).toString('base64') });
  assert.equal(valid.status, 101, 'a valid key switches protocols');

  const invalid = {
    'a key that is not base64': 'not a key!',
    'an empty key': '',
    'a key of 15 bytes': randomBytes(15).toString('base64'),
    'a key of 17 bytes': randomBytes(17).toString('base64'),
    'no key': null,
  };
  for (const [what, key] of Object.entries(invalid)) {
    const answer = await upgrade(server.url, { 'sec-websocket-key': key });
    assert.equal(answer.status, 400, `${what}: ${answer.status}`);
    assert.match(answer.headers['content-type'], /^application\/json/, what);
    assert.match(JSON.parse(answer.body).error, /^invalid WebSocket handshake: /, what);
  }
  const notAnUpgrade = await upgrade(server.url, {
    'sec-websocket-key': randomBytes(16).toString('base64'), upgrade: null, connection: null,
  });
  assert.equal(notAnUpgrade.status, 400, 'a websocket transport request without Upgrade');
  assert.match(JSON.parse(notAnUpgrade.body).error, /does not ask to upgrade/);
});
