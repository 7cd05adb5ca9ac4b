// Scenario 4: a file that is not a scanner export. The modal shows the server's error (which
// names the headers it found) and nothing changes.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  closeModal, getJson, importSampleAndSnapshot, launchBrowser, modalTexts, openUi, pageData, startImport, waitForHistory,
  waitForClose, waitForModal,
} from '../support/browser.mjs';
import { startServer, writeFile } from '../support/server.mjs';

test('a bad file shows the server\'s error and changes nothing', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);

  const { before, statsBefore } = await importSampleAndSnapshot(page, server);

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
