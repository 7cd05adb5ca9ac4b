// The sign-in page: posts the name and password, then goes to the `next` page (same origin only)
// or the main page. A refusal is shown in the form; after too many failures the server asks for a
// wait, which the button counts down.

import { api } from './api.js';
import { sentence } from './format.js';
import { markInvalid, say, whileBusy } from './forms.js';
import { safeNext } from './session.js';

const form = document.getElementById('signin-form');
const username = document.getElementById('username');
const password = document.getElementById('password');
const message = document.getElementById('signin-message');
const button = form.querySelector('button[type=submit]');
const next = safeNext(new URLSearchParams(window.location.search).get('next'), window.location.origin);

/** Keeps the button disabled for `seconds`, its label counting down. */
function waitBeforeRetry(seconds) {
  const label = button.textContent;
  let left = seconds;
  const tick = () => {
    if (left <= 0) {
      button.textContent = label;
      button.disabled = false;
      return;
    }
    button.textContent = `Sign in (wait ${left} s)`;
    left -= 1;
    setTimeout(tick, 1000);
  };
  tick();
  button.disabled = true;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (button.disabled) {
    return;
  }
  say(message, null);
  const missing = [username, password].filter((field) => field.value.trim() === '');
  for (const field of [username, password]) {
    markInvalid(field, missing.includes(field));
  }
  if (missing.length > 0) {
    say(message, missing[0] === username ? 'Give your user name.' : 'Give your password.');
    missing[0].focus();
    return;
  }
  try {
    await whileBusy(button, 'Signing in…', () => api.signIn(username.value.trim(), password.value));
  } catch (error) {
    say(message, sentence(error.message));
    if (error.status === 429) {
      waitBeforeRetry(error.retryAfter ?? 1);
    } else if (error.status === 401) {
      markInvalid(password, true);
      password.select();
    }
    password.focus();
    return;
  }
  window.location.replace(next);
});
