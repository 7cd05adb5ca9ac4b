// Scenario 5: the page on a phone, 375 px wide: no horizontal scrolling, and an import can be
// started, followed and closed with the keyboard in a modal that fits the screen.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  launchBrowser, openUi, screenshot, waitForClose, waitForModal, SHORT,
} from '../support/browser.mjs';
import { SAMPLES, startServer } from '../support/server.mjs';

const WIDTH = 375;

function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
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
  await screenshot(page, 'phone-summary');

  await page.keyboard.press('Enter');
  await page.waitForSelector('#progress-modal', { state: 'hidden', timeout: SHORT });
  await page.waitForFunction(() => document.querySelectorAll('#findings-table tbody tr').length === 20, null, { timeout: SHORT });
  assert.equal(await horizontalOverflow(page), 0, 'the filled page scrolls sideways');
  await screenshot(page, 'phone-page');
  assert.deepEqual(errors, []);
});
