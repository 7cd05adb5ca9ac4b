// Findings at scale: every page of a long list is reachable (Last, First, a page number typed and
// entered or left, clamped when out of range), each showing the rows the API has there, with the
// buttons disabled at the ends, by keyboard and on a phone; a page gone past the last shows the
// last. The search asks the server within 150 ms of the last keystroke, aborting the request it
// replaces, and a page slow to come says "Loading…" (not at once: quick pages do not flicker).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  closeModal, getJson, launchBrowser, openUi, screenshot, startImport, waitForModal, SHORT,
} from '../support/browser.mjs';
import { generateExport, startServer } from '../support/server.mjs';

const PER_PAGE = 25;
const count = (value) => value.toLocaleString('en');

/** What a pager shows: its range, its page field and page count, which buttons are disabled. */
function pagerState(page, name = 'findings') {
  return page.evaluate((which) => {
    const root = document.querySelector(`[data-pager=${which}]`);
    const number = root.querySelector('[data-part=number]');
    return {
      range: root.querySelector('[data-part=range]').textContent,
      number: number.value,
      max: number.max,
      pages: root.querySelector('[data-part=pages]').textContent,
      disabled: [...root.querySelectorAll('[data-page]')].filter((button) => button.disabled).map((button) => button.dataset.page),
    };
  }, name);
}

/** Waits until the findings table shows the range `range` and is no longer loading. */
async function waitForRange(page, range) {
  await page.waitForFunction(
    (wanted) => document.querySelector('[data-pager=findings] [data-part=range]').textContent === wanted
      && !document.getElementById('findings-table').hasAttribute('aria-busy'),
    range,
    { timeout: SHORT },
  );
}

/**
 * Waits until the findings pager's status says `text` ("Loading…", with the table busy) or
 * nothing (the table no longer busy).
 */
async function waitForLoading(page, text) {
  await page.waitForFunction((wanted) => {
    const status = document.querySelector('[data-pager=findings] [data-part=loading]');
    const busy = document.getElementById('findings-table').getAttribute('aria-busy') === 'true';
    return status.getAttribute('role') === 'status' && status.textContent.trim() === wanted && busy === (wanted !== '');
  }, text, { timeout: SHORT });
}

/** The range a page of `total` findings shows. */
function rangeOf(number, total) {
  return `${count((number - 1) * PER_PAGE + 1)}–${count(Math.min(number * PER_PAGE, total))} of ${count(total)} findings`;
}

/** The table's rows as [CVE, title], to compare with the API's items. */
function tableRows(page) {
  return page.$$eval('#findings-table tbody tr', (rows) => rows.map((row) => [
    row.querySelector('[data-label=CVE]').textContent,
    row.querySelector('[data-label=Title]').textContent,
  ]));
}

/** The API's page `number` (the table's default order), as `tableRows` shows it. */
async function apiRows(server, number) {
  const { items } = await getJson(server, `/api/vulnerabilities?page=${number}&perPage=${PER_PAGE}`);
  return items.map((item) => [item.cve || `Plugin ${item.pluginId}`, item.title]);
}

/** A server with a few thousand findings imported through the page, which is returned open. */
async function openWithFindings(t) {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const ui = await openUi(browser, server);
  await startImport(ui.page, generateExport(server.dir, 3_000));
  assert.equal(await waitForModal(ui.page, ['completed', 'failed', 'cancelled']), 'completed');
  await closeModal(ui.page);
  // The focus goes back to the import button once the backdrop has faded: not in the middle of
  // the test's typing.
  await ui.page.waitForFunction(() => document.activeElement?.matches('#import-form button[type=submit]'), null, { timeout: SHORT });
  const { total } = await getJson(server, '/api/vulnerabilities?perPage=1');
  await waitForRange(ui.page, rangeOf(1, total));
  return { server, total, ...ui };
}

test('every page is reachable: Last, First, a page number typed, clamped when out of range', async (t) => {
  const { server, total, page, errors, problems } = await openWithFindings(t);
  const pages = Math.ceil(total / PER_PAGE);
  assert.ok(pages > 20, `only ${pages} pages`);
  assert.deepEqual(await pagerState(page), {
    range: rangeOf(1, total), number: '1', max: String(pages), pages: count(pages), disabled: ['first', 'previous'],
  });
  // The history's pager: one page of one import, every button disabled.
  assert.deepEqual(await pagerState(page, 'history'), {
    range: '1–1 of 1 imports', number: '1', max: '1', pages: '1', disabled: ['first', 'previous', 'next', 'last'],
  });

  await page.click('[data-pager=findings] [data-page=last]');
  await waitForRange(page, rangeOf(pages, total));
  assert.deepEqual(await pagerState(page), {
    range: rangeOf(pages, total), number: String(pages), max: String(pages), pages: count(pages), disabled: ['next', 'last'],
  });
  assert.deepEqual(await tableRows(page), await apiRows(server, pages));

  // A page number typed, then Enter.
  const number = '[data-pager=findings] [data-part=number]';
  const requested = page.waitForRequest((request) => request.url().includes('/api/vulnerabilities?'));
  await page.fill(number, '7');
  await page.press(number, 'Enter');
  assert.equal(new URL((await requested).url()).searchParams.get('page'), '7');
  await waitForRange(page, rangeOf(7, total));
  assert.equal((await pagerState(page)).number, '7');
  const rows = await tableRows(page);
  assert.equal(rows.length, PER_PAGE);
  assert.deepEqual(rows, await apiRows(server, 7));

  await page.click('[data-pager=findings] [data-page=first]');
  await waitForRange(page, rangeOf(1, total));
  assert.deepEqual((await pagerState(page)).disabled, ['first', 'previous']);
  assert.deepEqual(await tableRows(page), await apiRows(server, 1));

  // Out of range: clamped, and the field shows the page shown. Left with Tab as well as Enter.
  await page.fill(number, '999999');
  await page.press(number, 'Enter');
  await waitForRange(page, rangeOf(pages, total));
  assert.equal((await pagerState(page)).number, String(pages));
  await page.fill(number, '0');
  await page.press(number, 'Tab');
  await waitForRange(page, rangeOf(1, total));
  assert.equal((await pagerState(page)).number, '1');
  // Not a number: the field goes back to the page shown.
  await page.fill(number, '');
  await page.press(number, 'Enter');
  assert.equal((await pagerState(page)).number, '1');

  // By keyboard: Next, then Last, whose button is then disabled and hands the focus to the field.
  await page.focus('[data-pager=findings] [data-page=next]');
  await page.keyboard.press('Enter');
  await waitForRange(page, rangeOf(2, total));
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await waitForRange(page, rangeOf(pages, total));
  assert.equal(await page.evaluate(() => document.activeElement.dataset.part), 'number');
  assert.equal(await page.getAttribute('[data-pager=findings] [data-page=last]', 'aria-label'), 'Last page');

  // A page that has meanwhile gone past the last (its findings left the list): the last page is
  // shown instead. Here the answer for the last page is made to say there are only 100 findings.
  await page.click('[data-pager=findings] [data-page=previous]');
  await waitForRange(page, rangeOf(pages - 1, total));
  await page.route('**/api/vulnerabilities?*', async (route) => {
    const answer = await (await route.fetch()).json();
    await route.fulfill({ json: answer.page === pages ? { ...answer, items: [], total: 100 } : answer });
  });
  await page.click('[data-pager=findings] [data-page=next]');
  await waitForRange(page, rangeOf(4, total));
  assert.equal((await pagerState(page)).number, '4');
  await page.unroute('**/api/vulnerabilities?*');

  // On a phone the pager fits: no sideways scrolling, every control on the screen.
  await page.setViewportSize({ width: 375, height: 740 });
  await page.locator('[data-pager=findings]').scrollIntoViewIfNeeded();
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth), 0, 'the page scrolls sideways');
  const outside = await page.$$eval('[data-pager] button, [data-pager] input, [data-pager] [data-part]', (nodes) => nodes
    .map((node) => ({ node: node.dataset.page ?? node.dataset.part, box: node.getBoundingClientRect() }))
    .filter(({ box }) => box.width > 0 && (box.left < 0 || box.right > window.innerWidth))
    .map(({ node }) => node));
  assert.deepEqual(outside, [], 'pager controls off the screen');
  await screenshot(page, 'phone-pager');
  assert.deepEqual(errors, []);
  assert.deepEqual(problems, []);
});

test('the search asks within 150 ms of the last keystroke; a slow page says "Loading…"', async (t) => {
  const { server, page, errors, problems } = await openWithFindings(t);
  await page.evaluate(() => {
    window.lastKeystroke = 0;
    document.getElementById('findings-search').addEventListener('input', () => {
      window.lastKeystroke = performance.timeOrigin + performance.now();
    });
  });
  const searches = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/vulnerabilities?')) {
      searches.push(new URL(request.url()).searchParams.get('q'));
    }
  });
  const requested = page.waitForRequest((request) => new URL(request.url()).searchParams.get('q') === 'CVE-20');
  // Keystrokes closer together than the delay: one request, for the whole word.
  await page.type('#findings-search', 'CVE-20', { delay: 30 });
  const request = await requested;
  await request.response();
  const after = request.timing().startTime - await page.evaluate(() => window.lastKeystroke);
  assert.ok(after >= 0 && after < 150, `the request started ${after} ms after the last keystroke`);
  assert.deepEqual(searches, ['CVE-20']);

  // Slow answers: a search that a newer one replaces is aborted; the pager says "Loading…" until
  // the newest answer is drawn.
  await page.route('**/api/vulnerabilities?*', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await route.continue().catch(() => {});
  });
  const first = page.waitForRequest((sent) => new URL(sent.url()).searchParams.get('q') === 'CVE-201');
  const aborted = page.waitForEvent('requestfailed', { timeout: SHORT });
  await page.type('#findings-search', '1');
  await first;
  await page.type('#findings-search', '9');
  await waitForLoading(page, 'Loading…');
  const replaced = await aborted;
  assert.deepEqual(
    [new URL(replaced.url()).searchParams.get('q'), replaced.failure().errorText],
    ['CVE-201', 'net::ERR_ABORTED'],
  );
  await waitForLoading(page, '');

  // "Loading…" comes only after a moment (a filter asks at once, without the search's delay).
  await page.evaluate(() => {
    const status = document.querySelector('[data-pager=findings] [data-part=loading]');
    document.getElementById('findings-severity').addEventListener('change', () => {
      window.asked = performance.now();
    });
    new MutationObserver(() => {
      window.shown ??= performance.now();
    }).observe(status, { childList: true, subtree: true, characterData: true });
  });
  await page.selectOption('#findings-severity', 'high');
  await waitForLoading(page, 'Loading…');
  const delay = await page.evaluate(() => window.shown - window.asked);
  assert.ok(delay >= 195, `"Loading…" shown ${delay} ms after the request, too soon`);
  await waitForLoading(page, '');
  const { total } = await getJson(server, '/api/vulnerabilities?perPage=1&q=CVE-2019&severity=high');
  assert.ok(total > 0);
  assert.equal((await pagerState(page)).range, rangeOf(1, total));
  assert.deepEqual(errors, []);
  assert.deepEqual(problems, []);
});
