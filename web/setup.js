// The first-start page: the server printed a one-time link `/setup#SECRET`; this page takes the
// secret from the address's fragment (never sent to any server by the browser), asks for the
// first admin's name and password, posts them to `/api/setup`, and opens the main page signed in.

import { api } from './api.js';
import { el } from './dom.js';
import { sentence } from './format.js';
import { markInvalid, passwordProblem, say, whileBusy } from './forms.js';

const form = document.getElementById('setup-form');
const name = document.getElementById('admin-name');
const password = document.getElementById('admin-password');
const confirmation = document.getElementById('admin-confirmation');
const message = document.getElementById('setup-message');
const button = form.querySelector('button[type=submit]');
const secret = fragment();

/** The address's fragment, decoded; "" when there is none (or it cannot be decoded). */
function fragment() {
  try {
    return decodeURIComponent(window.location.hash.slice(1)).trim();
  } catch {
    return '';
  }
}

/** What to do without a (valid) link: both ways of getting a first admin. */
function newLinkAdvice(problem) {
  return [
    problem,
    ' Ask for a new link by restarting the server with no accounts, or create one with ',
    el('code', {}, 'vulnimport user add NAME --role admin'),
    '.',
  ];
}

/** Leaves the form unusable, saying why. */
function refuse(content) {
  for (const control of form.elements) {
    control.disabled = true;
  }
  say(message, content);
}

if (secret === '') {
  refuse(newLinkAdvice('This page needs the link the server printed when it started without accounts (it ends in #…).'));
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  say(message, null);
  for (const field of [name, password, confirmation]) {
    markInvalid(field, false);
  }
  if (name.value.trim() === '') {
    markInvalid(name, true);
    say(message, 'Give the admin\'s user name.');
    name.focus();
    return;
  }
  const problem = passwordProblem(password.value, confirmation.value);
  if (problem) {
    const field = password.value === confirmation.value ? password : confirmation;
    markInvalid(field, true);
    say(message, problem);
    field.focus();
    return;
  }
  try {
    await whileBusy(button, 'Creating the admin…', () => api.setUp(secret, name.value.trim(), password.value));
  } catch (error) {
    if (error.status === 403) {
      refuse(newLinkAdvice('This setup link is not valid: it was used already, it expired (after 24 hours) or it is mistyped.'));
    } else if (error.status === 409) {
      refuse(['An account exists already. ', el('a', { href: '/signin' }, 'Sign in'), ' instead.']);
    } else {
      // A refused name or password: the same link can be used again.
      const field = /password/i.test(error.message) ? password : name;
      markInvalid(field, true);
      say(message, sentence(error.message));
      field.focus();
    }
    return;
  }
  window.location.replace('/');
});
