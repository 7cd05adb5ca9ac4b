// The progress stream of one import as a client sees it: order and types of the events, the
// percentage, the throttle, the final event, and isolation between sessions.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  PHASES, SAMPLES, assertProgressEvent, generateExport, request, startServerFor, upload, watch,
} from '../support/server.mjs';

const TIMEOUT = { timeout: 90_000 };

/** Each phase's share of the percentage, as the design weights them. */
const SPAN = {
  parsing: [0, 5],
  loading: [5, 70],
  processing: [70, 95],
  finalizing: [95, 100],
  complete: [100, 100],
};

/**
 * Imports a generated export of `rows` rows with a watcher that joined before the upload, and
 * waits for its end. Returns the watcher, the session id and the session's progress events.
 */
async function watchedImport(t, server, rows, seed = 1) {
  const watcher = await watch(t, server.url);
  const sessionId = randomUUID();
  assert.deepEqual(await watcher.join(sessionId), { ok: true, state: null });
  const file = generateExport(server.dir, rows, seed);
  const accepted = await upload(server.url, file, { sessionId });
  assert.equal(accepted.status, 202);
  assert.deepEqual(accepted.body, { sessionId });
  await watcher.waitForEnd(sessionId, { ms: 60_000 });
  return { watcher, sessionId, events: watcher.progress(sessionId) };
}

test('events come in phase order, with the schema\'s types and fields only', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const { sessionId, events } = await watchedImport(t, server, 150_000);

  for (const event of events) {
    assertProgressEvent(event, sessionId);
  }
  const types = events.map((event) => event.type);
  assert.equal(types[0], 'parsing', 'the first event is parsing');
  assert.equal(types.at(-1), 'complete', 'the last event is complete');
  assert.equal(types.filter((type) => type === 'complete').length, 1, 'one complete event');
  assert.ok(!types.includes('error'), 'no error event');
  for (let i = 1; i < types.length; i += 1) {
    assert.ok(PHASES.indexOf(types[i]) >= PHASES.indexOf(types[i - 1]),
      `${types[i]} after ${types[i - 1]}: phases go parsing → loading → processing → finalizing → complete`);
    assert.ok(events[i].timestamp >= events[i - 1].timestamp, 'timestamps do not go back');
  }
  // A phase lasting over a second spans two throttle windows, so the trailing edge shows it.
  const { timings } = events.at(-1).data;
  for (const phase of ['loading', 'processing', 'finalizing']) {
    if (timings[phase] >= 1000) {
      assert.ok(types.includes(phase), `${phase} took ${timings[phase]} ms but no ${phase} event arrived`);
    }
  }
  t.diagnostic(`types: ${types.join(' ')}; timings ${JSON.stringify(timings)}`);
});

test('progress is an integer that only grows from 0 to 100, inside each phase\'s share', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const { sessionId, events } = await watchedImport(t, server, 150_000);

  assert.ok(events.length >= 4, `enough events to judge (${events.length})`);
  for (const event of events) {
    assertProgressEvent(event, sessionId);
    const [low, high] = SPAN[event.type];
    assert.ok(event.progress >= low && event.progress <= high,
      `${event.type} at ${event.progress}% is outside its share ${low}-${high}`);
  }
  const progress = events.map((event) => event.progress);
  assert.equal(progress[0], 0, 'starts at 0');
  assert.equal(progress.at(-1), 100, 'ends at 100');
  for (let i = 1; i < progress.length; i += 1) {
    assert.ok(progress[i] >= progress[i - 1], `progress went down: ${progress.join(', ')}`);
  }
  assert.ok(new Set(progress).size >= 3, `progress moves in between: ${progress.join(', ')}`);
});

// The rule: a session's non-terminal events leave the server at least 500 ms apart, so any three
// of them span at least 1000 ms when sent. Events are stamped when sent (`timestamp`), so that
// is checked exactly (1 ms for the rounding of two clocks read a few µs apart). At the client
// the window is checked over arrival times; an arrival gap differs from the sending gap only by
// the difference of the two events' transit times, which the test measures (arrival wall clock
// minus stamp, one host, 1 ms resolution each): that difference, + 2 ms, is the only allowance.
// On a machine saturated by the import, a transit time can reach ~200 ms, so a fixed allowance
// would either be too small to be true or too large to catch anything.
test('at most 2 progress events reach a client in any 1-second window', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  // Large enough to run past 2 s on a fast machine: four events or more to judge.
  const { watcher, sessionId } = await watchedImport(t, server, 150_000);

  const received = watcher.events.filter((event) => event.name === 'progress'
    && event.payload.sessionId === sessionId && !['complete', 'error'].includes(event.payload.type));
  assert.ok(received.length >= 4, `a multi-second import sends several events (${received.length})`);
  const sent = received.map((event) => event.payload.timestamp);
  const arrived = received.map((event) => event.at);
  const transit = received.map((event) => event.wall - event.payload.timestamp);
  t.diagnostic(`sending gaps (ms): ${sent.slice(1).map((at, i) => at - sent[i]).join(', ')}`);
  t.diagnostic(`arrival gaps (ms): ${arrived.slice(1).map((at, i) => Math.round(at - arrived[i])).join(', ')}`);
  t.diagnostic(`transit times (ms): ${transit.join(', ')}`);
  for (let i = 0; i + 1 < received.length; i += 1) {
    assert.ok(sent[i + 1] - sent[i] >= 499, `two events sent ${sent[i + 1] - sent[i]} ms apart; the rule is 500 ms`);
  }
  for (let i = 0; i + 2 < received.length; i += 1) {
    assert.ok(sent[i + 2] - sent[i] >= 999, `three events sent within ${sent[i + 2] - sent[i]} ms`);
    const allowance = Math.max(0, transit[i] - transit[i + 2]) + 2;
    const span = arrived[i + 2] - arrived[i];
    assert.ok(span >= 1000 - allowance,
      `three events arrived within ${Math.round(span)} ms (transit times ${transit[i]} and ${transit[i + 2]} ms)`);
  }
});

test('a 3-row file still ends with complete and its summary, also for a client joining after', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  // Default transports: HTTP long-polling first, then the upgrade, as a browser does.
  const watcher = await watch(t, server.url, { transports: ['polling', 'websocket'] });
  const sessionId = randomUUID();
  assert.deepEqual(await watcher.join(sessionId), { ok: true, state: null });
  const accepted = await upload(server.url, join(SAMPLES, 'test-scenario-2-with-cve.csv'), { sessionId });
  assert.equal(accepted.status, 202);

  const end = await watcher.waitForEnd(sessionId);
  assert.equal(end.name, 'progress');
  const complete = end.payload;
  assertProgressEvent(complete, sessionId);
  assert.equal(complete.type, 'complete');
  assert.equal(complete.progress, 100);
  assert.match(complete.message, /3 new/);
  assert.equal(complete.data.sessionId, sessionId);
  assert.equal(complete.data.outcome, 'completed');
  assert.equal(complete.data.rows, 3);
  assert.equal(complete.data.records, 3);
  assert.equal(complete.data.new, 3);
  assert.equal(complete.data.rejected, 0);
  assert.equal(watcher.progress(sessionId).at(-1), complete, 'complete is the last event');

  const findings = await request(server.url, '/api/vulnerabilities');
  assert.equal(findings.body.total, 3);

  // A client arriving after the end is told the end at once.
  const late = await watch(t, server.url);
  const ack = await late.join(sessionId);
  assert.equal(ack.ok, true);
  assert.equal(ack.state.outcome, 'completed');
  const caughtUp = await late.waitForProgress(sessionId, () => true, 'the late client\'s catch-up event', { ms: 2000 });
  assert.deepEqual(caughtUp, complete, 'the late client gets the same complete event');
});

test('two imports never see each other\'s events', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const [first, second] = [randomUUID(), randomUUID()];
  const a = await watch(t, server.url);
  const b = await watch(t, server.url);
  const idle = await watch(t, server.url); // joined nothing
  const other = await watch(t, server.url); // joined a session without an import
  assert.equal((await a.join(first)).ok, true);
  assert.equal((await b.join(second)).ok, true);
  assert.equal((await other.join(randomUUID())).ok, true);

  // Each long enough for three events or more on a fast machine.
  const files = [generateExport(server.dir, 60_000, 1), generateExport(server.dir, 60_000, 2)];
  const uploads = await Promise.all([
    upload(server.url, files[0], { sessionId: first }),
    upload(server.url, files[1], { sessionId: second }),
  ]);
  assert.deepEqual(uploads.map((answer) => answer.status), [202, 202]);
  const [endA, endB] = await Promise.all([
    a.waitForEnd(first, { ms: 60_000 }),
    b.waitForEnd(second, { ms: 60_000 }),
  ]);
  assert.equal(endA.payload.type, 'complete');
  assert.equal(endB.payload.type, 'complete');

  for (const [watcher, sessionId] of [[a, first], [b, second]]) {
    assert.ok(watcher.events.length >= 3, 'the watcher saw its import');
    for (const { name, payload } of watcher.events) {
      assert.equal(name, 'progress', `only progress events (got ${name})`);
      assert.equal(payload.sessionId, sessionId, 'only its own session\'s events');
      assert.equal(payload.data?.sessionId ?? sessionId, sessionId);
    }
  }
  assert.deepEqual(idle.events, [], 'a socket in no room gets nothing');
  assert.deepEqual(other.events, [], 'a socket in another room gets nothing');
});
