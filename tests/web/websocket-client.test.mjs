// The WebSocketClient's reconnection schedule and its fallback to HTTP polling, with a stand-in
// Socket.IO client and mocked timers (no DOM, no server).
import assert from 'node:assert/strict';
import { beforeEach, mock, test } from 'node:test';

import {
  backoffSchedule,
  debugEnabled,
  isAuthRefusal,
  MAX_RECONNECT_ATTEMPTS,
  reconnectDelay,
  RETRY_INTERVAL_MS,
  WebSocketClient,
} from '../../web/websocket-client.js';

test('the backoff schedule is the design\'s: 1, 2, 4, 8, 16 s', () => {
  assert.equal(MAX_RECONNECT_ATTEMPTS, 5);
  assert.deepEqual(backoffSchedule(), [1000, 2000, 4000, 8000, 16000]);
  assert.equal(reconnectDelay(0), 1000);
  assert.equal(reconnectDelay(4), 16000);
});

test('debug logging follows localStorage.debug patterns', () => {
  assert.equal(debugEnabled('vulnimport:websocket', undefined), false);
  assert.equal(debugEnabled('vulnimport:websocket', ''), false);
  assert.equal(debugEnabled('vulnimport:websocket', 'socket.io-client:socket'), false);
  assert.equal(debugEnabled('vulnimport:websocket', 'vulnimport:*'), true);
  assert.equal(debugEnabled('vulnimport:websocket', 'socket.io-client:*,vulnimport:websocket'), true);
  assert.equal(debugEnabled('vulnimport:websocket', '*'), true);
  assert.equal(debugEnabled('vulnimport:websocket', '*,-vulnimport:*'), false);
});

/** A stand-in for a Socket.IO socket: records what the client does, lets the test play the server. */
class FakeSocket {
  constructor() {
    this.handlers = {};
    this.connects = 1;
    this.emitted = [];
  }
  on(name, handler) {
    this.handlers[name] = handler;
  }
  fire(name, ...args) {
    this.handlers[name]?.(...args);
  }
  connect() {
    this.connects += 1;
  }
  disconnect() {
    this.disconnects = (this.disconnects ?? 0) + 1;
  }
  emit(name, ...args) {
    this.emitted.push([name, ...args]);
  }
  timeout() {
    return {
      emit: (name, sessionId, ack) => {
        this.emitted.push([name, sessionId]);
        ack(null, { ok: true, state: null });
      },
      emitWithAck: async (name, sessionId) => {
        this.emitted.push([name, sessionId]);
        return { ok: true };
      },
    };
  }
}

const SESSION = '5f0c6f43-6a57-4d8f-9a53-9d2f3b1c2a10';

function setUp() {
  const socket = new FakeSocket();
  const polls = [];
  const cancels = [];
  const api = {
    statuses: [],
    importStatus: async (id) => {
      polls.push(id);
      if (api.refuse) {
        throw Object.assign(new Error('the session has ended or expired; sign in again'), { status: 401 });
      }
      return api.statuses.shift() ?? { sessionId: id, type: 'loading', progress: 30, outcome: 'running' };
    },
    cancelImport: async (id) => {
      cancels.push(id);
      return { ok: true };
    },
  };
  const client = new WebSocketClient({ io: () => socket, api, storage: {} });
  return { client, socket, api, polls, cancels };
}

beforeEach(() => {
  mock.timers.reset();
  mock.timers.enable({ apis: ['setTimeout'] });
});

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('after a failure it reconnects after 1, 2, 4, 8 and 16 s, then polls and tries every 30 s', () => {
  const { client, socket } = setUp();
  client.connect();
  assert.equal(client.connectionState, 'connecting');
  const waits = [];
  for (let attempt = 0; attempt < 5; attempt += 1) {
    socket.fire('connect_error', new Error('refused'));
    assert.equal(client.connectionState, 'reconnecting');
    const before = socket.connects;
    // Not a millisecond early…
    const delay = reconnectDelay(attempt);
    mock.timers.tick(delay - 1);
    assert.equal(socket.connects, before, `attempt ${attempt + 1} came early`);
    // …and then exactly on time.
    mock.timers.tick(1);
    assert.equal(socket.connects, before + 1, `attempt ${attempt + 1} did not come`);
    waits.push(delay);
  }
  assert.deepEqual(waits, backoffSchedule());
  socket.fire('connect_error', new Error('refused'));
  assert.equal(client.connectionState, 'failed');
  assert.equal(client.mode, 'polling');
  for (let retry = 1; retry <= 3; retry += 1) {
    mock.timers.tick(RETRY_INTERVAL_MS - 1);
    assert.equal(socket.connects, 6 + retry - 1, `retry ${retry} came early`);
    mock.timers.tick(1);
    assert.equal(socket.connects, 6 + retry, `retry ${retry} did not come`);
    // A retry in progress does not pretend to be one of the quick attempts.
    assert.equal(client.connectionState, 'failed');
    socket.fire('connect_error', new Error('refused'));
  }
});

test('after the quick attempts a later retry goes live again and rejoins the session', async () => {
  const { client, socket, polls } = setUp();
  client.connect();
  socket.fire('connect');
  await client.joinSession(SESSION);
  socket.fire('disconnect', 'transport close');
  for (const delay of backoffSchedule()) {
    socket.fire('connect_error', new Error('refused'));
    mock.timers.tick(delay);
  }
  socket.fire('connect_error', new Error('refused'));
  assert.equal(client.connectionState, 'failed');
  assert.equal(client.polling, true);
  await settle();
  assert.ok(polls.length > 0, 'the session is polled meanwhile');
  mock.timers.tick(RETRY_INTERVAL_MS);
  socket.emitted.length = 0;
  socket.fire('connect');
  assert.equal(client.mode, 'live');
  assert.equal(client.reconnectAttempts, 0);
  assert.equal(client.polling, false);
  assert.deepEqual(socket.emitted, [['joinSession', SESSION]]);
});

test('polls that get no answer mark the server unreachable until one does', async () => {
  const { client, socket, api } = setUp();
  client.connect();
  socket.fire('connect_error', new Error('refused'));
  const original = api.importStatus;
  api.importStatus = async () => {
    throw Object.assign(new Error('The server cannot be reached.'), { status: 0 });
  };
  await client.joinSession(SESSION);
  await settle();
  assert.equal(client.serverReachable, false);
  api.importStatus = original;
  mock.timers.tick(client.pollInterval);
  await settle();
  assert.equal(client.serverReachable, true);
});

test('a successful reconnection resets the schedule and rejoins the session', async () => {
  const { client, socket } = setUp();
  client.connect();
  socket.fire('connect');
  assert.equal(client.mode, 'live');
  await client.joinSession(SESSION);
  socket.fire('disconnect', 'transport close');
  socket.fire('connect_error', new Error('refused'));
  mock.timers.tick(1000);
  socket.fire('connect_error', new Error('refused'));
  assert.equal(client.reconnectAttempts, 1);
  mock.timers.tick(2000);
  socket.fire('connect');
  assert.equal(client.reconnectAttempts, 0);
  assert.equal(client.connectionState, 'connected');
  const joins = socket.emitted.filter(([name]) => name === 'joinSession');
  assert.deepEqual(joins, [['joinSession', SESSION], ['joinSession', SESSION]]);
});

test('while the socket is down the session is polled about once a second, until it ends', async () => {
  const { client, socket, api, polls } = setUp();
  const events = [];
  client.on('progress', (event) => events.push(event));
  client.connect();
  socket.fire('connect_error', new Error('refused'));
  await client.joinSession(SESSION);
  await settle();
  assert.equal(polls.length, 1, 'polls at once');
  mock.timers.tick(999);
  await settle();
  assert.equal(polls.length, 1);
  mock.timers.tick(1);
  await settle();
  assert.equal(polls.length, 2, 'and again a second later');
  api.statuses.push({ sessionId: SESSION, type: 'complete', progress: 100, outcome: 'completed', data: {} });
  mock.timers.tick(1000);
  await settle();
  assert.equal(events.at(-1).type, 'complete');
  assert.equal(client.polling, false, 'stops once the import has ended');
});

test('a poll that finds the import cancelled reports importCancelled', async () => {
  const { client, socket, api } = setUp();
  const cancelled = [];
  client.on('importCancelled', (event) => cancelled.push(event));
  client.connect();
  socket.fire('connect_error', new Error('refused'));
  api.statuses.push({ sessionId: SESSION, type: 'error', progress: 40, outcome: 'cancelled' });
  await client.joinSession(SESSION);
  await settle();
  assert.deepEqual(cancelled, [{ sessionId: SESSION }]);
});

test('polling stops when the socket comes back', async () => {
  const { client, socket, polls } = setUp();
  client.connect();
  socket.fire('connect_error', new Error('refused'));
  await client.joinSession(SESSION);
  await settle();
  assert.equal(client.polling, true);
  mock.timers.tick(1000);
  socket.fire('connect');
  await settle();
  const count = polls.length;
  mock.timers.tick(5000);
  await settle();
  assert.equal(polls.length, count);
  assert.equal(client.polling, false);
});

test('cancelling goes over the socket when connected, over HTTP otherwise', async () => {
  const { client, socket, cancels } = setUp();
  client.connect();
  socket.fire('connect');
  assert.deepEqual(await client.cancelImport(SESSION), { ok: true, error: undefined });
  assert.deepEqual(socket.emitted.at(-1), ['cancelImport', SESSION]);
  assert.equal(cancels.length, 0);
  socket.fire('disconnect', 'transport close');
  assert.deepEqual(await client.cancelImport(SESSION), { ok: true });
  assert.deepEqual(cancels, [SESSION]);
});

test('without Socket.IO at all it polls from the start', async () => {
  const { api } = setUp();
  const client = new WebSocketClient({ io: undefined, api, storage: {} });
  assert.equal(client.connect(), false);
  assert.equal(client.connectionState, 'failed');
  await client.joinSession(SESSION);
  assert.equal(client.polling, true);
  client.leaveSession();
  assert.equal(client.polling, false);
});

test('events of other sessions are not passed on', () => {
  const { client, socket } = setUp();
  const events = [];
  client.on('progress', (event) => events.push(event));
  client.connect();
  socket.fire('connect');
  client.joinSession(SESSION);
  socket.fire('progress', { sessionId: 'another', type: 'loading', progress: 50 });
  socket.fire('progress', { sessionId: SESSION, type: 'loading', progress: 50 });
  assert.equal(events.length, 1);
});

test('the server\'s credential refusals are told apart from connection failures', () => {
  for (const message of [
    'sign-in required: send a session cookie or an API token (Authorization: Bearer …)',
    'the API token is not valid: it is malformed, unknown, revoked or its account is disabled',
    'the API token has expired',
    'the session has ended or expired; sign in again',
  ]) {
    assert.equal(isAuthRefusal(message), true, message);
  }
  for (const message of ['xhr poll error', 'websocket error', 'timeout', 'the accounts cannot be read now; try again', undefined]) {
    assert.equal(isAuthRefusal(message), false, String(message));
  }
});

test('a refused handshake stops reconnecting and polling and reports signedOut', async () => {
  const { client, socket, polls } = setUp();
  const reasons = [];
  client.on('signedOut', (reason) => reasons.push(reason));
  client.connect();
  socket.fire('connect_error', new Error('refused'));
  await client.joinSession(SESSION);
  await settle();
  assert.equal(client.polling, true);
  socket.fire('connect_error', new Error('the session has ended or expired; sign in again'));
  assert.equal(client.connectionState, 'signedOut');
  assert.equal(client.mode, 'signedOut');
  assert.equal(client.polling, false);
  assert.deepEqual(reasons, ['the session has ended or expired; sign in again']);
  const connects = socket.connects;
  const pollCount = polls.length;
  mock.timers.tick(60_000);
  await settle();
  assert.equal(socket.connects, connects, 'no reconnection attempt');
  assert.equal(polls.length, pollCount, 'no more polls');
  assert.equal(client.connect(), false, 'and no new connection either');
  await client.joinSession(SESSION);
  await settle();
  assert.equal(polls.length, pollCount, 'joining does not poll');
});

test('an authError ends a live connection without reconnecting', async () => {
  const { client, socket, polls } = setUp();
  const reasons = [];
  client.on('signedOut', (reason) => reasons.push(reason));
  client.connect();
  socket.fire('connect');
  await client.joinSession(SESSION);
  socket.fire('authError', { error: 'the API token has expired' });
  // The server disconnects the socket right after its authError.
  socket.fire('disconnect', 'io server disconnect');
  assert.equal(client.connectionState, 'signedOut');
  assert.equal(socket.disconnects, 1, 'the client closes the socket itself');
  assert.deepEqual(reasons, ['the API token has expired']);
  mock.timers.tick(60_000);
  await settle();
  assert.equal(socket.connects, 1);
  assert.equal(polls.length, 0);
});

test('a poll answered 401 stops polling and reports signedOut', async () => {
  const { client, socket, api, polls } = setUp();
  const reasons = [];
  client.on('signedOut', (reason) => reasons.push(reason));
  client.connect();
  socket.fire('connect_error', new Error('refused'));
  api.refuse = true;
  await client.joinSession(SESSION);
  await settle();
  assert.equal(polls.length, 1);
  assert.equal(client.connectionState, 'signedOut');
  assert.deepEqual(reasons, ['the session has ended or expired; sign in again']);
  mock.timers.tick(60_000);
  await settle();
  assert.equal(polls.length, 1);
  assert.equal(socket.connects, 1, 'the pending reconnection was dropped');
});
