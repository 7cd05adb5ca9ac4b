// The page: once it knows who is signed in (else off to the sign-in page), wires the account menu,
// the import form (analysts and admins), the progress modal, the connection indicator, the
// trends and the tables; it takes up an import still queued or running (after a reload, say) in
// the modal, or tells of one that ended in the last few minutes, and refreshes the history as
// imports move on. Links to an import's changes (`?import=…&change=…#findings`, from the modal's
// and the history's counts) filter the findings list in place; the page's address keeps them,
// for a reload or a new tab. The followed import's progress shows in the tab's title too (see
// tab-status.js). Analysts and admins can retry an import that did not complete, from the
// history or the modal.

import { AccountMenu, startSignedIn } from './account.js';
import { api, uploadImport, UploadAborted } from './api.js';
import { FindingsView } from './findings.js';
import { formatCount, localDate, newSessionId, outcomeLabel } from './format.js';
import { HistoryView } from './history.js';
import { ProgressModal } from './progress-modal.js';
import { goToSignIn } from './session.js';
import { TabStatus } from './tab-status.js';
import { TrendsView } from './trends.js';
import { WebSocketClient } from './websocket-client.js';

const client = new WebSocketClient({ api });
const findings = new FindingsView(document, api);
const history = new HistoryView(document, api);
const tab = new TabStatus(document);
const trends = new TrendsView(document, api);
// The file of the import the modal follows, as the tab's title names it.
let followedFile = '';
const progress = new ProgressModal(document.getElementById('progress-modal'), {
  client,
  readRecord: (sessionId) => api.importRecord(sessionId),
  onProgress: (percent) => tab.progress(percent, followedFile),
  // Completed, failed or cancelled: the counts, the table, the history and the trends may all
  // have changed.
  onFinished: (outcome, event) => {
    tab.finished(outcome, followedFile, outcome === 'completed' ? changeCounts(event?.data) : '');
    return Promise.all([findings.refresh(), history.refresh(), trends.refresh()]);
  },
  showDetails: (sessionId, tabName) => history.showDetail(sessionId, tabName),
});

/** "4,329 new, 2 resolved": what a completed import changed, for its notification. */
function changeCounts(summary = {}) {
  const changes = ['new', 'reopened', 'resolved'].filter((key) => summary[key] > 0).map((key) => `${formatCount(summary[key])} ${key}`);
  return changes.length > 0 ? `${changes.join(', ')}.` : 'No changes.';
}

/** The findings list as the page's address asks: an import's changes, or every finding. */
function showChangesFromAddress() {
  const params = new URLSearchParams(window.location.search);
  const sessionId = params.get('import');
  const change = params.get('change');
  return findings.showChanges(sessionId && change ? { sessionId, change } : null);
}

// A link to an import's changes filters the list in place (a new tab or window loads the page).
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-changes]');
  if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
    return;
  }
  event.preventDefault();
  progress.hide();
  history.hideDetail();
  window.history.pushState(null, '', link.href);
  findings.showChanges({ sessionId: link.dataset.session, change: link.dataset.changes });
  document.getElementById('findings').scrollIntoView();
});
window.addEventListener('popstate', () => showChangesFromAddress());

// The history row of the import followed tracks its phases: refreshed whenever one begins.
let followedPhase = null;
client.on('progress', (event) => {
  const phase = `${event.sessionId} ${event.type}`;
  if (phase !== followedPhase) {
    followedPhase = phase;
    history.refresh();
  }
});

// The design's debug tools: `WebSocketClient.connectionState`, `ProgressModal.formatETA(90)`.
window.WebSocketClient = client;
window.ProgressModal = progress;

const CONNECTION = {
  live: ['Live', 'Live updates over the WebSocket'],
  connecting: ['Connecting…', 'Connecting to the server for live updates'],
  polling: ['Polling', 'No live connection: import progress is checked over HTTP every second'],
  signedOut: ['Signed out', 'The session has ended: sign in again for live updates'],
};

function showConnection() {
  const indicator = document.getElementById('connection');
  const [label, description] = CONNECTION[client.mode];
  indicator.dataset.mode = client.mode;
  indicator.dataset.state = client.connectionState;
  indicator.querySelector('[data-part=label]').textContent = label;
  indicator.title = description + retryNote();
}

/** When the socket will be tried again, for the indicator's tooltip. */
function retryNote() {
  if (client.connectionState === 'reconnecting') {
    const attempt = Math.min(client.reconnectAttempts + (client.reconnectTimer ? 1 : 0), client.maxReconnectAttempts);
    return ` Reconnection attempt ${Math.max(attempt, 1)} of ${client.maxReconnectAttempts}.`;
  }
  if (client.connectionState === 'failed' && client.socket) {
    return ` Trying to reconnect every ${client.retryInterval / 1000} s.`;
  }
  return '';
}

/** The import form for those who may import; a note for the others. */
function setUpImportForm(user) {
  const form = document.getElementById('import-form');
  if (user.role === 'viewer') {
    document.getElementById('import-not-allowed').hidden = false;
    return;
  }
  form.hidden = false;
  const file = document.getElementById('import-file');
  const scanDate = document.getElementById('scan-date');
  const problem = document.getElementById('import-form-error');
  const dropZone = document.getElementById('drop-zone');
  scanDate.value = localDate();
  // A scan cannot have run after today (nor before 1990, the input's min).
  scanDate.max = localDate();

  const complain = (text, field) => {
    problem.textContent = text;
    problem.hidden = false;
    field.focus();
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    problem.hidden = true;
    const chosen = file.files[0];
    if (!chosen) {
      complain('Choose the export to import.', file);
      return;
    }
    if (!/^\d{4}-\d{2}-\d{2}$/.test(scanDate.value)) {
      complain('Give the date of the scan.', scanDate);
      return;
    }
    if (scanDate.value < scanDate.min || scanDate.value > scanDate.max) {
      complain(`Give the date the scan ran: from ${scanDate.min} to ${scanDate.max}.`, scanDate);
      return;
    }
    const sessionId = newSessionId();
    // Asked now, on the user's action, so the end can be told while the tab is in the background.
    tab.askToNotify();
    followedFile = chosen.name;
    progress.show(`Importing ${chosen.name}`, sessionId);
    // Joined before the upload starts, so not one of the session's events is missed.
    await client.joinSession(sessionId);
    const upload = uploadImport({
      sessionId,
      file: chosen,
      scanDate: scanDate.value,
      scope: form.elements.scope.value,
      onProgress: (loaded, total) => progress.updateUpload(loaded, total),
    });
    progress.trackUpload(upload);
    try {
      await upload.done;
      progress.uploadAccepted();
      // The next import starts afresh: no file, and today's date (not this scan's).
      file.value = '';
      scanDate.max = localDate();
      scanDate.value = localDate();
    } catch (error) {
      if (error instanceof UploadAborted) {
        progress.showCancelled('The upload was stopped; nothing was imported.');
      } else {
        progress.showError(error.message);
      }
    }
  });

  // Drag and drop onto the form's drop zone; a file dropped elsewhere must not replace the page.
  for (const name of ['dragover', 'drop']) {
    window.addEventListener(name, (event) => event.preventDefault());
  }
  dropZone.addEventListener('dragover', (event) => {
    event.dataTransfer.dropEffect = 'copy';
    dropZone.classList.add('dragging');
  });
  dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dragging'));
  dropZone.addEventListener('drop', (event) => {
    dropZone.classList.remove('dragging');
    if (event.dataTransfer.files.length > 0) {
      file.files = event.dataTransfer.files;
      problem.hidden = true;
      file.focus();
    }
  });
}

/** Retries an import from its kept upload, following the new import in the progress modal. */
async function retryImport(record) {
  const title = `Retrying ${record.fileName}`;
  tab.askToNotify();
  followedFile = record.fileName;
  try {
    const { sessionId } = await api.retryImport(record.sessionId);
    // Followed before joining: the event joining sends at once may already be the last one.
    progress.follow(title, sessionId);
    await client.joinSession(sessionId);
    progress.updateProgress(await api.importStatus(sessionId));
  } catch (error) {
    progress.show(title, null);
    progress.showError(`The import could not be retried: ${error.message}`);
  }
  history.refresh();
}

/**
 * Shows the newest import still queued or running, unless the modal already follows one; without
 * one, tells of the newest that ended in the last few minutes.
 */
async function followImportUnderWay() {
  const { imports } = await api.activeImports();
  const underWay = imports.filter((status) => status.outcome === 'queued' || status.outcome === 'running').at(-1);
  if (!underWay) {
    if (imports.length > 0) {
      await tellOfEndedImport(imports.at(-1));
    }
    return;
  }
  // A queued import has no record yet, so no file name.
  const record = await api.importRecord(underWay.sessionId).catch(() => null);
  if (progress.sessionId) {
    return;
  }
  followedFile = record?.fileName ?? '';
  progress.attach(record?.fileName ? `Importing ${record.fileName}` : 'Import under way', underWay);
  await client.joinSession(underWay.sessionId);
}

/** A notice above the history: "The import of scan.csv completed 2 minutes ago." */
async function tellOfEndedImport(status) {
  const record = await api.importRecord(status.sessionId).catch(() => null);
  const minutes = Math.round((Date.now() - status.timestamp) / 60_000);
  const when = minutes < 1 ? 'just now' : `${minutes} minute${minutes === 1 ? '' : 's'} ago`;
  const notice = document.getElementById('recent-import');
  notice.textContent = `The import of ${record?.fileName ?? 'an export'} ${outcomeLabel(status.outcome).toLowerCase()} ${when}.`;
  notice.hidden = false;
}

/** Starts the page for the signed-in `user`. */
function start(user) {
  new AccountMenu(document.getElementById('account'), user);
  client.on('statechange', showConnection);
  client.on('signedOut', () => goToSignIn());
  showConnection();
  setUpImportForm(user);
  if (user.role !== 'viewer') {
    history.allowRetry(retryImport);
    progress.allowRetry(retryImport);
  }
  client.connect();
  findings.loadStats();
  showChangesFromAddress();
  history.refresh();
  trends.refresh();
  // Without an answer the page simply shows no import under way.
  followImportUnderWay().catch(() => {});
}

startSignedIn(start);
