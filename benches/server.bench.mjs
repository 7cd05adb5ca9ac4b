// Server benchmarks, with the official socket.io-client against the release binary:
//   cargo build --release && node benches/server.bench.mjs
// (uses $CARGO_TARGET_DIR, or ./target; VULNIMPORT_BIN overrides the binary).
//
// Measures, on a generated 100,000-row Tenable.io export (each run on a fresh server/database):
// - the upload path: POST over loopback (curl) until `complete`, against the CLI importing it;
// - the progress overhead: the server's import time with 100 watchers vs none;
// - emit-to-receipt latency (p50/p99) with 1,000 watchers in one session;
// - resident memory per idle connected socket;
// - authentication: a request's overhead with a token or a session cookie (who-am-I, whose guard
//   identifies the caller) against the public health check, a sign-in's time, and 1,000
//   authenticated sockets connecting (against 1,000 unauthenticated ones on a server built before
//   sign-in existed, when VULNIMPORT_BASELINE_BIN names one).
//
// BENCH_WATCHERS=10000 node benches/server.bench.mjs runs only the watchers at scale: N sockets
// (websocket, with a token) join one import's session; it prints the server's RSS before and
// after them, the KiB each costs, and emit-to-receipt p50/p99 of that import's progress events
// delivered to all N, with the CPU the server and the watchers used meanwhile and the machine's
// load (delays mean little on a machine busy with other work). The watchers are spread over
// BENCH_WORKERS threads (default 4, or one a core where there are more), each with its own event
// loop, so that one loop's queue does not stand for the server's delivery time.
// Every socket is a file descriptor in this process and one in the server (which inherits the
// limit): `ulimit -n` must exceed N by a margin (say `ulimit -n 20000` for 10,000), and
// loopback needs N ephemeral ports (net.ipv4.ip_local_port_range gives about 28,000).
import { execFile, execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import { readFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { io } from 'socket.io-client';

process.env.VULNIMPORT_BIN ??= join(process.env.CARGO_TARGET_DIR ?? 'target', 'release', 'vulnimport');
const { ADMIN, startServer, generateExport, tokenFor, BIN } = await import('../tests/support/server.mjs');

const RUNS = 3;
// The watchers' threads (see `watchersAtScale`) only connect and listen.
const work = isMainThread ? mkdtempSync(join(tmpdir(), 'vulnimport-bench-')) : null;
const file = isMainThread ? generateExport(work, 100_000) : null;

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
const rssKb = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
/** CPU time (user and system) a process has used, in ms (clock ticks of 10 ms). */
const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

function connect(url, auth = { token: tokenFor(url) }) {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

async function connectMany(url, count, auth) {
  const sockets = [];
  for (let start = 0; start < count; start += 100) {
    sockets.push(...await Promise.all(
      Array.from({ length: Math.min(100, count - start) }, () => connect(url, auth)),
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
    '-H', `Authorization: Bearer ${tokenFor(url)}`,
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

/** `count` sequential GETs of `path` over one kept-alive connection; resolves with sorted ms. */
async function timeRequests(url, path, headers, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const target = new URL(path, url);
  const once = () => new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    http.get({ hostname: target.hostname, port: target.port, path: target.pathname, headers, agent }, (response) => {
      response.resume();
      response.on('end', () => {
        if (response.statusCode !== 200) reject(new Error(`${path}: ${response.statusCode}`));
        resolve(Number(process.hrtime.bigint() - started) / 1e6);
      });
    }).on('error', reject);
  });
  const times = [];
  for (let i = 0; i < count; i++) {
    times.push(await once());
  }
  agent.destroy();
  return times.sort((a, b) => a - b);
}

/** Starts `bin serve` on a fresh database without accounts; resolves with { url, stop }. */
async function startBare(bin) {
  const dir = mkdtempSync(join(tmpdir(), 'vulnimport-bare-'));
  const child = spawn(bin, ['serve', '--host', '127.0.0.1', '--port', '0',
    '--database', `sqlite://${join(dir, 'v.db')}`, '--upload-dir', join(dir, 'uploads')],
  { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, RUST_LOG: 'warn' } });
  const url = await new Promise((resolve) => child.stdout.on('data', (chunk) => {
    const match = String(chunk).match(/listening on (http:\/\/\S+)/);
    if (match) resolve(match[1]);
  }));
  return { url, stop: () => { child.kill(); rmSync(dir, { recursive: true, force: true }); } };
}

/** Milliseconds for 1,000 sockets to connect (in batches of 100), then closes them. */
async function connectThousand(url, auth) {
  const started = performance.now();
  const sockets = await connectMany(url, 1000, auth);
  const elapsed = performance.now() - started;
  sockets.forEach((s) => s.close());
  await new Promise((resolve) => setTimeout(resolve, 300));
  return elapsed;
}

async function authentication() {
  const server = await startServer();
  const response = await fetch(new URL('/api/session', server.url), {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: ADMIN.name, password: ADMIN.password }),
  });
  const cookie = response.headers.getSetCookie()[0].split(';')[0];
  const REQUESTS = 5000;
  await timeRequests(server.url, '/api/health', {}, 500);
  const runs = { none: [], token: [], cookie: [] };
  for (let run = 0; run < RUNS; run++) {
    runs.none.push(await timeRequests(server.url, '/api/health', {}, REQUESTS));
    runs.token.push(await timeRequests(server.url, '/api/session', { authorization: `Bearer ${server.admin.token}` }, REQUESTS));
    runs.cookie.push(await timeRequests(server.url, '/api/session', { cookie }, REQUESTS));
  }
  const p50 = (key) => median(runs[key].map((sorted) => percentile(sorted, 0.5)));
  // Two routes that do nearly nothing: the public health check, and who-am-I, whose guard
  // identifies the caller first.
  console.log(`p50 over ${RUNS}×${REQUESTS} requests: GET /api/health without credential ${p50('none').toFixed(3)} ms; ` +
    `GET /api/session with a token ${p50('token').toFixed(3)} ms (+${(p50('token') - p50('none')).toFixed(3)}), ` +
    `with the session cookie ${p50('cookie').toFixed(3)} ms (+${(p50('cookie') - p50('none')).toFixed(3)})`);

  const signIns = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    const answer = await fetch(new URL('/api/session', server.url), {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: ADMIN.name, password: ADMIN.password }),
    });
    if (answer.status !== 200) throw new Error(`sign-in: ${answer.status}`);
    signIns.push(performance.now() - started);
  }
  console.log(`sign-in (argon2id m=19 MiB, t=2, p=1): p50 ${median(signIns).toFixed(1)} ms over 20`);

  // Runs alternate between the two servers after a warm-up of each, so both see the same machine.
  const token = { token: server.admin.token };
  const bare = process.env.VULNIMPORT_BASELINE_BIN && await startBare(process.env.VULNIMPORT_BASELINE_BIN);
  await connectThousand(server.url, token);
  if (bare) await connectThousand(bare.url, {});
  const times = { token: [], bare: [] };
  for (let run = 0; run < 7; run++) {
    times.token.push(await connectThousand(server.url, token));
    if (bare) times.bare.push(await connectThousand(bare.url, {}));
  }
  let baseline = '';
  if (bare) {
    bare.stop();
    baseline = `; 1,000 unauthenticated sockets on the baseline build: ${median(times.bare).toFixed(0)} ms ` +
      `(${(((median(times.token) / median(times.bare)) - 1) * 100).toFixed(1)}%)`;
  }
  console.log(`1,000 sockets with a token connect in ${median(times.token).toFixed(0)} ms (median of 7)${baseline}`);
  await server.stop();
}

/**
 * A share of `watchersAtScale`'s watchers, in a thread of its own: connects `count` sockets,
 * joins them to `sessionId`, says `ready`, then records each progress event's delay (receipt
 * minus the event's `timestamp`) until told to finish, when every socket has seen the import's
 * end; answers with the delays and closes the sockets.
 */
async function watcherThread({ url, token, count, sessionId }) {
  const sockets = await connectMany(url, count, { token });
  for (let start = 0; start < count; start += 100) {
    await Promise.all(sockets.slice(start, start + 100)
      .map((s) => s.timeout(30_000).emitWithAck('joinSession', sessionId)));
  }
  const delays = [];
  let ended = 0;
  let whenAllEnded;
  const allEnded = new Promise((resolve) => { whenAllEnded = resolve; });
  for (const socket of sockets) {
    socket.on('progress', (event) => {
      delays.push(Date.now() - event.timestamp);
      if (event.type === 'complete' && ++ended === count) whenAllEnded();
    });
  }
  let disconnected = 0;
  sockets.forEach((s) => s.on('disconnect', () => { disconnected++; }));
  parentPort.postMessage({ ready: true });
  await new Promise((resolve) => parentPort.once('message', resolve));
  await Promise.race([allEnded, new Promise((resolve) => setTimeout(resolve, 30_000))]);
  parentPort.postMessage({ delays, ended, disconnected });
  sockets.forEach((s) => s.close());
}

/** The soft limit on open files of this process. */
function openFilesLimit() {
  const limit = readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+(\S+)/)[1];
  return limit === 'unlimited' ? Infinity : Number(limit);
}

/** RSS per connected, joined watcher and delivery delays with `count` of them (see the header). */
async function watchersAtScale(count) {
  if (openFilesLimit() < count + 1000) {
    throw new Error(`${count} watchers need more open files than ulimit -n allows (${openFilesLimit()})`);
  }
  const threads = Number(process.env.BENCH_WORKERS ?? Math.max(4, availableParallelism()));
  const server = await startServer();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = rssKb(server.process.pid);
  const sessionId = crypto.randomUUID();
  const started = performance.now();
  const workers = Array.from({ length: threads }, (_, i) => {
    const share = Math.floor(count / threads) + (i < count % threads ? 1 : 0);
    return new Worker(new URL(import.meta.url), {
      workerData: { url: server.url, token: server.admin.token, count: share, sessionId },
    });
  });
  const exited = workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve)));
  const answer = (worker) => new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await Promise.all(workers.map(answer));
  const connectedIn = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = rssKb(server.process.pid);
  console.log(`${count.toLocaleString('en')} watchers connected and joined in ${(connectedIn / 1000).toFixed(1)} s ` +
    `(${threads} threads); server RSS ${(before / 1024).toFixed(1)} → ${(after / 1024).toFixed(1)} MiB: ` +
    `${((after - before) / count).toFixed(1)} KiB per watcher`);

  // CPU time during the import, of the server and of this process (the watchers' threads), to
  // tell whether a delay comes from either being short of a core.
  const cpu = () => ({ server: cpuMs(server.process.pid), here: process.cpuUsage() });
  const watcher = await connect(server.url);
  const cpuBefore = cpu();
  const { serverMs } = await importThrough(server.url, watcher, sessionId);
  const cpuAfter = cpu();
  const watchersCpu = (cpuAfter.here.user + cpuAfter.here.system - cpuBefore.here.user - cpuBefore.here.system) / 1000;
  const results = await Promise.all(workers.map((worker) => {
    const result = answer(worker);
    worker.postMessage('finish');
    return result;
  }));
  const delays = results.flatMap((result) => result.delays).sort((a, b) => a - b);
  const ended = results.reduce((sum, result) => sum + result.ended, 0);
  const disconnected = results.reduce((sum, result) => sum + result.disconnected, 0);
  console.log(`emit → receipt with ${count.toLocaleString('en')} watchers: p50 ${percentile(delays, 0.5)} ms, ` +
    `p99 ${percentile(delays, 0.99)} ms, max ${delays.at(-1)} ms over ${delays.length} deliveries ` +
    `(${delays.length / count} events each; import ${serverMs} ms); ${ended} saw the end, ${disconnected} disconnected; ` +
    `server RSS ${(rssKb(server.process.pid) / 1024).toFixed(1)} MiB; CPU during the import: server ` +
    `${((cpuAfter.server - cpuBefore.server) / 1000).toFixed(1)} s, watchers ${(watchersCpu / 1000).toFixed(1)} s ` +
    `(load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores: other work shares them)`);
  watcher.close();
  await Promise.all(exited);
  await server.stop();
}

if (!isMainThread) {
  await watcherThread(workerData);
} else {
  try {
    console.log(`file: ${(statSync(file).size / 1e6).toFixed(1)} MB, 100,000 rows`);
    if (process.env.BENCH_WATCHERS) {
      await watchersAtScale(Number(process.env.BENCH_WATCHERS));
    } else if (process.argv.includes('--auth-only')) {
      await authentication();
    } else {
      await uploadPath();
      await watcherOverhead();
      await latencyAndMemory();
      await authentication();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
