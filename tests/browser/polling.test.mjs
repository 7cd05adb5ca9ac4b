// Scenario 3: with the WebSocket blocked, the page says it is polling and an import still
// completes in the modal through `GET /api/imports/{sessionId}`. And a socket that drops
// mid-import comes back, rejoins the session and catches up.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  closeModal, launchBrowser, modalTexts, openUi, pageData, screenshot, startImport, waitForClose,
  waitForHistory, waitForModal, LONG, SHORT,
} from '../support/browser.mjs';
import { generateExport, SAMPLES, startServer } from '../support/server.mjs';

test('with the WebSocket blocked an import completes through polling', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server, { blockSocket: true });
  await page.waitForFunction(() => document.getElementById('connection').dataset.mode === 'polling', null, { timeout: SHORT });

  const polls = [];
  page.on('response', (response) => {
    if (/\/api\/imports\/[0-9a-f-]{36}$/.test(new URL(response.url()).pathname)) {
      polls.push(response.status());
    }
  });
  await startImport(page, join(SAMPLES, 'test-import.csv'));
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  const modal = await modalTexts(page);
  assert.equal(modal.percent, '100%');
  assert.equal(modal.counts.new, '20');
  assert.ok(polls.includes(200), `the status was not polled: ${polls}`);
  assert.equal(await page.evaluate(() => window.WebSocketClient.connectionState === 'connected'), false);
  await waitForClose(page);
  await screenshot(page, 'polling-summary');

  await closeModal(page);
  assert.equal(await waitForHistory(page, 1), 'completed');
  await page.waitForFunction(() => document.querySelectorAll('#findings-table tbody tr').length === 20, null, { timeout: SHORT });
  assert.ok((await pageData(page)).rows.some((row) => row.includes('web-server-01')));
  assert.deepEqual(errors, []);
});

test('a dropped socket reconnects after a second, rejoins the session and catches up', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);
  await page.waitForFunction(() => window.WebSocketClient.connectionState === 'connected', null, { timeout: SHORT });
  const firstSocket = await page.evaluate(() => window.WebSocketClient.socket.id);

  await startImport(page, generateExport(server.dir, 100_000));
  await page.waitForFunction(
    () => Number(document.querySelector('#progress-modal [data-part=bar]').getAttribute('aria-valuenow')) >= 10,
    null,
    { timeout: LONG },
  );
  // The connection drops mid-import: the page polls until the socket is back.
  await page.evaluate(() => window.WebSocketClient.socket.io.engine.close());
  await page.waitForFunction(() => document.getElementById('connection').dataset.mode === 'polling', null, { timeout: SHORT });
  await page.waitForFunction(() => document.getElementById('connection').dataset.mode === 'live', null, { timeout: SHORT });
  assert.notEqual(await page.evaluate(() => window.WebSocketClient.socket.id), firstSocket);

  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  assert.equal((await modalTexts(page)).percent, '100%');
  assert.deepEqual(errors, []);
});
