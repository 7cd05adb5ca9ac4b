// The sign-in page's addresses and the checks of what users type, without a DOM.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { sentence } from '../../web/format.js';
import { MAX_PASSWORD, MIN_PASSWORD, passwordProblem } from '../../web/forms.js';
import { safeNext, signInPath } from '../../web/session.js';

const ORIGIN = 'http://vulnimport.example:8080';

test('the sign-in page is asked to come back to the page', () => {
  assert.equal(signInPath('/'), '/signin?next=/');
  assert.equal(signInPath('/admin'), '/signin?next=/admin');
  assert.equal(signInPath('/admin#tokens'), '/signin?next=/admin%23tokens');
  assert.equal(signInPath('/?q=a&b=c'), '/signin?next=/%3Fq%3Da%26b%3Dc');
  assert.equal(safeNext(new URLSearchParams('next=/%3Fq%3Da%26b%3Dc').get('next'), ORIGIN), '/?q=a&b=c');
});

test('after signing in only a path of this server is followed', () => {
  assert.equal(safeNext('/', ORIGIN), '/');
  assert.equal(safeNext('/admin', ORIGIN), '/admin');
  assert.equal(safeNext('/admin#tokens', ORIGIN), '/admin#tokens');
  for (const next of [
    null, undefined, '', 'admin', 'http://evil.example/', 'https://vulnimport.example:8080/admin', '//evil.example/x',
    '/\\evil.example', 'javascript:alert(1)', '/signin', '/signin.html?next=/signin',
    '/.//evil.example', '/..//evil.example', '/%2e//evil.example', '/./\\evil.example',
  ]) {
    assert.equal(safeNext(next, ORIGIN), '/', String(next));
  }
});

test('new passwords follow the server\'s rules and must be typed twice alike', () => {
  assert.equal(MIN_PASSWORD, 12);
  assert.equal(MAX_PASSWORD, 1024);
  assert.match(passwordProblem('short', 'short'), /at least 12 characters/);
  assert.equal(passwordProblem('twelve chars', 'twelve chars'), null);
  assert.match(passwordProblem('twelve chars', 'twelve charz'), /differ/);
  assert.match(passwordProblem('x'.repeat(1025), 'x'.repeat(1025)), /at most 1024/);
  // Characters, not UTF-16 units: twelve emoji are enough, eleven are not.
  assert.equal(passwordProblem('🔒'.repeat(12), '🔒'.repeat(12)), null);
  assert.match(passwordProblem('🔒'.repeat(11), '🔒'.repeat(11)), /at least/);
});

test('server messages are shown as sentences', () => {
  assert.equal(sentence('unknown user or wrong password'), 'Unknown user or wrong password.');
  assert.equal(sentence('too many failed sign-ins; try again in 3 s'), 'Too many failed sign-ins; try again in 3 s.');
  assert.equal(sentence('Already one.'), 'Already one.');
  assert.equal(sentence(''), '');
  assert.equal(sentence(undefined), '');
});
