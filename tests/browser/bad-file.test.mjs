// Scenario 4: a file that is not a scanner export. The modal shows the server's error (which
// names the headers it found) and nothing changes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  closeModal, getJson, launchBrowser, modalTexts, openUi, pageData, startImport, waitForHistory,
  waitForClose, waitForModal, SHORT,
} from '../support/browser.mjs';
import { SAMPLES, startServer, writeFile } from '../support/server.mjs';

test('a bad file shows the server\'s error and changes nothing', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);

  await startImport(page, join(SAMPLES, 'test-import.csv'));
  assert.equal(await waitForModal(page, ['completed', 'failed']), 'completed');
  await closeModal(page);
  await page.waitForFunction(() => document.querySelectorAll('#findings-table tbody tr').length === 20, null, { timeout: SHORT });
  const before = await pageData(page);
  const statsBefore = await getJson(server, '/api/stats');

  await startImport(page, writeFile(server.dir, 'sizes.csv', 'colour,size\nred,large\nblue,small\n'));
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'failed');
  const modal = await modalTexts(page);
  assert.equal(modal.phase, 'Failed');
  assert.match(modal.alert, /colour/);
  assert.match(modal.alert, /size/);
  // The error is in view and the only way on is Close, which has the focus.
  await waitForClose(page);

  await closeModal(page);
  assert.equal(await waitForHistory(page, 2), 'failed');
  assert.deepEqual(await pageData(page), before);
  assert.deepEqual(await getJson(server, '/api/stats'), statsBefore);
  assert.deepEqual(errors, []);
});
