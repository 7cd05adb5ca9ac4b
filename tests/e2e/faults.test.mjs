// Faults and hostile uploads: a crash with imports queued, SIGTERM during an upload, a full
// upload folder, multipart abuse with the server's memory watched, errors that must be JSON,
// scan dates out of range.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  BIN, SAMPLES, Watcher, generateExport, importAndWait, keptUploads, request, spooledUploads, startServerFor,
  startServerIn, tokenFor, upload, waitUntil, within,
} from '../support/server.mjs';

const TIMEOUT = { timeout: 180_000 };
const SAMPLE = join(SAMPLES, 'multi-cve-test.csv');
const isRoot = process.getuid?.() === 0;

/** The server process's resident memory, in bytes. */
function residentBytes(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]) * 1024;
}

/**
 * Posts a multipart body made of `parts` (`{ name, filename?, size? , text? }`; `size` bytes of
 * filler are streamed) to `POST /api/imports`, with the server's admin token. Resolves with
 * `{ status, headers, text }`.
 */
async function postParts(url, parts) {
  const boundary = `----vulnimport${randomUUID()}`;
  const encoder = new TextEncoder();
  const filler = encoder.encode('a'.repeat(64 * 1024));
  async function* body() {
    for (const part of parts) {
      const disposition = `form-data; name="${part.name}"${part.filename !== undefined ? `; filename="${part.filename}"` : ''}`;
      yield encoder.encode(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n\r\n`);
      if (part.text !== undefined) {
        yield encoder.encode(part.text);
      }
      for (let sent = 0; sent < (part.size ?? 0); sent += filler.length) {
        yield filler.subarray(0, Math.min(filler.length, part.size - sent));
      }
      yield encoder.encode('\r\n');
    }
    yield encoder.encode(`--${boundary}--\r\n`);
  }
  return postBody(url, boundary, body());
}

/** Posts the byte chunks `body` as a multipart body with `boundary`; same result as `postParts`. */
async function postBody(url, boundary, body) {
  const response = await fetch(new URL('/api/imports', url), {
    method: 'POST',
    body: ReadableStream.from(body),
    duplex: 'half',
    headers: {
      authorization: `Bearer ${tokenFor(url)}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
    },
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** `megabytes` MB of `a`, after `head`. */
async function* filler(head, megabytes) {
  yield new TextEncoder().encode(head);
  const chunk = new TextEncoder().encode('a'.repeat(1 << 20));
  for (let sent = 0; sent < megabytes; sent += 1) {
    yield chunk;
  }
}

test('imports waiting in the queue at a kill -9 are interrupted after the restart; their uploads are kept', TIMEOUT, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vulnimport-test-'));
  let server = await startServerIn(dir);
  let watcher;
  t.after(async () => {
    watcher?.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  watcher = await Watcher.connect(server.url);
  const ids = [randomUUID(), randomUUID(), randomUUID()];
  const files = [generateExport(dir, 60_000, 1), generateExport(dir, 300, 2), generateExport(dir, 300, 3)];
  for (const [index, sessionId] of ids.entries()) {
    await watcher.join(sessionId);
    assert.equal((await upload(server.url, files[index], { sessionId })).status, 202);
  }
  await watcher.waitForProgress(ids[0], (event) => event.type === 'loading', 'the first import running', { ms: 30_000 });
  const waiting = await request(server.url, `/api/imports/${ids[1]}`);
  assert.equal(waiting.body.outcome, 'queued', 'a waiting import says so');
  const uploads = join(dir, 'uploads');
  const spooled = () => spooledUploads(uploads).map((name) => name.replace(/^vulnimport-upload-\w+/, '')).sort();
  const accepted = ['.upload', '.upload', '.upload', '.upload.json', '.upload.json', '.upload.json'];
  assert.deepEqual(spooled(), accepted, 'each accepted upload is on disk with what import it is');

  watcher.close();
  await server.stop('SIGKILL');
  assert.deepEqual(spooled(), accepted, 'a killed server leaves its uploads');

  server = await startServerIn(dir);
  assert.deepEqual(spooledUploads(uploads), [], 'the restart took up the orphaned uploads');
  assert.deepEqual(keptUploads(uploads), [...ids].sort(), 'and kept them for a retry');
  for (const sessionId of ids) {
    const status = await request(server.url, `/api/imports/${sessionId}`);
    assert.equal(status.status, 200, `${sessionId} is known after the restart`);
    assert.equal(status.body.outcome, 'interrupted');
  }
  const after = await request(server.url, '/api/imports');
  for (const sessionId of ids.slice(1)) {
    const record = after.body.items.find((item) => item.sessionId === sessionId);
    assert.equal(record.outcome, 'interrupted');
    assert.match(record.error, /stopped before the import started/);
  }
});

test('SIGTERM during an upload: it is answered 503 with Retry-After, the server stops at once, nothing is left', TIMEOUT, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vulnimport-test-'));
  const server = await startServerIn(dir);
  t.after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const boundary = `----vulnimport${randomUUID()}`;
  const answer = new Promise((resolve, reject) => {
    const req = httpRequest(new URL('/api/imports', server.url), {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tokenFor(server.url)}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
      },
    }, (response) => {
      let text = '';
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, text }));
      clearInterval(trickle);
    });
    req.on('error', reject);
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.csv"\r\n\r\nhostname,cve\r\n`);
    // A slow client: 64 KiB every 50 ms, for as long as it takes.
    const trickle = setInterval(() => req.write(`${'h1,CVE-2024-0001\r\n'.repeat(3640)}`), 50);
  });
  const uploads = join(dir, 'uploads');
  await waitUntil(() => spooledUploads(uploads).length === 1, 'the upload being spooled');
  await new Promise((resolve) => setTimeout(resolve, 500));

  const signalled = Date.now();
  server.process.kill('SIGTERM');
  const response = await within(answer, 'the answer to the upload in flight', 10_000);
  assert.equal(response.status, 503);
  assert.ok(Number(response.headers['retry-after']) > 0, 'Retry-After says when to try again');
  assert.match(JSON.parse(response.text).error, /shutting down; the upload was not kept/);
  assert.equal(await within(server.exited, 'the server\'s exit', 10_000), 0);
  assert.ok(Date.now() - signalled < 5_000, `stopped in ${Date.now() - signalled} ms, not after the slow upload`);
  assert.deepEqual(spooledUploads(uploads), [], 'the cut upload is removed');
  assert.deepEqual(keptUploads(uploads), [], 'an upload never accepted is not kept');
});

test('a full upload folder is answered 507 naming the disk; no partial file stays', { ...TIMEOUT, skip: !isRoot && 'mounting a tmpfs needs root' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vulnimport-test-'));
  const uploads = join(dir, 'small-disk');
  mkdirSync(uploads);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', uploads]);
  const server = await startServerIn(dir, { args: ['--upload-dir', uploads] });
  t.after(async () => {
    await server.stop();
    spawnSync('umount', [uploads]);
    rmSync(dir, { recursive: true, force: true });
  });
  const answer = await upload(server.url, generateExport(dir, 3_000, 1));
  assert.equal(answer.status, 507);
  assert.match(answer.body.error, /no space left on the disk holding the upload folder .*small-disk/);
  assert.deepEqual(spooledUploads(uploads), [], 'the partial upload is removed');
  const small = await upload(server.url, SAMPLE);
  assert.equal(small.status, 202, 'a file that fits is still taken');
});

/** Bytes free on the file system holding `path`. */
function available(path) {
  return Number(execFileSync('df', ['--output=avail', '-B1', path], { encoding: 'utf8' }).split('\n')[1].trim());
}

test('a full database disk: the import fails naming it, every channel agrees, the disk is given back', { ...TIMEOUT, skip: !isRoot && 'mounting a tmpfs needs root' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vulnimport-test-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dir]);
  const work = mkdtempSync(join(tmpdir(), 'vulnimport-test-'));
  const server = await startServerIn(dir, { args: ['--upload-dir', join(work, 'uploads')] });
  let watcher;
  t.after(async () => {
    watcher?.close();
    await server.stop();
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });
  watcher = await Watcher.connect(server.url);
  const scanned = { scanDate: '2026-01-05' };
  assert.equal((await importAndWait(server, watcher, generateExport(work, 300, 1), scanned)).end.payload.type, 'complete');
  const before = await request(server.url, '/api/stats');
  const big = generateExport(work, 8_000, 2);

  const filler = join(dir, 'filler');
  execFileSync('fallocate', ['-l', String(available(dir) - 3 * (1 << 20)), filler]);
  const freeBefore = available(dir);
  const { sessionId, end } = await importAndWait(server, watcher, big, scanned);
  assert.equal(end.payload.type, 'error');
  assert.match(end.payload.message, /no space left on the disk holding the database .*; nothing was changed/);
  const status = await request(server.url, `/api/imports/${sessionId}`);
  const history = await request(server.url, '/api/imports');
  const recorded = history.body.items.find((item) => item.sessionId === sessionId);
  assert.deepEqual([status.body.outcome, recorded?.outcome], ['failed', 'failed'], 'the status and the history agree');
  assert.equal(recorded.error, end.payload.message);
  assert.deepEqual((await request(server.url, '/api/stats')).body, before.body, 'nothing was applied');
  assert.ok(available(dir) >= freeBefore - (1 << 20), `the failed import gave the disk back (${available(dir)} of ${freeBefore} bytes free)`);

  rmSync(filler);
  assert.equal((await importAndWait(server, watcher, big, scanned)).end.payload.type, 'complete', 'with room again, the same file imports');
});

test('multipart abuse is refused without echo, and the server\'s memory stays flat', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const pid = server.process.pid;
  await new Promise((resolve) => setTimeout(resolve, 500));
  const idle = residentBytes(pid);
  let peak = idle;
  const sampler = setInterval(() => { peak = Math.max(peak, residentBytes(pid)); }, 20);
  t.after(() => clearInterval(sampler));
  const MB = 1 << 20;

  const huge = await postParts(server.url, [{ name: 'scope', size: 143 * MB }, { name: 'file', filename: 'a.csv', text: 'hostname,cve\n' }]);
  assert.equal(huge.status, 400);
  assert.match(JSON.parse(huge.text).error, /scope is longer than 1024 bytes/);
  assert.ok(huge.text.length < 300, `the answer is short (${huge.text.length} bytes)`);

  const unknown = await postParts(server.url, [1, 2, 3].map((n) => ({ name: `extra${n}`, size: 143 * MB })));
  assert.equal(unknown.status, 400);
  assert.match(JSON.parse(unknown.text).error, /unknown field "extra1"/);
  assert.ok(unknown.text.length < 300);

  const many = await postParts(server.url, Array.from({ length: 20_000 }, (_, n) => ({ name: 'scope', text: `v${n}` })));
  assert.equal(many.status, 400);
  assert.match(JSON.parse(many.text).error, /scope is given more than once/);

  // Broken framing: no boundary at all, a part header that never ends.
  for (const [what, body] of [
    ['no boundary', filler('', 100)],
    ['an endless part header', filler('--b\r\nContent-Disposition: form-data; name="file"; filename="', 100)],
  ]) {
    const broken = await postBody(server.url, 'b', body).catch((error) => ({ status: 0, text: String(error.cause ?? error) }));
    assert.equal(broken.status, 400, `${what}: ${broken.text}`);
    assert.match(JSON.parse(broken.text).error, /framing is broken/, what);
  }

  const twoFiles = await postParts(server.url, [
    { name: 'file', filename: 'one.csv', text: 'hostname,cve\nh1,CVE-2024-0001\n' },
    { name: 'file', filename: 'two.csv', text: 'hostname,cve\nh2,CVE-2024-0002\n' },
  ]);
  assert.equal(twoFiles.status, 400);
  assert.match(JSON.parse(twoFiles.text).error, /more than one file/);

  const longName = await postParts(server.url, [
    { name: 'file', filename: `${'n'.repeat(200_000)}.csv`, text: 'hostname,cve\nh1,CVE-2024-0001\n' },
  ]);
  assert.equal(longName.status, 202);
  const { sessionId } = JSON.parse(longName.text);
  const record = await waitUntil(async () => {
    const history = await request(server.url, '/api/imports');
    return history.body.items.find((item) => item.sessionId === sessionId);
  }, 'the import with the long name in the history');
  assert.ok(record.fileName.length <= 200, `the name is cut to ${record.fileName.length} characters`);
  assert.ok(record.fileName.endsWith('.csv'), 'the extension is kept');

  clearInterval(sampler);
  t.diagnostic(`resident memory: idle ${(idle / MB).toFixed(1)} MB, peak ${(peak / MB).toFixed(1)} MB`);
  assert.ok(peak - idle < 50 * MB, `resident memory grew by ${((peak - idle) / MB).toFixed(1)} MB (idle ${(idle / MB).toFixed(1)} MB)`);
});

test('every API error is JSON: malformed multipart, bad queries, wrong methods, control characters', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  const token = tokenFor(server.url);
  const cases = [
    ['/api/imports', { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: 'x' }, 400],
    ['/api/imports', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }, 400],
    ['/api/vulnerabilities?q=%00', {}, 400],
    ['/api/vulnerabilities?page=abc', {}, 400],
    ['/api/stats', { method: 'DELETE' }, 405],
    ['/api/session', { method: 'POST', headers: { 'content-type': 'application/json', origin: server.url }, body: '{"name":' }, 400],
  ];
  for (const [path, init, expected] of cases) {
    const response = await fetch(new URL(path, server.url), {
      ...init,
      headers: { authorization: `Bearer ${token}`, ...init.headers },
    });
    const text = await response.text();
    assert.equal(response.status, expected, `${init.method ?? 'GET'} ${path}: ${text}`);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/, `${path} answers JSON`);
    assert.equal(typeof JSON.parse(text).error, 'string', `${path}: ${text}`);
  }
});

test('scan dates before 1990 or after tomorrow are refused: HTTP 400, CLI exit 2', TIMEOUT, async (t) => {
  const server = await startServerFor(t);
  for (const date of ['9999-01-01', '1989-12-31', '0000-01-01']) {
    const answer = await upload(server.url, SAMPLE, { scanDate: date });
    assert.equal(answer.status, 400, `scanDate ${date}`);
    assert.match(answer.body.error, /before 1990|in the future/);
  }
  const dayAfterTomorrow = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
  const refused = spawnSync(BIN, ['import', SAMPLE, '--scan-date', dayAfterTomorrow, '--database', join(server.dir, 'cli.db')], { encoding: 'utf8' });
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /is in the future/);
  const today = new Date().toISOString().slice(0, 10);
  assert.equal((await upload(server.url, SAMPLE, { scanDate: today })).status, 202, 'today is fine');
});
