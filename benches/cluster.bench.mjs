// Cross-instance delivery, with the official socket.io-client against the release binary:
//   cargo build --release && node benches/cluster.bench.mjs
// (uses $CARGO_TARGET_DIR, or ./target; VULNIMPORT_BIN overrides the binary; PostgreSQL and Redis
// as the multi-instance tests find them, see tests/support/cluster.mjs).
//
// Two instances on one fresh PostgreSQL database with Redis between them; BENCH_WATCHERS (1,000)
// watchers joined to one session, half on each instance; a generated 100,000-row export uploaded
// to instance A. For every progress event each watcher receives: receipt time minus the event's
// server timestamp, for the watchers on A (local delivery) and on B (through the Redis adapter),
// p50/p99/max; then the import's time against the same import on a lone instance.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { io } from 'socket.io-client';

process.env.VULNIMPORT_BIN ??= join(process.env.CARGO_TARGET_DIR ?? 'target', 'release', 'vulnimport');
const { generateExport, tokenFor } = await import('../tests/support/server.mjs');
const { missing, startCluster } = await import('../tests/support/cluster.mjs');

const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 1000);
const unavailable = await missing();
if (unavailable) {
  throw new Error(`the cluster bench needs PostgreSQL and Redis: ${unavailable}`);
}
const work = mkdtempSync(join(tmpdir(), 'vulnimport-bench-'));
const file = generateExport(work, 100_000);
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

function connect(url) {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: tokenFor(url) } });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

async function connectMany(url, count) {
  const sockets = [];
  for (let start = 0; start < count; start += 100) {
    sockets.push(...await Promise.all(Array.from({ length: Math.min(100, count - start) }, () => connect(url))));
  }
  return sockets;
}

/** Uploads the file to `url` with curl; resolves with the import's duration once `watcher` sees it end. */
async function importThrough(url, watcher, sessionId) {
  const done = new Promise((resolve, reject) => {
    watcher.on('progress', (event) => {
      if (event.sessionId !== sessionId) return;
      if (event.type === 'complete') resolve(event.data.durationMs);
      if (event.type === 'error') reject(new Error(event.message));
    });
  });
  await watcher.timeout(5000).emitWithAck('joinSession', sessionId);
  const { stdout } = await promisify(execFile)('curl', ['-s', '-w', '\n%{http_code}',
    '-H', `Authorization: Bearer ${tokenFor(url)}`,
    '-F', `sessionId=${sessionId}`, '-F', 'scanDate=2026-01-05', '-F', `file=@${file}`,
    `${url}/api/imports`]);
  if (!stdout.trim().endsWith('202')) throw new Error(`upload: ${stdout}`);
  return done;
}

/** A stand-in for node:test's `t`, running the cleanups at the end. */
function scope() {
  const cleanups = [];
  return { after: (cleanup) => cleanups.push(cleanup), run: async () => { for (const c of cleanups.reverse()) await c(); } };
}

function summary(label, latencies) {
  latencies.sort((x, y) => x - y);
  return `${label}: p50 ${percentile(latencies, 0.5)} ms, p99 ${percentile(latencies, 0.99)} ms, ` +
    `max ${latencies.at(-1)} ms over ${latencies.length} deliveries`;
}

const cluster = scope();
const { instances: [a, b] } = await startCluster(cluster, { env: { RUST_LOG: 'warn', INSTANCE_LEASE: '15s' } });
const sessionId = crypto.randomUUID();
const latencies = { a: [], b: [] };
const sockets = [];
for (const [name, instance] of [['a', a], ['b', b]]) {
  const half = await connectMany(instance.url, WATCHERS / 2);
  await Promise.all(half.map((socket) => socket.timeout(10_000).emitWithAck('joinSession', sessionId)));
  for (const socket of half) {
    socket.on('progress', (event) => latencies[name].push(Date.now() - event.timestamp));
  }
  sockets.push(...half);
}
const watcher = await connect(a.url);
const clusterMs = await importThrough(a.url, watcher, sessionId);
await new Promise((resolve) => setTimeout(resolve, 500));
console.log(summary(`emit on A → receipt, ${WATCHERS / 2} watchers on A`, latencies.a));
console.log(summary(`emit on A → receipt, ${WATCHERS / 2} watchers on B (through Redis)`, latencies.b));
[...sockets, watcher].forEach((socket) => socket.close());
await cluster.run();

const lone = scope();
const { instances: [single] } = await startCluster(lone, { count: 1, env: { RUST_LOG: 'warn' } });
const loneWatcher = await connect(single.url);
const loneMs = await importThrough(single.url, loneWatcher, crypto.randomUUID());
loneWatcher.close();
await lone.run();
console.log(`100,000-row import on PostgreSQL: ${clusterMs} ms with ${WATCHERS} watchers over two instances; ${loneMs} ms on a lone instance`);
rmSync(work, { recursive: true, force: true });
