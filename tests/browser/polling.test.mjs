// Scenario 3: with the WebSocket blocked, the page says it is polling and an import still
// completes in the modal through `GET /api/imports/{sessionId}`.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  closeModal, launchBrowser, modalTexts, openUi, pageData, screenshot, startImport, waitForClose,
  waitForHistory, waitForModal, SHORT,
} from '../support/browser.mjs';
import { SAMPLES, startServer } from '../support/server.mjs';

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
