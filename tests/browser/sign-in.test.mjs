// Signing in: the first start's setup link creates the admin, who lands signed in; signing out
// sends every page to the sign-in page; signing in again leads back; an import runs as the
// signed-in account and the history names it. No console error and no content-security-policy
// violation on the way. Wrong passwords: refused, then throttled with the wait shown. A session
// ended in another tab: the open page's socket is told, and the page asks to sign in.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  accountMenu, closeModal, launchBrowser, openUi, screenshot, signIn, startImport, unexpectedProblems, waitForHistory,
  waitForModal, waitForTables, watchProblems, SHORT,
} from '../support/browser.mjs';
import { SAMPLES, startServer } from '../support/server.mjs';

const ALICE = { name: 'alice', password: 'correct horse battery staple' };

/** The path and query of the page's address. */
function where(page) {
  const url = new URL(page.url());
  return `${url.pathname}${url.search}`;
}

test('the setup link creates the admin; signing out and in, importing, signing out', async (t) => {
  const server = await startServer({ accounts: false });
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const problems = await watchProblems(context);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error));

  // The link the server printed opens the setup page.
  assert.match(server.setupLink, /\/setup#\S+$/);
  await page.goto(server.setupLink);
  assert.equal(new URL(page.url()).pathname, '/setup');
  await page.fill('#admin-name', ALICE.name);
  await page.fill('#admin-password', ALICE.password);
  await page.fill('#admin-confirmation', 'something else entirely');
  await page.click('#setup-form button[type=submit]');
  assert.match(await page.textContent('#setup-message'), /differ/);
  assert.equal(await page.getAttribute('#admin-confirmation', 'aria-invalid'), 'true');
  await page.fill('#admin-confirmation', ALICE.password);
  await screenshot(page, 'setup');
  await page.click('#setup-form button[type=submit]');

  // Signed in as the new admin.
  await page.waitForURL((url) => url.pathname === '/', { timeout: SHORT });
  await waitForTables(page);
  assert.equal(await page.textContent('#account [data-part=name]'), ALICE.name);
  assert.equal(await page.textContent('#account [data-part=role]'), 'Admin');
  assert.equal(await page.isVisible('#import-form'), true);

  // The link works once.
  const again = await context.newPage();
  await again.goto(server.setupLink);
  await again.fill('#admin-name', 'mallory');
  await again.fill('#admin-password', 'another long password');
  await again.fill('#admin-confirmation', 'another long password');
  await again.click('#setup-form button[type=submit]');
  await again.waitForSelector('#setup-message .alert', { timeout: SHORT });
  const refusal = await again.textContent('#setup-message');
  assert.match(refusal, /not valid/);
  assert.match(refusal, /vulnimport user add NAME --role admin/);
  assert.equal(await again.isDisabled('#setup-form button[type=submit]'), true);
  await again.close();

  // The administration, from the account menu, lists the new admin.
  await accountMenu(page, 'administration');
  await page.waitForURL((url) => url.pathname === '/admin', { timeout: SHORT });
  await page.waitForSelector('#users-table tr[data-user=alice]', { timeout: SHORT });
  await page.click('a.navbar-brand');
  await page.waitForURL((url) => url.pathname === '/', { timeout: SHORT });
  await waitForTables(page);

  // Signing out shows the sign-in page; the main page then asks to sign in again.
  await accountMenu(page, 'sign-out');
  await page.waitForURL((url) => url.pathname === '/signin', { timeout: SHORT });
  assert.equal(await page.textContent('h1'), 'Sign in');
  await page.goto(server.url);
  await page.waitForURL((url) => url.pathname === '/signin', { timeout: SHORT });
  assert.equal(where(page), '/signin?next=/');
  await screenshot(page, 'sign-in');

  // Signing in leads back to the main page, where an import runs as alice.
  await signIn(page, ALICE);
  assert.equal(where(page), '/');
  await waitForTables(page);
  await startImport(page, join(SAMPLES, 'test-import.csv'));
  assert.equal(await waitForModal(page, ['completed', 'failed', 'cancelled']), 'completed');
  await closeModal(page);
  assert.equal(await waitForHistory(page, 1), 'completed');
  assert.equal(await page.textContent('#history-table [data-part=startedBy]'), 'by alice');
  await page.click('#history-table button:has-text("Details")');
  await page.waitForSelector('#import-detail.show', { timeout: SHORT });
  assert.match(await page.textContent('#import-detail [data-part=facts]'), /by alice/);
  await page.click('#import-detail .btn-close');
  await page.waitForSelector('#import-detail', { state: 'hidden', timeout: SHORT });

  // A new password, from the account menu: the current one is checked first.
  const newPassword = 'alice changed her password';
  await accountMenu(page, 'change-password');
  await page.waitForSelector('#password-modal.show', { timeout: SHORT });
  const [current, next, confirmation] = await page.locator('#password-modal input[type=password]').all();
  await current.fill('not her password');
  await next.fill(newPassword);
  await confirmation.fill(newPassword);
  await page.click('#password-modal button[type=submit]');
  await page.waitForSelector('#password-modal .alert', { timeout: SHORT });
  assert.equal(await page.textContent('#password-modal .alert'), 'The current password is not right.');
  assert.equal(await current.getAttribute('aria-invalid'), 'true');
  await current.fill(ALICE.password);
  await page.click('#password-modal button[type=submit]');
  await page.waitForSelector('#password-modal', { state: 'hidden', timeout: SHORT });
  assert.match(await page.textContent('.notice'), /password was changed/);

  // Signed out again, the main page is out of reach; the new password lets her in.
  await accountMenu(page, 'sign-out');
  await page.waitForURL((url) => url.pathname === '/signin', { timeout: SHORT });
  await page.goto(server.url);
  await page.waitForURL((url) => url.pathname === '/signin', { timeout: SHORT });
  assert.equal(where(page), '/signin?next=/');
  await signIn(page, { name: ALICE.name, password: newPassword });
  await waitForTables(page);

  // Expected: the pages opened signed out, the used link and the wrong current password.
  assert.deepEqual(unexpectedProblems(problems, ['401 /api/session', '403 /api/setup', '403 /api/session/password']), []);
  assert.deepEqual(errors, []);
});

test('wrong passwords are refused, then throttled with the wait shown', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const context = await browser.newContext();
  const problems = await watchProblems(context);
  const page = await context.newPage();
  await page.goto(new URL('/signin', server.url).href);

  // Nothing typed: said at once, nothing sent.
  await page.click('#signin-form button[type=submit]');
  assert.equal(await page.textContent('#signin-message'), 'Give your user name.');
  assert.equal(await page.getAttribute('#username', 'aria-invalid'), 'true');

  // Wrong passwords, until the server asks for a wait (after five).
  let refusal;
  for (let attempt = 1; attempt <= 8; attempt += 1) {
    await page.fill('#username', server.admin.name);
    await page.fill('#password', `wrong password ${attempt}`);
    await page.click('#signin-form button[type=submit]');
    refusal = await page.waitForFunction(
      (previous) => {
        const text = document.getElementById('signin-message').textContent;
        return text && text !== previous && !document.querySelector('#signin-form .spinner-border') && text;
      },
      refusal,
      { timeout: SHORT },
    ).then((handle) => handle.jsonValue());
    if (/too many/i.test(refusal)) {
      assert.ok(attempt > 5, `throttled after ${attempt - 1} failures`);
      break;
    }
    assert.equal(refusal, 'Unknown user or wrong password.');
    assert.equal(await page.getAttribute('#password', 'aria-invalid'), 'true');
    // The same text twice would not be told apart: clear it between attempts.
    await page.evaluate(() => document.getElementById('signin-message').replaceChildren());
    refusal = '';
  }
  assert.match(refusal, /^Too many failed sign-ins; try again in \d+ s\.$/);
  assert.equal(await page.isDisabled('#signin-form button[type=submit]'), true);
  assert.match(await page.textContent('#signin-form button[type=submit]'), /wait \d+ s/);
  await screenshot(page, 'sign-in-throttled');

  // Once the wait is over the right password is let in.
  await page.waitForFunction(() => !document.querySelector('#signin-form button[type=submit]').disabled, null, { timeout: SHORT * 2 });
  assert.equal(await page.textContent('#signin-form button[type=submit]'), 'Sign in');
  await signIn(page, server.admin);
  assert.equal(where(page), '/');
  await waitForTables(page);
  assert.deepEqual(unexpectedProblems(problems, ['401 /api/session', '429 /api/session']), []);
});

test('a session ended elsewhere sends the open page to sign in, through its socket', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { context, page, errors, problems } = await openUi(browser, server);
  await page.waitForFunction(() => window.WebSocketClient.connectionState === 'connected', null, { timeout: SHORT });

  // Another tab of the same browser signs out: the idle page's socket is told, and the page asks
  // to sign in again, to come back to where it was.
  const other = await context.newPage();
  await other.goto(server.url);
  await waitForTables(other);
  await accountMenu(other, 'sign-out');
  await other.waitForURL((url) => url.pathname === '/signin', { timeout: SHORT });
  await page.waitForURL((url) => url.pathname === '/signin', { timeout: SHORT });
  assert.equal(where(page), '/signin?next=/');
  assert.deepEqual(unexpectedProblems(problems), []);
  assert.deepEqual(errors, []);
});
