// The dashboard's trends: a history of imports on several scan dates (a resolution, a reopen, a
// backfill) seeded through the API, with the dashboard's counts recorded after each. The line
// chart names a series per severity and shows, at each scan date, the counts recorded after that
// import; the bars name the changes and show a backfill's; the table (reachable at all times,
// shown by its toggle) holds every recorded number; an import through the page adds its point.
// Nothing breaks the page's content-security policy.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  closeModal, getJson, launchBrowser, openUi, screenshot, startImport, unexpectedProblems, waitForModal, SHORT,
} from '../support/browser.mjs';
import { importAndWait, SAMPLES, startServer, Watcher, writeFile } from '../support/server.mjs';

const HEADER = 'hostname,ip_address,cve,plugin_id,plugin_name,severity';
const A = 'web01,10.0.0.1,CVE-2024-0001,1001,Apache,high';
const B = 'web01,10.0.0.1,CVE-2024-0002,1002,OpenSSL,critical';
const C = 'db01,10.0.1.1,CVE-2024-0003,1003,MySQL,medium';
const D = 'db01,10.0.1.1,CVE-2024-0004,1004,Kernel,low';
const E = 'mail01,10.0.2.1,CVE-2023-0005,1005,Postfix,info';
const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];

/** The imports seeded: file rows and scan date. The last is a backfill. */
const HISTORY = [
  { rows: [A, B, C], scanDate: '2026-01-05' },
  { rows: [A, C], scanDate: '2026-01-12' },
  { rows: [A, B, C, D], scanDate: '2026-01-19' },
  { rows: [A, E], scanDate: '2026-01-02', backfill: true },
];

/** A chart's legend: each series' name and the value it shows now. */
function legend(page, box) {
  return page.evaluate((id) => [...document.querySelectorAll(`#${id} .u-legend .u-series`)].map((row) => [
    row.querySelector('.u-label').textContent,
    row.querySelector('.u-value')?.textContent ?? null,
  ]), box);
}

/**
 * Moves the mouse over a chart at `share` of its plotting width until its legend says `expected`
 * (a move can land on a modal's fading backdrop, or precede a redraw).
 */
async function hover(page, box, share, expected) {
  const over = page.locator(`#${box} .u-over`);
  const deadline = Date.now() + SHORT;
  let shown;
  for (let attempt = 0; Date.now() < deadline; attempt += 1) {
    await over.scrollIntoViewIfNeeded();
    const area = await over.boundingBox();
    const x = Math.min(area.width - 1, Math.max(1, share * area.width));
    await page.mouse.move(area.x + x, area.y + area.height / 2 + (attempt % 2));
    shown = await legend(page, box);
    if (JSON.stringify(shown.map(([, value]) => value)) === JSON.stringify(expected)) {
      return;
    }
    await new Promise((resolve) => { setTimeout(resolve, 100); });
  }
  assert.fail(`hovering ${box} at ${share}: ${JSON.stringify(shown)}, wanted ${JSON.stringify(expected)}`);
}

/** The trends table's rows: scan date cell, file, open counts by severity, changes. */
function tableRows(page) {
  return page.evaluate(() => [...document.querySelectorAll('#trends-table tbody tr')].map((row) => ({
    date: row.querySelector('th').textContent,
    file: row.cells[1].textContent,
    open: [...row.querySelectorAll('[data-severity]')].map((cell) => cell.textContent),
    changes: [...row.querySelectorAll('[data-change]')].map((cell) => cell.textContent),
  })));
}

test('the trends chart and tabulate the counts recorded after each import', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors, problems } = await openUi(browser, server);

  await page.waitForFunction(() => !document.getElementById('trends-empty').hidden
    && /No completed import yet/.test(document.getElementById('trends-empty').textContent), null, { timeout: SHORT });
  assert.equal(await page.isHidden('#trends-charts'), true, 'charts without data');
  assert.equal(await page.isHidden('#trends-toggle'), true, 'a toggle without data');

  // The history, with what the dashboard and the record said after each import.
  const watcher = await Watcher.connect(server.url);
  t.after(() => watcher.close());
  const recorded = [];
  for (const [index, { rows, scanDate, backfill = false }] of HISTORY.entries()) {
    const file = writeFile(server.dir, `scan-${index + 1}.csv`, [HEADER, ...rows].join('\n'));
    const { sessionId, end } = await importAndWait(server, watcher, file, { scanDate });
    assert.equal(end.payload.type, 'complete', JSON.stringify(end.payload));
    const record = await getJson(server, `/api/imports/${sessionId}/record`);
    assert.equal(record.backfill, backfill);
    const stats = await getJson(server, '/api/stats');
    recorded.push({ scanDate, backfill, fileName: `scan-${index + 1}.csv`, open: stats.openBySeverity, counts: record.counts });
  }
  const trends = await getJson(server, '/api/trends');
  assert.deepEqual(
    trends.points.map((point) => [point.scanDate, point.backfill, point.openBySeverity]),
    recorded.map((entry) => [entry.scanDate, entry.backfill, entry.open]),
    'the API answers the counts recorded after each import',
  );

  await page.reload();
  await page.waitForSelector('#trends-open canvas', { timeout: SHORT });
  await page.waitForSelector('#trends-changes canvas', { timeout: SHORT });
  assert.deepEqual((await legend(page, 'trends-open')).map(([name]) => name), ['Scan date', 'Critical', 'High', 'Medium', 'Low', 'Info']);
  assert.deepEqual((await legend(page, 'trends-changes')).map(([name]) => name), ['Import', 'Added', 'Resolved', 'Reopened']);
  for (const box of ['trends-open', 'trends-changes']) {
    const canvas = page.locator(`#${box} canvas`);
    assert.equal(await canvas.getAttribute('role'), 'img');
    assert.match(await canvas.getAttribute('aria-label'), /The table lists every figure/);
  }

  // The line: the three regular imports at their scan dates (left edge, middle, right edge).
  const regular = recorded.filter((entry) => !entry.backfill);
  const first = Date.parse(regular[0].scanDate);
  const span = Date.parse(regular.at(-1).scanDate) - first;
  for (const entry of regular) {
    const share = (Date.parse(entry.scanDate) - first) / span;
    await hover(page, 'trends-open', share, [entry.scanDate, ...SEVERITIES.map((severity) => String(entry.open[severity]))]);
  }
  // The bars: one group per import, the backfill's too.
  for (const [index, entry] of recorded.entries()) {
    const label = `${entry.scanDate}${entry.backfill ? ' (backfill)' : ''}`;
    const { new: added, resolved, reopened } = entry.counts;
    await hover(page, 'trends-changes', (index + 0.5) / recorded.length, [label, String(added), String(resolved), String(reopened)]);
  }
  await screenshot(page, 'trends');

  // The table: there for screen readers, shown by the toggle; every number as recorded.
  const toggle = page.locator('#trends-toggle');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  assert.ok((await page.locator('#trends-table-box').boundingBox()).width <= 1, 'the table shows before the toggle');
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  assert.equal(await toggle.textContent(), 'Hide the table');
  assert.ok((await page.locator('#trends-table-box').boundingBox()).width > 300, 'the toggle does not show the table');
  const expectedRows = (entries) => entries.map((entry) => ({
    date: `${entry.scanDate}${entry.backfill ? 'backfill' : ''}`,
    file: entry.fileName,
    open: SEVERITIES.map((severity) => String(entry.open[severity])),
    changes: [entry.counts.new, entry.counts.resolved, entry.counts.reopened].map(String),
  }));
  assert.deepEqual(await tableRows(page), expectedRows(recorded));

  // An import through the page adds its point as it completes.
  await page.fill('#scan-date', '2026-01-26');
  await startImport(page, join(SAMPLES, 'test-import.csv'));
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  await closeModal(page);
  const record = (await getJson(server, '/api/imports?perPage=1')).items[0];
  recorded.push({
    scanDate: '2026-01-26', backfill: false, fileName: 'test-import.csv', open: (await getJson(server, '/api/stats')).openBySeverity, counts: record.counts,
  });
  await page.waitForFunction((count) => document.querySelectorAll('#trends-table tbody tr').length === count, recorded.length, { timeout: SHORT });
  assert.deepEqual(await tableRows(page), expectedRows(recorded));
  const newest = recorded.at(-1);
  await hover(page, 'trends-open', 1, ['2026-01-26', ...SEVERITIES.map((severity) => String(newest.open[severity]))]);

  assert.deepEqual(unexpectedProblems(problems), []);
  assert.deepEqual(errors, []);
});
