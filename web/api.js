// The server's HTTP API (its route table is in src/server/http.rs). Failures become ApiError
// carrying the server's own message, which says what to do about it.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

const UNREACHABLE = 'The server cannot be reached. Check that vulnimport is running, then try again.';

async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: 'application/json' }, ...options });
  } catch {
    throw new ApiError(UNREACHABLE, 0);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(body?.error ?? `The server answered ${response.status}.`, response.status);
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

export const api = {
  stats: () => request('/api/stats'),
  vulnerabilities: (params) => request(`/api/vulnerabilities${query(params)}`),
  imports: (params) => request(`/api/imports${query(params)}`),
  importRecord: (id) => request(`${session(id)}/record`),
  importFindings: (id, params) => request(`${session(id)}/findings${query(params)}`),
  importStatus: (id) => request(session(id)),
  cancelImport: (id) => request(`${session(id)}/cancel`, { method: 'POST' }),
};

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
        reject(new ApiError(body?.error ?? `The server answered ${xhr.status}.`, xhr.status));
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
