// Retries from kept uploads: an import killed mid-way, one that failed and ones cancelled (running
// and queued) are imported again from the upload the server kept, with the same result as a
// fresh import; refused retries (completed, not ended, unknown, a viewer, a retry already
// waiting); retention by days and by size, after which a retry is gone and the history says why.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  BIN, SAMPLES, Watcher, addUser, createToken, databaseOf, generateExport, importAndWait, keptUploads, request,
  snapshot, spooledUploads, startServerFor, startServerIn, upload, waitUntil, writeFile,
} from '../support/server.mjs';

const TIMEOUT = { timeout: 240_000 };
const FIELDS = { scanDate: '2026-01-05', scope: 'hosts' };
const DAY_MS = 24 * 60 * 60 * 1000;

/** An export with 10 good rows and 5 without a host: a third rejected, over the default 10%. */
function rejectingExport(dir, name = 'rejects.csv') {
  const good = Array.from({ length: 10 }, (_, i) => `host${i},CVE-2024-000${i}`);
  const bad = Array.from({ length: 5 }, (_, i) => `,CVE-2024-100${i}`);
  return writeFile(dir, name, ['hostname,cve', ...good, ...bad].join('\n'));
}

/** A folder for a server's data, removed (after `stop`) when the test ends. */
function dataFolder(t, stop) {
  const dir = mkdtempSync(join(tmpdir(), 'vulnimport-test-'));
  t.after(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function retry(url, sessionId, options = {}) {
  return request(url, `/api/imports/${sessionId}/retry`, { method: 'POST', ...options });
}

/** The record of an import once it has ended (polled). */
async function ended(url, sessionId) {
  await waitUntil(async () => {
    const status = await request(url, `/api/imports/${sessionId}`);
    return status.status === 200 && !['queued', 'running'].includes(status.body.outcome);
  }, `the end of import ${sessionId}`, 90_000);
  return (await request(url, `/api/imports/${sessionId}/record`)).body;
}

/** Retries `sessionId` and waits for the new import's end; resolves with its record. */
async function retried(url, sessionId) {
  const answer = await retry(url, sessionId);
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  assert.equal(answer.body.retryOf, sessionId);
  assert.notEqual(answer.body.sessionId, sessionId, 'a retry is a new import');
  const record = await ended(url, answer.body.sessionId);
  assert.equal(record.retryOf, sessionId, 'the retry names the import it retries');
  return record;
}

/** A list of findings without their ids, to compare two databases. */
function withoutIds(findings) {
  return { ...findings, items: findings.items.map(({ id, ...finding }) => finding) };
}

test('a kill -9 mid-import, a restart, a retry: completed, as a fresh import of the file into an empty database', TIMEOUT, async (t) => {
  let server;
  const dir = dataFolder(t, () => server.stop());
  server = await startServerIn(dir);
  const file = generateExport(dir, 60_000, 1);
  const watcher = await Watcher.connect(server.url);
  const killed = randomUUID();
  await watcher.join(killed);
  assert.equal((await upload(server.url, file, { ...FIELDS, sessionId: killed })).status, 202);
  await watcher.waitForProgress(killed, (event) => event.type === 'loading', 'the import loading', { ms: 60_000 });
  watcher.close();
  await server.stop('SIGKILL');

  server = await startServerIn(dir);
  const uploads = join(dir, 'uploads');
  assert.deepEqual(spooledUploads(uploads), []);
  assert.deepEqual(keptUploads(uploads), [killed], 'the restart keeps the interrupted import\'s upload');
  const interrupted = (await request(server.url, `/api/imports/${killed}/record`)).body;
  assert.equal(interrupted.outcome, 'interrupted');
  assert.equal(interrupted.uploadKept, true);
  assert.equal(interrupted.uploadGone, null);
  const left = Date.parse(interrupted.uploadKeptUntil) - Date.now();
  assert.ok(left > 6.9 * DAY_MS && left <= 7 * DAY_MS, `kept for 7 days (${left} ms left)`);

  const record = await retried(server.url, killed);
  assert.equal(record.outcome, 'completed', record.error);
  assert.deepEqual(
    [record.fileName, record.fileSize, record.scanDate, record.scope, record.startedBy],
    [interrupted.fileName, interrupted.fileSize, FIELDS.scanDate, FIELDS.scope, 'admin'],
    'the same file, scan date and scope, started by the caller',
  );
  assert.equal(record.uploadKept, false, 'a completed import keeps no upload');
  assert.deepEqual(keptUploads(uploads), [killed], 'the kept upload stays for another retry');
  assert.deepEqual(spooledUploads(uploads), [], 'the retry\'s own upload is gone');
  const history = (await request(server.url, '/api/imports')).body.items;
  assert.deepEqual(history.map((item) => [item.outcome, item.retryOf]), [['completed', killed], ['interrupted', null]]);

  const fresh = await startServerFor(t);
  const freshWatcher = await Watcher.connect(fresh.url);
  t.after(() => freshWatcher.close());
  const { sessionId } = await importAndWait(fresh, freshWatcher, file, FIELDS);
  const freshRecord = (await request(fresh.url, `/api/imports/${sessionId}/record`)).body;
  assert.equal(freshRecord.outcome, 'completed');
  assert.deepEqual(record.counts, freshRecord.counts, 'the same counts');
  const [afterRetry, afterFresh] = [await snapshot(server.url), await snapshot(fresh.url)];
  assert.deepEqual(afterRetry.stats, afterFresh.stats, 'the same dashboard');
  assert.ok(afterFresh.findings.total > 1000, `${afterFresh.findings.total} findings`);
  assert.deepEqual(withoutIds(afterRetry.findings), withoutIds(afterFresh.findings), 'the same findings');
});

test('a failed import and cancelled ones (running and queued) are retried from their kept uploads', TIMEOUT, async (t) => {
  let server;
  let watcher;
  const dir = dataFolder(t, async () => {
    watcher?.close();
    await server.stop();
  });
  server = await startServerIn(dir);
  watcher = await Watcher.connect(server.url);
  const uploads = join(dir, 'uploads');

  const failed = await importAndWait(server, watcher, rejectingExport(dir), FIELDS);
  assert.equal(failed.end.payload.type, 'error');
  // Kept before the end was reported: a retry right away finds it.
  const again = await retried(server.url, failed.sessionId);
  assert.equal(again.outcome, 'failed', 'the same limits fail it again');
  assert.match(again.error, /5 of 15 rows could not be read/);
  assert.equal(again.uploadKept, true, 'a failed retry is kept too');
  assert.deepEqual(keptUploads(uploads), [failed.sessionId, again.sessionId].sort());
  // Same file: its bytes count once.
  const kept = (id) => statSync(join(uploads, 'vulnimport-kept', `${id}.upload`));
  assert.equal(kept(failed.sessionId).ino, kept(again.sessionId).ino, 'a retry links the kept file');

  // With a higher limit, the import goes through.
  watcher.close();
  await server.stop();
  server = await startServerIn(dir, { args: ['--max-rejected-share', '0.5'] });
  watcher = await Watcher.connect(server.url);
  const through = await retried(server.url, failed.sessionId);
  assert.equal(through.outcome, 'completed', through.error);
  assert.deepEqual([through.counts.rows, through.counts.rejected, through.counts.new], [15, 5, 10]);
  assert.equal((await request(server.url, '/api/stats')).body.total, 10);

  // One cancelled while it ran, one while it waited behind it.
  const big = generateExport(dir, 60_000, 2);
  const [running, waiting] = [randomUUID(), randomUUID()];
  for (const [sessionId, file] of [[running, big], [waiting, generateExport(dir, 200, 3)]]) {
    await watcher.join(sessionId);
    assert.equal((await upload(server.url, file, { ...FIELDS, sessionId })).status, 202);
  }
  await watcher.waitForProgress(running, (event) => event.type === 'loading', 'the big import loading', { ms: 60_000 });
  for (const sessionId of [waiting, running]) {
    assert.equal((await request(server.url, `/api/imports/${sessionId}/cancel`, { method: 'POST' })).status, 202);
  }
  for (const sessionId of [waiting, running]) {
    const record = await ended(server.url, sessionId);
    assert.equal(record.outcome, 'cancelled');
    assert.equal(record.uploadKept, true, `${sessionId} is kept`);
  }
  for (const sessionId of [running, waiting]) {
    const record = await retried(server.url, sessionId);
    assert.equal(record.outcome, 'completed', record.error);
  }
  assert.deepEqual(spooledUploads(uploads), []);
});

test('a shutdown keeps the uploads of the running import and of the one waiting; both can be retried', TIMEOUT, async (t) => {
  let server;
  const dir = dataFolder(t, () => server.stop());
  server = await startServerIn(dir);
  const watcher = await Watcher.connect(server.url);
  const [running, waiting] = [randomUUID(), randomUUID()];
  for (const [sessionId, file] of [[running, generateExport(dir, 60_000, 5)], [waiting, generateExport(dir, 200, 6)]]) {
    await watcher.join(sessionId);
    assert.equal((await upload(server.url, file, { ...FIELDS, sessionId })).status, 202);
  }
  await watcher.waitForProgress(running, (event) => event.type === 'loading', 'the big import loading', { ms: 60_000 });
  watcher.close();
  assert.equal(await server.stop('SIGTERM'), 0);
  const uploads = join(dir, 'uploads');
  assert.deepEqual(spooledUploads(uploads), []);
  assert.deepEqual(keptUploads(uploads), [running, waiting].sort(), 'both kept at the shutdown');

  server = await startServerIn(dir);
  for (const sessionId of [running, waiting]) {
    const record = (await request(server.url, `/api/imports/${sessionId}/record`)).body;
    assert.equal(record.outcome, 'interrupted');
    assert.equal(record.uploadKept, true);
    assert.equal((await retried(server.url, sessionId)).outcome, 'completed');
  }
});

test('retries refused: a completed import, one still running, a second retry, an unknown id, a viewer', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const watcher = await Watcher.connect(server.url);
  t.after(() => watcher.close());
  const completed = await importAndWait(server, watcher, join(SAMPLES, 'multi-cve-test.csv'));
  assert.equal(completed.end.payload.type, 'complete');
  const refused = await retry(server.url, completed.sessionId);
  assert.equal(refused.status, 409);
  assert.match(refused.body.error, /completed; there is nothing to retry/);

  const unknown = await retry(server.url, randomUUID());
  assert.equal(unknown.status, 404);
  assert.match(unknown.body.error, /no import with session id/);
  assert.equal((await retry(server.url, 'abc')).status, 400);

  const failed = await importAndWait(server, watcher, rejectingExport(server.dir));
  addUser(server.dir, 'vera', 'viewer');
  const viewer = await retry(server.url, failed.sessionId, { token: createToken(server.dir, 'vera') });
  assert.equal(viewer.status, 403);
  assert.equal((await retry(server.url, failed.sessionId, { token: null })).status, 401);

  // A big import runs; the failed one's retry waits behind it.
  const running = randomUUID();
  await watcher.join(running);
  assert.equal((await upload(server.url, generateExport(server.dir, 60_000, 4), { sessionId: running })).status, 202);
  await watcher.waitForProgress(running, (event) => event.type === 'loading', 'the big import loading', { ms: 60_000 });
  const busy = await retry(server.url, running);
  assert.equal(busy.status, 409);
  assert.match(busy.body.error, /still queued or running/);
  const first = await retry(server.url, failed.sessionId);
  assert.equal(first.status, 202);
  const queued = await retry(server.url, first.body.sessionId);
  assert.equal(queued.status, 409, 'a queued retry is not retried');
  const second = await retry(server.url, failed.sessionId);
  assert.equal(second.status, 409);
  assert.match(second.body.error, /a retry of import .* is already queued or running/);
  assert.equal((await request(server.url, `/api/imports/${running}/cancel`, { method: 'POST' })).status, 202);
  assert.equal((await ended(server.url, first.body.sessionId)).outcome, 'failed');
  assert.equal((await retry(server.url, failed.sessionId)).status, 202, 'once the retry ended, another may start');
});

test('retention removes kept uploads by size (the oldest first) and by age; a retry is then gone, and the history says why', TIMEOUT, async (t) => {
  let server;
  let watcher;
  const dir = dataFolder(t, async () => {
    watcher?.close();
    await server.stop();
  });
  const files = [1, 2, 3].map((n) => rejectingExport(dir, `rejects-${n}.csv`));
  const size = statSync(files[0]).size;
  const args = ['--upload-retention-bytes', String(Math.floor(size * 2.5))];
  server = await startServerIn(dir, { args });
  watcher = await Watcher.connect(server.url);
  const uploads = join(dir, 'uploads');
  const ids = [];
  for (const file of files) {
    const { sessionId, end } = await importAndWait(server, watcher, file);
    assert.equal(end.payload.type, 'error');
    ids.push(sessionId);
  }
  assert.deepEqual(keptUploads(uploads), ids.slice(1).sort(), 'the oldest went to stay within the size');
  const gone = await retry(server.url, ids[0]);
  assert.equal(gone.status, 410);
  assert.match(gone.body.error, /no longer kept: .* kept 7 days and \d+ bytes in all, the oldest removed first; upload the file again/);
  const record = (await request(server.url, `/api/imports/${ids[0]}/record`)).body;
  assert.equal(record.uploadKept, false);
  assert.equal(record.uploadKeptUntil, null);
  assert.deepEqual(record.uploadGone, { reason: 'retention', keptDays: 7 });

  // Eight days later (the description's time is when the upload was kept), at the next start.
  const eightDaysAgo = new Date(Date.now() - 8 * DAY_MS);
  utimesSync(join(uploads, 'vulnimport-kept', `${ids[1]}.json`), eightDaysAgo, eightDaysAgo);
  watcher.close();
  await server.stop();
  server = await startServerIn(dir, { args });
  watcher = await Watcher.connect(server.url);
  assert.deepEqual(keptUploads(uploads), [ids[2]], 'the expired upload is removed at start');
  assert.equal((await retry(server.url, ids[1])).status, 410);
  const history = (await request(server.url, '/api/imports')).body.items;
  assert.deepEqual(
    history.map((item) => [item.sessionId, item.uploadKept, item.uploadGone?.reason ?? null]),
    [[ids[2], true, null], [ids[1], false, 'retention'], [ids[0], false, 'retention']],
  );

  // A local command-line import never had an upload.
  const local = spawnSync(BIN, ['import', files[0], '--json', '--database', databaseOf(dir)], { encoding: 'utf8' });
  assert.equal(local.status, 1, local.stderr);
  const cli = JSON.parse(local.stdout).sessionId;
  const fromCli = await retry(server.url, cli);
  assert.equal(fromCli.status, 410);
  assert.match(fromCli.body.error, /imported from the command line/);
  assert.deepEqual((await request(server.url, `/api/imports/${cli}/record`)).body.uploadGone, { reason: 'commandLine' });
});
