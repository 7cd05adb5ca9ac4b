// A reload in the middle of an import: the page finds the import still running, shows it in the
// modal with live progress, and it can be cancelled from there. The history follows the import
// without a reload; a reload just after an import ended tells of it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  closeModal, getJson, launchBrowser, modalTexts, openUi, screenshot, startImport, waitForHistory, waitForModal,
  waitForTables, LONG, SHORT,
} from '../support/browser.mjs';
import { generateExport, SAMPLES, startServer } from '../support/server.mjs';

test('after a reload the running import is taken up again, live, and can be cancelled', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);

  await startImport(page, generateExport(server.dir, 150_000));
  await page.waitForFunction(() => Number(document.querySelector('#progress-modal [data-part=bar]').getAttribute('aria-valuenow')) >= 5, null, { timeout: LONG });
  // The history shows the import running, without a reload.
  assert.equal(await waitForHistory(page, 1), 'running');
  const { imports } = await getJson(server, '/api/imports/active');
  assert.equal(imports.length, 1);
  assert.equal(imports[0].outcome, 'running');

  await page.reload();
  await waitForTables(page);
  await page.waitForSelector('#progress-modal.show', { timeout: SHORT });
  assert.equal(await page.evaluate(() => document.getElementById('progress-modal').dataset.state), 'running');
  assert.equal(await page.textContent('#progress-modal [data-part=title]'), 'Importing generated-150000-1.csv');
  await page.waitForFunction(() => window.WebSocketClient.connectionState === 'connected', null, { timeout: SHORT });
  // Live progress: the bar moves on after the reload.
  const resumed = await page.evaluate(() => Number(document.querySelector('#progress-modal [data-part=bar]').getAttribute('aria-valuenow')));
  await page.waitForFunction((from) => Number(document.querySelector('#progress-modal [data-part=bar]').getAttribute('aria-valuenow')) > from, resumed, { timeout: LONG });
  await screenshot(page, 'reattached');

  await page.click('#progress-modal [data-action=cancel]');
  await page.waitForSelector('#progress-modal [data-action=stop]', { state: 'visible', timeout: SHORT });
  await page.click('#progress-modal [data-action=stop]');
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'cancelled');
  assert.match((await modalTexts(page)).alert, /cancelled/i);
  await closeModal(page);
  assert.equal(await waitForHistory(page, 1), 'cancelled');
  assert.deepEqual(errors, []);
});

test('a reload just after an import ended tells of it', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);
  assert.equal(await page.isVisible('#recent-import'), false);
  await startImport(page, join(SAMPLES, 'test-import.csv'));
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  await closeModal(page);

  await page.reload();
  await waitForTables(page);
  await page.waitForSelector('#recent-import', { state: 'visible', timeout: SHORT });
  assert.equal(await page.textContent('#recent-import'), 'The import of test-import.csv completed just now.');
  assert.equal(await page.isVisible('#progress-modal'), false);
  assert.deepEqual(errors, []);
});
