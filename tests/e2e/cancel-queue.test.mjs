// Cancelling imports and the import queue: a cancel rolls back before it is announced, a cancel
// that finds nothing says so, queued imports run one at a time in upload order and can be
// cancelled while they wait.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  SAMPLES, Watcher, generateExport, request, snapshot, startServerFor, startServerIn, upload, waitUntil,
  watch, writeFile,
} from '../support/server.mjs';

const TIMEOUT = { timeout: 120_000 };

/** Index in `watcher.events` of the session's `complete` event (-1 if none yet). */
function completedAt(watcher, sessionId) {
  return watcher.events.findIndex((event) => event.name === 'progress'
    && event.payload.sessionId === sessionId && event.payload.type === 'complete');
}

/** True for the `parsing` 0% events that tell a queued import its place. */
function isQueueEvent(event) {
  return event.type === 'parsing' && event.progress === 0 && event.data?.queuePosition !== undefined;
}

/** Joins `ids` with `watcher`, then uploads `files[i]` for `ids[i]` one after the other. */
async function uploadAll(server, watcher, ids, files) {
  for (const id of ids) {
    assert.equal((await watcher.join(id)).ok, true);
  }
  for (const [i, id] of ids.entries()) {
    const accepted = await upload(server.url, files[i], { sessionId: id });
    assert.equal(accepted.status, 202, `upload ${i + 1} accepted`);
  }
}

test('cancel during the apply: importCancelled comes after the rollback, findings as before', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const watcher = await watch(t, server.url);
  const baseline = randomUUID();
  await watcher.join(baseline);
  await upload(server.url, generateExport(server.dir, 300, 7), { sessionId: baseline });
  assert.equal((await watcher.waitForEnd(baseline)).payload.type, 'complete');
  const before = await snapshot(server.url);
  assert.ok(before.findings.total > 0, 'the baseline import left findings');

  const sessionId = randomUUID();
  await watcher.join(sessionId);
  await upload(server.url, generateExport(server.dir, 80_000, 1), { sessionId });
  // The status is not throttled: poll it to cancel once the first findings have been applied.
  const applying = await waitUntil(async () => {
    const { body } = await request(server.url, `/api/imports/${sessionId}`);
    assert.ok(!['complete', 'error'].includes(body.type), `the import ended (${body.type}) before it could be cancelled`);
    return body.type === 'processing' && body.progress > 70 && body;
  }, 'the apply phase', 60_000);
  t.diagnostic(`cancelling at ${applying.progress}%: ${applying.message}`);

  const sent = performance.now();
  assert.deepEqual(await watcher.request('cancelImport', sessionId), { ok: true, sessionId });
  const end = await watcher.waitForEnd(sessionId);
  assert.equal(end.name, 'importCancelled');
  assert.deepEqual(end.payload, { sessionId });
  assert.ok(end.at - sent < 1000, `the import stopped ${Math.round(end.at - sent)} ms after the cancel`);

  // When importCancelled arrives, the import is recorded as cancelled and nothing of it remains.
  const record = await request(server.url, `/api/imports/${sessionId}/record`);
  assert.equal(record.body.outcome, 'cancelled');
  assert.deepEqual(await snapshot(server.url), before, 'findings and counts as before the import');
  const status = await request(server.url, `/api/imports/${sessionId}`);
  assert.equal(status.body.outcome, 'cancelled');
  const added = await request(server.url, `/api/imports/${sessionId}/findings?change=added`);
  assert.equal(added.body.total, 0, 'the cancelled import added nothing');

  const events = watcher.events.filter((event) => event.payload?.sessionId === sessionId);
  assert.equal(events.filter((event) => event.name === 'importCancelled').length, 1, 'one importCancelled');
  assert.equal(events.at(-1).name, 'importCancelled', 'nothing after importCancelled');
  assert.ok(!events.some((event) => ['complete', 'error'].includes(event.payload.type)), 'no complete or error');
});

test('cancelling an unknown or finished import is refused with a clear error', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const watcher = await watch(t, server.url);
  const refusals = async (sessionId) => {
    const ack = await watcher.request('cancelImport', sessionId);
    const http = await request(server.url, `/api/imports/${sessionId}/cancel`, { method: 'POST' });
    assert.equal(ack.ok, false, 'the socket refuses');
    assert.equal(typeof ack.error, 'string');
    assert.match(http.type, /application\/json/);
    assert.equal(typeof http.body.error, 'string');
    return { ack, http };
  };

  const unknown = await refusals(randomUUID());
  assert.equal(unknown.http.status, 404);
  assert.match(unknown.ack.error, /no import/);
  assert.match(unknown.http.body.error, /no import/);

  const completed = randomUUID();
  await watcher.join(completed);
  await upload(server.url, join(SAMPLES, 'test-import.csv'), { sessionId: completed });
  assert.equal((await watcher.waitForEnd(completed)).payload.type, 'complete');
  const finished = await refusals(completed);
  assert.equal(finished.http.status, 409);
  assert.match(finished.ack.error, /finished/);
  assert.match(finished.http.body.error, /finished/);
  assert.equal((await request(server.url, `/api/imports/${completed}`)).body.outcome, 'completed',
    'the refused cancel changed nothing');

  const failed = randomUUID();
  await watcher.join(failed);
  await upload(server.url, writeFile(server.dir, 'colours.csv', 'colour,size\nred,1\n'), { sessionId: failed });
  assert.equal((await watcher.waitForEnd(failed)).payload.type, 'error');
  assert.equal((await refusals(failed)).http.status, 409);

  const cancelled = randomUUID();
  await watcher.join(cancelled);
  await upload(server.url, generateExport(server.dir, 40_000), { sessionId: cancelled });
  await watcher.waitForProgress(cancelled, (event) => event.type === 'loading', 'a loading event', { ms: 30_000 });
  assert.equal((await watcher.request('cancelImport', cancelled)).ok, true);
  assert.equal((await watcher.waitForEnd(cancelled)).name, 'importCancelled');
  const again = await refusals(cancelled);
  assert.equal(again.http.status, 409, 'a cancelled import cannot be cancelled again');
  assert.equal(watcher.events.filter((event) => event.name === 'importCancelled').length, 1,
    'refused cancels announce nothing');
});

test('queued imports wait with their place in the queue and run in upload order', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const watcher = await watch(t, server.url);
  const ids = [randomUUID(), randomUUID(), randomUUID()];
  const files = [
    generateExport(server.dir, 40_000, 1),
    generateExport(server.dir, 10_000, 2),
    generateExport(server.dir, 10_000, 3),
  ];
  await uploadAll(server, watcher, ids, files);

  const [first, second, third] = await Promise.all(ids.map((id, i) =>
    watcher.waitForProgress(id, () => true, `the first event of upload ${i + 1}`)));
  // Nothing ahead of it, the first starts at once, not told it waits.
  assert.equal(first.type, 'parsing');
  assert.equal(first.message, 'Starting the import');
  assert.equal(first.data, undefined);
  assert.equal(second.type, 'parsing');
  assert.equal(second.progress, 0);
  assert.deepEqual(second.data, { queuePosition: 1, importsAhead: 1 });
  assert.match(second.message, /queue.*\b1 import ahead/i);
  assert.equal(third.type, 'parsing');
  assert.equal(third.progress, 0);
  assert.deepEqual(third.data, { queuePosition: 2, importsAhead: 2 });
  assert.match(third.message, /queue.*\b2 imports ahead/i);

  const ends = await Promise.all(ids.map((id) => watcher.waitForEnd(id, { ms: 60_000 })));
  assert.deepEqual(ends.map((end) => end.payload.type), ['complete', 'complete', 'complete']);
  // Nor is any import once those ahead of it have ended: it starts then.
  const toldToWait = watcher.progress().filter((event) => event.data?.importsAhead === 0);
  assert.deepEqual(toldToWait, [], 'an import with nothing ahead was told it waits');
  const order = ids.map((id) => completedAt(watcher, id));
  assert.ok(order[0] < order[1] && order[1] < order[2], 'they complete in upload order');
  // One at a time: an import leaves the queue only after the one before it has completed.
  for (const i of [1, 2]) {
    const started = watcher.events.findIndex((event) => event.name === 'progress'
      && event.payload.sessionId === ids[i] && !isQueueEvent(event.payload));
    assert.ok(started > order[i - 1], `upload ${i + 1} ran before upload ${i} had completed`);
  }
  const history = await request(server.url, '/api/imports');
  assert.deepEqual(history.body.items.map((item) => [item.sessionId, item.outcome]),
    [[ids[2], 'completed'], [ids[1], 'completed'], [ids[0], 'completed']], 'history, newest first');
});

test('a queued import is cancelled at once and the others still complete', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const watcher = await watch(t, server.url);
  const ids = [randomUUID(), randomUUID(), randomUUID()];
  const files = [
    generateExport(server.dir, 60_000, 1),
    generateExport(server.dir, 5_000, 2),
    generateExport(server.dir, 5_000, 3),
  ];
  await uploadAll(server, watcher, ids, files);
  await watcher.waitForProgress(ids[2], isQueueEvent, 'the third upload\'s place in the queue');

  const sent = performance.now();
  const cancel = await request(server.url, `/api/imports/${ids[1]}/cancel`, { method: 'POST' });
  assert.equal(cancel.status, 202);
  assert.deepEqual(cancel.body, { ok: true, sessionId: ids[1] });
  const cancelled = await watcher.waitForEnd(ids[1]);
  assert.equal(cancelled.name, 'importCancelled');
  assert.ok(cancelled.at - sent < 1000, `importCancelled came ${Math.round(cancelled.at - sent)} ms after the cancel`);
  assert.equal(completedAt(watcher, ids[0]), -1, 'while the first import is still running');
  assert.equal((await request(server.url, `/api/imports/${ids[1]}`)).body.outcome, 'cancelled');

  // The third moves up; the throttle's trailing edge delivers its new place.
  const movedUp = await watcher.waitFor((event) => event.name === 'progress' && event.payload.sessionId === ids[2]
    && event.payload.data?.importsAhead === 1, 'the third upload\'s new place');
  assert.deepEqual(movedUp.payload.data, { queuePosition: 1, importsAhead: 1 });
  assert.equal(completedAt(watcher, ids[0]), -1, 'told while the first import is still running');

  const ends = await Promise.all([ids[0], ids[2]].map((id) => watcher.waitForEnd(id, { ms: 60_000 })));
  assert.deepEqual(ends.map((end) => end.payload.type), ['complete', 'complete']);
  assert.ok(completedAt(watcher, ids[0]) < completedAt(watcher, ids[2]));
  const ofCancelled = watcher.events.filter((event) => event.payload?.sessionId === ids[1]);
  assert.equal(ofCancelled.at(-1).name, 'importCancelled', 'nothing after importCancelled');
  assert.ok(ofCancelled.slice(0, -1).every((event) => isQueueEvent(event.payload)),
    'the cancelled import never started');
  const history = await request(server.url, '/api/imports');
  const outcomes = Object.fromEntries(history.body.items.map((item) => [item.sessionId, item.outcome]));
  assert.equal(outcomes[ids[0]], 'completed');
  assert.equal(outcomes[ids[2]], 'completed');
});

test('a queued import that was cancelled is still known after a restart', TIMEOUT, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vulnimport-test-'));
  let server = await startServerIn(dir);
  let watcher;
  t.after(async () => {
    watcher?.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  watcher = await Watcher.connect(server.url);
  const [running, queued] = [randomUUID(), randomUUID()];
  await uploadAll(server, watcher, [running, queued],
    [generateExport(dir, 40_000, 1), generateExport(dir, 300, 2)]);
  await watcher.waitForProgress(queued, isQueueEvent, 'the queued import\'s place');
  assert.equal((await watcher.request('cancelImport', queued)).ok, true);
  assert.equal((await watcher.waitForEnd(queued)).name, 'importCancelled');
  assert.equal((await watcher.waitForEnd(running, { ms: 60_000 })).payload.type, 'complete');
  watcher.close();
  assert.equal(await server.stop(), 0);

  server = await startServerIn(dir);
  const status = await request(server.url, `/api/imports/${queued}`);
  assert.equal(status.status, 200, `the cancelled import's status after a restart: ${JSON.stringify(status.body)}`);
  assert.equal(status.body.outcome, 'cancelled');
});
