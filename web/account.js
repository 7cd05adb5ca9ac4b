// The signed-in account in the header of the pages that need one: its name and role, and a menu
// to change the password (a modal), open the administration (admins) and sign out. Also the
// check every such page starts with: who is signed in, or off to the sign-in page.

import { api, onSignedOut } from './api.js';
import { el, fill } from './dom.js';
import { sentence } from './format.js';
import { markInvalid, passwordProblem, say, whileBusy } from './forms.js';
import { goToSignIn, signOut } from './session.js';

/**
 * The signed-in user (`{ id, name, role }`). Without a session the reader is sent to the sign-in
 * page, as on any later 401, and this resolves with null. Other failures are thrown.
 */
export async function signedInUser() {
  onSignedOut(() => goToSignIn());
  try {
    return (await api.session()).user;
  } catch (error) {
    if (error.status === 401) {
      return null;
    }
    throw error;
  }
}

/**
 * Starts a page for its signed-in user: `start(user)` once the session is known (without one the
 * reader goes to sign in); a failure to learn it shows at the top of the page.
 */
export async function startSignedIn(start) {
  try {
    const user = await signedInUser();
    if (user) {
      start(user);
    }
  } catch (error) {
    document.getElementById('main').prepend(el('div', { class: 'alert alert-danger', role: 'alert' }, error.message));
  }
}

/** A message in a corner of the page, for what has no place of its own (a failed sign-out). */
function notify(text, kind = 'danger') {
  const alert = el(
    'div',
    { class: `alert alert-${kind} alert-dismissible notice shadow`, role: kind === 'danger' ? 'alert' : 'status' },
    text,
    el('button', { type: 'button', class: 'btn-close', 'aria-label': 'Dismiss', onclick: () => alert.remove() }),
  );
  document.body.append(alert);
}

/** The roles, least to most rights, with their names as shown. */
export const ROLES = [['viewer', 'Viewer'], ['analyst', 'Analyst'], ['admin', 'Admin']];

/** A role as shown: "analyst" → "Analyst". */
export function roleName(role) {
  return ROLES.find(([value]) => value === role)?.[1] ?? role;
}

/** The header's account menu, filled into `container`. */
export class AccountMenu {
  constructor(container, user, bootstrap = globalThis.bootstrap) {
    this.passwordDialog = new PasswordDialog(user, bootstrap);
    const role = roleName(user.role);
    fill(
      container,
      el(
        'div',
        { class: 'dropdown' },
        el(
          'button',
          {
            type: 'button',
            class: 'btn btn-sm btn-outline-secondary dropdown-toggle account-toggle',
            'data-bs-toggle': 'dropdown',
            'aria-expanded': 'false',
            id: 'account-menu',
          },
          el('span', { class: 'visually-hidden' }, 'Account: '),
          el('span', { class: 'account-name', 'data-part': 'name' }, user.name),
          el('span', { class: 'badge text-bg-secondary ms-1 d-none d-sm-inline', 'data-part': 'role' }, role),
        ),
        el(
          'ul',
          { class: 'dropdown-menu dropdown-menu-end', 'aria-labelledby': 'account-menu' },
          el('li', {}, el('span', { class: 'dropdown-item-text small text-body-secondary' }, `Signed in as ${user.name} (${role.toLowerCase()})`)),
          el('li', {}, el('hr', { class: 'dropdown-divider' })),
          el('li', {}, el('button', { type: 'button', class: 'dropdown-item', 'data-action': 'change-password', onclick: () => this.passwordDialog.show() }, 'Change password')),
          user.role === 'admin' && el('li', {}, el('a', { class: 'dropdown-item', href: '/admin', 'data-action': 'administration' }, 'Administration')),
          el('li', {}, el('hr', { class: 'dropdown-divider' })),
          el('li', {}, el('button', { type: 'button', class: 'dropdown-item', 'data-action': 'sign-out', onclick: () => this.signOut() }, 'Sign out')),
        ),
      ),
    );
  }

  async signOut() {
    try {
      await signOut(api);
    } catch (error) {
      notify(`Could not sign out: ${error.message}`);
    }
  }
}

/** A labelled password field of the dialog's form. */
function passwordField(id, label, autocomplete, hint) {
  const input = el('input', {
    type: 'password',
    id,
    class: 'form-control',
    autocomplete,
    required: true,
    'aria-describedby': hint ? `${id}-hint` : null,
  });
  const row = el(
    'div',
    { class: 'mb-3' },
    el('label', { for: id, class: 'form-label' }, label),
    input,
    hint && el('p', { id: `${id}-hint`, class: 'form-text mb-0' }, hint),
  );
  return { row, input };
}

/** The modal that changes the signed-in account's own password. */
class PasswordDialog {
  constructor(user, bootstrap) {
    this.current = passwordField('current-password', 'Current password', 'current-password');
    this.next = passwordField('new-password', 'New password', 'new-password', 'At least 12 characters. Your other sessions will be signed out.');
    this.confirmation = passwordField('new-password-again', 'New password again', 'new-password');
    this.message = el('div', { role: 'alert', 'aria-live': 'assertive' });
    this.submit = el('button', { type: 'submit', class: 'btn btn-primary' }, 'Change password');
    this.form = el(
      'form',
      { novalidate: true, onsubmit: (event) => this.save(event) },
      el(
        'div',
        { class: 'modal-header' },
        el('h2', { class: 'modal-title fs-5', id: 'password-title' }, 'Change your password'),
        el('button', { type: 'button', class: 'btn-close', 'data-bs-dismiss': 'modal', 'aria-label': 'Close' }),
      ),
      el(
        'div',
        { class: 'modal-body' },
        // For password managers: whose password this is.
        el('input', { type: 'text', class: 'd-none', autocomplete: 'username', value: user.name, readonly: true }),
        this.current.row,
        this.next.row,
        this.confirmation.row,
        this.message,
      ),
      el(
        'div',
        { class: 'modal-footer' },
        el('button', { type: 'button', class: 'btn btn-outline-secondary', 'data-bs-dismiss': 'modal' }, 'Cancel'),
        this.submit,
      ),
    );
    this.element = el(
      'div',
      { class: 'modal fade', id: 'password-modal', tabindex: '-1', 'aria-labelledby': 'password-title', 'aria-hidden': 'true' },
      el('div', { class: 'modal-dialog modal-dialog-centered' }, el('div', { class: 'modal-content' }, this.form)),
    );
    document.body.append(this.element);
    this.modal = bootstrap.Modal.getOrCreateInstance(this.element);
    this.element.addEventListener('shown.bs.modal', () => this.current.input.focus());
  }

  show() {
    this.form.reset();
    for (const field of [this.current, this.next, this.confirmation]) {
      markInvalid(field.input, false);
    }
    say(this.message, null);
    this.modal.show();
  }

  async save(event) {
    event.preventDefault();
    say(this.message, null);
    const [current, next, confirmation] = [this.current.input, this.next.input, this.confirmation.input];
    for (const field of [current, next, confirmation]) {
      markInvalid(field, false);
    }
    if (current.value === '') {
      this.complain(current, 'Give your current password.');
      return;
    }
    const problem = passwordProblem(next.value, confirmation.value);
    if (problem) {
      this.complain(next.value === confirmation.value ? next : confirmation, problem);
      return;
    }
    try {
      await whileBusy(this.submit, 'Changing…', () => api.changePassword(current.value, next.value));
    } catch (error) {
      this.complain(error.status === 403 ? current : next, sentence(error.message));
      return;
    }
    this.modal.hide();
    notify('Your password was changed; your other sessions were signed out.', 'success');
  }

  complain(field, text) {
    markInvalid(field, true);
    say(this.message, text);
    field.focus();
  }
}
