// A server outage longer than the quick reconnection attempts: the modal says the connection is
// lost (a still bar, no ETA), the page keeps trying, and once a server is back on the same port
// and data the indicator is Live again without a reload.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { formatDuration } from '../../web/format.js';
import {
  getJson, launchBrowser, openUi, screenshot, startImport, waitForHistory, waitForModal, LONG, SHORT,
} from '../support/browser.mjs';
import { generateExport, startServerIn, waitUntil } from '../support/server.mjs';

/** A port nothing listens on now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

test('after an outage the page goes live again without a reload', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vulnimport-outage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const args = ['--port', String(await freePort())];
  let server = await startServerIn(dir, { args });
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);
  await page.waitForFunction(() => window.WebSocketClient.connectionState === 'connected', null, { timeout: SHORT });
  // The backoff schedule itself is the unit tests' concern: here two quick attempts, then a
  // retry every 2 s, so that the outage outlasts them in a few seconds.
  await page.evaluate(() => {
    window.WebSocketClient.maxReconnectAttempts = 2;
    window.WebSocketClient.retryInterval = 2000;
  });

  const file = generateExport(dir, 100_000);
  const started = Date.now();
  await startImport(page, file);
  await page.waitForFunction(
    () => Number(document.querySelector('#progress-modal [data-part=bar]').getAttribute('aria-valuenow')) >= 10,
    null,
    { timeout: LONG },
  );
  // Killed once it has noted some loading time in its record.
  await waitUntil(async () => (await getJson(server, '/api/imports')).items[0]?.timings.loading > 0, 'a noted loading time');
  await server.stop('SIGKILL');
  const ran = Date.now() - started;

  // The modal tells the outage: a notice, no ETA, no moving stripes.
  await page.waitForFunction(
    () => document.querySelector('#progress-modal [data-part=connection]').dataset.connection === 'lost',
    null,
    { timeout: SHORT },
  );
  const modal = await page.evaluate(() => {
    const part = (name) => document.querySelector(`#progress-modal [data-part=${name}]`);
    return {
      notice: part('connection').textContent,
      visible: !part('connection').hidden,
      eta: part('eta').textContent,
      moving: part('bar').firstElementChild.classList.contains('progress-bar-animated'),
    };
  });
  assert.deepEqual(modal, {
    notice: 'The connection to the server is lost. Trying to reconnect…',
    visible: true,
    eta: '',
    moving: false,
  });
  // The quick attempts are used up: polling, with more attempts to come.
  await page.waitForFunction(() => document.getElementById('connection').dataset.state === 'failed', null, { timeout: SHORT });
  const indicator = await page.evaluate(() => {
    const pill = document.getElementById('connection');
    return { mode: pill.dataset.mode, title: pill.title };
  });
  assert.equal(indicator.mode, 'polling');
  assert.match(indicator.title, /Trying to reconnect every 2 s/);
  await screenshot(page, 'outage-lost');

  server = await startServerIn(dir, { args });
  await page.waitForFunction(() => document.getElementById('connection').dataset.mode === 'live', null, { timeout: SHORT });
  // The killed import is recorded as interrupted by the restart; the modal hears of it and
  // names it so (not "failed"), as the history does.
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled', 'interrupted'], SHORT), 'interrupted');
  assert.equal(await page.textContent('#progress-modal [data-part=title]'), 'Import interrupted');
  assert.equal(await waitForHistory(page, 1), 'interrupted');
  assert.equal(await page.textContent('#history-table tbody tr:first-child [data-outcome]'), 'Interrupted');
  // It lasted the time it ran (the phase times it noted), not the outage; the modal says so, as
  // the history does.
  const [record] = (await getJson(server, '/api/imports')).items;
  assert.ok(record.timings.loading > 0, JSON.stringify(record.timings));
  assert.ok(record.durationMs <= ran, `${record.durationMs} ms counts more than the ${ran} ms it ran`);
  await page.waitForFunction(() => !document.querySelector('#progress-modal [data-part=times]').hidden, null, { timeout: SHORT });
  const times = await page.textContent('#progress-modal [data-part=times]');
  assert.ok(times.startsWith(`Ran ${formatDuration(record.durationMs)}: Parsing `), times);
  assert.match(times, / · Loading \d/);
  const duration = await page.textContent('#history-table tbody tr:first-child [data-label=Duration]');
  assert.equal(duration, formatDuration(record.durationMs));
  assert.equal(await page.evaluate(() => document.querySelector('#progress-modal [data-part=connection]').hidden), true);
  assert.deepEqual(errors, []);
});
