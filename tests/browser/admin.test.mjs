// The administration page: an admin adds a viewer, changes and restores a role, sets a password,
// creates an API token (its secret shown once, and working), and revokes it. The viewer then signs
// in: no import form, no Administration in the menu, and the page itself refused. Signed out, the
// page sends the reader to sign in and back. No console error or CSP violation on the way.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  accountMenu, launchBrowser, openUi, screenshot, signIn, unexpectedProblems, watchProblems, SHORT,
} from '../support/browser.mjs';
import { request, startServer } from '../support/server.mjs';

const VERA = { name: 'vera', password: 'vera reads but never imports' };

/** The API's view of one account, with the admin's token. */
async function account(server, name) {
  const { body } = await request(server.url, '/api/users');
  return body.find((user) => user.name === name);
}

/** Waits for a success or error message in the live region `selector`; returns its text. */
async function message(page, selector) {
  const alert = await page.waitForSelector(`${selector} .alert`, { timeout: SHORT });
  return (await alert.textContent()).trim();
}

test('an admin manages users and tokens; a viewer can neither import nor administer', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors, problems } = await openUi(browser, server);

  await accountMenu(page, 'administration');
  await page.waitForURL((url) => url.pathname === '/admin', { timeout: SHORT });
  await page.waitForSelector('#users-table tr[data-user=admin]', { timeout: SHORT });
  // The admin's own account cannot be demoted, disabled or removed from here.
  const own = page.locator('#users-table tr[data-user=admin]');
  assert.equal(await own.locator('select').isDisabled(), true);
  assert.equal(await own.locator('[role=switch]').isDisabled(), true);
  assert.equal(await own.locator('[data-action=remove]').isDisabled(), true);

  // Adding a viewer; a short password is refused first.
  await page.fill('#new-user-name', VERA.name);
  await page.selectOption('#new-user-role', 'viewer');
  await page.fill('#new-user-password', 'short');
  await page.fill('#new-user-confirmation', 'short');
  await page.click('#add-user-form button[type=submit]');
  assert.match(await message(page, '#add-user-message'), /at least 12 characters/);
  await page.fill('#new-user-password', VERA.password);
  await page.fill('#new-user-confirmation', VERA.password);
  await page.click('#add-user-form button[type=submit]');
  assert.equal(await message(page, '#users-message'), 'vera was added as viewer.');
  const vera = page.locator('#users-table tr[data-user=vera]');
  await vera.waitFor({ timeout: SHORT });
  assert.equal(await vera.locator('select').inputValue(), 'viewer');
  assert.equal((await account(server, 'vera')).role, 'viewer');

  // A role changed and changed back; the account disabled and enabled again.
  await vera.locator('select').selectOption('analyst');
  await page.waitForFunction(() => document.querySelector('#users-message').textContent === 'vera is now analyst.', null, { timeout: SHORT });
  assert.equal((await account(server, 'vera')).role, 'analyst');
  await page.locator('#users-table tr[data-user=vera] select').selectOption('viewer');
  await page.waitForFunction(() => document.querySelector('#users-message').textContent === 'vera is now viewer.', null, { timeout: SHORT });
  await page.locator('#users-table tr[data-user=vera] [role=switch]').uncheck();
  await page.waitForFunction(() => /can no longer sign in/.test(document.querySelector('#users-message').textContent), null, { timeout: SHORT });
  assert.equal((await account(server, 'vera')).disabled, true);
  await page.locator('#users-table tr[data-user=vera] [role=switch]').check();
  await page.waitForFunction(() => /can sign in again/.test(document.querySelector('#users-message').textContent), null, { timeout: SHORT });
  assert.equal((await account(server, 'vera')).disabled, false);

  // A new password, set in its dialog.
  await page.click('#users-table tr[data-user=vera] [data-action=set-password]');
  await page.waitForSelector('#set-password-modal.show', { timeout: SHORT });
  const newPassword = 'vera has a brand new password';
  await page.fill('#set-password', newPassword);
  await page.fill('#set-password-confirmation', newPassword);
  await page.click('#set-password-modal button[type=submit]');
  await page.waitForSelector('#set-password-modal', { state: 'hidden', timeout: SHORT });
  assert.match(await message(page, '#users-message'), /password of vera was set/);
  VERA.password = newPassword;

  // A token for vera: its secret is shown once, and works.
  await page.selectOption('#token-user', 'vera');
  await page.fill('#token-name', 'nightly report');
  await page.selectOption('#token-expiry', '30d');
  await page.click('#create-token-form button[type=submit]');
  await page.waitForSelector('#new-token:not([hidden])', { timeout: SHORT });
  const secret = await page.inputValue('#new-token-value');
  assert.ok(secret.length > 20, `a token's secret: ${secret}`);
  assert.equal(await page.getAttribute('#new-token-value', 'readonly'), '');
  assert.match(await page.textContent('#new-token'), /will not be shown again/);
  await page.click('#new-token [data-action=copy]');
  await page.waitForFunction(() => document.querySelector('#new-token [data-part=copied]').textContent !== '', null, { timeout: SHORT });
  const token = page.locator('#tokens-table tr[data-token="nightly report"]');
  await token.waitFor({ timeout: SHORT });
  assert.match(await token.textContent(), /vera/);
  const signedIn = await request(server.url, '/api/session', { token: secret });
  assert.equal(signedIn.status, 200);
  assert.equal(signedIn.body.user.name, 'vera');
  await screenshot(page, 'admin-token');
  await page.click('#new-token [data-action=done]');
  assert.equal(await page.isHidden('#new-token'), true);
  assert.equal(await page.inputValue('#new-token-value'), '', 'the secret is gone from the page');

  // Revoking it, after confirming.
  await token.locator('[data-action=revoke]').click();
  await page.waitForSelector('#confirm-modal.show', { timeout: SHORT });
  assert.match(await page.textContent('#confirm-modal'), /nightly report/);
  await page.click('#confirm-modal [data-action=confirm]');
  await page.waitForSelector('#confirm-modal', { state: 'hidden', timeout: SHORT });
  await token.waitFor({ state: 'detached', timeout: SHORT });
  assert.equal((await request(server.url, '/api/session', { token: secret })).status, 401);
  await page.waitForSelector('.modal-backdrop', { state: 'detached', timeout: SHORT });
  await screenshot(page, 'admin');

  // vera, signed in in another browser: reading only.
  const viewer = await openUi(browser, server, { user: VERA });
  assert.equal(await viewer.page.textContent('#account [data-part=role]'), 'Viewer');
  assert.equal(await viewer.page.isHidden('#import-form'), true);
  assert.equal(await viewer.page.isVisible('#import-not-allowed'), true);
  assert.equal(await viewer.page.locator('#progress-modal [data-action=cancel]').isVisible(), false);
  await viewer.page.click('#account-menu');
  assert.equal(await viewer.page.locator('#account [data-action=administration]').count(), 0);
  await viewer.page.keyboard.press('Escape');
  await screenshot(viewer.page, 'viewer');
  await viewer.page.goto(new URL('/admin', server.url).href);
  await viewer.page.waitForSelector('#admin-refused:not([hidden])', { timeout: SHORT });
  assert.match(await viewer.page.textContent('#admin-refused'), /needs the admin role; you are signed in as vera, who is a viewer/);
  assert.equal(await viewer.page.isHidden('#admin-sections'), true);
  assert.equal(await viewer.page.locator('#users-table tbody tr').count(), 0);
  await viewer.context.close();

  // Signed out, the administration sends the reader to sign in, then back to it.
  const context = await browser.newContext();
  const visitorProblems = await watchProblems(context);
  const visitor = await context.newPage();
  await visitor.goto(new URL('/admin', server.url).href);
  await visitor.waitForURL((url) => url.pathname === '/signin', { timeout: SHORT });
  assert.equal(new URL(visitor.url()).search, '?next=/admin');
  await signIn(visitor, server.admin);
  assert.equal(new URL(visitor.url()).pathname, '/admin');
  await visitor.waitForSelector('#users-table tr[data-user=vera]', { timeout: SHORT });
  await context.close();

  assert.deepEqual(unexpectedProblems([...problems, ...viewer.problems]), []);
  assert.deepEqual(unexpectedProblems(visitorProblems, ['401 /api/session']), []);
  assert.deepEqual(errors, []);
  assert.deepEqual(viewer.errors, []);
});
