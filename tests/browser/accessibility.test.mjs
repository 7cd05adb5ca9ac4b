// Accessibility: axe-core's checks on every page in the states people meet: the main page with
// findings, history and trends (charts, and as a table), the progress modal while an import runs
// and once it has ended, the sign-in page and the administration; a failed import's modal and
// history, with their Retry. No violation of serious or critical impact. (axe is
// injected into the page, so these contexts do not apply the pages' content-security policy.)
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  closeModal, launchBrowser, openUi, startImport, waitForModal, LONG, SHORT,
} from '../support/browser.mjs';
import { generateExport, SAMPLES, startServer, writeFile } from '../support/server.mjs';

const AXE = new URL('../../node_modules/axe-core/axe.min.js', import.meta.url).pathname;

/**
 * The serious and critical violations axe finds on the page as it is, each with its elements, once
 * no table is dimmed while it fetches rows and no colour or fade is half-way through a transition
 * (axe would read the colours mid-way).
 */
async function violations(page) {
  if (!(await page.evaluate(() => 'axe' in window))) {
    await page.addScriptTag({ path: AXE });
  }
  await page.waitForFunction(
    () => !document.querySelector('[aria-busy=true]')
      && document.getAnimations().every((animation) => !(animation instanceof CSSTransition)),
    null,
    { timeout: SHORT },
  );
  return page.evaluate(async () => {
    const { violations: found } = await window.axe.run(document, { resultTypes: ['violations'] });
    return found
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => ({
        rule: violation.id,
        impact: violation.impact,
        help: violation.help,
        nodes: violation.nodes.map((node) => `${node.target.join(' ')}: ${node.failureSummary}`),
      }));
  });
}

test('the main page and the progress modal pass axe', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server, { bypassCSP: true });

  await startImport(page, join(SAMPLES, 'test-import.csv'));
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  await page.waitForSelector('#progress-modal.show [data-action=close]', { timeout: SHORT });
  assert.deepEqual(await violations(page), [], 'the ended modal');
  await closeModal(page);
  await page.waitForFunction(
    () => document.querySelectorAll('#findings-table tbody tr').length === 20
      && document.querySelector('#history-table tbody [data-outcome]')
      && document.querySelector('#trends-open canvas') && document.querySelector('#trends-changes canvas'),
    null,
    { timeout: SHORT },
  );
  assert.deepEqual(await violations(page), [], 'the page with findings, history and trends');
  await page.click('#trends-toggle');
  // Away from the button: its hover colours are not what is checked.
  await page.mouse.move(0, 0);
  assert.deepEqual(await violations(page), [], 'the trends shown as a table');

  await startImport(page, generateExport(server.dir, 60_000));
  await page.waitForFunction(
    () => Number(document.querySelector('#progress-modal [data-part=bar]').getAttribute('aria-valuenow')) >= 10,
    null,
    { timeout: LONG },
  );
  assert.deepEqual(await violations(page), [], 'the modal of a running import');
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  assert.deepEqual(errors, []);
});

test('a failed import\'s modal and the history, with their Retry, pass axe', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await openUi(browser, server, { bypassCSP: true });

  await startImport(page, writeFile(server.dir, 'sizes.csv', 'colour,size\nred,large\n'));
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'failed');
  await page.waitForSelector('#progress-modal.show [data-action=retry]', { state: 'visible', timeout: SHORT });
  assert.deepEqual(await violations(page), [], 'the modal of a failed import');
  await closeModal(page);
  await page.waitForSelector('#history-table [data-action=retry]', { timeout: SHORT });
  assert.deepEqual(await violations(page), [], 'the history with a Retry');
  assert.deepEqual(errors, []);
});

test('the sign-in and administration pages pass axe', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  const signInPage = await context.newPage();
  await signInPage.goto(new URL('/signin', server.url).href);
  await signInPage.waitForSelector('#signin-form', { timeout: SHORT });
  assert.deepEqual(await violations(signInPage), [], 'the sign-in page');

  const { page, errors } = await openUi(browser, server, { bypassCSP: true });
  await page.goto(new URL('/admin', server.url).href);
  await page.waitForSelector('#users-table tr[data-user=admin]', { timeout: SHORT });
  await page.waitForSelector('#tokens-table tbody tr', { timeout: SHORT });
  assert.deepEqual(await violations(page), [], 'the administration page');
  assert.deepEqual(errors, []);
});
