// Scenario 2: cancelling a large import midway. The modal asks first, waits for the server's
// `importCancelled`, reports the cancellation, and the table and counts are exactly as before; the
// history names who cancelled it. A cancel the server refuses shows its reason, and the import
// goes on.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { formatDuration, phaseTimes } from '../../web/format.js';
import {
  closeModal, getJson, importSampleAndSnapshot, launchBrowser, modalTexts, openUi, pageData, progressLog, recordProgress,
  screenshot, startImport, unexpectedProblems, waitForHistory, waitForModal, LONG, SHORT,
} from '../support/browser.mjs';
import { generateExport, request, startServer } from '../support/server.mjs';

test('cancelling a large import midway changes nothing', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);

  const { before, statsBefore } = await importSampleAndSnapshot(page, server);

  const large = generateExport(server.dir, 150_000);
  await recordProgress(page);
  await startImport(page, large);
  // Midway: the server is loading rows, and the bar has moved at least twice on the way.
  await page.waitForFunction(
    () => {
      const modal = document.getElementById('progress-modal');
      const midway = new Set(window.progressLog.filter((entry) => entry.percent > 0 && entry.percent < 100).map((entry) => entry.percent));
      return modal.dataset.state === 'running' && midway.size >= 2
        && Number(modal.querySelector('[data-part=bar]').getAttribute('aria-valuenow')) >= 10;
    },
    null,
    { timeout: LONG },
  );
  await screenshot(page, 'cancel-midway');

  await page.click('#progress-modal [data-action=cancel]');
  await page.waitForSelector('#progress-modal [data-action=stop]', { state: 'visible', timeout: SHORT });
  await page.click('#progress-modal [data-action=stop]');
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'cancelled');

  const log = await progressLog(page);
  const states = log.map((entry) => entry.state);
  assert.ok(states.indexOf('cancelling') < states.indexOf('cancelled') && states.includes('cancelling'), `no wait for importCancelled: ${JSON.stringify(log)}`);
  const midway = log.filter((entry) => entry.percent > 0 && entry.percent < 100).map((entry) => entry.percent);
  assert.ok(new Set(midway).size >= 2, `no progress shown on the way: ${JSON.stringify(log)}`);
  assert.deepEqual(midway, [...midway].sort((a, b) => a - b), 'percentages went down');
  const modal = await modalTexts(page);
  assert.match(modal.alert, /cancelled/i);
  assert.equal(modal.phase, 'Cancelled');
  // The time it ran and the phases it reached, from its record, as the history shows them.
  const [record] = (await getJson(server, '/api/imports')).items;
  assert.ok(record.timings.loading > 0, JSON.stringify(record.timings));
  const phases = phaseTimes(record.timings, record.outcome).join(' · ');
  await page.waitForFunction(() => !document.querySelector('#progress-modal [data-part=times]').hidden, null, { timeout: SHORT });
  assert.equal(
    await page.textContent('#progress-modal [data-part=times]'),
    `Ran ${formatDuration(record.durationMs)}: ${phases}.`,
  );
  assert.match(phases, /Loading \d/);
  await screenshot(page, 'import-cancelled');

  await closeModal(page);
  assert.equal(await waitForHistory(page, 2), 'cancelled');
  assert.equal(await page.textContent('#history-table tbody tr:first-child [data-label=Duration]'), formatDuration(record.durationMs));
  assert.equal(await page.textContent('#history-table tbody tr:first-child [data-label=Phases]'), phases);
  assert.equal(await page.textContent('#history-table tbody tr:first-child [data-part=cancelledBy]'), 'cancelled by admin');
  assert.deepEqual(await pageData(page), before);
  assert.deepEqual(await getJson(server, '/api/stats'), statsBefore);
  assert.deepEqual(errors, []);
});

test('cancelling while the file is still uploading stops the upload and changes nothing', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);
  const before = await pageData(page);

  // A slow link, so that the upload is still going when Cancel is pressed.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
  await startImport(page, generateExport(server.dir, 2_000));
  await page.waitForFunction(
    () => Number(document.querySelector('#progress-modal [data-part=uploadBar]').getAttribute('aria-valuenow')) >= 10,
    null,
    { timeout: SHORT },
  );
  await page.click('#progress-modal [data-action=cancel]');
  await page.click('#progress-modal [data-action=stop]');
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'cancelled');
  assert.match((await modalTexts(page)).alert, /upload was stopped/);
  await closeModal(page);

  assert.deepEqual((await getJson(server, '/api/imports')).items, []);
  assert.deepEqual(await pageData(page), before);
  assert.deepEqual(errors, []);
});

test('a cancel the server refuses shows its reason, and the import goes on', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const ann = { name: 'ann', password: 'ann imports the weekly scans' };
  const created = await request(server.url, '/api/users', { method: 'POST', json: { name: ann.name, role: 'analyst', password: ann.password } });
  assert.equal(created.status, 201);
  const { page, errors, problems } = await openUi(browser, server, { user: ann });

  await startImport(page, generateExport(server.dir, 150_000));
  await page.waitForFunction(
    () => {
      const modal = document.getElementById('progress-modal');
      return modal.dataset.state === 'running' && Number(modal.querySelector('[data-part=bar]').getAttribute('aria-valuenow')) >= 5;
    },
    null,
    { timeout: LONG },
  );
  // Midway, an admin makes ann a viewer: she may no longer cancel.
  const demoted = await request(server.url, `/api/users/${created.body.id}`, { method: 'PATCH', json: { role: 'viewer' } });
  assert.equal(demoted.status, 200);
  // The server applies the new role to her socket as soon as it is told; give it a moment.
  await page.waitForTimeout(500);
  await page.click('#progress-modal [data-action=cancel]');
  await page.click('#progress-modal [data-action=stop]');
  await page.waitForFunction(
    () => !document.querySelector('#progress-modal [data-part=alert]').hidden,
    null,
    { timeout: SHORT },
  );
  const modal = await modalTexts(page);
  assert.match(modal.alert, /could not be cancelled: this needs the analyst role; ann is viewer\.$/i);
  assert.doesNotMatch(modal.message, /Stopping/);
  assert.ok(['running', 'completed'].includes(modal.state), `the modal does not pretend it cancelled: ${modal.state}`);
  await screenshot(page, 'cancel-refused');

  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  await closeModal(page);
  assert.equal(await waitForHistory(page, 1), 'completed');
  assert.equal(await page.textContent('#history-table [data-part=startedBy]'), 'by ann');
  assert.deepEqual(unexpectedProblems(problems), []);
  assert.deepEqual(errors, []);
});
