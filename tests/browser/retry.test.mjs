// Retrying an import that did not complete: the history's Retry (for those who may import) opens
// the progress window on the new import, which completes; after a failed import the progress
// window offers Retry itself; the history says which import a retry retries, and whether an
// upload is still kept. Viewers see no Retry.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  closeModal, launchBrowser, modalTexts, openUi, screenshot, startImport, waitForHistory, waitForModal, waitForTables, LONG,
  SHORT,
} from '../support/browser.mjs';
import {
  BIN, SAMPLES, Watcher, addUser, databaseOf, generateExport, request, startServer, upload, writeFile,
} from '../support/server.mjs';

/** The history rows' outcome and notes, newest first. */
function historyNotes(page) {
  return page.evaluate(() => [...document.querySelectorAll('#history-table tbody tr')].map((row) => ({
    outcome: row.querySelector('[data-outcome]')?.dataset.outcome,
    retryOf: row.querySelector('[data-part=retryOf]')?.textContent ?? null,
    upload: row.querySelector('[data-part=upload]')?.textContent ?? null,
    retry: Boolean(row.querySelector('[data-action=retry]')),
  })));
}

test('Retry in the history and in the progress window imports a kept upload again', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  // An import cancelled while it waited behind a large one: its upload is kept.
  const watcher = await Watcher.connect(server.url);
  t.after(() => watcher.close());
  const [large, cancelled] = [randomUUID(), randomUUID()];
  for (const [sessionId, file] of [[large, generateExport(server.dir, 20_000)], [cancelled, join(SAMPLES, 'test-import.csv')]]) {
    await watcher.join(sessionId);
    assert.equal((await upload(server.url, file, { sessionId })).status, 202);
  }
  assert.equal((await request(server.url, `/api/imports/${cancelled}/cancel`, { method: 'POST' })).status, 202);
  await watcher.waitForEnd(large, { ms: LONG });

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);
  await waitForHistory(page, 2);
  const before = await historyNotes(page);
  const kept = before.find((row) => row.outcome === 'cancelled');
  assert.match(kept.upload, /^upload kept until /);
  assert.deepEqual(before.map((row) => row.retry), before.map((row) => row.outcome === 'cancelled'), 'Retry only where the upload is kept');

  await page.click('#history-table [data-action=retry]');
  await page.waitForSelector('#progress-modal.show', { timeout: SHORT });
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  const modal = await modalTexts(page);
  assert.equal(modal.phase, 'Completed');
  assert.equal(await page.isHidden('#progress-modal [data-action=retry]'), true, 'nothing to retry after a completed import');
  await screenshot(page, 'retry-completed');
  await closeModal(page);
  assert.equal(await waitForHistory(page, 3), 'completed');
  await page.locator('#history').scrollIntoViewIfNeeded();
  await screenshot(page, 'retry-history');
  const [retry] = await historyNotes(page);
  assert.equal(retry.retryOf, `retry of ${cancelled.slice(0, 8)}…`);
  assert.equal(retry.upload, null);

  // A failed import: the progress window offers Retry, which follows the new import there.
  const rejects = writeFile(server.dir, 'rejects.csv', ['hostname,cve', 'h1,CVE-2024-0001', ',CVE-2024-0002'].join('\n'));
  await startImport(page, rejects);
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'failed');
  await page.waitForSelector('#progress-modal [data-action=retry]', { state: 'visible', timeout: SHORT });
  const failed = await page.evaluate(() => window.ProgressModal.sessionId);
  await page.click('#progress-modal [data-action=retry]');
  await page.waitForFunction((old) => window.ProgressModal.sessionId !== old, failed, { timeout: SHORT });
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'failed', 'the same file fails the same way');
  assert.equal(await page.textContent('#progress-modal [data-part=title]'), 'Import failed');
  await closeModal(page);
  assert.equal(await waitForHistory(page, 5), 'failed');
  const [again, first] = await historyNotes(page);
  assert.equal(again.retryOf, `retry of ${failed.slice(0, 8)}…`);
  assert.ok(again.retry && first.retry, 'both failed imports can be retried');

  // A local command-line import had no upload: the history says so, without Retry.
  const local = spawnSync(BIN, ['import', rejects, '--database', databaseOf(server.dir)], { encoding: 'utf8' });
  assert.equal(local.status, 1, local.stderr);
  await page.reload();
  await waitForTables(page);
  assert.equal(await waitForHistory(page, 6), 'failed');
  const [fromCli] = await historyNotes(page);
  assert.deepEqual([fromCli.upload, fromCli.retry], ['imported from the command line', false]);
  assert.deepEqual(errors, []);

  // Viewers read the same history, without Retry.
  const viewer = addUser(server.dir, 'vera', 'viewer');
  const { page: viewerPage, errors: viewerErrors } = await openUi(browser, server, { user: viewer });
  await waitForHistory(viewerPage, 6);
  const seen = await historyNotes(viewerPage);
  assert.ok(seen.some((row) => row.upload?.startsWith('upload kept until')));
  assert.ok(seen.every((row) => !row.retry), 'no Retry for a viewer');
  assert.deepEqual(viewerErrors, []);
});
