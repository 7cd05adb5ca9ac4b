// The administration page, for admins: the accounts (role, whether they may sign in, a new
// password, removal) and a form to add one; the API tokens (revocation) and a form to create one,
// whose secret is shown once. Others are told the page needs the admin role.

import { AccountMenu, roleName, ROLES, startSignedIn } from './account.js';
import { api } from './api.js';
import { el, fill, messageRow } from './dom.js';
import { formatDateTime, sentence } from './format.js';
import { markInvalid, passwordProblem, say, whileBusy } from './forms.js';

/** The parts (`[data-part]`) of an element, by name. */
function partsOf(element) {
  return Object.fromEntries([...element.querySelectorAll('[data-part]')].map((part) => [part.dataset.part, part]));
}

/** The modal that asks before removing or revoking, and shows the refusal if there is one. */
class Confirmation {
  constructor(element, bootstrap) {
    this.parts = partsOf(element);
    this.button = element.querySelector('[data-action=confirm]');
    this.modal = bootstrap.Modal.getOrCreateInstance(element);
    this.run = null;
    this.button.addEventListener('click', () => this.confirm());
    element.addEventListener('shown.bs.modal', () => this.button.focus());
  }

  /** Asks `text` under `title`; the `action` button runs `run()`, and closes the modal if it succeeds. */
  ask({ title, text, action, run }) {
    this.parts.title.textContent = title;
    this.parts.text.textContent = text;
    this.button.textContent = action;
    say(this.parts.message, null);
    this.run = run;
    this.modal.show();
  }

  async confirm() {
    try {
      await whileBusy(this.button, 'Working…', this.run);
    } catch (error) {
      say(this.parts.message, sentence(error.message));
      return;
    }
    this.modal.hide();
  }
}

/** The modal that sets another account's password. */
class PasswordSetter {
  constructor(element, bootstrap) {
    this.form = element.querySelector('form');
    this.parts = partsOf(element);
    this.password = element.querySelector('#set-password');
    this.confirmation = element.querySelector('#set-password-confirmation');
    this.submit = element.querySelector('button[type=submit]');
    this.modal = bootstrap.Modal.getOrCreateInstance(element);
    this.user = null;
    this.onDone = null;
    this.form.addEventListener('submit', (event) => this.save(event));
    element.addEventListener('shown.bs.modal', () => this.password.focus());
  }

  show(user, onDone) {
    this.user = user;
    this.onDone = onDone;
    this.form.reset();
    this.parts.title.textContent = `Set the password of ${user.name}`;
    this.parts.username.value = user.name;
    markInvalid(this.password, false);
    markInvalid(this.confirmation, false);
    say(this.parts.message, null);
    this.modal.show();
  }

  async save(event) {
    event.preventDefault();
    markInvalid(this.password, false);
    markInvalid(this.confirmation, false);
    const problem = passwordProblem(this.password.value, this.confirmation.value);
    if (problem) {
      const field = this.password.value === this.confirmation.value ? this.password : this.confirmation;
      markInvalid(field, true);
      say(this.parts.message, problem);
      field.focus();
      return;
    }
    const user = this.user;
    try {
      await whileBusy(this.submit, 'Saving…', () => api.changeUser(user.id, { password: this.password.value }));
    } catch (error) {
      markInvalid(this.password, true);
      say(this.parts.message, sentence(error.message));
      this.password.focus();
      return;
    }
    this.modal.hide();
    this.onDone(`The password of ${user.name} was set; their sessions were signed out.`);
  }
}

/** The accounts table and the form that adds one. */
class UsersView {
  /** `me`: the signed-in admin; `onChange(users)`: after every load; `onRemoved()`: a user's tokens went too. */
  constructor(document, me, { confirmation, passwordSetter, onChange, onRemoved }) {
    this.me = me;
    this.confirmation = confirmation;
    this.passwordSetter = passwordSetter;
    this.onChange = onChange;
    this.onRemoved = onRemoved;
    this.table = document.getElementById('users-table');
    this.body = this.table.querySelector('tbody');
    this.message = document.getElementById('users-message');
    this.setUpForm(document);
  }

  async load() {
    this.table.setAttribute('aria-busy', 'true');
    try {
      const users = await api.users();
      fill(this.body, users.map((user) => this.row(user)));
      this.onChange(users);
    } catch (error) {
      fill(this.body, messageRow(5, `The users could not be loaded: ${error.message}`, 'text-danger'));
    } finally {
      this.table.removeAttribute('aria-busy');
    }
  }

  row(user) {
    const mine = user.id === this.me.id;
    const roles = el(
      'select',
      { class: 'form-select form-select-sm role-select', 'aria-label': `Role of ${user.name}`, disabled: mine, onchange: () => this.change(user, { role: roles.value }, `${user.name} is now ${roleName(roles.value).toLowerCase()}.`) },
      ROLES.map(([value, label]) => el('option', { value, selected: value === user.role }, label)),
    );
    const switchId = `enabled-${user.id}`;
    const enabled = el('input', {
      class: 'form-check-input',
      type: 'checkbox',
      role: 'switch',
      id: switchId,
      checked: !user.disabled,
      disabled: mine,
      onchange: () => this.change(
        user,
        { disabled: !enabled.checked },
        enabled.checked ? `${user.name} can sign in again.` : `${user.name} can no longer sign in; their sessions ended.`,
      ),
    });
    return el(
      'tr',
      { 'data-user': user.name },
      el('th', { scope: 'row', class: 'fw-normal text-break' }, user.name, mine && el('span', { class: 'badge text-bg-light border ms-2' }, 'you')),
      el('td', {}, roles),
      el(
        'td',
        {},
        el('div', { class: 'form-check form-switch mb-0' }, enabled, el('label', { class: 'visually-hidden', for: switchId }, `${user.name} can sign in`)),
      ),
      el('td', { class: 'd-none d-md-table-cell small text-nowrap' }, formatDateTime(user.createdAt)),
      el(
        'td',
        { class: 'text-end text-nowrap' },
        el(
          'button',
          { type: 'button', class: 'btn btn-sm btn-outline-secondary me-1', 'data-action': 'set-password', 'aria-label': `Set password for ${user.name}`, onclick: () => this.passwordSetter.show(user, (text) => say(this.message, text, 'success')) },
          'Set password',
        ),
        el(
          'button',
          { type: 'button', class: 'btn btn-sm btn-outline-danger', 'data-action': 'remove', 'aria-label': `Remove ${user.name}`, disabled: mine, onclick: () => this.askToRemove(user) },
          'Remove',
        ),
      ),
    );
  }

  /** Applies `change` to `user`; the table is reloaded either way, so a refused change is undone. */
  async change(user, change, success) {
    try {
      await api.changeUser(user.id, change);
      say(this.message, success, 'success');
    } catch (error) {
      say(this.message, `${user.name} was not changed: ${sentence(error.message)}`);
    }
    await this.load();
  }

  askToRemove(user) {
    this.confirmation.ask({
      title: `Remove ${user.name}?`,
      text: `${user.name} will no longer be able to sign in, and their API tokens stop working. Their imports stay in the history.`,
      action: 'Remove the user',
      run: async () => {
        await api.removeUser(user.id);
        say(this.message, `${user.name} was removed.`, 'success');
        await Promise.all([this.load(), this.onRemoved()]);
      },
    });
  }

  setUpForm(document) {
    const form = document.getElementById('add-user-form');
    const name = document.getElementById('new-user-name');
    const role = document.getElementById('new-user-role');
    const password = document.getElementById('new-user-password');
    const confirmation = document.getElementById('new-user-confirmation');
    const message = document.getElementById('add-user-message');
    const button = form.querySelector('button[type=submit]');
    const complain = (field, text) => {
      markInvalid(field, true);
      say(message, text);
      field.focus();
    };
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      say(message, null);
      for (const field of [name, password, confirmation]) {
        markInvalid(field, false);
      }
      if (name.value.trim() === '') {
        complain(name, 'Give the new user\'s name.');
        return;
      }
      const problem = passwordProblem(password.value, confirmation.value);
      if (problem) {
        complain(password.value === confirmation.value ? password : confirmation, problem);
        return;
      }
      let user;
      try {
        user = await whileBusy(button, 'Adding…', () => api.addUser(name.value.trim(), role.value, password.value));
      } catch (error) {
        complain(/password/i.test(error.message) ? password : name, sentence(error.message));
        return;
      }
      form.reset();
      say(this.message, `${user.name} was added as ${roleName(user.role).toLowerCase()}.`, 'success');
      await this.load();
    });
  }
}

/** The API tokens table, the form that creates one, and the new token's secret, shown once. */
class TokensView {
  constructor(document, { confirmation }) {
    this.confirmation = confirmation;
    this.table = document.getElementById('tokens-table');
    this.body = this.table.querySelector('tbody');
    this.message = document.getElementById('tokens-message');
    this.userSelect = document.getElementById('token-user');
    this.secret = document.getElementById('new-token');
    this.secretParts = partsOf(this.secret);
    this.secretValue = document.getElementById('new-token-value');
    this.setUpForm(document);
    this.secret.querySelector('[data-action=copy]').addEventListener('click', () => this.copy());
    this.secret.querySelector('[data-action=done]').addEventListener('click', () => this.hideSecret());
  }

  async load() {
    this.table.setAttribute('aria-busy', 'true');
    try {
      const tokens = await api.tokens();
      fill(this.body, tokens.length > 0 ? tokens.map((token) => this.row(token)) : messageRow(6, 'No API tokens.'));
    } catch (error) {
      fill(this.body, messageRow(6, `The tokens could not be loaded: ${error.message}`, 'text-danger'));
    } finally {
      this.table.removeAttribute('aria-busy');
    }
  }

  /** The users a token can be made for. */
  setUsers(users) {
    const chosen = this.userSelect.value;
    fill(this.userSelect, users.map((user) => el('option', { value: user.name, selected: user.name === chosen }, `${user.name} (${user.role})`)));
  }

  row(token) {
    const never = (text) => (text ? formatDateTime(text) : 'never');
    return el(
      'tr',
      { 'data-token': token.name },
      el('th', { scope: 'row', class: 'fw-normal text-break' }, token.name),
      el('td', { class: 'text-break' }, token.user),
      el('td', { class: 'd-none d-md-table-cell small text-nowrap' }, formatDateTime(token.createdAt)),
      el('td', { class: 'd-none d-sm-table-cell small text-nowrap' }, never(token.lastUsedAt)),
      el('td', { class: 'small text-nowrap' }, never(token.expiresAt)),
      el(
        'td',
        { class: 'text-end' },
        el(
          'button',
          { type: 'button', class: 'btn btn-sm btn-outline-danger', 'data-action': 'revoke', 'aria-label': `Revoke the token ${token.name} of ${token.user}`, onclick: () => this.askToRevoke(token) },
          'Revoke',
        ),
      ),
    );
  }

  askToRevoke(token) {
    this.confirmation.ask({
      title: `Revoke the token “${token.name}”?`,
      text: `Scripts using this token of ${token.user} will be refused from now on. This cannot be undone.`,
      action: 'Revoke the token',
      run: async () => {
        await api.revokeToken(token.id);
        say(this.message, `The token “${token.name}” was revoked.`, 'success');
        await this.load();
      },
    });
  }

  setUpForm(document) {
    const form = document.getElementById('create-token-form');
    const name = document.getElementById('token-name');
    const expiry = document.getElementById('token-expiry');
    const message = document.getElementById('create-token-message');
    const button = form.querySelector('button[type=submit]');
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      say(message, null);
      markInvalid(name, false);
      if (name.value.trim() === '') {
        markInvalid(name, true);
        say(message, 'Give the token a label that says what uses it.');
        name.focus();
        return;
      }
      const fields = { user: this.userSelect.value, name: name.value.trim() };
      if (expiry.value) {
        fields.expiresIn = expiry.value;
      }
      let token;
      try {
        token = await whileBusy(button, 'Creating…', () => api.createToken(fields));
      } catch (error) {
        say(message, sentence(error.message));
        return;
      }
      name.value = '';
      this.showSecret(token);
      await this.load();
    });
  }

  showSecret(token) {
    this.secretParts.label.textContent = `New token “${token.name}” for ${token.user}`;
    this.secretValue.value = token.token;
    this.secretParts.copied.textContent = '';
    this.secret.hidden = false;
    this.secretValue.focus();
    this.secretValue.select();
  }

  hideSecret() {
    this.secretValue.value = '';
    this.secret.hidden = true;
    document.getElementById('token-name').focus();
  }

  /** Copies the secret; where the clipboard cannot be written (plain http), selects it instead. */
  async copy() {
    try {
      await navigator.clipboard.writeText(this.secretValue.value);
      this.secretParts.copied.textContent = 'Copied to the clipboard.';
    } catch {
      this.secretValue.focus();
      this.secretValue.select();
      this.secretParts.copied.textContent = 'The browser does not allow copying here: the token is selected, copy it with Ctrl+C (⌘C on a Mac).';
    }
  }
}

/** Starts the page for the signed-in `user`. */
function start(user, bootstrap = globalThis.bootstrap) {
  new AccountMenu(document.getElementById('account'), user);
  if (user.role !== 'admin') {
    const refused = document.getElementById('admin-refused');
    refused.querySelector('[data-part=text]').textContent =
      `Administration needs the admin role; you are signed in as ${user.name}, who is ${user.role === 'analyst' ? 'an' : 'a'} ${user.role}.`;
    refused.hidden = false;
    return;
  }
  document.getElementById('admin-sections').hidden = false;
  const confirmation = new Confirmation(document.getElementById('confirm-modal'), bootstrap);
  const passwordSetter = new PasswordSetter(document.getElementById('set-password-modal'), bootstrap);
  const tokens = new TokensView(document, { confirmation });
  const users = new UsersView(document, user, {
    confirmation,
    passwordSetter,
    onChange: (list) => tokens.setUsers(list),
    onRemoved: () => tokens.load(),
  });
  users.load();
  tokens.load();
}

startSignedIn(start);
