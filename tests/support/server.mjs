// Starts the real `vulnimport serve` on a random port with a fresh database, for the Node test
// drivers. The binary comes from VULNIMPORT_BIN (set by `cargo test`, see tests/node.rs). The
// database is a SQLite file in the server's folder, or, when TEST_DATABASE_URL names a PostgreSQL
// server, a fresh database there (created with `psql`, dropped when the server stops).
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, openAsBlob, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';

export const BIN = process.env.VULNIMPORT_BIN;
if (!BIN) {
  throw new Error('VULNIMPORT_BIN is not set: run these tests through `cargo test`');
}
export const SAMPLES = new URL('../fixtures/hextrackr/', import.meta.url).pathname;

/** The admin account every test server gets unless `accounts: false` (see `startServer`). */
export const ADMIN = { name: 'admin', password: 'admin password for tests' };

// The admin token of each running server, by URL: the helpers below send it unless told
// otherwise (`token: null` sends no credential), as a script or CI job would.
const tokens = new Map();

const POSTGRES = process.env.TEST_DATABASE_URL;
// The PostgreSQL database of each test server's folder.
const databases = new Map();

/**
 * Makes the servers of folder `dir` use the database `url` (several instances sharing one); the
 * caller drops it.
 */
export function useDatabase(dir, url) {
  databases.set(dir, { url });
}

/** The database URL of a test server's folder (the database is created on first use). */
export function databaseOf(dir) {
  if (databases.has(dir)) {
    return databases.get(dir).url;
  }
  if (!POSTGRES) {
    return `sqlite://${join(dir, 'vulnimport.db')}`;
  }
  if (!databases.has(dir)) {
    const name = `vi_e2e_${randomUUID().replaceAll('-', '')}`;
    execFileSync('psql', [POSTGRES, '-qc', `CREATE DATABASE ${name}`]);
    const url = new URL(POSTGRES);
    url.pathname = `/${name}`;
    databases.set(dir, { name, url: url.href });
  }
  return databases.get(dir).url;
}

/** Drops the PostgreSQL database of a folder whose server has stopped, if it has one. */
function dropDatabaseOf(dir) {
  const database = databases.get(dir);
  if (database?.name) {
    databases.delete(dir);
    execFileSync('psql', [POSTGRES, '-qc', `DROP DATABASE IF EXISTS ${database.name} WITH (FORCE)`]);
  }
}

/** Runs the binary with `args` (and `input` on standard input); returns its standard output. */
export function runCli(args, input = '') {
  return execFileSync(BIN, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Creates an account on the database in `dir`; returns `{ name, password, role }`. */
export function addUser(dir, name, role, password = `${name} password for tests`) {
  runCli(['user', 'add', name, '--role', role, '--password-stdin', '--database', databaseOf(dir)], `${password}\n`);
  return { name, password, role };
}

/** Creates an API token for `user` on the database in `dir`; returns the token. */
export function createToken(dir, user, name = 'tests', extra = []) {
  const out = runCli(['token', 'create', '--user', user, '--name', name, '--database', databaseOf(dir), ...extra]);
  return out.trim().split('\n').at(-1);
}

/**
 * Starts a server. Options: `env` (extra environment), `args` (extra flags; `--port N` pins the
 * port, else the system picks one), `accounts` (default
 * true: the database gets the account `ADMIN` and an API token for it, `server.admin.token`,
 * which the helpers here send by default; false: no account, and `server.setupLink` is the
 * first-start link the server printed).
 * Returns { url, dir, process, admin, setupLink, stop(signal) }; `stop` resolves with the exit code.
 */
export async function startServer({ env = {}, args = [], accounts = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'vulnimport-test-'));
  return launch(dir, { env, args, accounts }, () => {
    dropDatabaseOf(dir);
    rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * Starts a server on the database and upload directory kept in `dir`, which the caller made and
 * removes: a test can stop one server and start another on the same data (restarts, shutdown).
 * Same options and result as `startServer`, except that `stop` leaves `dir` in place.
 */
export async function startServerIn(dir, { env = {}, args = [], accounts = true } = {}) {
  return launch(dir, { env, args, accounts }, () => {});
}

async function launch(dir, { env, args, accounts }, cleanUp) {
  let admin;
  if (accounts) {
    const existing = JSON.parse(runCli(['user', 'list', '--json', '--database', databaseOf(dir)]));
    if (!existing.some((user) => user.name === ADMIN.name)) {
      addUser(dir, ADMIN.name, 'admin', ADMIN.password);
    }
    admin = { ...ADMIN, token: createToken(dir, ADMIN.name) };
  }
  const child = spawn(
    BIN,
    ['serve', '--host', '127.0.0.1', ...(args.includes('--port') ? [] : ['--port', '0']),
      '--database', databaseOf(dir),
      ...(args.includes('--upload-dir') ? [] : ['--upload-dir', join(dir, 'uploads')]), ...args],
    { env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  let setupLink;
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not start within 20 s')), 20_000);
    child.on('exit', (code) => reject(new Error(`the server exited with ${code} before listening`)));
    let listening;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const link = line.match(/(http:\/\/\S+\/setup#\S+)/);
      if (link) {
        setupLink = link[1];
      }
      const match = line.match(/listening on (http:\/\/\S+)/);
      if (match) {
        listening = match[1];
        // Without accounts the setup link follows the address.
        if (accounts) {
          clearTimeout(timer);
          resolve(listening);
        }
      }
      if (!accounts && listening && setupLink) {
        clearTimeout(timer);
        resolve(listening);
      }
    });
  });
  if (admin) {
    tokens.set(new URL(url).origin, admin.token);
  }
  let stopped = false;
  return {
    url,
    dir,
    admin,
    setupLink,
    process: child,
    exited,
    async stop(signal = 'SIGTERM') {
      if (!stopped) {
        stopped = true;
        child.kill(signal);
      }
      const code = await exited;
      tokens.delete(new URL(url).origin);
      cleanUp();
      return code;
    },
  };
}

/** The uploads spooled in the upload folder `folder` (not the kept ones): their file names. */
export function spooledUploads(folder) {
  return readdirSync(folder).filter((name) => name.startsWith('vulnimport-upload-'));
}

/** The uploads kept for a retry under the upload folder `folder`: their session ids. */
export function keptUploads(folder) {
  return readdirSync(join(folder, 'vulnimport-kept'))
    .filter((name) => name.endsWith('.upload'))
    .map((name) => name.replace(/\.upload$/, ''))
    .sort();
}

/** Writes a generated Tenable.io export of `rows` rows into `dir`; returns its path. */
export function generateExport(dir, rows, seed = 1) {
  const path = join(dir, `generated-${rows}-${seed}.csv`);
  execFileSync(BIN, ['generate', path, '--rows', String(rows), '--seed', String(seed)], { stdio: 'ignore' });
  return path;
}

/** Writes `text` to a file in `dir`; returns its path. */
export function writeFile(dir, name, text) {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

// Clients for the end-to-end suite: Socket.IO watchers that record what they receive, uploads
// and JSON requests, and waits that fail with a message saying what did not happen.

/** Resolves like `promise`, or rejects saying `what` did not happen within `ms`. */
export function within(promise, what, ms = 20_000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Calls `check` until it returns something truthy, which it resolves with; for state that can
 * only be polled (HTTP status, metrics). Rejects saying `what` did not happen within `ms`.
 */
export async function waitUntil(check, what, ms = 20_000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await check();
    if (last) {
      return last;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} did not happen within ${ms / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A Socket.IO client that records every event it receives, with its arrival time
 * (`performance.now()`), so tests can wait for events and check their order and spacing.
 */
export class Watcher {
  /**
   * Connects to `url` (WebSocket only unless `options.transports` says otherwise), with the
   * server's admin token unless `options.auth` says otherwise.
   */
  static async connect(url, options = {}) {
    const watcher = new Watcher(url, options);
    await watcher.connected();
    return watcher;
  }

  constructor(url, options = {}) {
    const token = tokenFor(url);
    const auth = token ? { token } : undefined;
    this.socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth, ...options });
    /** `{ name, payload, at, wall }` for every event received, in order (`wall`: `Date.now()`). */
    this.events = [];
    this.waiters = new Set();
    this.socket.onAny((name, payload) => {
      this.events.push({ name, payload, at: performance.now(), wall: Date.now() });
      for (const waiter of this.waiters) {
        waiter.check();
      }
    });
  }

  /**
   * Resolves once the socket is connected (again) and the server handles its events: an
   * acknowledged `leaveSession` of an unused id, retried, shows its handlers are there. (An event
   * sent before the server has set them up would be lost; the e2e test "a joinSession sent right
   * after connecting is always answered" checks the server prevents that, so other tests do not
   * depend on it.)
   */
  async connected(ms = 20_000) {
    const deadline = Date.now() + ms;
    if (!this.socket.connected) {
      await within(new Promise((resolve, reject) => {
        this.socket.once('connect', resolve);
        this.socket.once('connect_error', reject);
      }), 'the Socket.IO connection', ms);
    }
    for (;;) {
      try {
        await this.socket.timeout(250).emitWithAck('leaveSession', '00000000-0000-0000-0000-000000000000');
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`the server did not answer the socket's events within ${ms / 1000} s`, { cause: error });
        }
      }
    }
  }

  /** The `progress` events received, of one session or of all. */
  progress(sessionId) {
    return this.events
      .filter((event) => event.name === 'progress' && (!sessionId || event.payload?.sessionId === sessionId))
      .map((event) => event.payload);
  }

  /** Events named `name` whose payload is about `sessionId`. */
  of(name, sessionId) {
    return this.events.filter((event) => event.name === name && event.payload?.sessionId === sessionId);
  }

  /**
   * The first recorded event (from index `from` on) for which `predicate(event)` holds, waiting
   * for it if need be; rejects naming `what` after `ms`.
   */
  waitFor(predicate, what, { from = 0, ms = 20_000 } = {}) {
    return new Promise((resolve, reject) => {
      const waiter = {
        check: () => {
          const index = this.events.findIndex((event, at) => at >= from && predicate(event));
          if (index >= 0) {
            this.waiters.delete(waiter);
            clearTimeout(waiter.timer);
            resolve(this.events[index]);
          }
        },
      };
      waiter.timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const seen = this.events.slice(-5).map(({ name, payload }) =>
          `${name} ${payload?.type ?? ''} ${payload?.progress ?? ''} ${payload?.message ?? ''}`.trim());
        reject(new Error(`${what} did not arrive within ${ms / 1000} s (last events: ${seen.join(' | ') || 'none'})`));
      }, ms);
      this.waiters.add(waiter);
      waiter.check();
    });
  }

  /** Waits for a `progress` event of `sessionId` matching `predicate(payload)`. */
  waitForProgress(sessionId, predicate, what, options) {
    return this.waitFor(
      (event) => event.name === 'progress' && event.payload?.sessionId === sessionId && predicate(event.payload),
      what,
      options,
    ).then((event) => event.payload);
  }

  /** Waits for the session's `complete` or `error` event, or its `importCancelled`. */
  waitForEnd(sessionId, options) {
    return this.waitFor(
      (event) => event.payload?.sessionId === sessionId
        && (event.name === 'importCancelled' || ['complete', 'error'].includes(event.payload?.type)),
      `the end of import ${sessionId}`,
      options,
    );
  }

  /** Emits `name` with `argument` and resolves with the server's acknowledgement. */
  request(name, argument, ms = 20_000) {
    return within(this.socket.timeout(ms).emitWithAck(name, argument), `the acknowledgement of ${name}`, ms + 1000);
  }

  join(sessionId) {
    return this.request('joinSession', sessionId);
  }

  close() {
    this.socket.close();
  }
}

/**
 * Imports `file` (with the upload `fields`) with `watcher` watching; resolves with its session id
 * and its last event.
 */
export async function importAndWait(server, watcher, file, fields = {}) {
  const sessionId = randomUUID();
  await watcher.join(sessionId);
  const accepted = await upload(server.url, file, { ...fields, sessionId });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  return { sessionId, end: await watcher.waitForEnd(sessionId, { ms: 60_000 }) };
}

/**
 * Posts `path` to `POST /api/imports` as the multipart field `file` (streamed from disk), after
 * the string `fields`. Resolves with `{ status, body }`.
 */
export async function upload(url, path, fields = {}, fileName = basename(path), { token = tokenFor(url) } = {}) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    form.append(name, value);
  }
  form.append('file', await openAsBlob(path, { type: 'text/csv' }), fileName);
  let response;
  try {
    response = await fetch(new URL('/api/imports', url), { method: 'POST', body: form, headers: authorization(token) });
  } catch (error) {
    throw new Error(`POST /api/imports got no response: ${error.cause?.message ?? error.message}`, { cause: error });
  }
  return { status: response.status, type: response.headers.get('content-type'), body: await response.json() };
}

/** The admin token of the test server at `url`, if it has one. */
export function tokenFor(url) {
  return tokens.get(new URL(url).origin);
}

function authorization(token) {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * A request; resolves with `{ status, type, headers, body }` (JSON bodies parsed). Sends the
 * server's admin token unless `token` says otherwise (`null`: none); `json` is sent as the body.
 */
export async function request(url, path, { method = 'GET', headers = {}, token = tokenFor(url), json } = {}) {
  const init = { method, headers: { ...authorization(token), ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['content-type'] = 'application/json';
  }
  const response = await fetch(new URL(path, url), init);
  const type = response.headers.get('content-type') ?? '';
  const text = await response.text();
  return { status: response.status, type, headers: response.headers, body: type.includes('json') ? JSON.parse(text) : text };
}

/** The findings (first 500) and the dashboard counts, to compare before and after. */
export async function snapshot(url) {
  const [findings, stats] = await Promise.all([
    request(url, '/api/vulnerabilities?perPage=500'),
    request(url, '/api/stats'),
  ]);
  if (findings.status !== 200 || stats.status !== 200) {
    throw new Error(`snapshot failed: ${findings.status} ${stats.status}`);
  }
  return { findings: findings.body, stats: stats.body };
}

/** `GET /metrics` as `{ "name{labels}": value }`. */
export async function metrics(url) {
  const { status, body } = await request(url, '/metrics');
  if (status !== 200) {
    throw new Error(`GET /metrics answered ${status}`);
  }
  const values = {};
  for (const line of body.split('\n')) {
    const match = line.match(/^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$/);
    if (match) {
      values[match[1]] = Number(match[2]);
    }
  }
  return values;
}

/** `startServer`, stopped when the test `t` ends; a stop must end the process with 0. */
export async function startServerFor(t, options) {
  const server = await startServer(options);
  t.after(async () => {
    assert.equal(await server.stop(), 0, 'the server exits with 0 on SIGTERM');
  });
  return server;
}

/** `Watcher.connect`, closed when the test `t` ends. */
export async function watch(t, url, options) {
  const watcher = await Watcher.connect(url, options);
  t.after(() => watcher.close());
  return watcher;
}

/** The progress event's types, in phase order, then the failure type. */
export const PHASES = ['parsing', 'loading', 'processing', 'finalizing', 'complete'];
export const TYPES = [...PHASES, 'error'];

/** Checks that `event` is a progress event of `sessionId` exactly as the design's schema. */
export function assertProgressEvent(event, sessionId) {
  const allowed = ['sessionId', 'type', 'progress', 'message', 'timestamp', 'eta', 'data'];
  const extra = Object.keys(event).filter((key) => !allowed.includes(key));
  assert.deepEqual(extra, [], `fields outside the schema in ${JSON.stringify(event)}`);
  assert.equal(event.sessionId, sessionId, 'the event belongs to the session');
  assert.ok(TYPES.includes(event.type), `type ${event.type} is one of the schema's`);
  assert.ok(Number.isInteger(event.progress) && event.progress >= 0 && event.progress <= 100,
    `progress ${event.progress} is an integer 0-100`);
  assert.equal(typeof event.message, 'string');
  assert.ok(event.message.length > 0, 'the message says something');
  assert.ok(Number.isInteger(event.timestamp) && event.timestamp > 1.6e12 && event.timestamp <= Date.now() + 1000,
    `timestamp ${event.timestamp} is Unix milliseconds`);
  if (event.eta !== undefined && event.eta !== null) {
    assert.ok(Number.isInteger(event.eta) && event.eta >= 0, `eta ${event.eta} is whole seconds`);
  }
  if (event.progress === 0 && event.type !== 'error') {
    assert.ok(event.eta === undefined || event.eta === null, 'no ETA at 0%');
  }
  if (event.data !== undefined) {
    assert.ok(event.data !== null && typeof event.data === 'object' && !Array.isArray(event.data),
      'data is an object');
  }
}
