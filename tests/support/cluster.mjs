// Several instances of the real server on one fresh PostgreSQL database with Redis between them,
// for the multi-instance tests. PostgreSQL comes from TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test: a fresh database is created beside it for each test),
// Redis from TEST_REDIS_URL (default redis://127.0.0.1:6379, with a key prefix of the test's
// own); `redisServer` starts a private Redis that a test may stop.
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from './nginx.mjs';
import { startServerIn, useDatabase, waitUntil } from './server.mjs';

export const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_SERVER = '/usr/bin/redis-server';

/** Whether something answers a Redis PING at `url`. */
export function redisAnswers(url) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port || 6379), hostname);
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
  });
}

/** Why the multi-instance tests cannot run here, or false when they can. */
export async function missing() {
  try {
    execFileSync('pg_isready', ['-q', '-d', POSTGRES_URL]);
  } catch {
    return `no PostgreSQL at ${POSTGRES_URL}`;
  }
  return (await redisAnswers(REDIS_URL)) ? false : `no Redis at ${REDIS_URL}`;
}

/**
 * Starts `count` instances on one fresh database, sharing Redis at `redisUrl` under a prefix of
 * their own, with a short lease (`env` adds or overrides variables). Everything is stopped and
 * dropped after the test `t`. Returns `{ instances, database, prefix, dirs, start(i) }`;
 * `start(i)` starts instance `i` again after it stopped.
 */
export async function startCluster(t, { count = 2, redisUrl = REDIS_URL, env = {} } = {}) {
  const name = `vi_cluster_${randomUUID().replaceAll('-', '')}`;
  execFileSync('psql', [POSTGRES_URL, '-qc', `CREATE DATABASE ${name}`]);
  const database = new URL(POSTGRES_URL);
  database.pathname = `/${name}`;
  const prefix = `vi-test-${randomUUID()}`;
  const dirs = Array.from({ length: count }, (_, i) => {
    const dir = mkdtempSync(join(tmpdir(), `vulnimport-cluster-${i}-`));
    useDatabase(dir, database.href);
    return dir;
  });
  const instances = [];
  const start = async (i) => {
    instances[i] = await startServerIn(dirs[i], {
      env: { REDIS_URL: redisUrl, REDIS_PREFIX: prefix, INSTANCE_LEASE: '3s', ...env },
    });
    return instances[i];
  };
  t.after(async () => {
    await Promise.all(instances.map((instance) => instance.stop().catch(() => {})));
    execFileSync('psql', [POSTGRES_URL, '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
    dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true }));
  });
  for (let i = 0; i < count; i += 1) {
    await start(i);
  }
  return { instances, database: database.href, prefix, dirs, start };
}

/**
 * A private Redis server on a free port, keeping nothing on disk; `stop()` and `start()` take it
 * away and bring it back on the same port. Stopped after the test `t`.
 */
export async function redisServer(t) {
  if (!existsSync(REDIS_SERVER)) {
    return null;
  }
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child;
  const server = {
    url,
    async start() {
      child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await waitUntil(() => redisAnswers(url), `Redis on port ${port}`);
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
  await server.start();
  t.after(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  return server;
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

/**
 * A private PostgreSQL server (initdb in a temporary folder, run as the `postgres` system user,
 * trust authentication) on a free port, with a database `vulnimport`; `restart()` stops it
 * (fast: sessions are ended) and starts it again. Null when this machine cannot run one.
 * Stopped and removed after the test `t`.
 */
export async function postgresServer(t) {
  if (!existsSync(`${PG_BIN}/initdb`) || process.getuid?.() !== 0) {
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vulnimport-pg-'));
  const data = join(dir, 'data');
  execFileSync('chown', ['postgres', dir]);
  const asPostgres = (command, args) => execFileSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/${command}`, ...args], { stdio: 'ignore' });
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres']);
  const port = await freePort();
  const start = () => asPostgres('pg_ctl', ['-D', data, '-w', '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, 'start']);
  start();
  t.after(() => {
    try {
      asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
  execFileSync('psql', [admin, '-qc', 'CREATE DATABASE vulnimport']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/vulnimport`,
    restart() {
      asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      start();
    },
  };
}
