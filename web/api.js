// The server's HTTP API (its route table is in src/server/http.rs). Every request is same-origin
// and carries the session cookie. Failures become ApiError carrying the server's own message,
// which says what to do about it; a 401 (not signed in, or the session ended) is also passed to
// the handler set with `onSignedOut`.

export class ApiError extends Error {
  constructor(message, status, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    /** Seconds to wait before trying again (a 429's `Retry-After`), or null. */
    this.retryAfter = retryAfter;
  }
}

const UNREACHABLE = 'The server cannot be reached. Check that vulnimport is running, then try again.';

let signedOut = null;

/**
 * `handler(error)` runs whenever the server answers 401: the pages that need an account send
 * the reader to the sign-in page. The sign-in and setup pages set none: a 401 is theirs to show.
 */
export function onSignedOut(handler) {
  signedOut = handler;
}

function failure(status, body, retryAfter = null) {
  const error = new ApiError(body?.error ?? `The server answered ${status}.`, status, retryAfter);
  if (status === 401) {
    signedOut?.(error);
  }
  return error;
}

async function request(path, { method = 'GET', json, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
  }
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
      credentials: 'same-origin',
      signal,
    });
  } catch {
    // A request aborted through `signal` rejects with the abort's reason, not as unreachable.
    signal?.throwIfAborted();
    throw new ApiError(UNREACHABLE, 0);
  }
  const body = await response.json().catch(() => null);
  signal?.throwIfAborted();
  if (!response.ok) {
    const retryAfter = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
    throw failure(response.status, body, Number.isNaN(retryAfter) ? null : retryAfter);
  }
  return body;
}

/** Query text from the parameters that have a value. */
function query(params = {}) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') {
      search.set(name, String(value));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

const session = (id) => `/api/imports/${encodeURIComponent(id)}`;
const user = (id) => `/api/users/${encodeURIComponent(id)}`;

export const api = {
  // The signed-in account: `{ user: { id, name, role }, via }`.
  session: () => request('/api/session'),
  signIn: (username, password) => request('/api/session', { method: 'POST', json: { username, password } }),
  signOut: () => request('/api/session', { method: 'DELETE' }),
  changePassword: (currentPassword, newPassword) =>
    request('/api/session/password', { method: 'PUT', json: { currentPassword, newPassword } }),
  setUp: (token, username, password) => request('/api/setup', { method: 'POST', json: { token, username, password } }),

  // Administration (admins only).
  users: () => request('/api/users'),
  addUser: (name, role, password) => request('/api/users', { method: 'POST', json: { name, role, password } }),
  changeUser: (id, change) => request(user(id), { method: 'PATCH', json: change }),
  removeUser: (id) => request(user(id), { method: 'DELETE' }),
  tokens: () => request('/api/tokens'),
  createToken: (fields) => request('/api/tokens', { method: 'POST', json: fields }),
  revokeToken: (id) => request(`/api/tokens/${encodeURIComponent(id)}`, { method: 'DELETE' }),

  stats: () => request('/api/stats'),
  // The last completed imports, oldest first: open findings after each, what each changed.
  trends: () => request('/api/trends'),
  // The pages of a table; `signal` (an AbortSignal) aborts the request.
  vulnerabilities: (params, signal) => request(`/api/vulnerabilities${query(params)}`, { signal }),
  imports: (params, signal) => request(`/api/imports${query(params)}`, { signal }),
  // The imports in the server's memory: queued, running, or ended in the last few minutes.
  activeImports: () => request('/api/imports/active'),
  importRecord: (id) => request(`${session(id)}/record`),
  importFindings: (id, params) => request(`${session(id)}/findings${query(params)}`),
  importStatus: (id) => request(session(id)),
  cancelImport: (id) => request(`${session(id)}/cancel`, { method: 'POST' }),
  // A new import of a failed, cancelled or interrupted one's kept upload: `{ sessionId, retryOf }`.
  retryImport: (id) => request(`${session(id)}/retry`, { method: 'POST' }),
};

/** Where an import's report downloads: `html` (a printable page) or `csv` (one row per change). */
export function reportUrl(sessionId, format) {
  return `${session(sessionId)}/report${query({ format })}`;
}

/** Where every finding of a list's filters and order downloads, as `csv` or `json`. */
export function exportUrl(params, format) {
  const { page, perPage, ...filters } = params;
  return `/api/vulnerabilities/export${query({ ...filters, format })}`;
}

/**
 * The page's own address of the findings an import changed (`added`, `resolved` or `reopened`):
 * a link that opens the findings list filtered to them.
 */
export function changesUrl(sessionId, change) {
  return `/${query({ import: sessionId, change })}#findings`;
}

/** Raised by an upload's `done` when it was aborted on purpose. */
export class UploadAborted extends Error {
  constructor() {
    super('The upload was stopped.');
    this.name = 'UploadAborted';
  }
}

/**
 * Starts an import: uploads the file with its session id first, so the session can be joined
 * before the server answers. XMLHttpRequest rather than fetch because only it reports the
 * upload's own progress. Returns `{ done, abort(), sent }`: `done` resolves with `{ sessionId }`,
 * `sent` turns true once every byte has left the browser.
 */
export function uploadImport({ sessionId, file, scanDate, scope, onProgress }) {
  const form = new FormData();
  form.append('sessionId', sessionId);
  form.append('scanDate', scanDate);
  form.append('scope', scope);
  form.append('file', file, file.name);

  const xhr = new XMLHttpRequest();
  const upload = { sent: false, abort: () => xhr.abort() };
  upload.done = new Promise((resolve, reject) => {
    xhr.upload.addEventListener('progress', (event) => {
      onProgress?.(event.loaded, event.lengthComputable ? event.total : file.size);
    });
    xhr.upload.addEventListener('load', () => {
      upload.sent = true;
    });
    xhr.addEventListener('load', () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // Not JSON: reported by status below.
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(body);
      } else {
        reject(failure(xhr.status, body));
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(UNREACHABLE, 0)));
    xhr.addEventListener('abort', () => reject(new UploadAborted()));
  });
  xhr.open('POST', '/api/imports');
  xhr.setRequestHeader('Accept', 'application/json');
  xhr.send(form);
  return upload;
}
