// Scenario 5: the page on a phone, 375 px wide: no sideways scrolling, with data or without, the
// modal open, the history or the trends in view; the tables turn into cards whose every cell shows
// its text whole; severity counts of six digits fit their tiles; and an import can be started,
// followed and closed with the keyboard in a modal that fits the screen.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  launchBrowser, openUi, screenshot, waitForClose, waitForModal, SHORT,
} from '../support/browser.mjs';
import { SAMPLES, startServer } from '../support/server.mjs';

const WIDTH = 375;

/** How far the page scrolls sideways (0 when it does not). */
function horizontalOverflow(page) {
  return page.evaluate(() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth));
}

/**
 * The shown elements matching `selector` whose text is cut: wider than their box, or reaching
 * past the screen's edges. Each as its text and measures, for the failure message.
 */
function clipped(page, selector) {
  return page.evaluate((wanted) => {
    const cut = [];
    for (const node of document.querySelectorAll(wanted)) {
      const box = node.getBoundingClientRect();
      if (box.width <= 1 || box.height <= 1) {
        continue;
      }
      if (node.scrollWidth > node.clientWidth + 1 || box.left < -0.5 || box.right > window.innerWidth + 0.5) {
        cut.push({ text: node.textContent.trim(), left: box.left, right: box.right, scrollWidth: node.scrollWidth, clientWidth: node.clientWidth });
      }
    }
    return cut;
  }, selector);
}

test('the page works 375 px wide, by keyboard', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server, { viewport: { width: WIDTH, height: 740 } });
  assert.equal(await horizontalOverflow(page), 0, 'the empty page scrolls sideways');

  await page.setInputFiles('#import-file', join(SAMPLES, 'test-import.csv'));
  await page.focus('#import-form button[type=submit]');
  await page.keyboard.press('Enter');
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  // Faded in, the finished modal has the focus on Close.
  await waitForClose(page);

  const dialog = await page.locator('#progress-modal .modal-content').boundingBox();
  assert.ok(dialog.x >= 0 && dialog.x + dialog.width <= WIDTH, `the modal does not fit: ${JSON.stringify(dialog)}`);
  const close = page.locator('#progress-modal [data-action=close]');
  const button = await close.boundingBox();
  assert.ok(button.x >= 0 && button.x + button.width <= WIDTH && button.y + button.height <= 740, 'Close is off screen');
  assert.equal(await horizontalOverflow(page), 0, 'the page scrolls sideways under the modal');
  assert.deepEqual(await clipped(page, '#progress-modal .modal-body *'), [], 'text cut in the modal');
  await screenshot(page, 'phone-summary');

  await page.keyboard.press('Enter');
  await page.waitForSelector('#progress-modal', { state: 'hidden', timeout: SHORT });
  await page.waitForFunction(() => document.querySelectorAll('#findings-table tbody tr').length === 20, null, { timeout: SHORT });
  assert.equal(await horizontalOverflow(page), 0, 'the filled page scrolls sideways');
  await screenshot(page, 'phone-page');

  // The trends: charts as wide as the screen allows; their table scrolls within its own box.
  await page.waitForSelector('#trends-changes canvas', { timeout: SHORT });
  for (const chart of ['#trends-open .uplot', '#trends-changes .uplot']) {
    const box = await page.locator(chart).boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= WIDTH, `${chart} does not fit: ${JSON.stringify(box)}`);
  }
  await page.click('#trends-toggle');
  assert.equal(await horizontalOverflow(page), 0, 'the trends table scrolls the page sideways');
  await page.locator('#trends').scrollIntoViewIfNeeded();
  await screenshot(page, 'phone-trends');
  assert.deepEqual(errors, []);
});

test('375 px wide, the tables are cards and nothing is cut', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server, { viewport: { width: WIDTH, height: 740 } });
  // Counts of six digits, as a large estate has.
  await page.route('**/api/stats', async (route) => {
    const stats = await (await route.fetch()).json();
    stats.openBySeverity = { critical: 123_456, high: 654_321, medium: 999_999, low: 100_000, info: 888_888 };
    await route.fulfill({ json: stats });
  });

  await page.setInputFiles('#import-file', join(SAMPLES, 'test-import.csv'));
  await page.click('#import-form button[type=submit]');
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  await waitForClose(page);
  await page.click('#progress-modal [data-action=close]');
  await page.waitForSelector('#progress-modal', { state: 'hidden', timeout: SHORT });
  await page.waitForFunction(
    () => document.querySelectorAll('#findings-table tbody tr').length === 20
      && document.querySelector('#overview [data-count=medium]').textContent === '999,999'
      && document.querySelector('#history-table tbody [data-outcome]'),
    null,
    { timeout: SHORT },
  );
  assert.equal(await horizontalOverflow(page), 0, 'the page with data scrolls sideways');
  assert.deepEqual(await clipped(page, '#overview .severity-count, #overview .count, #overview .name'), [], 'severity counts cut');

  // Each row a card: its cells one under the other, each headed by its column's name.
  const card = await page.evaluate(() => {
    const row = document.querySelector('#findings-table tbody tr');
    const cells = [...row.cells].filter((cell) => cell.getBoundingClientRect().height > 0);
    return {
      labels: cells.map((cell) => getComputedStyle(cell, '::before').content),
      stacked: cells.every((cell, index) => index === 0 || cell.getBoundingClientRect().top >= cells[index - 1].getBoundingClientRect().bottom - 1),
    };
  });
  assert.deepEqual(card, { labels: ['"Severity"', '"Host"', '"CVE"', '"Title"', '"State"'], stacked: true });
  assert.deepEqual(await clipped(page, '#findings-table td, #findings-table td *'), [], 'findings cut');
  // The sort buttons stay, above the cards.
  assert.ok(await page.isVisible('#findings-table th[data-sort=host] button'), 'no sorting on a phone');
  await screenshot(page, 'phone-findings');

  await page.locator('#history').scrollIntoViewIfNeeded();
  assert.deepEqual(await clipped(page, '#history-table td, #history-table td *'), [], 'history cut');
  const history = await page.evaluate(() => [...document.querySelector('#history-table tbody tr').cells]
    .filter((cell) => cell.getBoundingClientRect().height > 0)
    .map((cell) => cell.dataset.label ?? null));
  assert.deepEqual(history, ['Started', 'File', 'Outcome', 'Changes', 'Rejected', 'Duration', null]);
  assert.equal(await horizontalOverflow(page), 0, 'the page scrolls sideways at the history');
  await screenshot(page, 'phone-history');

  // An import's detail, from its card.
  await page.click('#history-table tbody tr:first-child button[aria-label^="Details of"]');
  await page.waitForSelector('#import-detail.show', { timeout: SHORT });
  await page.waitForSelector('#import-detail [data-findings=added] tbody tr', { timeout: SHORT });
  assert.equal(await horizontalOverflow(page), 0, 'the page scrolls sideways under the detail');
  assert.deepEqual(await clipped(page, '#import-detail .detail-facts *, #import-detail .summary-counts *'), [], 'detail cut');
  assert.deepEqual(errors, []);
});
