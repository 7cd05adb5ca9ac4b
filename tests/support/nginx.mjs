// nginx from Debian's packages in the foreground, running the shipped configuration
// (deploy/nginx.conf) with only its addresses changed, in front of test instances.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { waitUntil } from './server.mjs';

export const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx';
const CONFIG = new URL('../../deploy/nginx.conf', import.meta.url).pathname;

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** nginx in the foreground, with the shipped configuration pointed at `instances`. */
export async function startNginx(dir, instances) {
  const port = await freePort();
  const shipped = readFileSync(CONFIG, 'utf8');
  const servers = shipped.match(/^ {4}server 127\.0\.0\.1:\d+;\n/gm);
  assert.equal(servers?.length, 2, 'the shipped upstream lists two instances');
  const config = shipped
    .replace(servers.join(''), instances.map((url) => `    server ${new URL(url).host};\n`).join(''))
    .replace(/^ {4}listen 8080;$/m, `    listen 127.0.0.1:${port};`);
  assert.notEqual(config, shipped);
  const prefix = join(dir, 'nginx');
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  writeFileSync(join(prefix, 'vulnimport.conf'), config);
  writeFileSync(join(prefix, 'nginx.conf'), `
daemon off;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'logs', 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${join(prefix, 'body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  include ${join(prefix, 'vulnimport.conf')};
}
`);
  const child = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(async () => {
    try {
      return (await fetch(`${url}/api/health`)).ok;
    } catch {
      return false;
    }
  }, 'nginx answering');
  return {
    url,
    async stop() {
      child.kill('SIGQUIT');
      await exited;
    },
  };
}
