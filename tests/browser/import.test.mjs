// Scenario 1: importing through the page. The sample file: the modal reaches 100 %, shows the
// summary, and the table then lists the imported findings. A generated export large enough to
// take a few seconds: the modal shows the server's phases with percentages that only go up.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  closeModal, getJson, launchBrowser, modalTexts, openUi, pageData, progressLog, recordProgress,
  screenshot, startImport, waitForClose, waitForHistory, waitForModal, SHORT,
} from '../support/browser.mjs';
import { generateExport, SAMPLES, startServer } from '../support/server.mjs';

const SERVER_PHASES = ['Queued', 'Parsing', 'Loading', 'Processing', 'Finalizing'];

test('imports show live progress and a summary, then the tables list the findings', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);
  await page.waitForFunction(() => document.getElementById('connection').dataset.mode === 'live', null, { timeout: SHORT });
  assert.match((await pageData(page)).rows.join(), /No findings yet/);

  // The sample file.
  await recordProgress(page);
  await startImport(page, join(SAMPLES, 'test-import.csv'));
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  let log = await progressLog(page);
  assert.ok(log.some((entry) => SERVER_PHASES.includes(entry.phase)), `no server phase shown: ${JSON.stringify(log)}`);
  assert.deepEqual(log.at(-1), { percent: 100, phase: 'Complete', state: 'completed' });
  let modal = await modalTexts(page);
  assert.equal(modal.percent, '100%');
  assert.equal(modal.alert, null);
  assert.deepEqual(
    [modal.counts.new, modal.counts.updated, modal.counts.reopened, modal.counts.resolved, modal.counts.rejected],
    ['20', '0', '0', '0', '0'],
  );
  const bar = page.locator('#progress-modal [data-part=bar]');
  assert.equal(await bar.getAttribute('role'), 'progressbar');
  assert.deepEqual(
    [await bar.getAttribute('aria-valuemin'), await bar.getAttribute('aria-valuemax'), await bar.getAttribute('aria-valuenow')],
    ['0', '100', '100'],
  );
  await waitForClose(page);
  await screenshot(page, 'import-summary');
  await closeModal(page);
  assert.equal(await waitForHistory(page, 1), 'completed');
  await page.waitForFunction(() => document.querySelectorAll('#findings-table tbody tr').length === 20, null, { timeout: SHORT });
  let data = await pageData(page);
  assert.ok(data.rows.some((row) => row.includes('web-server-01') && row.includes('CVE-2023-0001')), data.rows.join('\n'));
  assert.deepEqual(data.severities, ['9', '6', '4', '1', '0']);
  assert.match(data.range, /1–20 of 20 findings/);

  // A generated export, which replaces the sample's estate (scope full): its findings are new,
  // the sample's resolved.
  await recordProgress(page);
  await startImport(page, generateExport(server.dir, 60_000));
  await page.waitForFunction(
    () => Number(document.querySelector('#progress-modal [data-part=bar]').getAttribute('aria-valuenow')) >= 20,
    null,
    { timeout: SHORT * 3 },
  );
  await screenshot(page, 'import-midway');
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  log = await progressLog(page);
  const percents = log.map((entry) => entry.percent);
  assert.deepEqual(percents, [...percents].sort((a, b) => a - b), `percentages went down: ${JSON.stringify(log)}`);
  const midway = new Set(log.filter((entry) => entry.percent > 0 && entry.percent < 100).map((entry) => entry.percent));
  assert.ok(midway.size >= 3, `too few percentages shown: ${JSON.stringify(log)}`);
  const phases = new Set(log.map((entry) => entry.phase).filter((phase) => SERVER_PHASES.includes(phase)));
  assert.ok(phases.size >= 2, `too few phases shown: ${JSON.stringify(log)}`);
  assert.deepEqual(log.at(-1), { percent: 100, phase: 'Complete', state: 'completed' });

  const [record] = (await getJson(server, '/api/imports')).items;
  modal = await modalTexts(page);
  assert.equal(modal.counts.new, record.counts.new.toLocaleString('en'));
  assert.equal(modal.counts.resolved, '20');
  await closeModal(page);
  assert.equal(await waitForHistory(page, 2), 'completed');
  const total = (20 + record.counts.new).toLocaleString('en');
  await page.waitForFunction(
    (wanted) => document.querySelector('[data-pager=findings] [data-part=range]').textContent.endsWith(`of ${wanted} findings`),
    total,
    { timeout: SHORT },
  );
  data = await pageData(page);
  assert.equal(data.rows.length, 25);
  assert.match(data.states, new RegExp(`Resolved 20 · Total ${total}`));
  assert.deepEqual(errors, []);
});
