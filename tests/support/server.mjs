// Starts the real `vulnimport serve` on a random port with a fresh database, for the Node test
// drivers. The binary comes from VULNIMPORT_BIN (set by `cargo test`, see tests/node.rs).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const BIN = process.env.VULNIMPORT_BIN;
if (!BIN) {
  throw new Error('VULNIMPORT_BIN is not set: run these tests through `cargo test`');
}
export const SAMPLES = new URL('../fixtures/hextrackr/', import.meta.url).pathname;

/**
 * Starts a server. Options: `env` (extra environment), `args` (extra flags).
 * Returns { url, dir, process, stop(signal) }; `stop` resolves with the exit code.
 */
export async function startServer({ env = {}, args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'vulnimport-test-'));
  const child = spawn(
    BIN,
    ['serve', '--host', '127.0.0.1', '--port', '0',
      '--database', `sqlite://${join(dir, 'vulnimport.db')}`,
      '--upload-dir', join(dir, 'uploads'), ...args],
    { env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not start within 20 s')), 20_000);
    child.on('exit', (code) => reject(new Error(`the server exited with ${code} before listening`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = line.match(/listening on (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  let stopped = false;
  return {
    url,
    dir,
    process: child,
    exited,
    async stop(signal = 'SIGTERM') {
      if (!stopped) {
        stopped = true;
        child.kill(signal);
      }
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
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
