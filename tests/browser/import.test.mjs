// Scenario 1: importing through the page. The sample file: the modal reaches 100 %, shows the
// summary, and the table then lists the imported findings. A generated export large enough to
// take a few seconds: the modal shows the server's phases with percentages that only go up, never
// "Queued" for an import with nothing ahead, and the same duration as the history. A first import
// says "Estimating…" until it has a basis for the time left.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import { formatDuration } from '../../web/format.js';
import {
  closeModal, getJson, launchBrowser, modalTexts, openUi, pageData, progressLog, recordProgress, recordTexts,
  screenshot, startImport, textLog, waitForClose, waitForHistory, waitForModal, SHORT,
} from '../support/browser.mjs';
import { generateExport, SAMPLES, startServer } from '../support/server.mjs';

const SERVER_PHASES = ['Parsing', 'Loading', 'Processing', 'Finalizing'];

/** Nothing ahead of it, an import is never shown as queued, and its parsing shows. */
function assertStartsParsing(log) {
  const phases = log.map((entry) => entry.phase);
  assert.ok(!phases.includes('Queued'), `shown as queued: ${JSON.stringify(log)}`);
  assert.equal(phases.find((phase) => SERVER_PHASES.includes(phase)), 'Parsing', JSON.stringify(log));
}

test('imports show live progress and a summary, then the tables list the findings', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);
  await page.waitForFunction(() => document.getElementById('connection').dataset.mode === 'live', null, { timeout: SHORT });
  assert.match((await pageData(page)).rows.join(), /No findings yet/);

  // The sample file, from a scan some time ago; the next import's scan date is today again.
  const today = await page.inputValue('#scan-date');
  await page.fill('#scan-date', '2024-01-15');
  await recordProgress(page);
  await startImport(page, join(SAMPLES, 'test-import.csv'));
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  let log = await progressLog(page);
  assertStartsParsing(log);
  assert.deepEqual(log.at(-1), { percent: 100, phase: 'Completed', state: 'completed' });
  assert.equal(await page.textContent('#progress-modal [data-part=title]'), 'Import completed');
  let modal = await modalTexts(page);
  assert.equal(modal.percent, '100%');
  assert.equal(modal.alert, null);
  assert.deepEqual(
    [modal.counts.new, modal.counts.updated, modal.counts.reopened, modal.counts.resolved, modal.counts.rejected],
    ['20', '0', '0', '0', '0'],
  );
  // As many records as rows: nothing to explain.
  assert.equal(await page.isHidden('#progress-modal [data-part=records]'), true);
  const bar = page.locator('#progress-modal [data-part=bar]');
  assert.equal(await bar.getAttribute('role'), 'progressbar');
  assert.deepEqual(
    [await bar.getAttribute('aria-valuemin'), await bar.getAttribute('aria-valuemax'), await bar.getAttribute('aria-valuenow')],
    ['0', '100', '100'],
  );
  await waitForClose(page);
  await screenshot(page, 'import-summary');
  await closeModal(page);
  // The focus is back on the button that started the import.
  await page.waitForFunction(() => document.activeElement?.matches('#import-form button[type=submit]'), null, { timeout: SHORT });
  assert.equal(await waitForHistory(page, 1), 'completed');
  await page.waitForFunction(() => document.querySelectorAll('#findings-table tbody tr').length === 20, null, { timeout: SHORT });
  let data = await pageData(page);
  assert.ok(data.rows.some((row) => row.includes('web-server-01') && row.includes('CVE-2023-0001')), data.rows.join('\n'));
  assert.deepEqual(data.severities, ['9', '6', '4', '1', '0']);
  assert.match(data.range, /1–20 of 20 findings/);

  // A generated export, which replaces the sample's estate (scope full): its findings are new,
  // the sample's resolved.
  assert.equal(await page.inputValue('#scan-date'), today);
  await recordProgress(page);
  await recordTexts(page, 'announce');
  // Large enough to run past 2 s on a fast machine: several progress events to show.
  await startImport(page, generateExport(server.dir, 150_000));
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
  assertStartsParsing(log);
  assert.deepEqual(log.at(-1), { percent: 100, phase: 'Completed', state: 'completed' });

  const [record, sample] = (await getJson(server, '/api/imports')).items;
  assert.deepEqual([record.scanDate, sample.scanDate], [today, '2024-01-15']);
  // A screen reader hears each phase once, then the end; never a percentage.
  const announced = await textLog(page, 'announce');
  const ending = `Import completed. ${record.counts.new.toLocaleString('en')} new, 0 updated, 0 reopened, 20 resolved; `
    + `took ${formatDuration(record.durationMs)}.`;
  assert.deepEqual(announced.at(-1), ending);
  const phasesAnnounced = announced.slice(0, -1);
  assert.deepEqual(phasesAnnounced, SERVER_PHASES.filter((phase) => phasesAnnounced.includes(phase)), JSON.stringify(announced));
  assert.ok(phasesAnnounced.includes('Loading'), JSON.stringify(announced));
  modal = await modalTexts(page);
  assert.equal(modal.counts.new, record.counts.new.toLocaleString('en'));
  assert.equal(modal.counts.resolved, '20');
  // Rows and records differ (a row lists several CVEs): the summary says why.
  assert.notEqual(record.counts.records, record.counts.rows);
  assert.equal(
    await page.textContent('#progress-modal [data-part=records]'),
    `The ${record.counts.rows.toLocaleString('en')} rows read make ${record.counts.records.toLocaleString('en')} records: `
      + 'a row becomes one record per CVE it lists (a rejected row becomes none), and the counts above are of records.',
  );
  // One duration: the record's, in the modal as in the history.
  const took = await page.textContent('#progress-modal [data-part=duration]');
  assert.equal(took, formatDuration(record.durationMs));
  await closeModal(page);
  assert.equal(await waitForHistory(page, 2), 'completed');
  assert.equal(await page.textContent('#history-table tbody tr:first-child [data-label=Duration]'), took);
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

test('the skip link shows above the header when focused, and the history names formats', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press('Tab');
  const skip = await page.evaluate(() => {
    const link = document.activeElement;
    const box = link.getBoundingClientRect();
    const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return { text: link.textContent, width: box.width, onTop: top === link || link.contains(top) };
  });
  assert.deepEqual({ ...skip, width: skip.width > 0 }, { text: 'Skip to content', width: true, onTop: true });

  await startImport(page, join(SAMPLES, 'test-import.csv'));
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  await closeModal(page);
  await waitForHistory(page, 1);
  await page.click('#history-table tbody tr:first-child button[aria-label^="Details of"]');
  await page.waitForFunction(() => /Tenable\.io/.test(document.body.innerText), null, { timeout: SHORT });
  assert.deepEqual(errors, []);
});

test('a table fetching rows shows that it is loading', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  await page.route('**/api/vulnerabilities?*', async (route) => {
    await held;
    await route.continue();
  });
  await page.fill('#findings-search', 'web-server');
  await page.waitForFunction(() => {
    const table = document.getElementById('findings-table');
    return table.getAttribute('aria-busy') === 'true' && Number(getComputedStyle(table.tBodies[0]).opacity) < 1;
  }, null, { timeout: SHORT });
  release();
  await page.waitForFunction(() => {
    const table = document.getElementById('findings-table');
    return !table.hasAttribute('aria-busy') && getComputedStyle(table.tBodies[0]).opacity === '1';
  }, null, { timeout: SHORT });
  assert.match((await pageData(page)).rows.join(), /No findings match these filters/);
  assert.deepEqual(errors, []);
});

test('a first import says "Estimating…" until it has a basis, then the time left', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server);
  await recordTexts(page, 'eta');
  // No import before it: no ETA until a tenth of the file is loaded.
  await startImport(page, generateExport(server.dir, 40_000));
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  const log = await textLog(page, 'eta');
  assert.equal(log[0], 'Estimating…', JSON.stringify(log));
  const first = log.findIndex((text) => /^About \S.* left$/.test(text));
  assert.ok(first > 0, `no ETA replaced "Estimating…": ${JSON.stringify(log)}`);
  assert.ok(!log.slice(first).includes('Estimating…'), `back to estimating: ${JSON.stringify(log)}`);
  assert.deepEqual(errors, []);
});
