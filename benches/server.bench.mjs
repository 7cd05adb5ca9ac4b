// Server benchmarks, with the official socket.io-client against the release binary:
//   cargo build --release && node benches/server.bench.mjs
// (uses $CARGO_TARGET_DIR, or ./target; VULNIMPORT_BIN overrides the binary).
//
// Measures, on a generated 100,000-row Tenable.io export (each run on a fresh server/database):
// - the upload path: POST over loopback (curl) until `complete`, against the CLI importing it;
// - the progress overhead: the server's import time with 100 watchers vs none;
// - emit-to-receipt latency (p50/p99) with 1,000 watchers in one session;
// - resident memory per idle connected socket.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';

process.env.VULNIMPORT_BIN ??= join(process.env.CARGO_TARGET_DIR ?? 'target', 'release', 'vulnimport');
const { startServer, generateExport, BIN } = await import('../tests/support/server.mjs');

const RUNS = 3;
const work = mkdtempSync(join(tmpdir(), 'vulnimport-bench-'));
const file = generateExport(work, 100_000);

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
const rssKb = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);

function connect(url) {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

async function connectMany(url, count) {
  const sockets = [];
  for (let start = 0; start < count; start += 100) {
    sockets.push(...await Promise.all(
      Array.from({ length: Math.min(100, count - start) }, () => connect(url)),
    ));
  }
  return sockets;
}

/**
 * Uploads the file with curl (a fast client, as scripts use; Node's own FormData upload adds
 * ~0.2 s of client-side work) and resolves when `watcher` sees the import's terminal event.
 */
async function importThrough(url, watcher, sessionId) {
  const done = new Promise((resolve, reject) => {
    watcher.on('progress', (event) => {
      if (event.sessionId !== sessionId) return;
      if (event.type === 'complete') resolve(event);
      if (event.type === 'error') reject(new Error(event.message));
    });
  });
  await watcher.timeout(5000).emitWithAck('joinSession', sessionId);
  const started = performance.now();
  const { stdout } = await promisify(execFile)('curl', ['-s', '-w', '\n%{http_code}',
    '-F', `sessionId=${sessionId}`, '-F', 'scanDate=2026-01-05', '-F', `file=@${file}`,
    `${url}/api/imports`]);
  if (!stdout.trim().endsWith('202')) throw new Error(`upload: ${stdout}`);
  const complete = await done;
  return { wallMs: performance.now() - started, serverMs: complete.data.durationMs };
}

async function uploadPath() {
  const upload = [];
  const cli = [];
  for (let run = 0; run < RUNS; run++) {
    const server = await startServer();
    const watcher = await connect(server.url);
    upload.push((await importThrough(server.url, watcher, crypto.randomUUID())).wallMs);
    watcher.close();
    await server.stop();
    const dir = mkdtempSync(join(tmpdir(), 'vulnimport-cli-'));
    const started = performance.now();
    execFileSync(BIN, ['import', file, '--json', '--scan-date', '2026-01-05',
      '--database', `sqlite://${join(dir, 'cli.db')}`], { stdio: 'ignore' });
    cli.push(performance.now() - started);
    rmSync(dir, { recursive: true, force: true });
  }
  const ratio = median(upload) / median(cli);
  console.log(`upload over HTTP until complete: ${(median(upload) / 1000).toFixed(2)} s; ` +
    `CLI import: ${(median(cli) / 1000).toFixed(2)} s; ratio ${ratio.toFixed(2)}`);
}

async function watcherOverhead() {
  const times = { 0: [], 100: [] };
  for (let run = 0; run < RUNS; run++) {
    for (const watchers of [0, 100]) {
      const server = await startServer();
      const sockets = await connectMany(server.url, watchers + 1);
      const sessionId = crypto.randomUUID();
      await Promise.all(sockets.slice(1).map((s) => s.timeout(5000).emitWithAck('joinSession', sessionId)));
      times[watchers].push((await importThrough(server.url, sockets[0], sessionId)).serverMs);
      sockets.forEach((s) => s.close());
      await server.stop();
    }
  }
  const [none, many] = [median(times[0]), median(times[100])];
  console.log(`import with no other watchers: ${none} ms; with 100 watchers: ${many} ms ` +
    `(${(((many / none) - 1) * 100).toFixed(1)}%; runs vary by several %)`);
}

async function latencyAndMemory() {
  const server = await startServer();
  const before = rssKb(server.process.pid);
  const sockets = await connectMany(server.url, 1000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = rssKb(server.process.pid);
  console.log(`memory per idle connected socket: ${(((after - before) * 1024) / 1000 / 1024).toFixed(1)} KiB ` +
    `(server RSS ${(before / 1024).toFixed(1)} → ${(after / 1024).toFixed(1)} MiB with 1,000 sockets)`);
  const sessionId = crypto.randomUUID();
  await Promise.all(sockets.map((s) => s.timeout(10000).emitWithAck('joinSession', sessionId)));
  const latencies = [];
  for (const socket of sockets) {
    socket.on('progress', (event) => latencies.push(Date.now() - event.timestamp));
  }
  const watcher = await connect(server.url);
  await importThrough(server.url, watcher, sessionId);
  await new Promise((resolve) => setTimeout(resolve, 200));
  latencies.sort((a, b) => a - b);
  console.log(`emit → receipt with 1,000 watchers: p50 ${percentile(latencies, 0.5)} ms, ` +
    `p99 ${percentile(latencies, 0.99)} ms, max ${latencies.at(-1)} ms over ${latencies.length} deliveries`);
  [...sockets, watcher].forEach((s) => s.close());
  await server.stop();
}

try {
  console.log(`file: ${(statSync(file).size / 1e6).toFixed(1)} MB, 100,000 rows`);
  await uploadPath();
  await watcherOverhead();
  await latencyAndMemory();
} finally {
  rmSync(work, { recursive: true, force: true });
}
