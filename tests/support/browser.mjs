// Headless Debian Chromium driven by playwright-core, for the browser tests: signing in to the UI
// of a test server, importing through its form, following the progress modal, watching for
// console errors and content-security-policy violations, screenshots.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { request, SAMPLES } from './server.mjs';

/** Screenshots land here (git-ignored). */
export const ARTIFACTS = new URL('../browser/artifacts/', import.meta.url).pathname;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Generous bounds for waits: they end as soon as the awaited state is there. */
export const SHORT = 10_000;
export const LONG = 60_000;

export function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser tests need Chromium at ${CHROMIUM}: \`apt-get install chromium\` (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * Opens the UI of `server` in a fresh browser context, signed in through the sign-in page as
 * `user` (`{ name, password }`, the server's admin unless told otherwise), and waits until its
 * tables have loaded. Options: `viewport`, `blockSocket` (every `/socket.io/` request fails),
 * `bypassCSP` (the pages' content-security policy is not applied: a test may inject scripts).
 * Uncaught page errors are collected in `errors`; console errors and CSP violations in `problems`
 * (see `watchProblems`).
 */
export async function openUi(browser, server, {
  viewport = { width: 1280, height: 900 }, blockSocket = false, user = server.admin, bypassCSP = false,
} = {}) {
  const context = await browser.newContext({ viewport, bypassCSP });
  if (blockSocket) {
    await context.route('**/socket.io/**', (route) => route.abort('connectionrefused'));
  }
  const problems = await watchProblems(context);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error));
  await page.goto(new URL('/signin?next=/', server.url).href);
  await signIn(page, user);
  await waitForTables(page);
  return { context, page, errors, problems };
}

/** Fills in and submits the sign-in page, then waits until the browser has left it. */
export async function signIn(page, { name, password }) {
  await page.fill('#username', name);
  await page.fill('#password', password);
  await page.click('#signin-form button[type=submit]');
  await page.waitForURL((url) => url.pathname !== '/signin', { timeout: SHORT });
}

/** Waits until the main page's tables have loaded. */
export async function waitForTables(page) {
  await page.waitForFunction(
    () => document.querySelector('#findings-table tbody tr') && document.querySelector('#history-table tbody tr'),
    null,
    { timeout: SHORT },
  );
}

/**
 * The problems collected by `watchProblems` less the expected answers: Chromium logs every 4xx
 * answer to the console, such as the 401 to `GET /api/session` that sends a page opened signed
 * out to the sign-in page. `expected`: answers as "401 /api/session".
 */
export function unexpectedProblems(problems, expected = []) {
  return problems.filter((problem) => {
    const status = problem.text.match(/^Failed to load resource: the server responded with a status of (\d+)/)?.[1];
    return !(status && expected.includes(`${status} ${new URL(problem.url).pathname}`));
  });
}

/** Chooses `action` (`change-password`, `administration`, `sign-out`) in the header's account menu. */
export async function accountMenu(page, action) {
  await page.click('#account-menu');
  await page.click(`#account [data-action=${action}]`);
}

/**
 * Collects, from every page of `context` from now on, console errors and content-security-policy
 * violations (reported by a listener each document gets before its own scripts run). Returns the
 * array it fills: `{ type, text, url }`.
 */
export async function watchProblems(context) {
  const problems = [];
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || 'inline code'} (${event.sourceFile}:${event.lineNumber})`);
    });
  });
  context.on('console', (message) => {
    if (message.type() === 'error') {
      problems.push({ type: message.type(), text: message.text(), url: message.location().url });
    }
  });
  return problems;
}

/** Chooses `file` in the import form, submits it, and returns once the progress modal is open. */
export async function startImport(page, file) {
  await page.setInputFiles('#import-file', file);
  await page.click('#import-form button[type=submit]');
  await page.waitForSelector('#progress-modal.show', { timeout: SHORT });
}

/**
 * Records every distinct (percentage, phase, state) the modal shows from now on into `window.progressLog`,
 * through a MutationObserver, so that no short-lived state is missed between two polls of the test.
 */
export async function recordProgress(page) {
  await page.evaluate(() => {
    const modal = document.getElementById('progress-modal');
    const bar = modal.querySelector('[data-part=bar]');
    const phase = modal.querySelector('[data-part=phase]');
    window.progressLog = [];
    const record = () => {
      const entry = { percent: Number(bar.getAttribute('aria-valuenow')), phase: phase.textContent, state: modal.dataset.state };
      const last = window.progressLog.at(-1);
      if (!last || last.percent !== entry.percent || last.phase !== entry.phase || last.state !== entry.state) {
        window.progressLog.push(entry);
      }
    };
    new MutationObserver(record).observe(modal, { attributes: true, childList: true, subtree: true, characterData: true });
  });
}

/**
 * Records every text the modal's part `part` (`eta`, `announce`…) shows from now on, each once in
 * a row and empty ones left out; `textLog(page, part)` returns them.
 */
export async function recordTexts(page, part) {
  await page.evaluate((name) => {
    const node = document.querySelector(`#progress-modal [data-part=${name}]`);
    window.textLogs = { ...window.textLogs, [name]: [] };
    const log = window.textLogs[name];
    new MutationObserver(() => {
      if (node.textContent !== '' && node.textContent !== log.at(-1)) {
        log.push(node.textContent);
      }
    }).observe(node, { childList: true, characterData: true, subtree: true });
  }, part);
}

export function textLog(page, part) {
  return page.evaluate((name) => window.textLogs[name], part);
}

export function progressLog(page) {
  return page.evaluate(() => window.progressLog);
}

/** Waits until the modal is in one of `states` (its `data-state`); returns that state. */
export async function waitForModal(page, states, timeout = LONG) {
  const handle = await page.waitForFunction(
    (wanted) => {
      const state = document.getElementById('progress-modal').dataset.state;
      return wanted.includes(state) && state;
    },
    states,
    { timeout },
  );
  return handle.jsonValue();
}

/** The modal's visible texts. */
export function modalTexts(page) {
  return page.evaluate(() => {
    const modal = document.getElementById('progress-modal');
    const text = (part) => modal.querySelector(`[data-part=${part}]`).textContent.trim();
    const alert = modal.querySelector('[data-part=alert]');
    const counts = {};
    for (const field of modal.querySelectorAll('[data-part=summary] [data-count]')) {
      counts[field.dataset.count] = field.textContent.trim();
    }
    return {
      state: modal.dataset.state,
      phase: text('phase'),
      percent: text('percent'),
      message: text('message'),
      alert: alert.hidden ? null : alert.textContent.trim(),
      counts,
    };
  });
}

/** Waits until the finished modal has faded in and put the focus on its Close button. */
export async function waitForClose(page) {
  await page.waitForFunction(
    () => document.activeElement?.dataset.action === 'close' && document.querySelector('#progress-modal.show'),
    null,
    { timeout: SHORT },
  );
}

/** Closes the finished modal with its Close button. */
export async function closeModal(page) {
  await page.click('#progress-modal [data-action=close]');
  await page.waitForSelector('#progress-modal', { state: 'hidden', timeout: SHORT });
}

/** What the page shows of the data: the severity counts, the state counts, the table's rows. */
export function pageData(page) {
  return page.evaluate(() => ({
    severities: [...document.querySelectorAll('#overview [data-count]')].map((count) => count.textContent),
    states: document.getElementById('state-counts').textContent,
    rows: [...document.querySelectorAll('#findings-table tbody tr')].map((row) => row.textContent),
    range: document.querySelector('[data-pager=findings] [data-part=range]').textContent,
  }));
}

/** The first history row's outcome (`completed`…), once the history shows `count` imports. */
export async function waitForHistory(page, count, timeout = SHORT) {
  const handle = await page.waitForFunction(
    (wanted) => {
      const rows = [...document.querySelectorAll('#history-table tbody tr')].filter((row) => row.querySelector('[data-outcome]'));
      return rows.length === wanted && rows[0].querySelector('[data-outcome]').dataset.outcome;
    },
    count,
    { timeout },
  );
  return handle.jsonValue();
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = `${ARTIFACTS}${name}.png`;
  await page.screenshot({ path });
  return path;
}

/** Fetches a JSON API path of the server outside the browser, with the admin's token. */
export async function getJson(server, path) {
  const { status, body } = await request(server.url, path);
  if (status !== 200) {
    throw new Error(`GET ${path} answered ${status}: ${JSON.stringify(body)}`);
  }
  return body;
}

/**
 * Imports the 20-row sample through the UI, closes the summary and returns what the page and the
 * API show afterwards: the state a test compares against after changing nothing.
 */
export async function importSampleAndSnapshot(page, server) {
  await startImport(page, join(SAMPLES, 'test-import.csv'));
  if (await waitForModal(page, ['completed', 'failed']) !== 'completed') {
    throw new Error('the sample import did not complete');
  }
  await closeModal(page);
  await page.waitForFunction(() => document.querySelectorAll('#findings-table tbody tr').length === 20, null, { timeout: SHORT });
  return { before: await pageData(page), statsBefore: await getJson(server, '/api/stats') };
}
