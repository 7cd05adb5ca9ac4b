// What the sign-in, setup, password and administration forms share: the password rules, messages
// in live regions, invalid fields, and buttons that show work under way.

import { el, fill } from './dom.js';

/** The server's password rules (src/auth/password.rs), in characters. */
export const MIN_PASSWORD = 12;
export const MAX_PASSWORD = 1024;

/** What is wrong with a new password and its confirmation, or null. */
export function passwordProblem(password, confirmation) {
  const length = [...password].length;
  if (length < MIN_PASSWORD) {
    return `The password needs at least ${MIN_PASSWORD} characters.`;
  }
  if (length > MAX_PASSWORD) {
    return `The password can have at most ${MAX_PASSWORD} characters.`;
  }
  if (password !== confirmation) {
    return 'The two passwords differ.';
  }
  return null;
}

/**
 * Shows `message` (text, or nodes) as a Bootstrap alert of `kind` inside `region`, a live region
 * that stays in the page; no message empties it.
 */
export function say(region, message, kind = 'danger') {
  if (message === null || message === undefined || message === '') {
    fill(region);
    return;
  }
  fill(region, el('div', { class: `alert alert-${kind} py-2 mb-3` }, message));
}

/** Marks `field` as the one to correct (or not), for eyes and for screen readers. */
export function markInvalid(field, invalid) {
  field.classList.toggle('is-invalid', invalid);
  if (invalid) {
    field.setAttribute('aria-invalid', 'true');
  } else {
    field.removeAttribute('aria-invalid');
  }
}

/**
 * Runs `work` with `button` disabled, showing a spinner and `label`; puts the button back after.
 * Resolves with what `work` resolved with.
 */
export async function whileBusy(button, label, work) {
  const children = [...button.childNodes];
  button.disabled = true;
  fill(button, el('span', { class: 'spinner-border spinner-border-sm me-2', 'aria-hidden': 'true' }), label);
  try {
    return await work();
  } finally {
    button.replaceChildren(...children);
    button.disabled = false;
  }
}
