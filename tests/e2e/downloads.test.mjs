// The findings export and the import reports over HTTP: what they refuse and why, a failed
// import's report, the list filtered by an import's changes, a client that goes away in the
// middle of a download, and one download too many.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  addUser, createToken, generateExport, importAndWait, request, startServerFor, watch, writeFile,
} from '../support/server.mjs';

test('downloads refuse what they cannot answer, and a failed import has a report too', async (t) => {
  const server = await startServerFor(t);
  const watcher = await watch(t, server.url);
  const { sessionId } = await importAndWait(server, watcher, generateExport(server.dir, 500), { scanDate: '2026-01-05' });
  const failed = await importAndWait(server, watcher, writeFile(server.dir, 'bad.csv', 'name,value\nx,1\n'), { scanDate: '2026-01-06' });
  assert.equal(failed.end.payload.type, 'error');

  const refused = async (path, status, says) => {
    const answer = await request(server.url, path);
    assert.equal(answer.status, status, `${path}: ${JSON.stringify(answer.body)}`);
    assert.match(answer.body.error, says, path);
  };
  await refused('/api/vulnerabilities/export?format=xml', 400, /format "xml" is not csv or json/);
  await refused('/api/vulnerabilities/export?sort=colour', 400, /sort "colour" is not/);
  await refused(`/api/vulnerabilities/export?import=${sessionId}`, 400, /import needs change/);
  await refused('/api/vulnerabilities?change=added', 400, /change needs import/);
  await refused('/api/vulnerabilities?import=not-a-uuid&change=added', 400, /session id/);
  await refused(`/api/vulnerabilities?import=${crypto.randomUUID()}&change=added`, 404, /no import with session id/);
  await refused(`/api/imports/${crypto.randomUUID()}/report`, 404, /no import with session id/);
  await refused(`/api/imports/${sessionId}/report?format=pdf`, 400, /format "pdf" is not html or csv/);

  // The list filtered by an import's changes equals the import's own change list.
  const added = await request(server.url, `/api/vulnerabilities?import=${sessionId}&change=added&perPage=500&sort=host&order=asc`);
  const own = await request(server.url, `/api/imports/${sessionId}/findings?change=added&perPage=500&sort=host&order=asc`);
  assert.equal(added.status, 200);
  assert.ok(added.body.total > 0);
  assert.deepEqual(added.body, own.body);

  // A viewer may download; a failed import's report says nothing was applied and names the error.
  const viewer = addUser(server.dir, 'reader', 'viewer');
  const token = createToken(server.dir, viewer.name);
  const html = await request(server.url, `/api/imports/${failed.sessionId}/report?format=html`, { token });
  assert.equal(html.status, 200);
  assert.match(html.type, /^text\/html/);
  assert.match(html.headers.get('content-disposition'), /^attachment; filename="vulnimport-import-2026-01-06-[0-9a-f]{8}\.html"$/);
  assert.match(html.body, /<dd>Failed<\/dd>/);
  assert.match(html.body, /Nothing was applied/);
  assert.match(html.body, /<p class="error">[^<]*no host column/);
  const csv = await request(server.url, `/api/imports/${failed.sessionId}/report?format=csv`, { token });
  assert.equal(csv.body, 'change,host,hostname,ip,cve,plugin_id,title,severity,vpr,cvss,port,state,first_seen,last_seen,resolved_date\n');
  const json = await request(server.url, '/api/vulnerabilities/export?format=json&severity=critical', { token });
  assert.equal(json.status, 200);
  const stats = await request(server.url, '/api/stats');
  assert.equal(json.body.length, stats.body.openBySeverity.critical);
});

test('a client that leaves in the middle of a download leaves the server serving', async (t) => {
  const server = await startServerFor(t);
  const watcher = await watch(t, server.url);
  const { sessionId } = await importAndWait(server, watcher, generateExport(server.dir, 20_000), { scanDate: '2026-01-05' });
  const headers = { authorization: `Bearer ${server.admin.token}` };
  // Read one chunk of each of several exports, then drop them.
  for (let i = 0; i < 6; i += 1) {
    const controller = new AbortController();
    const response = await fetch(new URL('/api/vulnerabilities/export?format=json&sort=title', server.url), { headers, signal: controller.signal });
    const reader = response.body.getReader();
    const { value } = await reader.read();
    assert.ok(value.length > 0);
    controller.abort();
  }
  // Four downloads at once, their clients not reading: a fifth is asked to come back later. (The
  // dropped ones above give their places back as their reads stop, within moments.)
  const held = [];
  for (let i = 0; i < 4; i += 1) {
    const controller = new AbortController();
    const response = await waitFor200(async () => {
      const answer = await fetch(new URL('/api/vulnerabilities/export?format=json', server.url), { headers, signal: controller.signal });
      return { status: answer.status, body: answer.status === 200 ? null : await answer.json() };
    });
    assert.equal(response.status, 200);
    held.push(controller);
  }
  const refused = await request(server.url, `/api/imports/${sessionId}/report`);
  assert.equal(refused.status, 429, JSON.stringify(refused.body));
  assert.equal(refused.headers.get('retry-after'), '5');
  assert.match(refused.body.error, /4 downloads are being written; try again in a few seconds/);
  held.forEach((controller) => controller.abort());
  // Everything still answers, and a whole export is whole.
  const stats = await request(server.url, '/api/stats');
  const whole = await waitFor200(() => request(server.url, '/api/vulnerabilities/export?format=json'));
  assert.equal(whole.body.length, stats.body.total);
  const page = await request(server.url, '/api/vulnerabilities?perPage=1');
  assert.equal(page.body.total, stats.body.total);
});

/** The answer of `ask`, asked again while it is `429` (places free up as dropped downloads stop). */
async function waitFor200(ask) {
  for (let attempt = 0; ; attempt += 1) {
    const answer = await ask();
    if (answer.status !== 429 || attempt === 50) {
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return answer;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
